//! `config/jobs.yaml` (or `config/jobs.json`): the reports a team runs on a
//! schedule, read as the Python auditgraph reads it and validated with the
//! positions of [`crate::config::tree`], so every problem is reported as
//! `file:line:column: key: what is wrong; expected what`.
//!
//! ```yaml
//! jobs:
//!   weekly_changes:                  # a mapping name -> job ...
//!     action:
//!       type: report.changed_since
//!       args: { since: 7d }
//!     output:
//!       path: exports/reports/weekly.md   # default exports/reports/<name>.md
//!       format: markdown                  # or json
//! ```
//!
//! `jobs` may also be a list of jobs that each carry a `name`. Unlike the
//! Python tool, which checked only `action.type` and failed later, every
//! action and argument is checked when the file is read: an unknown action,
//! a misspelt argument, a duration without a unit or an output outside
//! `exports/` is a configuration error before any report is written.
//! Unknown keys outside `args` are warnings, as in `pkg.yaml`.

use crate::config::tree::{self, Node, NodeValue, PathSegment, Position, render_path};
use crate::config::{ConfigError, ConfigProblem, ConfigWarning, validate_profile_name};
use crate::jobs::time::{Span, looks_like_span, parse_span};
use std::path::{Component, Path, PathBuf};

/// Where the jobs file lives, relative to the workspace root.
pub const JOBS_YAML: &str = "config/jobs.yaml";
pub const JOBS_JSON: &str = "config/jobs.json";

/// The directory reports must stay in, and the default one.
pub const EXPORTS_DIR: &str = crate::export::output::EXPORTS_DIR;
pub const REPORTS_DIR: &str = "exports/reports";

/// Every action, with what its arguments are.
pub const ACTIONS: [(&str, &[&str]); 5] = [
    ("report.changed_since", &["since", "limit"]),
    ("report.broken_references", &["limit"]),
    ("report.stale_notes", &["older_than", "history", "limit"]),
    ("report.evidence", &["query", "ids", "limit"]),
    ("report.budget", &["keep"]),
];

/// Defaults of the arguments.
pub const DEFAULT_SINCE: &str = "24h";
pub const DEFAULT_LIMIT: usize = 100;
pub const DEFAULT_OLDER_THAN: &str = "90d";
pub const DEFAULT_EVIDENCE_LIMIT: usize = 10;

/// The jobs of a workspace, sorted by name.
#[derive(Debug, Clone)]
pub struct JobsFile {
    pub file: PathBuf,
    pub jobs: Vec<Job>,
    pub warnings: Vec<ConfigWarning>,
}

impl JobsFile {
    pub fn get(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub action: Action,
    /// `action.args` as written (recorded in the report header).
    pub args: serde_json::Value,
    /// `output.path` as written, else `exports/reports/<name>.<ext>`.
    pub path: Option<PathBuf>,
    pub format: ReportFormat,
}

impl Job {
    /// The output path relative to the root, for a format: `output.path`
    /// (with the extension of `format` when `jobs run --json` overrides
    /// the configured format), else `exports/reports/<name>.<ext>`.
    pub fn output_path(&self, format: ReportFormat) -> PathBuf {
        match &self.path {
            Some(path) if format == self.format => path.clone(),
            Some(path) => path.with_extension(format.extension()),
            None => Path::new(REPORTS_DIR).join(format!("{}.{}", self.name, format.extension())),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Markdown,
    Json,
}

impl ReportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Markdown => "md",
            ReportFormat::Json => "json",
        }
    }
}

/// What `report.changed_since` compares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// The run that was current this long before the report's time.
    Span(Span),
    /// A run id or unique prefix.
    Run(String),
}

/// Where `report.stale_notes` learns when a source last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// The store's run history (the trail).
    Runs,
    /// The git provenance of the current run: a source last changed at
    /// the latest selected commit that changed it.
    Git,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvidenceTarget {
    Query { text: String, limit: usize },
    Ids(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    ChangedSince {
        since: Since,
        limit: usize,
    },
    BrokenReferences {
        limit: usize,
    },
    StaleNotes {
        older_than: Span,
        history: History,
        limit: usize,
    },
    Evidence(EvidenceTarget),
    Budget {
        keep: usize,
    },
}

impl Action {
    pub fn type_name(&self) -> &'static str {
        match self {
            Action::ChangedSince { .. } => "report.changed_since",
            Action::BrokenReferences { .. } => "report.broken_references",
            Action::StaleNotes { .. } => "report.stale_notes",
            Action::Evidence(_) => "report.evidence",
            Action::Budget { .. } => "report.budget",
        }
    }
}

/// Where the jobs file of a workspace is: `explicit` (`--file`), else
/// `config/jobs.yaml` or `config/jobs.json` under the root (both present is
/// an error: which one is meant?).
pub fn locate(root: &Path, explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let yaml = root.join(JOBS_YAML);
    let json = root.join(JOBS_JSON);
    match (yaml.exists(), json.exists()) {
        (true, true) => Err(ConfigError::Unreadable {
            path: json,
            reason: format!(
                "both {} and {JOBS_JSON} exist, and only one may define the jobs; remove one of them",
                JOBS_YAML
            ),
        }),
        (false, true) => Ok(json),
        _ => Ok(yaml),
    }
}

/// Reads and validates a jobs file.
pub fn load(path: &Path) -> Result<JobsFile, ConfigError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::Unreadable {
                path: path.to_path_buf(),
                reason: format!(
                    "the jobs configuration does not exist; write one (examples/config/jobs.yaml in the auditgraph repository is a start) at {JOBS_YAML} under the workspace root"
                ),
            });
        }
        Err(e) if path.is_dir() => {
            return Err(ConfigError::Unreadable {
                path: path.to_path_buf(),
                reason: format!("it is a directory, not a YAML or JSON file ({e})"),
            });
        }
        Err(e) => {
            return Err(ConfigError::Unreadable {
                path: path.to_path_buf(),
                reason: e.to_string(),
            });
        }
    };
    let text = String::from_utf8(bytes).map_err(|e| ConfigError::Unreadable {
        path: path.to_path_buf(),
        reason: format!("not UTF-8 text ({e})"),
    })?;
    parse_text(&text, path)
}

/// Validates jobs configuration text; `file` is used in messages.
pub fn parse_text(text: &str, file: &Path) -> Result<JobsFile, ConfigError> {
    let invalid = |problems: Vec<ConfigProblem>| ConfigError::Invalid {
        file: file.to_path_buf(),
        problems,
    };
    let root = tree::parse_config(text).map_err(|failure| {
        let position = if failure.too_complex || failure.position.line == 0 {
            Position { line: 1, column: 1 }
        } else {
            failure.position
        };
        invalid(vec![ConfigProblem {
            position,
            key_path: String::new(),
            message: format!("not valid YAML or JSON: {}", failure.message),
            expected: "a YAML or JSON mapping with a `jobs` key".to_string(),
        }])
    })?;
    let mut v = Validator {
        file,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let jobs = v.document(&root);
    if !v.problems.is_empty() {
        return Err(invalid(v.problems));
    }
    let mut jobs = jobs;
    jobs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(JobsFile {
        file: file.to_path_buf(),
        jobs,
        warnings: v.warnings,
    })
}

struct Validator<'a> {
    file: &'a Path,
    problems: Vec<ConfigProblem>,
    warnings: Vec<ConfigWarning>,
}

/// A path for messages: `jobs.weekly.action.type`.
fn at(path: &[PathSegment], more: &[&str]) -> Vec<PathSegment> {
    let mut p = path.to_vec();
    p.extend(more.iter().map(|k| PathSegment::Key((*k).to_string())));
    p
}

fn entries(node: &Node) -> Option<&Vec<(String, Position, Node)>> {
    match &node.value {
        NodeValue::Map(entries) => Some(entries),
        _ => None,
    }
}

fn get<'n>(node: &'n Node, key: &str) -> Option<(&'n Position, &'n Node)> {
    entries(node)?
        .iter()
        .find(|(k, _, _)| k == key)
        .map(|(_, pos, n)| (pos, n))
}

/// What a node is, for "found ..." messages.
fn kind_of(node: &Node) -> String {
    match &node.value {
        NodeValue::Null => "nothing (null)".to_string(),
        NodeValue::Bool(b) => format!("the boolean `{b}`"),
        NodeValue::Int(i) => format!("the number `{i}`"),
        NodeValue::Float(f) => format!("the number `{f}`"),
        NodeValue::Str(s) => format!("the text {}", serde_json::Value::String(s.clone())),
        NodeValue::Seq(_) => "a list".to_string(),
        NodeValue::Map(_) => "a mapping".to_string(),
    }
}

impl Validator<'_> {
    fn problem(&mut self, pos: Position, path: &[PathSegment], message: String, expected: &str) {
        self.problems.push(ConfigProblem {
            position: pos,
            key_path: render_path(path),
            message,
            expected: expected.to_string(),
        });
    }

    /// "`what` is a list"-style problem at `node`.
    fn wrong(&mut self, node: &Node, path: &[PathSegment], what: &str, expected: &str) {
        self.problem(
            node.position,
            path,
            format!("`{what}` is {}", kind_of(node)),
            expected,
        );
    }

    fn unknown_keys(&mut self, node: &Node, path: &[PathSegment], known: &[&str]) {
        for (key, pos, _) in entries(node).into_iter().flatten() {
            if !known.contains(&key.as_str()) {
                self.warnings.push(ConfigWarning {
                    file: self.file.to_path_buf(),
                    position: *pos,
                    key_path: render_path(&at(path, &[key])),
                    message: format!("unknown key; it is ignored (known: {})", known.join(", ")),
                });
            }
        }
    }

    fn document(&mut self, root: &Node) -> Vec<Job> {
        if entries(root).is_none() {
            self.problem(
                root.position,
                &[],
                format!("the jobs configuration is {}, not a mapping", kind_of(root)),
                "a mapping with a `jobs` key",
            );
            return Vec::new();
        }
        self.unknown_keys(root, &[], &["jobs"]);
        let Some((_, jobs)) = get(root, "jobs") else {
            self.problem(
                root.position,
                &[],
                "the jobs configuration has no `jobs` section".to_string(),
                "a `jobs:` key holding a mapping of job names to jobs, or a list of jobs with a `name`",
            );
            return Vec::new();
        };
        let path = at(&[], &["jobs"]);
        let mut out: Vec<Job> = Vec::new();
        let mut seen: Vec<(String, Position)> = Vec::new();
        let mut push =
            |v: &mut Self, name: String, pos: Position, job_path: &[PathSegment], node: &Node| {
                if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                    v.problem(
                        pos,
                        job_path,
                        format!(
                            "duplicate job name `{name}` (first defined at line {}, column {})",
                            first.line, first.column
                        ),
                        "each job name once",
                    );
                    return;
                }
                seen.push((name.clone(), pos));
                if let Some(job) = v.job(name, pos, job_path, node) {
                    out.push(job);
                }
            };
        match &jobs.value {
            NodeValue::Map(items) => {
                for (name, pos, node) in items {
                    let job_path = at(&path, &[name]);
                    push(self, name.clone(), *pos, &job_path, node);
                }
            }
            NodeValue::Seq(items) => {
                for (i, node) in items.iter().enumerate() {
                    let mut job_path = path.clone();
                    job_path.push(PathSegment::Index(i));
                    if entries(node).is_none() {
                        self.problem(
                            node.position,
                            &job_path,
                            format!("a job is {}, not a mapping", kind_of(node)),
                            "a mapping with `name`, `action` and optionally `output`",
                        );
                        continue;
                    }
                    match get(node, "name") {
                        Some((_, n)) => match &n.value {
                            NodeValue::Str(name) => {
                                push(self, name.clone(), n.position, &job_path, node)
                            }
                            _ => self.problem(
                                n.position,
                                &at(&job_path, &["name"]),
                                format!("the job name is {}", kind_of(n)),
                                "a job name such as `weekly_changes`",
                            ),
                        },
                        None => self.problem(
                            node.position,
                            &job_path,
                            "a job in the list has no `name`".to_string(),
                            "a `name:` key in every job of a list",
                        ),
                    }
                }
            }
            _ => self.wrong(
                jobs,
                &path,
                "jobs",
                "a mapping of job names to jobs, or a list of jobs with a `name`",
            ),
        }
        out
    }

    fn job(
        &mut self,
        name: String,
        name_pos: Position,
        path: &[PathSegment],
        node: &Node,
    ) -> Option<Job> {
        let before = self.problems.len();
        if let Err(why) = validate_profile_name(&name) {
            self.problem(
                name_pos,
                path,
                format!("the job name `{name}` {why}"),
                "a name of letters, digits, '-', '_' and '.' (it names the default report file)",
            );
        }
        if entries(node).is_none() {
            self.problem(
                node.position,
                path,
                format!("job `{name}` is {}, not a mapping", kind_of(node)),
                "a mapping with `action` and optionally `output`",
            );
            return None;
        }
        self.unknown_keys(node, path, &["name", "action", "output"]);
        let action = self.action(&name, path, node);
        let (out_path, format) = self.output(path, node);
        if self.problems.len() > before {
            return None;
        }
        let args = get(node, "action")
            .and_then(|(_, a)| get(a, "args"))
            .map(|(_, a)| a.to_json())
            .unwrap_or_else(|| serde_json::json!({}));
        Some(Job {
            name,
            action: action?,
            args,
            path: out_path,
            format,
        })
    }

    fn action(&mut self, name: &str, path: &[PathSegment], node: &Node) -> Option<Action> {
        let expected_type = format!(
            "one of {}",
            ACTIONS
                .iter()
                .map(|(t, _)| *t)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let Some((_, action)) = get(node, "action") else {
            self.problem(
                node.position,
                path,
                format!("job `{name}` has no `action`"),
                "`action:` with a `type:` such as report.changed_since",
            );
            return None;
        };
        let apath = at(path, &["action"]);
        if entries(action).is_none() {
            self.wrong(
                action,
                &apath,
                "action",
                "a mapping with `type` and optionally `args`",
            );
            return None;
        }
        self.unknown_keys(action, &apath, &["type", "args"]);
        let type_name = match get(action, "type") {
            Some((
                _,
                Node {
                    value: NodeValue::Str(t),
                    ..
                },
            )) => t.clone(),
            Some((_, other)) => {
                self.problem(
                    other.position,
                    &at(&apath, &["type"]),
                    format!("`action.type` is {}", kind_of(other)),
                    &expected_type,
                );
                return None;
            }
            None => {
                self.problem(
                    action.position,
                    &apath,
                    format!("job `{name}` must define action.type"),
                    &expected_type,
                );
                return None;
            }
        };
        let type_pos = get(action, "type")
            .map(|(_, n)| n.position)
            .unwrap_or_default();
        let Some((_, known_args)) = ACTIONS.iter().find(|(t, _)| *t == type_name) else {
            self.problem(
                type_pos,
                &at(&apath, &["type"]),
                format!("unsupported job action `{type_name}`"),
                &expected_type,
            );
            return None;
        };
        let args_path = at(&apath, &["args"]);
        let empty = Node {
            position: action.position,
            value: NodeValue::Map(Vec::new()),
        };
        let args = match get(action, "args") {
            None => &empty,
            Some((_, n)) if matches!(n.value, NodeValue::Null) => &empty,
            Some((_, n)) if entries(n).is_some() => n,
            Some((_, n)) => {
                self.wrong(
                    n,
                    &args_path,
                    "action.args",
                    "a mapping of argument names to values",
                );
                return None;
            }
        };
        for (key, pos, _) in entries(args).into_iter().flatten() {
            if !known_args.contains(&key.as_str()) {
                self.problem(
                    *pos,
                    &at(&args_path, &[key]),
                    format!("`{type_name}` has no argument `{key}`"),
                    &if known_args.is_empty() {
                        "no arguments".to_string()
                    } else {
                        format!("one of {}", known_args.join(", "))
                    },
                );
            }
        }
        let args = Args {
            node: args,
            path: args_path,
        };
        let action = match type_name.as_str() {
            "report.changed_since" => Action::ChangedSince {
                since: self.since(&args)?,
                limit: self.count(&args, "limit", DEFAULT_LIMIT)?,
            },
            "report.broken_references" => Action::BrokenReferences {
                limit: self.count(&args, "limit", DEFAULT_LIMIT)?,
            },
            "report.stale_notes" => Action::StaleNotes {
                older_than: self.span(&args, "older_than", DEFAULT_OLDER_THAN)?,
                history: self.history(&args)?,
                limit: self.count(&args, "limit", DEFAULT_LIMIT)?,
            },
            "report.evidence" => Action::Evidence(self.evidence(&args)?),
            _ => Action::Budget {
                keep: self.number(&args, "keep", crate::gc::DEFAULT_KEEP, 0)?,
            },
        };
        Some(action)
    }

    fn text<'n>(
        &mut self,
        args: &'n Args<'_>,
        key: &str,
        expected: &str,
    ) -> Option<Option<&'n str>> {
        match get(args.node, key) {
            None => Some(None),
            Some((
                _,
                Node {
                    value: NodeValue::Str(s),
                    ..
                },
            )) => Some(Some(s.as_str())),
            Some((_, n)) => {
                self.problem(
                    n.position,
                    &at(&args.path, &[key]),
                    format!("`{key}` is {}", kind_of(n)),
                    expected,
                );
                None
            }
        }
    }

    fn span(&mut self, args: &Args<'_>, key: &str, default: &str) -> Option<Span> {
        let expected = "a duration: a whole number and a unit s, m, h, d or w, such as 24h or 7d";
        let Some((_, n)) = get(args.node, key) else {
            return parse_span(default).ok();
        };
        let text = match &n.value {
            NodeValue::Str(s) => s.clone(),
            NodeValue::Int(i) => i.to_string(),
            _ => {
                self.problem(
                    n.position,
                    &at(&args.path, &[key]),
                    format!("`{key}` is {}", kind_of(n)),
                    expected,
                );
                return None;
            }
        };
        match parse_span(&text) {
            Ok(span) => Some(span),
            Err(why) => {
                self.problem(n.position, &at(&args.path, &[key]), why, expected);
                None
            }
        }
    }

    fn since(&mut self, args: &Args<'_>) -> Option<Since> {
        let expected = "a duration such as 24h or 7d, or a run id (`run_` and hex, or a unique prefix of 8 or more hex characters)";
        let Some((_, n)) = get(args.node, "since") else {
            return parse_span(DEFAULT_SINCE).ok().map(Since::Span);
        };
        let path = at(&args.path, &["since"]);
        let text = match &n.value {
            NodeValue::Str(s) => s.trim().to_string(),
            NodeValue::Int(i) => i.to_string(),
            _ => {
                self.wrong(n, &path, "since", expected);
                return None;
            }
        };
        if looks_like_span(&text) || text.chars().all(|c| c.is_ascii_digit()) && text.len() < 8 {
            return match parse_span(&text) {
                Ok(span) => Some(Since::Span(span)),
                Err(why) => {
                    self.problem(n.position, &path, why, expected);
                    None
                }
            };
        }
        let hex = text.strip_prefix("run_").unwrap_or(&text);
        if hex.len() >= 8 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Some(Since::Run(text));
        }
        self.problem(
            n.position,
            &path,
            format!("`{text}` is neither a duration nor a run id"),
            expected,
        );
        None
    }

    fn history(&mut self, args: &Args<'_>) -> Option<History> {
        let expected =
            "`runs` (the store's run history) or `git` (the current run's git provenance)";
        match self.text(args, "history", expected)? {
            None | Some("runs") => Some(History::Runs),
            Some("git") => Some(History::Git),
            Some(other) => {
                let pos = get(args.node, "history")
                    .map(|(_, n)| n.position)
                    .unwrap_or_default();
                let message = format!("unknown history `{other}`");
                self.problem(pos, &at(&args.path, &["history"]), message, expected);
                None
            }
        }
    }

    fn count(&mut self, args: &Args<'_>, key: &str, default: usize) -> Option<usize> {
        self.number(args, key, default, 1)
    }

    fn number(&mut self, args: &Args<'_>, key: &str, default: usize, min: usize) -> Option<usize> {
        let expected = format!("a whole number from {min} to 100000");
        match get(args.node, key) {
            None => Some(default),
            Some((
                _,
                Node {
                    value: NodeValue::Int(i),
                    ..
                },
            )) if usize::try_from(*i).is_ok_and(|n| (min..=100_000).contains(&n)) => {
                usize::try_from(*i).ok()
            }
            Some((_, n)) => {
                self.problem(
                    n.position,
                    &at(&args.path, &[key]),
                    format!("`{key}` is {}", kind_of(n)),
                    &expected,
                );
                None
            }
        }
    }

    fn evidence(&mut self, args: &Args<'_>) -> Option<EvidenceTarget> {
        let query = self.text(
            args,
            "query",
            "the text of a search, as `auditgraph query --q` takes it",
        )?;
        let limit = self.count(args, "limit", DEFAULT_EVIDENCE_LIMIT)?;
        let ids = get(args.node, "ids");
        match (query, ids) {
            (Some(q), None) if !q.trim().is_empty() => Some(EvidenceTarget::Query {
                text: q.to_string(),
                limit,
            }),
            (Some(_), None) => {
                let pos = get(args.node, "query")
                    .map(|(_, n)| n.position)
                    .unwrap_or_default();
                self.problem(
                    pos,
                    &at(&args.path, &["query"]),
                    "the query is empty".to_string(),
                    "search words",
                );
                None
            }
            (None, Some((_, n))) => self.ids(args, n),
            (Some(_), Some((_, n))) => {
                self.problem(
                    n.position,
                    &at(&args.path, &["ids"]),
                    "`report.evidence` takes `query` or `ids`, not both".to_string(),
                    "either `query: <text>` or `ids: [<entity id>, ...]`",
                );
                None
            }
            (None, None) => {
                self.problem(
                    args.node.position,
                    &args.path,
                    "`report.evidence` needs `query` or `ids`".to_string(),
                    "either `query: <text>` or `ids: [<entity id>, ...]`",
                );
                None
            }
        }
    }

    fn ids(&mut self, args: &Args<'_>, node: &Node) -> Option<EvidenceTarget> {
        let expected =
            "a list of entity ids (`ent_` and 64 hex characters, as `query` and `list` print them)";
        let path = at(&args.path, &["ids"]);
        let NodeValue::Seq(items) = &node.value else {
            self.wrong(node, &path, "ids", expected);
            return None;
        };
        if items.is_empty() {
            self.problem(node.position, &path, "`ids` is empty".to_string(), expected);
            return None;
        }
        let mut ids = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let mut p = path.clone();
            p.push(PathSegment::Index(i));
            match &item.value {
                NodeValue::Str(s)
                    if s.strip_prefix("ent_").is_some_and(|h| {
                        h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit())
                    }) =>
                {
                    ids.push(s.to_ascii_lowercase())
                }
                _ => self.problem(
                    item.position,
                    &p,
                    format!("{} is not an entity id", kind_of(item)),
                    expected,
                ),
            }
        }
        (ids.len() == items.len()).then_some(EvidenceTarget::Ids(ids))
    }

    fn output(&mut self, path: &[PathSegment], node: &Node) -> (Option<PathBuf>, ReportFormat) {
        let mut format = ReportFormat::Markdown;
        let Some((_, out)) = get(node, "output") else {
            return (None, format);
        };
        let opath = at(path, &["output"]);
        if matches!(out.value, NodeValue::Null) {
            return (None, format);
        }
        if entries(out).is_none() {
            self.wrong(
                out,
                &opath,
                "output",
                "a mapping with `path` and/or `format`",
            );
            return (None, format);
        }
        self.unknown_keys(out, &opath, &["path", "format"]);
        match get(out, "format").map(|(_, n)| n) {
            None => {}
            Some(Node {
                value: NodeValue::Str(s),
                ..
            }) if matches!(s.as_str(), "md" | "markdown") => {}
            Some(Node {
                value: NodeValue::Str(s),
                ..
            }) if s == "json" => format = ReportFormat::Json,
            Some(n) => self.problem(
                n.position,
                &at(&opath, &["format"]),
                format!("`output.format` is {}", kind_of(n)),
                "`markdown` (or `md`) or `json`",
            ),
        }
        let given = match get(out, "path").map(|(_, n)| n) {
            None => None,
            Some(Node {
                value: NodeValue::Str(s),
                position,
            }) => match confine(Path::new(s)) {
                Ok(()) => Some(PathBuf::from(s)),
                Err(why) => {
                    self.problem(*position, &at(&opath, &["path"]), why, CONFINED);
                    None
                }
            },
            Some(n) => {
                self.problem(
                    n.position,
                    &at(&opath, &["path"]),
                    format!("`output.path` is {}", kind_of(n)),
                    CONFINED,
                );
                None
            }
        };
        (given, format)
    }
}

/// The arguments of an action and where they are.
struct Args<'n> {
    node: &'n Node,
    path: Vec<PathSegment>,
}

pub const CONFINED: &str =
    "a file path under exports/ relative to the workspace root, such as exports/reports/weekly.md";

/// Checks lexically that an output path stays under `exports/`: relative,
/// no `..` that climbs out, a file name at the end. Links on the way are
/// checked when the report is written.
pub fn confine(path: &Path) -> Result<(), String> {
    let shown = path.display();
    if path.as_os_str().is_empty() {
        return Err("the output path is empty".to_string());
    }
    if path.is_absolute() {
        return Err(format!(
            "the output path {shown} is absolute; reports are written only under exports/ in the workspace"
        ));
    }
    if path.as_os_str().as_encoded_bytes().ends_with(b"/") {
        return Err(format!(
            "the output path {shown} ends with `/`, so it names a directory"
        ));
    }
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(format!(
                        "the output path {shown} climbs out of the workspace root"
                    ));
                }
            }
            _ => return Err(format!("the output path {shown} is not relative")),
        }
    }
    if parts.len() < 2 || parts[0] != EXPORTS_DIR {
        return Err(format!(
            "the output path {shown} is outside exports/; reports are written only under exports/"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> String {
        match parse_text(text, Path::new("jobs.yaml")) {
            Ok(f) => panic!("accepted: {:?}", f.jobs),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn reads_mapping_and_list_forms() {
        let map = parse_text(
            "jobs:\n  b:\n    action: {type: report.budget}\n  a:\n    action:\n      type: report.changed_since\n      args: {since: 7d}\n",
            Path::new("j.yaml"),
        )
        .unwrap();
        assert_eq!(
            map.jobs.iter().map(|j| j.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(
            map.jobs[0].output_path(ReportFormat::Markdown),
            Path::new("exports/reports/a.md")
        );
        let list = parse_text(
            r#"{"jobs": [{"name": "x", "action": {"type": "report.evidence", "args": {"ids": ["ent_0000000000000000000000000000000000000000000000000000000000000000"]}}, "output": {"path": "exports/x.json", "format": "json"}}]}"#,
            Path::new("j.json"),
        )
        .unwrap();
        assert_eq!(list.jobs[0].format, ReportFormat::Json);
    }

    #[test]
    fn errors_carry_positions() {
        assert!(
            problems("jobs: 3\n").starts_with("jobs.yaml:1:7: jobs:"),
            "{}",
            problems("jobs: 3\n")
        );
        let e = problems("jobs:\n  a:\n    action:\n      type: report.nope\n");
        assert!(
            e.starts_with("jobs.yaml:4:13: jobs.a.action.type: unsupported"),
            "{e}"
        );
        let e = problems(
            "jobs:\n  a:\n    action:\n      type: report.changed_since\n      args: {since: 24}\n",
        );
        assert!(
            e.contains("jobs.yaml:5:21:") && e.contains("no unit"),
            "{e}"
        );
        let e = problems(
            "jobs:\n- name: a\n  action: {type: report.budget}\n- name: a\n  action: {type: report.budget}\n",
        );
        assert!(
            e.contains("jobs.yaml:4:9:") && e.contains("duplicate job name"),
            "{e}"
        );
    }

    proptest::proptest! {
        /// Any text, and any jobs-shaped YAML, is accepted or refused
        /// with positions: never a panic.
        #[test]
        fn never_panics(
            text in "\\PC{0,64}",
            key in "(type|args|since|ids|query|limit|keep|history|older_than|output|path|format|name)",
            value in "(-?[0-9]{1,4}|[a-z_./]{0,12}|\\[\\]|\\{\\}|null|~|\\[ent_[0-9a-f]{64}\\])",
        ) {
            let _ = parse_text(&text, Path::new("j.yaml"));
            let _ = confine(Path::new(&text));
            for action in ACTIONS.iter().map(|(t, _)| *t) {
                let doc = format!("jobs:\n  a:\n    action:\n      type: {action}\n      args: {{{key}: {value}}}\n    output: {{{key}: {value}}}\n");
                if let Err(ConfigError::Invalid { problems, .. }) = parse_text(&doc, Path::new("j.yaml")) {
                    proptest::prop_assert!(problems.iter().all(|p| p.position.line >= 1));
                }
            }
        }
    }

    #[test]
    fn confines_outputs() {
        assert!(confine(Path::new("exports/reports/a.md")).is_ok());
        assert!(confine(Path::new("./exports/a.md")).is_ok());
        for bad in [
            "/tmp/a.md",
            "../a.md",
            "exports/../notes/a.md",
            "notes/a.md",
            "exports",
            "exports/",
        ] {
            assert!(confine(Path::new(bad)).is_err(), "{bad}");
        }
    }
}
