//! Every version constant of the on-disk format lives here.
//!
//! * [`SCHEMA_VERSION`] is the store/manifest schema this binary writes.
//! * [`READABLE_SCHEMA_VERSIONS`] is the inclusive range it can read.
//! * Schema `v1` is the layout of the Python auditgraph 0.1; this binary
//!   recognises it but cannot read it.
//!
//! Changing anything about the bytes written to a store requires bumping
//! [`SCHEMA_VERSION`]; the golden-store test in `crates/cli/tests` fails when
//! the format changes without a bump.

use std::fmt;

/// A store/manifest schema version such as `v2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchemaVersion(pub u32);

impl SchemaVersion {
    /// Parses `v<N>`; anything else is `None` (an unknown version).
    pub fn parse(text: &str) -> Option<SchemaVersion> {
        let digits = text.strip_prefix('v')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(SchemaVersion)
    }
}

impl fmt::Display for SchemaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// The schema this binary writes.
pub const SCHEMA_VERSION: SchemaVersion = SchemaVersion(3);

/// The oldest schema this binary can read (inclusive). Schema `v3` (runs
/// made of shared, content-addressed pieces, with a sealed trail) does not
/// read `v2` stores: they are refused with rebuild guidance, and left
/// untouched until `gc`.
pub const OLDEST_READABLE_SCHEMA_VERSION: SchemaVersion = SchemaVersion(3);

/// The schema of stores written by the Python auditgraph 0.1.
pub const PYTHON_SCHEMA_VERSION: SchemaVersion = SchemaVersion(1);

/// The version of this binary, also recorded in run ids so that a rebuild
/// after an upgrade gets a new run id.
pub const AUDITGRAPH_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The pipeline version label used when the configuration does not set
/// `run_metadata.pipeline_version` (the Python tool's default).
pub const DEFAULT_PIPELINE_VERSION: &str = "v0.1.0";

/// The schema versions this process writes and reads.
///
/// Release builds always use the constants above. Debug builds (the ones the
/// test suite drives) honour `AUDITGRAPH_SIMULATE_SCHEMA=vN` so that the
/// upgrade tests can play a newer binary against a store written by this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaSupport {
    pub writes: SchemaVersion,
    pub oldest_readable: SchemaVersion,
}

impl SchemaSupport {
    pub fn current() -> SchemaSupport {
        let support = SchemaSupport {
            writes: SCHEMA_VERSION,
            oldest_readable: OLDEST_READABLE_SCHEMA_VERSION,
        };
        #[cfg(debug_assertions)]
        if let Some(simulated) = std::env::var("AUDITGRAPH_SIMULATE_SCHEMA")
            .ok()
            .as_deref()
            .and_then(SchemaVersion::parse)
        {
            // A simulated newer binary still reads everything from the real
            // oldest readable version up to the simulated one.
            return SchemaSupport {
                writes: simulated,
                oldest_readable: OLDEST_READABLE_SCHEMA_VERSION.min(simulated),
            };
        }
        support
    }

    pub fn can_read(&self, version: SchemaVersion) -> bool {
        version >= self.oldest_readable && version <= self.writes
    }

    /// The readable versions, oldest first, as strings (`["v2"]`).
    pub fn readable_list(&self) -> Vec<String> {
        (self.oldest_readable.0..=self.writes.0)
            .map(|v| SchemaVersion(v).to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(SchemaVersion::parse("v2"), Some(SchemaVersion(2)));
        assert_eq!(SchemaVersion::parse("v10"), Some(SchemaVersion(10)));
        assert_eq!(SchemaVersion::parse("2"), None);
        assert_eq!(SchemaVersion::parse("v"), None);
        assert_eq!(SchemaVersion::parse("v2.1"), None);
        assert_eq!(SchemaVersion::parse("V2"), None);
    }

    #[test]
    fn orders_numerically() {
        assert!(SchemaVersion(10) > SchemaVersion(9));
        assert_eq!(SCHEMA_VERSION.to_string(), "v3");
    }
}
