//! Extraction of entities from parsed documents.
//!
//! * [`markdown`]: the pure Markdown outline extractor (sections, code
//!   mentions, links) run once per Markdown document.
//! * [`links`]: classification of link targets and resolution of links and
//!   wikilinks against the documents of a run.
//! * [`technology`]: which inline code spans name a technology.

pub mod links;
pub mod markdown;
pub mod stage;
pub mod structured;
pub mod technology;
