//! The knowledge graph: its model, each document's part of it, `relates_to`,
//! putting parts together, and the materialized JSON views (entities and
//! links as users see them).

pub mod assemble;
pub mod build;
pub mod local;
pub mod model;
pub mod relates;
pub mod view;
