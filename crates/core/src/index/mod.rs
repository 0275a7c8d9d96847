//! Ranked keyword index.
