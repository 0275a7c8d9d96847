//! Secret redaction. Placeholder API until the detector module lands.

use std::borrow::Cow;
use std::collections::BTreeMap;

pub const DEFAULT_DETECTORS: &[&str] = &[
    "pem_private_key",
    "jwt",
    "bearer_token",
    "credential_kv",
    "url_credentials",
    "vendor_token",
];

pub fn known_detectors() -> &'static [&'static str] {
    &[
        "pem_private_key",
        "jwt",
        "bearer_token",
        "credential_kv",
        "url_credentials",
        "vendor_token",
        "cloud_keys",
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactionPolicy {
    pub enabled: bool,
    pub policy_id: String,
    pub policy_version: String,
    pub detectors: Vec<String>,
}

impl Default for RedactionPolicy {
    fn default() -> Self {
        RedactionPolicy {
            enabled: true,
            policy_id: "redaction.policy.v1".to_string(),
            policy_version: "v1".to_string(),
            detectors: DEFAULT_DETECTORS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    #[error("unknown detector {name}")]
    UnknownDetector { name: String, known: Vec<String> },
    #[error("empty key")]
    EmptyKey,
}

pub struct Redactor {
    enabled: bool,
}

pub struct Redacted<'a> {
    pub text: Cow<'a, str>,
    pub counts: BTreeMap<&'static str, u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub detector: &'static str,
    pub category: &'static str,
    pub start: usize,
    pub end: usize,
}

impl Redactor {
    pub fn new(policy: &RedactionPolicy, key: &[u8]) -> Result<Redactor, RedactError> {
        if key.is_empty() {
            return Err(RedactError::EmptyKey);
        }
        Ok(Redactor {
            enabled: policy.enabled,
        })
    }
    pub fn disabled() -> Redactor {
        Redactor { enabled: false }
    }
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }
    pub fn redact<'a>(&self, text: &'a str) -> Redacted<'a> {
        Redacted {
            text: Cow::Borrowed(text),
            counts: BTreeMap::new(),
        }
    }
    pub fn scan(&self, _text: &str) -> Vec<Finding> {
        Vec::new()
    }
}
