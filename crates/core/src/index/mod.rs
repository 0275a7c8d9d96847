//! Ranked keyword index.
//!
//! [`tokenize`] is the documented tokenizer shared by indexing and queries;
//!

pub mod tokenize;

pub use tokenize::{for_each_token, tokenize};
