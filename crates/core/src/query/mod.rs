//! Reading a run's graph back: loading, search, listing and navigation.

pub mod diff;
pub mod load;
