//! Extraction of entities from parsed documents.
