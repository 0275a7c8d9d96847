//! Reading a run's graph back: loading, search, listing and navigation.

pub mod diff;
pub mod filter;
pub mod list;
pub mod load;
pub mod nav;
pub mod search;
pub mod select;
