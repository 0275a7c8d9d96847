//! The knowledge graph: its stored model, the link stage that builds it,
//! and the materialized JSON views (entities and links as users see them).

pub mod build;
pub mod model;
pub mod stage;
pub mod view;
