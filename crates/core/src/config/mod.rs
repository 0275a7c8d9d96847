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
    /// The `git-provenance` stage (off by default). Left out of the hashed
    /// view while it holds the defaults, so a configuration that does not
    /// mention it keeps its run ids.
    #[serde(skip_serializing_if = "GitProvenance::is_default")]
    pub git_provenance: GitProvenance,
}

/// `git_provenance`: the Python tool's keys and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GitProvenance {
    pub enabled: bool,
    /// How many scored (tier 2) commits to keep besides the structural ones.
    pub max_tier2_commits: u32,
    /// Globs (fnmatch-like: `*` crosses `/`) of paths whose commits are
    /// always selected.
    pub hot_paths: Vec<String>,
    /// Globs of paths that do not count towards a commit's score.
    pub cold_paths: Vec<String>,
}

impl Default for GitProvenance {
    fn default() -> GitProvenance {
        GitProvenance {
            enabled: false,
            max_tier2_commits: 1000,
            hot_paths: Vec::new(),
            cold_paths: ["*.lock", "*-lock.json", "*.generated.*"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

impl GitProvenance {
    pub fn is_default(&self) -> bool {
        *self == GitProvenance::default()
    }
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
            git_provenance: GitProvenance::default(),
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
/// `.doc` is recognised to say why it is not read (save it as `.docx`).
pub const PARSEABLE_EXTENSIONS: &[&str] = &[
    ".md",
    ".markdown",
    ".txt",
    ".log",
    ".html",
    ".htm",
    ".docx",
    ".pdf",
    ".doc",
];

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
    #[error(
        "configuration file {} does not exist; check the path given to --config or AUDITGRAPH_CONFIG",
        path.display()
    )]
    NotFound { path: PathBuf },
    #[error(
        "configuration path {} is a directory, not a file; --config (and AUDITGRAPH_CONFIG) take the path of a YAML or JSON file, such as {}",
        path.display(),
        path.join("pkg.yaml").display()
    )]
    IsDirectory { path: PathBuf },
    #[error("cannot read configuration file {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{}", render_problems(file, problems))]
    Invalid {
        file: PathBuf,
        problems: Vec<ConfigProblem>,
    },
    /// The requested profile (`--profile`) is not configured. An unknown
    /// `active_profile` in a file is [`ConfigError::Invalid`], with its
    /// position.
    #[error("unknown profile '{name}': {}", describe_profiles(config, known))]
    UnknownProfile {
        name: String,
        /// The configured profile names.
        known: Vec<String>,
        /// Where they are configured.
        config: ConfigSource,
    },
    /// The requested profile (`--profile`) is not a valid profile name.
    #[error("invalid profile name '{name}': {reason}")]
    InvalidProfileName {
        name: String,
        reason: String,
        /// The configured profile names.
        known: Vec<String>,
        /// Where they are configured.
        config: ConfigSource,
    },
}

/// "c.yaml defines the profiles a, b" / "there is no configuration file...".
fn describe_profiles(source: &ConfigSource, known: &[String]) -> String {
    let list = known.join(", ");
    match source {
        ConfigSource::File(path) => {
            format!("{} defines only the profiles: {list}", path.display())
        }
        ConfigSource::Defaults => format!(
            "there is no configuration file, and the built-in defaults define only the profile: {list}"
        ),
    }
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
/// `explicit` is `--config` / `AUDITGRAPH_CONFIG`; it must be a file. Without
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
            match std::fs::metadata(&p) {
                Ok(meta) if meta.is_dir() => return Err(ConfigError::IsDirectory { path: p }),
                Ok(meta) if !meta.is_file() => {
                    return Err(ConfigError::Unreadable {
                        path: p,
                        reason: "it is not a regular file; pass the path of a YAML or JSON file"
                            .to_string(),
                    });
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(ConfigError::NotFound { path: p });
                }
                Err(e) => {
                    return Err(ConfigError::Unreadable {
                        path: p,
                        reason: e.to_string(),
                    });
                }
            }
            Some(p)
        }
        None => {
            let default = root.join("config").join("pkg.yaml");
            if default.is_dir() {
                return Err(ConfigError::Unreadable {
                    path: default,
                    reason: "it is a directory, not a file; remove or rename the directory, \
                             or pass --config with the path of a YAML or JSON file"
                        .to_string(),
                });
            }
            default.is_file().then_some(default)
        }
    };
    let (parsed, source) = match path {
        None => (
            Parsed {
                config: Config::default(),
                warnings: Vec::new(),
                unknown_active_profile: None,
            },
            ConfigSource::Defaults,
        ),
        Some(path) => {
            let bytes = std::fs::read(&path).map_err(|e| ConfigError::Unreadable {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let text = String::from_utf8(bytes).map_err(|e| ConfigError::Unreadable {
                path: path.clone(),
                reason: format!("not valid UTF-8 (at byte {})", e.utf8_error().valid_up_to()),
            })?;
            let parsed = parse_checked(&text, &path)?;
            (parsed, ConfigSource::File(path))
        }
    };
    resolve_profile(parsed, source, profile_override)
}

/// Builds a [`LoadedConfig`] from an already-parsed configuration (used by
/// `replay`, which loads a run's config snapshot).
pub fn from_snapshot(
    snapshot: &serde_json::Value,
    origin: &Path,
) -> Result<LoadedConfig, ConfigError> {
    let text = snapshot.to_string();
    let parsed = parse_checked(&text, origin)?;
    // The snapshot's own active_profile is the one to use; no override, so
    // an unknown one is reported as a problem of the snapshot file.
    resolve_profile(parsed, ConfigSource::File(origin.to_path_buf()), None)
}

fn resolve_profile(
    parsed: Parsed,
    source: ConfigSource,
    profile_override: Option<&str>,
) -> Result<LoadedConfig, ConfigError> {
    let Parsed {
        config,
        warnings,
        unknown_active_profile,
    } = parsed;
    let known = || config.profiles.keys().cloned().collect::<Vec<_>>();
    let name = match profile_override {
        Some(name) => {
            validate_profile_name(name).map_err(|reason| ConfigError::InvalidProfileName {
                name: name.to_string(),
                reason,
                known: known(),
                config: source.clone(),
            })?;
            name.to_string()
        }
        None => {
            if let (Some(problem), ConfigSource::File(file)) = (unknown_active_profile, &source) {
                return Err(ConfigError::Invalid {
                    file: file.clone(),
                    problems: vec![problem],
                });
            }
            config.active_profile.clone()
        }
    };
    if !config.profiles.contains_key(&name) {
        return Err(ConfigError::UnknownProfile {
            name,
            known: known(),
            config: source,
        });
    }
    Ok(LoadedConfig {
        config,
        source,
        warnings,
        profile_name: name,
    })
}

/// A configuration file read and validated, before the profile is chosen.
struct Parsed {
    config: Config,
    warnings: Vec<ConfigWarning>,
    /// `active_profile` names a profile `profiles:` does not define. Only an
    /// error when no `--profile` overrides it.
    unknown_active_profile: Option<ConfigProblem>,
}

/// Parses and validates configuration text. `file` is used in messages.
///
/// An `active_profile` that names no configured profile is not an error
/// here (`--profile` may override it); [`load`] reports it, with its
/// position, when it is the profile to use.
pub fn parse_text(text: &str, file: &Path) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
    parse_checked(text, file).map(|parsed| (parsed.config, parsed.warnings))
}

fn parse_checked(text: &str, file: &Path) -> Result<Parsed, ConfigError> {
    let invalid = |problems: Vec<ConfigProblem>| ConfigError::Invalid {
        file: file.to_path_buf(),
        problems,
    };
    let tree = tree::parse_config(text).map_err(|failure| {
        let (position, message) = if failure.too_complex {
            (
                // The parser's position for a safety limit points into the
                // expansion, not at anything to fix.
                Position { line: 1, column: 1 },
                format!("the configuration {}", failure.message),
            )
        } else {
            (
                failure.position,
                format!("not valid YAML or JSON: {}", failure.message),
            )
        };
        let expected = if failure.too_complex {
            "a configuration that spells out its values, with few anchors and aliases"
        } else {
            "a YAML or JSON mapping"
        };
        invalid(vec![ConfigProblem {
            position,
            key_path: String::new(),
            message,
            expected: expected.to_string(),
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
    if let Some((path, node)) = tree.first_non_finite() {
        let shown = scalar_text_at(text, node.position).unwrap_or_else(|| match &node.value {
            tree::NodeValue::Float(f) => f.to_string(),
            _ => String::new(),
        });
        return Err(invalid(vec![ConfigProblem {
            position: node.position,
            key_path: render_path(&path),
            message: format!("`{shown}` is not a finite number"),
            expected: expected_form(&path),
        }]));
    }
    let json = tree.to_json();
    let mut unknown: Vec<Vec<PathSegment>> = Vec::new();
    let typed: Result<Config, _> = {
        let mut record = |path: serde_ignored::Path<'_>| unknown.push(ignored_path(&path));
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
                expected: expected_form(&path),
            }]));
        }
    };
    // A file without `profiles:` still has the default profile.
    if config.profiles.is_empty() {
        config
            .profiles
            .insert("default".to_string(), Profile::default());
    }

    let problems: Vec<ConfigProblem> = validate(&config)
        .into_iter()
        .map(|issue| ConfigProblem {
            position: tree.position_of(&issue.path, issue.at_key),
            key_path: render_path(&issue.path),
            message: issue.message,
            expected: issue.expected,
        })
        .collect();
    if !problems.is_empty() {
        return Err(invalid(problems));
    }

    let unknown_active_profile = (!config.profiles.contains_key(&config.active_profile))
        .then(|| unknown_active_profile(&config, &tree));

    let warnings = unknown
        .into_iter()
        .map(|path| ConfigWarning {
            file: file.to_path_buf(),
            position: tree.position_of(&path, true),
            key_path: render_path(&path),
            message: "unknown key; it is ignored".to_string(),
        })
        .collect();
    Ok(Parsed {
        config,
        warnings,
        unknown_active_profile,
    })
}

/// The problem of an `active_profile` that names no configured profile,
/// located at its value (or, when the key is absent and `default` is
/// missing, at the `profiles` key).
fn unknown_active_profile(config: &Config, tree: &tree::Node) -> ConfigProblem {
    let name = &config.active_profile;
    let known: Vec<&str> = config.profiles.keys().map(String::as_str).collect();
    let known_text = known.join(", ");
    let active = [PathSegment::Key("active_profile".to_string())];
    let has_profiles_key = tree
        .get(&[PathSegment::Key("profiles".to_string())])
        .is_some();
    if tree.get(&active).is_some() {
        let defined = if has_profiles_key {
            format!("`profiles:` defines only: {known_text}")
        } else {
            format!(
                "there is no `profiles:` mapping, so the only profile is the built-in '{known_text}'"
            )
        };
        ConfigProblem {
            position: tree.position_of(&active, false),
            key_path: "active_profile".to_string(),
            message: format!("unknown profile '{name}': {defined}"),
            expected: format!(
                "one of the configured profile names ({known_text}), \
                 or a `{name}:` entry with its settings under `profiles:`"
            ),
        }
    } else {
        ConfigProblem {
            position: tree.position_of(&[PathSegment::Key("profiles".to_string())], true),
            key_path: "active_profile".to_string(),
            message: format!(
                "no active_profile is set, so the profile '{name}' is used, \
                 but `profiles:` defines only: {known_text}"
            ),
            expected: format!(
                "`active_profile:` naming one of the configured profiles ({known_text}), \
                 or a `{name}:` entry under `profiles:`"
            ),
        }
    }
}

/// The text of the plain scalar that starts at `position` (`.nan`,
/// `1e400`), to quote it as the user wrote it.
fn scalar_text_at(text: &str, position: Position) -> Option<String> {
    let line = text
        .lines()
        .nth(usize::try_from(position.line).ok()?.checked_sub(1)?)?;
    let column = usize::try_from(position.column).ok()?.checked_sub(1)?;
    let token: String = line
        .chars()
        .skip(column)
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}' | '#'))
        .collect();
    (!token.is_empty() && !token.starts_with(['"', '\''])).then_some(token)
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

/// The segments of an ignored (unknown) key's path, kept structured so a
/// key holding a dot (a profile named `v1.2`) is located correctly.
fn ignored_path(path: &serde_ignored::Path<'_>) -> Vec<PathSegment> {
    use serde_ignored::Path as P;
    let mut segments = Vec::new();
    let mut at = path;
    loop {
        match at {
            P::Root => break,
            P::Seq { parent, index } => {
                segments.push(PathSegment::Index(*index));
                at = parent;
            }
            P::Map { parent, key } => {
                segments.push(PathSegment::Key(key.clone()));
                at = parent;
            }
            P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
                at = parent;
            }
        }
    }
    segments.reverse();
    segments
}

/// A human description of the valid form of a key, for type errors.
fn expected_form(path: &[PathSegment]) -> String {
    let leaf = path
        .iter()
        .rev()
        .find_map(|segment| match segment {
            PathSegment::Key(k) => Some(k.as_str()),
            PathSegment::Index(_) => None,
        })
        .unwrap_or("");
    match leaf {
        "multiplier" => "a finite positive number such as 3.0",
        "warn_threshold" | "block_threshold" => "a finite positive number such as 0.8",
        "w_kw" | "w_sem" | "w_graph" => "a finite number such as 1.0",
        "score_rounding" => "a small non-negative number such as 0.000001",
        "max_file_size_bytes" => "a positive whole number of bytes",
        "chunk_tokens" | "chunk_overlap_tokens" => "a whole number such as 200",
        "max_document_frequency" | "max_related_per_note" => "a whole number such as 20",
        "enabled" => "true or false",
        "include_paths" | "exclude_globs" | "allowed_extensions" | "detectors" | "rule_packs"
        | "frontmatter_schema" => "a list of strings",
        "profiles" => "a mapping of profile names to profile settings",
        _ => "a value of the documented type (see `auditgraph init` for every key)",
    }
    .to_string()
}

/// One problem [`validate`] found, located by its path in the document.
struct Issue {
    path: Vec<PathSegment>,
    /// Point at the key itself (a bad profile name) rather than its value.
    at_key: bool,
    message: String,
    expected: String,
}

impl Issue {
    /// A problem with the value at `path`.
    fn at_value(path: Vec<PathSegment>, message: String, expected: String) -> Issue {
        Issue {
            path,
            at_key: false,
            message,
            expected,
        }
    }
}

/// `base` followed by `keys`.
fn key_path(base: &[PathSegment], keys: &[&str]) -> Vec<PathSegment> {
    let mut path = base.to_vec();
    path.extend(keys.iter().map(|k| PathSegment::Key((*k).to_string())));
    path
}

/// `base` followed by `keys` and an index.
fn item_path(base: &[PathSegment], keys: &[&str], index: usize) -> Vec<PathSegment> {
    let mut path = key_path(base, keys);
    path.push(PathSegment::Index(index));
    path
}

const PROFILE_NAME_FORM: &str =
    "a profile name of letters, digits, '-', '_' and '.' that does not start with '.'";

fn validate(config: &Config) -> Vec<Issue> {
    let mut issues = Vec::new();
    let mut report =
        |path, message, expected| issues.push(Issue::at_value(path, message, expected));
    let budget = &config.storage.footprint_budget;
    let b = key_path(&[], &["storage", "footprint_budget"]);
    if !(budget.multiplier.is_finite() && budget.multiplier > 0.0) {
        report(
            key_path(&b, &["multiplier"]),
            format!("multiplier {} is not a positive number", budget.multiplier),
            "a finite positive number such as 3.0".to_string(),
        );
    }
    for (name, value) in [
        ("warn_threshold", budget.warn_threshold),
        ("block_threshold", budget.block_threshold),
    ] {
        if !(value.is_finite() && value > 0.0) {
            report(
                key_path(&b, &[name]),
                format!("{name} {value} is not a positive number"),
                "a finite positive number such as 0.8".to_string(),
            );
        }
    }
    if budget.warn_threshold > budget.block_threshold {
        report(
            key_path(&b, &["warn_threshold"]),
            format!(
                "warn_threshold {} is above block_threshold {}",
                budget.warn_threshold, budget.block_threshold
            ),
            "warn_threshold <= block_threshold".to_string(),
        );
    }
    if config.run_metadata.pipeline_version.trim().is_empty() {
        report(
            key_path(&[], &["run_metadata", "pipeline_version"]),
            "pipeline_version is empty".to_string(),
            "a version label such as v0.1.0".to_string(),
        );
    }
    let known = known_detectors();
    for (i, detector) in config.security.redaction.detectors.iter().enumerate() {
        if !known.contains(&detector.as_str()) {
            report(
                item_path(&[], &["security", "redaction", "detectors"], i),
                format!("unknown detector '{detector}'"),
                format!("one of {}", known.join(", ")),
            );
        }
    }
    if let Err(reason) = validate_profile_name(&config.active_profile) {
        report(
            key_path(&[], &["active_profile"]),
            format!("profile name '{}' {reason}", config.active_profile),
            PROFILE_NAME_FORM.to_string(),
        );
    }
    for (name, profile) in &config.profiles {
        let p = key_path(&[], &["profiles", name]);
        if let Err(reason) = validate_profile_name(name) {
            issues.push(Issue {
                path: p.clone(),
                at_key: true,
                message: format!("profile name '{name}' {reason}"),
                expected: PROFILE_NAME_FORM.to_string(),
            });
        }
        validate_profile(profile, &p, &mut issues);
    }
    issues
}

fn validate_profile(profile: &Profile, p: &[PathSegment], issues: &mut Vec<Issue>) {
    let mut report =
        |path, message, expected| issues.push(Issue::at_value(path, message, expected));
    for (i, include) in profile.include_paths.iter().enumerate() {
        if let Err(reason) = crate::paths::check_relative_inside(include) {
            report(
                item_path(p, &["include_paths"], i),
                format!("include path '{include}' {reason}"),
                "a path relative to the workspace root, such as notes or .".to_string(),
            );
        }
    }
    for (i, glob) in profile.exclude_globs.iter().enumerate() {
        if let Err(e) = globset::Glob::new(glob) {
            report(
                item_path(p, &["exclude_globs"], i),
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
                key_path(p, &["normalization", key]),
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
                item_path(p, &["ingestion", "allowed_extensions"], i),
                format!("'{ext}' is not a file extension"),
                "an extension with its dot, such as .md".to_string(),
            );
        }
    }
    if ing.max_file_size_bytes == 0 {
        report(
            key_path(p, &["ingestion", "max_file_size_bytes"]),
            "max_file_size_bytes is 0".to_string(),
            "a positive whole number of bytes".to_string(),
        );
    }
    if ing.chunk_tokens == 0 {
        report(
            key_path(p, &["ingestion", "chunk_tokens"]),
            "chunk_tokens is 0".to_string(),
            "a positive whole number such as 200".to_string(),
        );
    }
    if ing.chunk_overlap_tokens >= ing.chunk_tokens && ing.chunk_tokens > 0 {
        report(
            key_path(p, &["ingestion", "chunk_overlap_tokens"]),
            format!(
                "chunk_overlap_tokens {} is not below chunk_tokens {}",
                ing.chunk_overlap_tokens, ing.chunk_tokens
            ),
            "0 <= chunk_overlap_tokens < chunk_tokens".to_string(),
        );
    }
    if !["off", "auto", "on"].contains(&ing.ocr_mode.as_str()) {
        report(
            key_path(p, &["ingestion", "ocr_mode"]),
            format!("'{}' is not an OCR mode", ing.ocr_mode),
            "off, auto or on".to_string(),
        );
    }
    let git = &profile.git_provenance;
    for (key, globs) in [
        ("hot_paths", &git.hot_paths),
        ("cold_paths", &git.cold_paths),
    ] {
        for (i, glob) in globs.iter().enumerate() {
            if let Err(e) = globset::Glob::new(glob) {
                report(
                    item_path(p, &["git_provenance", key], i),
                    format!("'{glob}' is not a glob: {}", e.kind()),
                    "a glob such as docs/** or *.lock".to_string(),
                );
            }
        }
    }
    let co = &profile.linking.cooccurrence;
    if co.max_document_frequency < 2 {
        report(
            key_path(p, &["linking", "cooccurrence", "max_document_frequency"]),
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
            key_path(p, &["search", "ranking", "score_rounding"]),
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
        // From the file: located at the value.
        let err = load(tmp.path(), None, None).unwrap_err();
        let ConfigError::Invalid { problems, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(problems[0].key_path, "active_profile");
        assert_eq!(
            (problems[0].position.line, problems[0].position.column),
            (1, 17)
        );
        assert!(
            problems[0].expected.contains("(default)"),
            "{}",
            problems[0].expected
        );
        // From --profile: typed, with the configured names.
        let err = load(tmp.path(), None, Some("nope")).unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnknownProfile { known, config: ConfigSource::File(_), .. } if known == &["default"]),
            "{err}"
        );
        let err = load(tmp.path(), None, Some("a/b")).unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidProfileName { .. }),
            "{err}"
        );
        // A valid --profile overrides a stale active_profile.
        assert_eq!(
            load(tmp.path(), None, Some("default"))
                .unwrap()
                .profile_name,
            "default"
        );
    }

    #[test]
    fn comment_only_file_gives_defaults() {
        for text in ["# nothing here\n", "\n# a\n  # b\n", "---\n# c\n"] {
            let (config, warnings) = parse(text).unwrap();
            assert_eq!(config, Config::default(), "{text:?}");
            assert!(warnings.is_empty());
        }
        assert!(parse("# c\nnull\n").is_err());
    }

    #[test]
    fn non_finite_numbers_name_their_key() {
        for (text, shown, line_col) in [
            (
                "storage: {footprint_budget: {multiplier: .nan}}\n",
                ".nan",
                "1:42",
            ),
            (
                "storage:\n  footprint_budget:\n    multiplier: 1e400\n",
                "1e400",
                "3:17",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.contains(&format!(
                    "pkg.yaml:{line_col}: storage.footprint_budget.multiplier: `{shown}` is not a finite number; expected a finite positive number"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn profile_keys_with_dots_are_located() {
        let err = parse("profiles:\n  default: {}\n  \"..\":\n    include_paths: [.]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pkg.yaml:3:3: profiles.\"..\":"), "{err}");
        let (_, warnings) = parse("profiles:\n  v1.2:\n    extra: 1\n").unwrap();
        assert_eq!(warnings[0].key_path, "profiles.\"v1.2\".extra");
        assert_eq!(
            (warnings[0].position.line, warnings[0].position.column),
            (3, 5)
        );
    }

    #[test]
    fn a_directory_is_not_a_config_file() {
        let tmp = tempfile::tempdir().unwrap();
        let err = load(tmp.path(), Some(tmp.path()), None).unwrap_err();
        assert!(matches!(err, ConfigError::IsDirectory { .. }), "{err}");
        std::fs::create_dir_all(tmp.path().join("config/pkg.yaml")).unwrap();
        let err = load(tmp.path(), None, None).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
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
