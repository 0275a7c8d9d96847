//! The configuration file (`config/pkg.yaml`, YAML or JSON) with the Python
//! tool's key layout, its built-in defaults and its validation.
//!
//! Loading never guesses: a wrong type or an invalid value is an error that
//! names the file, line, column, key path and the expected form; an unknown
//! key is a warning naming its path. Keys the Python tool accepted but never
//! acted on (`knowledge_model`, `extraction.ner`, `extraction.llm`, ...) are
//! accepted silently and have no effect.

mod template;
pub mod tree;

pub use template::DEFAULT_CONFIG_YAML;

use crate::hashing::sha256_hex;
use crate::redact::{RedactionPolicy, known_detectors};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use tree::{PathSegment, Position, render_path};

/// The whole configuration, with every default filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Accepted for compatibility; the store always lives in `<root>/.pkg`.
    pub pkg_root: String,
    pub active_profile: String,
    pub run_metadata: RunMetadata,
    pub security: Security,
    pub storage: Storage,
    pub profiles: BTreeMap<String, Profile>,
}

impl Default for Config {
    fn default() -> Config {
        let mut profiles = BTreeMap::new();
        profiles.insert("default".to_string(), Profile::default());
        Config {
            pkg_root: ".".to_string(),
            active_profile: "default".to_string(),
            run_metadata: RunMetadata::default(),
            security: Security::default(),
            storage: Storage::default(),
            profiles,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunMetadata {
    pub pipeline_version: String,
}

impl Default for RunMetadata {
    fn default() -> RunMetadata {
        RunMetadata {
            pipeline_version: crate::version::DEFAULT_PIPELINE_VERSION.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Security {
    pub redaction: RedactionSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RedactionSettings {
    pub enabled: bool,
    pub policy_id: String,
    pub policy_version: String,
    pub detectors: Vec<String>,
}

impl Default for RedactionSettings {
    fn default() -> RedactionSettings {
        let policy = RedactionPolicy::default();
        RedactionSettings {
            enabled: policy.enabled,
            policy_id: policy.policy_id,
            policy_version: policy.policy_version,
            detectors: policy.detectors,
        }
    }
}

impl RedactionSettings {
    pub fn policy(&self) -> RedactionPolicy {
        RedactionPolicy {
            enabled: self.enabled,
            policy_id: self.policy_id.clone(),
            policy_version: self.policy_version.clone(),
            detectors: self.detectors.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Storage {
    pub footprint_budget: FootprintBudget,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FootprintBudget {
    pub multiplier: f64,
    pub warn_threshold: f64,
    pub block_threshold: f64,
}

impl Default for FootprintBudget {
    fn default() -> FootprintBudget {
        FootprintBudget {
            multiplier: 3.0,
            warn_threshold: 0.8,
            block_threshold: 1.0,
        }
    }
}

/// One profile: what to ingest and how to process it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    pub include_paths: Vec<String>,
    pub exclude_globs: Vec<String>,
    pub normalization: Normalization,
    pub ingestion: Ingestion,
    pub extraction: Extraction,
    pub linking: Linking,
    pub search: Search,
    /// Accepted for compatibility with the Python tool; no effect.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub knowledge_model: serde_json::Value,
    /// Accepted for compatibility with the Python tool; git provenance is not
    /// implemented in this version.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub git_provenance: serde_json::Value,
}

/// Globs excluded by default, besides the store itself (which is always
/// excluded). `exports/**` keeps exported files from feeding the next run.
pub const DEFAULT_EXCLUDE_GLOBS: &[&str] = &[
    "**/.pkg/**",
    "**/.git/**",
    "**/node_modules/**",
    "exports/**",
];

impl Default for Profile {
    fn default() -> Profile {
        Profile {
            include_paths: vec![".".to_string()],
            exclude_globs: DEFAULT_EXCLUDE_GLOBS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            normalization: Normalization::default(),
            ingestion: Ingestion::default(),
            extraction: Extraction::default(),
            linking: Linking::default(),
            search: Search::default(),
            knowledge_model: serde_json::Value::Null,
            git_provenance: serde_json::Value::Null,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Normalization {
    pub unicode: String,
    pub line_endings: String,
    pub path_style: String,
}

impl Default for Normalization {
    fn default() -> Normalization {
        Normalization {
            unicode: "NFC".to_string(),
            line_endings: "LF".to_string(),
            path_style: "posix".to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ingestion {
    pub allowed_extensions: Vec<String>,
    pub max_file_size_bytes: u64,
    pub chunk_tokens: u32,
    pub chunk_overlap_tokens: u32,
    pub ocr_mode: String,
    /// Front-matter fields shown in summaries; every field is kept regardless.
    pub frontmatter_schema: Vec<String>,
    /// Accepted for compatibility with the Python tool; no effect.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capture_channels: Vec<String>,
}

/// Extensions this version can parse.
pub const PARSEABLE_EXTENSIONS: &[&str] = &[".md", ".markdown", ".txt", ".log"];

impl Default for Ingestion {
    fn default() -> Ingestion {
        Ingestion {
            allowed_extensions: PARSEABLE_EXTENSIONS.iter().map(|s| s.to_string()).collect(),
            max_file_size_bytes: 209_715_200,
            chunk_tokens: 200,
            chunk_overlap_tokens: 40,
            ocr_mode: "off".to_string(),
            frontmatter_schema: ["title", "tags", "project", "status"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            capture_channels: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Extraction {
    /// Accepted for compatibility; rule packs are not interpreted.
    pub rule_packs: Vec<String>,
    pub markdown: Toggle,
    /// Accepted for compatibility with the Python tool; no effect.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub llm: serde_json::Value,
    /// Accepted for compatibility with the Python tool; NER is not implemented.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub ner: serde_json::Value,
}

impl Default for Extraction {
    fn default() -> Extraction {
        Extraction {
            rule_packs: Vec::new(),
            markdown: Toggle { enabled: true },
            llm: serde_json::Value::Null,
            ner: serde_json::Value::Null,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Toggle {
    pub enabled: bool,
}

impl Default for Toggle {
    fn default() -> Toggle {
        Toggle { enabled: true }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Linking {
    /// Accepted for compatibility; rule packs are not interpreted.
    pub rule_packs: Vec<String>,
    pub cooccurrence: Cooccurrence,
}

/// The `relates_to` rule (`link.cooccurrence.v1`): two notes are related
/// when they mention a common technology that at most
/// `max_document_frequency` notes mention; each note keeps its
/// `max_related_per_note` strongest relations. Both bounds keep the number
/// of edges linear in the number of notes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cooccurrence {
    pub enabled: bool,
    pub max_document_frequency: u32,
    pub max_related_per_note: u32,
}

impl Default for Cooccurrence {
    fn default() -> Cooccurrence {
        Cooccurrence {
            enabled: true,
            max_document_frequency: 20,
            max_related_per_note: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Search {
    pub keyword: Toggle,
    pub semantic: Toggle,
    pub ranking: Ranking,
}

impl Default for Search {
    fn default() -> Search {
        Search {
            keyword: Toggle { enabled: true },
            semantic: Toggle { enabled: false },
            ranking: Ranking::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ranking {
    pub w_kw: f64,
    pub w_sem: f64,
    pub w_graph: f64,
    pub score_rounding: f64,
}

impl Default for Ranking {
    fn default() -> Ranking {
        Ranking {
            w_kw: 1.0,
            w_sem: 0.3,
            w_graph: 0.1,
            score_rounding: 0.000001,
        }
    }
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    /// No file: built-in defaults.
    Defaults,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::Defaults => f.write_str("built-in defaults"),
        }
    }
}

/// A warning about the configuration (unknown keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub file: PathBuf,
    pub position: Position,
    pub key_path: String,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.position.line,
            self.position.column,
            self.key_path,
            self.message
        )
    }
}

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub position: Position,
    /// Dotted key path, empty for the document itself.
    pub key_path: String,
    pub message: String,
    /// What a valid value looks like.
    pub expected: String,
}

/// A configuration that cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} does not exist")]
    NotFound { path: PathBuf },
    #[error("cannot read configuration file {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{}", render_problems(file, problems))]
    Invalid {
        file: PathBuf,
        problems: Vec<ConfigProblem>,
    },
    #[error("unknown profile '{name}' (configured profiles: {})", known.join(", "))]
    UnknownProfile { name: String, known: Vec<String> },
    #[error("invalid profile name '{name}': {reason}")]
    InvalidProfileName { name: String, reason: String },
}

fn render_problems(file: &Path, problems: &[ConfigProblem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let key = if p.key_path.is_empty() {
            String::new()
        } else {
            format!(" {}:", p.key_path)
        };
        out.push_str(&format!(
            "{}:{}:{}:{} {}; expected {}",
            file.display(),
            p.position.line,
            p.position.column,
            key,
            p.message,
            p.expected
        ));
    }
    out
}

/// A loaded, validated configuration and the profile to use.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub source: ConfigSource,
    pub warnings: Vec<ConfigWarning>,
    /// The active profile name (after `--profile`), validated and present.
    pub profile_name: String,
}

impl LoadedConfig {
    pub fn profile(&self) -> &Profile {
        // `load` guarantees the active profile exists; fall back to defaults
        // rather than panicking if a caller built a LoadedConfig by hand.
        static DEFAULT_PROFILE: std::sync::OnceLock<Profile> = std::sync::OnceLock::new();
        self.config
            .profiles
            .get(&self.profile_name)
            .unwrap_or_else(|| DEFAULT_PROFILE.get_or_init(Profile::default))
    }

    /// Hash of everything that shapes derived artifacts: the pipeline version,
    /// the redaction policy and the active profile's settings. Budget
    /// settings and other profiles do not enter it, so changing them never
    /// produces a new run.
    pub fn config_hash(&self) -> String {
        sha256_hex(self.hashed_view().to_string())
    }

    /// The part of the configuration that [`Self::config_hash`] covers, as
    /// canonical JSON (sorted keys).
    pub fn hashed_view(&self) -> serde_json::Value {
        serde_json::json!({
            "pipeline_version": self.config.run_metadata.pipeline_version,
            "redaction": self.config.security.redaction,
            "profile": self.profile(),
        })
    }

    /// The configuration recorded with every run: everything that shaped its
    /// artifacts (the active profile, redaction, pipeline version). It is a
    /// valid configuration file, so `replay` loads it back. Budget settings
    /// and other profiles are left out: they never change what a run holds.
    pub fn snapshot(&self) -> serde_json::Value {
        let mut profiles = BTreeMap::new();
        profiles.insert(self.profile_name.clone(), self.profile().clone());
        let config = Config {
            pkg_root: self.config.pkg_root.clone(),
            active_profile: self.profile_name.clone(),
            run_metadata: self.config.run_metadata.clone(),
            security: self.config.security.clone(),
            storage: Storage::default(),
            profiles,
        };
        let mut value = serde_json::to_value(&config).unwrap_or(serde_json::Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.remove("storage");
        }
        value
    }
}

/// Checks a profile name: it becomes a directory name under `.pkg/profiles`.
pub fn validate_profile_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_string());
    }
    if name.contains('/') || name.contains('\\') {
        return Err("must not contain path separators".to_string());
    }
    if name.starts_with('.') {
        return Err("must not start with '.'".to_string());
    }
    if name.len() > 64 {
        return Err("must be at most 64 characters".to_string());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.'))
    {
        return Err(format!(
            "contains '{}'; use letters, digits, '-', '_' and '.'",
            c.escape_default()
        ));
    }
    Ok(())
}

/// Loads the configuration for a workspace.
///
/// `explicit` is `--config` / `AUDITGRAPH_CONFIG`; it must exist. Without
/// it, `<root>/config/pkg.yaml` is used when present, else built-in defaults.
/// `profile_override` is `--profile`.
pub fn load(
    root: &Path,
    explicit: Option<&Path>,
    profile_override: Option<&str>,
) -> Result<LoadedConfig, ConfigError> {
    let path = match explicit {
        Some(p) => {
            let p = if p.is_absolute() {
                p.to_path_buf()
            } else {
                std::env::current_dir()
                    .map(|cwd| cwd.join(p))
                    .unwrap_or_else(|_| p.to_path_buf())
            };
            if !p.is_file() {
                return Err(ConfigError::NotFound { path: p });
            }
            Some(p)
        }
        None => {
            let default = root.join("config").join("pkg.yaml");
            default.is_file().then_some(default)
        }
    };
    let (config, source, warnings) = match path {
        None => (Config::default(), ConfigSource::Defaults, Vec::new()),
        Some(path) => {
            let bytes = std::fs::read(&path).map_err(|e| ConfigError::Unreadable {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let text = String::from_utf8(bytes).map_err(|e| ConfigError::Unreadable {
                path: path.clone(),
                reason: format!("not valid UTF-8 (at byte {})", e.utf8_error().valid_up_to()),
            })?;
            let (config, warnings) = parse_text(&text, &path)?;
            (config, ConfigSource::File(path), warnings)
        }
    };
    resolve_profile(config, source, warnings, profile_override)
}

/// Builds a [`LoadedConfig`] from an already-parsed configuration (used by
/// `replay`, which loads a run's config snapshot).
pub fn from_snapshot(
    snapshot: &serde_json::Value,
    origin: &Path,
) -> Result<LoadedConfig, ConfigError> {
    let text = snapshot.to_string();
    let (config, warnings) = parse_text(&text, origin)?;
    let profile = config.active_profile.clone();
    resolve_profile(
        config,
        ConfigSource::File(origin.to_path_buf()),
        warnings,
        Some(&profile),
    )
}

fn resolve_profile(
    config: Config,
    source: ConfigSource,
    warnings: Vec<ConfigWarning>,
    profile_override: Option<&str>,
) -> Result<LoadedConfig, ConfigError> {
    let name = profile_override
        .map(str::to_string)
        .unwrap_or_else(|| config.active_profile.clone());
    validate_profile_name(&name).map_err(|reason| ConfigError::InvalidProfileName {
        name: name.clone(),
        reason,
    })?;
    if !config.profiles.contains_key(&name) {
        return Err(ConfigError::UnknownProfile {
            name,
            known: config.profiles.keys().cloned().collect(),
        });
    }
    Ok(LoadedConfig {
        config,
        source,
        warnings,
        profile_name: name,
    })
}

/// Parses and validates configuration text. `file` is used in messages.
pub fn parse_text(text: &str, file: &Path) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
    let invalid = |problems: Vec<ConfigProblem>| ConfigError::Invalid {
        file: file.to_path_buf(),
        problems,
    };
    let tree = tree::parse(text).map_err(|failure| {
        invalid(vec![ConfigProblem {
            position: failure.position,
            key_path: String::new(),
            message: format!("not valid YAML or JSON: {}", failure.message),
            expected: "a YAML or JSON mapping".to_string(),
        }])
    })?;
    if !matches!(tree.value, tree::NodeValue::Map(_)) {
        return Err(invalid(vec![ConfigProblem {
            position: tree.position,
            key_path: String::new(),
            message: "the document is not a mapping".to_string(),
            expected: "a mapping of keys such as `profiles:` and `storage:`".to_string(),
        }]));
    }
    let json = tree.to_json();
    let mut unknown: Vec<String> = Vec::new();
    let typed: Result<Config, _> = {
        let mut record = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
        let ignored = serde_ignored::Deserializer::new(&json, &mut record);
        serde_path_to_error::deserialize(ignored)
    };
    let mut config = match typed {
        Ok(c) => c,
        Err(err) => {
            let path = path_from_serde(err.path());
            let position = tree.position_of(&path, false);
            return Err(invalid(vec![ConfigProblem {
                position,
                key_path: render_path(&path),
                message: err.inner().to_string(),
                expected: expected_form(&render_path(&path)),
            }]));
        }
    };
    // A file without `profiles:` still has the default profile.
    if config.profiles.is_empty() {
        config
            .profiles
            .insert("default".to_string(), Profile::default());
    }

    let mut problems = Vec::new();
    validate(&config, &mut |key_path: String,
                            message: String,
                            expected: String| {
        // Problems with a name (a profile name) point at the key itself.
        let at_key = message.starts_with("profile name");
        let position = tree.position_of(&tree::parse_path(&key_path), at_key);
        problems.push(ConfigProblem {
            position,
            key_path,
            message,
            expected,
        });
    });
    if !problems.is_empty() {
        return Err(invalid(problems));
    }

    let warnings = unknown
        .into_iter()
        .map(|raw| {
            let path = tree::parse_path(&raw);
            ConfigWarning {
                file: file.to_path_buf(),
                position: tree.position_of(&path, true),
                key_path: render_path(&path),
                message: "unknown key; it is ignored".to_string(),
            }
        })
        .collect();
    Ok((config, warnings))
}

fn path_from_serde(path: &serde_path_to_error::Path) -> Vec<PathSegment> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Map { key } => Some(PathSegment::Key(key.clone())),
            Segment::Seq { index } => Some(PathSegment::Index(*index)),
            Segment::Enum { variant } => Some(PathSegment::Key(variant.clone())),
            Segment::Unknown => None,
        })
        .collect()
}

/// A human description of the valid form of a key, for type errors.
fn expected_form(key_path: &str) -> String {
    let leaf = key_path.rsplit('.').next().unwrap_or(key_path);
    let leaf = leaf.split('[').next().unwrap_or(leaf);
    match leaf {
        "multiplier" => "a positive number such as 3.0",
        "warn_threshold" | "block_threshold" => "a number such as 0.8",
        "max_file_size_bytes" => "a positive whole number of bytes",
        "chunk_tokens" | "chunk_overlap_tokens" => "a whole number such as 200",
        "enabled" => "true or false",
        "include_paths" | "exclude_globs" | "allowed_extensions" | "detectors" | "rule_packs"
        | "frontmatter_schema" => "a list of strings",
        "profiles" => "a mapping of profile names to profile settings",
        _ => "a value of the documented type (see `auditgraph init` for every key)",
    }
    .to_string()
}

fn validate(config: &Config, report: &mut dyn FnMut(String, String, String)) {
    let budget = &config.storage.footprint_budget;
    let b = "storage.footprint_budget";
    if !(budget.multiplier.is_finite() && budget.multiplier > 0.0) {
        report(
            format!("{b}.multiplier"),
            format!("multiplier {} is not a positive number", budget.multiplier),
            "a positive number such as 3.0".to_string(),
        );
    }
    for (name, value) in [
        ("warn_threshold", budget.warn_threshold),
        ("block_threshold", budget.block_threshold),
    ] {
        if !(value.is_finite() && value > 0.0) {
            report(
                format!("{b}.{name}"),
                format!("{name} {value} is not a positive number"),
                "a positive number such as 0.8".to_string(),
            );
        }
    }
    if budget.warn_threshold > budget.block_threshold {
        report(
            format!("{b}.warn_threshold"),
            format!(
                "warn_threshold {} is above block_threshold {}",
                budget.warn_threshold, budget.block_threshold
            ),
            "warn_threshold <= block_threshold".to_string(),
        );
    }
    if config.run_metadata.pipeline_version.trim().is_empty() {
        report(
            "run_metadata.pipeline_version".to_string(),
            "pipeline_version is empty".to_string(),
            "a version label such as v0.1.0".to_string(),
        );
    }
    let known = known_detectors();
    for (i, detector) in config.security.redaction.detectors.iter().enumerate() {
        if !known.contains(&detector.as_str()) {
            report(
                format!("security.redaction.detectors[{i}]"),
                format!("unknown detector '{detector}'"),
                format!("one of {}", known.join(", ")),
            );
        }
    }
    if let Err(reason) = validate_profile_name(&config.active_profile) {
        report(
            "active_profile".to_string(),
            format!("profile name '{}' {reason}", config.active_profile),
            "a profile name of letters, digits, '-', '_' and '.'".to_string(),
        );
    }
    for (name, profile) in &config.profiles {
        let p = format!("profiles.{name}");
        if let Err(reason) = validate_profile_name(name) {
            report(
                p.clone(),
                format!("profile name '{name}' {reason}"),
                "a profile name of letters, digits, '-', '_' and '.'".to_string(),
            );
        }
        validate_profile(profile, &p, report);
    }
}

fn validate_profile(profile: &Profile, p: &str, report: &mut dyn FnMut(String, String, String)) {
    for (i, include) in profile.include_paths.iter().enumerate() {
        if let Err(reason) = crate::paths::check_relative_inside(include) {
            report(
                format!("{p}.include_paths[{i}]"),
                format!("include path '{include}' {reason}"),
                "a path relative to the workspace root, such as notes or .".to_string(),
            );
        }
    }
    for (i, glob) in profile.exclude_globs.iter().enumerate() {
        if let Err(e) = globset::Glob::new(glob) {
            report(
                format!("{p}.exclude_globs[{i}]"),
                format!("invalid glob '{glob}': {}", e.kind()),
                "a glob such as **/drafts/** or *.tmp".to_string(),
            );
        }
    }
    let n = &profile.normalization;
    for (key, value, allowed) in [
        ("unicode", &n.unicode, "NFC"),
        ("line_endings", &n.line_endings, "LF"),
        ("path_style", &n.path_style, "posix"),
    ] {
        if value != allowed {
            report(
                format!("{p}.normalization.{key}"),
                format!("'{value}' is not supported"),
                format!("{allowed} (the only supported value)"),
            );
        }
    }
    let ing = &profile.ingestion;
    for (i, ext) in ing.allowed_extensions.iter().enumerate() {
        let valid = ext.len() > 1
            && ext.starts_with('.')
            && !ext[1..].contains(['.', '/', '\\'])
            && !ext.contains(char::is_whitespace);
        if !valid {
            report(
                format!("{p}.ingestion.allowed_extensions[{i}]"),
                format!("'{ext}' is not a file extension"),
                "an extension with its dot, such as .md".to_string(),
            );
        }
    }
    if ing.max_file_size_bytes == 0 {
        report(
            format!("{p}.ingestion.max_file_size_bytes"),
            "max_file_size_bytes is 0".to_string(),
            "a positive whole number of bytes".to_string(),
        );
    }
    if ing.chunk_tokens == 0 {
        report(
            format!("{p}.ingestion.chunk_tokens"),
            "chunk_tokens is 0".to_string(),
            "a positive whole number such as 200".to_string(),
        );
    }
    if ing.chunk_overlap_tokens >= ing.chunk_tokens && ing.chunk_tokens > 0 {
        report(
            format!("{p}.ingestion.chunk_overlap_tokens"),
            format!(
                "chunk_overlap_tokens {} is not below chunk_tokens {}",
                ing.chunk_overlap_tokens, ing.chunk_tokens
            ),
            "0 <= chunk_overlap_tokens < chunk_tokens".to_string(),
        );
    }
    if !["off", "auto", "on"].contains(&ing.ocr_mode.as_str()) {
        report(
            format!("{p}.ingestion.ocr_mode"),
            format!("'{}' is not an OCR mode", ing.ocr_mode),
            "off, auto or on".to_string(),
        );
    }
    let co = &profile.linking.cooccurrence;
    if co.max_document_frequency < 2 {
        report(
            format!("{p}.linking.cooccurrence.max_document_frequency"),
            format!(
                "max_document_frequency {} cannot relate two notes",
                co.max_document_frequency
            ),
            "a whole number of at least 2, such as 20".to_string(),
        );
    }
    let r = &profile.search.ranking;
    if !(r.score_rounding.is_finite() && r.score_rounding >= 0.0) {
        report(
            format!("{p}.search.ranking.score_rounding"),
            format!("score_rounding {} is negative", r.score_rounding),
            "a small non-negative number such as 0.000001".to_string(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
        parse_text(text, Path::new("pkg.yaml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let (config, warnings) = parse("").unwrap();
        assert_eq!(config, Config::default());
        assert!(warnings.is_empty());
    }

    #[test]
    fn template_is_exactly_the_defaults() {
        let (config, warnings) = parse(DEFAULT_CONFIG_YAML).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn unknown_keys_warn_with_position() {
        let (_, warnings) = parse("storage:\n  footprint_budget:\n    multipler: 2\n").unwrap();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].key_path, "storage.footprint_budget.multipler");
        assert_eq!(warnings[0].position.line, 3);
        assert_eq!(warnings[0].position.column, 5);
    }

    #[test]
    fn negative_multiplier_is_an_error_with_position() {
        let err = parse("storage:\n  footprint_budget:\n    multiplier: -1\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("pkg.yaml:3:17"), "{text}");
        assert!(
            text.contains("storage.footprint_budget.multiplier"),
            "{text}"
        );
        assert!(text.contains("positive"), "{text}");
    }

    #[test]
    fn warn_above_block_is_an_error() {
        let err = parse(
            "storage:\n  footprint_budget:\n    warn_threshold: 0.9\n    block_threshold: 0.5\n",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("warn_threshold 0.9 is above"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_names_position_and_path() {
        let err =
            parse("profiles:\n  default:\n    ingestion:\n      chunk_tokens: many\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("pkg.yaml:4:"), "{text}");
        assert!(
            text.contains("profiles.default.ingestion.chunk_tokens"),
            "{text}"
        );
    }

    #[test]
    fn profile_names_with_separators_are_rejected() {
        let err = parse("profiles:\n  ../evil:\n    include_paths: [notes]\n").unwrap_err();
        assert!(err.to_string().contains("path separators"), "{err}");
    }

    #[test]
    fn unknown_active_profile_is_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("config")).unwrap();
        std::fs::write(tmp.path().join("config/pkg.yaml"), "active_profile: work\n").unwrap();
        let err = load(tmp.path(), None, None).unwrap_err();
        assert!(matches!(err, ConfigError::UnknownProfile { .. }), "{err}");
        let err = load(tmp.path(), None, Some("a/b")).unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidProfileName { .. }),
            "{err}"
        );
    }

    #[test]
    fn config_hash_ignores_budget_and_other_profiles() {
        let base = LoadedConfig {
            config: Config::default(),
            source: ConfigSource::Defaults,
            warnings: vec![],
            profile_name: "default".to_string(),
        };
        let mut other = base.clone();
        other.config.storage.footprint_budget.multiplier = 9.0;
        other
            .config
            .profiles
            .insert("work".to_string(), Profile::default());
        assert_eq!(base.config_hash(), other.config_hash());
        let mut changed = base.clone();
        if let Some(p) = changed.config.profiles.get_mut("default") {
            p.ingestion.chunk_tokens = 100;
        }
        assert_ne!(base.config_hash(), changed.config_hash());
    }

    #[test]
    fn json_config_is_accepted() {
        let (config, _) =
            parse("{\"storage\": {\"footprint_budget\": {\"multiplier\": 2.5}}}").unwrap();
        assert_eq!(config.storage.footprint_budget.multiplier, 2.5);
    }
}
