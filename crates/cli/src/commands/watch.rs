//! `auditgraph watch [DIR]`: a new run shortly after every save, one line
//! per run, until Ctrl-C or SIGTERM.
//!
//! Each run is exactly `auditgraph run` (the configuration reloaded, the
//! writer lock taken only by the run), so everything that keeps `run`
//! safe keeps the watch safe: a run is published atomically, and a watch
//! killed at any moment leaves the previous run current and the store
//! valid. What calls for a run, the debouncing and the one-watch lock are
//! in `auditgraph_core::watch`.

use super::ingest::{describe, document};
use crate::context::Context;
use crate::error::{CliError, CliResult, exit};
use crate::output::{human_bytes, short_run};
use auditgraph_core::config::ConfigSource;
use auditgraph_core::ingest::ParseStatus;
use auditgraph_core::pipeline::run_cmd::{self, Command, PipelineReport};
use auditgraph_core::pipeline::{Workspace, WriteOptions};
use auditgraph_core::progress::NoProgress;
use auditgraph_core::store::clock;
use auditgraph_core::watch::{Batch, Pending, Seen, Trigger, WatchLock};
use notify_debouncer_full::notify::event::{AccessKind, AccessMode, RemoveKind};
use notify_debouncer_full::notify::{self, EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{
    DebounceEventResult, DebouncedEvent, Debouncer, RecommendedCache, new_debouncer,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// How long the notifier holds events to merge those of one save (an
/// editor's write, rename and attribute change).
const MERGE: Duration = Duration::from_millis(50);
/// A run starts once the workspace has been quiet this long...
const QUIET: Duration = Duration::from_millis(300);
/// ... or this long after the first change, if it never gets quiet.
const MAX_WAIT: Duration = Duration::from_secs(2);
/// Exit code when a second interrupt abandons a run (128 + SIGINT).
const ABANDONED: i32 = 130;
/// Changed paths named on a human line (all of them in `--json`).
const NAMED: usize = 3;

enum Message {
    Changes(DebounceEventResult),
    Stop,
}

/// What a run answers.
#[derive(Clone, Copy)]
enum Why {
    Start,
    Change,
}

impl Why {
    fn name(self) -> &'static str {
        match self {
            Why::Start => "start",
            Why::Change => "change",
        }
    }
}

pub fn run(ctx: &Context, dir: Option<PathBuf>) -> CliResult {
    let root = dir.unwrap_or_else(|| ctx.root());
    // A configuration that does not load stops the watch here; later, a
    // broken edit only fails the runs until it is fixed.
    let ws = ctx.workspace_at(root)?;
    let lock = WatchLock::acquire(&ws.layout)?;
    let config_file = config_file(&ws);
    let trigger = Trigger::new(&ws, &config_file)?;

    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicBool::new(false));
    install_stop_handler(tx.clone(), stop.clone(), running.clone())?;
    let mut notifier = Notifier::start(&ws.root, &config_file, tx)?;
    if let Some(err) = notifier.sync(&trigger).into_iter().next() {
        return Err(err);
    }
    ctx.out.note(format!(
        "watching {} (profile {}); Ctrl-C stops",
        ws.root.display(),
        ws.config.profile_name
    ));

    let mut watch = Watch {
        ctx,
        root: ws.root.clone(),
        profile: ws.config.profile_name.clone(),
        warnings: ws.config.warnings.iter().map(|w| w.to_string()).collect(),
        trigger,
        running,
    };
    let mut pending = Pending::new(QUIET, MAX_WAIT);
    let mut next = Some((Why::Start, Batch::default()));
    while !stop.load(Ordering::SeqCst) {
        if let Some((why, batch)) = next.take() {
            let outcome = watch.run(why, &batch);
            // The configuration may have changed what to watch.
            notifier.warn(ctx, &watch.trigger);
            match outcome {
                Outcome::Done => {}
                Outcome::Retry => pending.restore(batch, Instant::now()),
                Outcome::OutputClosed => break,
            }
            continue;
        }
        let now = Instant::now();
        if pending.is_due(now) {
            next = Some((Why::Change, pending.take()));
            continue;
        }
        let wait = pending.due_at().map_or(Duration::from_secs(3600), |due| {
            due.saturating_duration_since(now)
        });
        match rx.recv_timeout(wait) {
            Ok(Message::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Ok(Message::Changes(Ok(events))) => {
                let mut top_level = false;
                for event in &events {
                    watch.note(event, &mut pending);
                    top_level |= event.paths.iter().any(|p| p.parent() == Some(&*ws.root));
                }
                if top_level {
                    notifier.warn(ctx, &watch.trigger);
                }
            }
            Ok(Message::Changes(Err(errors))) => {
                for e in errors {
                    ctx.out.warn(format!("watching: {e}"));
                }
                // Changes may have gone unseen: look at everything.
                pending.add_rescan(Instant::now());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    notifier.debouncer.stop();
    drop(lock);
    ctx.out.note("watch stopped");
    Ok(())
}

/// The notifications the watch asks for: the root itself (not its
/// subdirectories), and each directory in it that the configuration
/// covers, with everything below. Never `.pkg/` or `exports/`: a run
/// writing the store notifies nobody, and the directories of its runs
/// cost no watches.
struct Notifier {
    debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
    root: PathBuf,
    watched: BTreeSet<PathBuf>,
}

impl Notifier {
    fn start(root: &Path, config_file: &Path, tx: mpsc::Sender<Message>) -> CliResult<Notifier> {
        let mut debouncer = new_debouncer(MERGE, None, move |result| {
            let _ = tx.send(Message::Changes(result));
        })
        .map_err(|e| notify_error(e, root))?;
        debouncer
            .watch(root, RecursiveMode::NonRecursive)
            .map_err(|e| notify_error(e, root))?;
        if !config_file.starts_with(root)
            && let Some(dir) = config_file.parent()
        {
            debouncer
                .watch(dir, RecursiveMode::NonRecursive)
                .map_err(|e| notify_error(e, dir))?;
        }
        Ok(Notifier {
            debouncer,
            root: root.to_path_buf(),
            watched: BTreeSet::new(),
        })
    }

    /// Watches the root's directories that `trigger` wants and no others;
    /// the errors of those it could not watch (tried again next time).
    fn sync(&mut self, trigger: &Trigger) -> Vec<CliError> {
        let wanted: BTreeSet<PathBuf> = std::fs::read_dir(&self.root)
            .map(|list| {
                list.filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .filter(|dir| trigger.wants_dir(dir))
                    .collect()
            })
            .unwrap_or_default();
        let gone: Vec<PathBuf> = self.watched.difference(&wanted).cloned().collect();
        for dir in gone {
            // A directory removed or renamed is no longer watched already.
            let _ = self.debouncer.unwatch(&dir);
            self.watched.remove(&dir);
        }
        let mut errors = Vec::new();
        for dir in wanted {
            if self.watched.contains(&dir) {
                continue;
            }
            match self.debouncer.watch(&dir, RecursiveMode::Recursive) {
                Ok(()) => {
                    self.watched.insert(dir);
                }
                Err(e) => errors.push(notify_error(e, &dir)),
            }
        }
        errors
    }

    /// [`Notifier::sync`], its errors as warnings.
    fn warn(&mut self, ctx: &Context, trigger: &Trigger) {
        for err in self.sync(trigger) {
            ctx.out.warn(&err.message);
            for hint in &err.hints {
                eprintln!("  hint: {hint}");
            }
        }
    }
}

/// Sets `stop` on Ctrl-C, SIGTERM or SIGHUP; a second one during a run
/// abandons it (exit 130): nothing of it becomes visible, as after a crash.
fn install_stop_handler(
    tx: mpsc::Sender<Message>,
    stop: Arc<AtomicBool>,
    running: Arc<AtomicBool>,
) -> CliResult {
    ctrlc::set_handler(move || {
        let again = stop.swap(true, Ordering::SeqCst);
        if running.load(Ordering::SeqCst) {
            if again {
                eprintln!(
                    "abandoning the run in progress: the current run stays as it was; the next `auditgraph run` cleans up"
                );
                std::process::exit(ABANDONED);
            }
            eprintln!("stopping after the run in progress (interrupt again to abandon it)");
        }
        let _ = tx.send(Message::Stop);
    })
    .map_err(|e| {
        CliError::new(
            exit::FAILURE,
            "watch_failed",
            format!("cannot handle Ctrl-C and SIGTERM: {e}"),
        )
        .hint("run `auditgraph run` after each change instead")
    })
}

/// The configuration file a run loads: `--config`, else
/// `<root>/config/pkg.yaml` (watched even before it exists). Its directory
/// is resolved, so it compares with the paths notifications give.
fn config_file(ws: &Workspace) -> PathBuf {
    let file = match &ws.config.source {
        ConfigSource::File(path) => path.clone(),
        ConfigSource::Defaults => ws.root.join("config").join("pkg.yaml"),
    };
    match (file.parent(), file.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir)
            .map(|dir| dir.join(name))
            .unwrap_or(file),
        _ => file,
    }
}

fn notify_error(err: notify::Error, path: &Path) -> CliError {
    let hint = match &err.kind {
        notify::ErrorKind::MaxFilesWatch => {
            "the system's limit on watched directories is reached: raise it (Linux: `sysctl fs.inotify.max_user_watches=524288`), or run `auditgraph run` after each change instead"
        }
        notify::ErrorKind::PathNotFound => "check that the directory exists",
        _ => {
            "check that the directory exists and is readable, or run `auditgraph run` after each change instead"
        }
    };
    CliError::new(
        exit::FAILURE,
        "watch_failed",
        format!("cannot watch {}: {err}", path.display()),
    )
    .hint(hint)
}

enum Outcome {
    Done,
    /// Another writer held the lock: try the same changes again.
    Retry,
    /// Nobody reads stdout any more: stop.
    OutputClosed,
}

struct Watch<'a> {
    ctx: &'a Context,
    root: PathBuf,
    profile: String,
    /// The configuration warnings last printed (printed again only when
    /// they change).
    warnings: Vec<String>,
    trigger: Trigger,
    running: Arc<AtomicBool>,
}

impl Watch<'_> {
    /// Adds the paths of `event` that call for a run.
    fn note(&self, event: &DebouncedEvent, pending: &mut Pending) {
        if event.need_rescan() {
            pending.add_rescan(event.time);
            return;
        }
        // Reading a file (every run reads them all) changes nothing.
        if let EventKind::Access(kind) = event.kind
            && kind != AccessKind::Close(AccessMode::Write)
        {
            return;
        }
        let was_dir = match event.kind {
            EventKind::Remove(RemoveKind::Folder) => Some(true),
            EventKind::Remove(RemoveKind::File) => Some(false),
            _ => None,
        };
        for path in &event.paths {
            let seen = match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.is_dir() => Seen::Dir,
                Ok(_) => Seen::File,
                Err(_) => Seen::Gone { was_dir },
            };
            if self.trigger.fires(path, seen) {
                pending.add(self.trigger.show(path), event.time);
            }
        }
    }

    /// One run: reload the configuration, run, print one line.
    fn run(&mut self, why: Why, batch: &Batch) -> Outcome {
        if self.ctx.global.verbose > 0 {
            eprintln!("run started ({})", changes(why, batch, usize::MAX));
        }
        self.running.store(true, Ordering::SeqCst);
        let result = self.attempt();
        self.running.store(false, Ordering::SeqCst);
        match result {
            Ok((ws, report)) => {
                self.diagnostics(&report);
                let line = if self.ctx.out.json {
                    let mut doc = document("run", &ws.config.profile_name, &report);
                    doc["detail"]["seal"] = json!(report.published.seal);
                    doc["watch"] = watch_fields(why, batch);
                    Some(json_line(&doc))
                } else if self.ctx.out.quiet {
                    None
                } else {
                    Some(human_line(why, batch, &report))
                };
                print_line(line)
            }
            Err(err) => {
                let retry = err.code == "locked";
                if self.ctx.out.json {
                    let mut doc = err.to_json();
                    doc["watch"] = watch_fields(why, batch);
                    if let Outcome::OutputClosed = print_line(Some(json_line(&doc))) {
                        return Outcome::OutputClosed;
                    }
                }
                eprintln!("error: {}", err.message);
                for hint in &err.hints {
                    eprintln!("  hint: {hint}");
                }
                if retry {
                    eprintln!("  (still watching: these changes are tried again shortly)");
                    Outcome::Retry
                } else {
                    eprintln!("  (still watching: the next change runs again)");
                    Outcome::Done
                }
            }
        }
    }

    fn attempt(&mut self) -> CliResult<(Workspace, PipelineReport)> {
        let ws = Workspace::open(
            &self.root,
            self.ctx.global.config.as_deref(),
            self.ctx.global.profile.as_deref(),
        )?;
        let warnings: Vec<String> = ws.config.warnings.iter().map(|w| w.to_string()).collect();
        if warnings != self.warnings {
            for w in &warnings {
                self.ctx.out.warn(format!("configuration: {w}"));
            }
            self.warnings = warnings;
        }
        if ws.config.profile_name != self.profile {
            return Err(CliError::new(
                exit::USAGE,
                "profile_changed",
                format!(
                    "the configuration ({}) now selects profile '{}', but this watch writes profile '{}'; nothing was run",
                    ws.config.source, ws.config.profile_name, self.profile
                ),
            )
            .hint(format!(
                "stop this watch and start `auditgraph watch` again to follow the change, or pass --profile {} to keep watching that profile",
                self.profile
            )));
        }
        self.trigger = Trigger::new(&ws, self.trigger.config_file())?;
        let on_wait =
            || eprintln!("waiting for another auditgraph process to finish writing (lock held)...");
        let opts = WriteOptions {
            lock_timeout: self.ctx.lock_timeout(),
            on_wait: &on_wait,
            progress: &NoProgress,
            allow_redaction_misses: self.ctx.global.allow_redaction_misses,
        };
        let mut report = run_cmd::execute(&ws, &opts, Command::Run)?;
        if report.counts.failed > 0 {
            report.attention = run_cmd::attention(&ws, &report.run_id)?;
        }
        Ok((ws, report))
    }

    /// What `run` says on stderr besides its result: warnings, failed
    /// files, recovered leftovers, the budget at warn.
    fn diagnostics(&self, report: &PipelineReport) {
        let out = &self.ctx.out;
        for w in &report.warnings {
            out.warn(w);
        }
        let failed: Vec<_> = report
            .attention
            .iter()
            .filter(|r| r.parse_status == ParseStatus::Failed)
            .collect();
        for record in failed.iter().take(NAMED) {
            out.warn(format!("failed: {}", describe(record)));
        }
        if failed.len() > NAMED {
            out.warn(format!(
                "... and {} more failed file(s): `auditgraph run -v` names them all",
                failed.len() - NAMED
            ));
        }
        if !report.recovery.rolled_back.is_empty() {
            out.note(format!(
                "recovered from {} interrupted write(s): removed {} unpublished file(s)",
                report.recovery.rolled_back.len(),
                report.recovery.removed_files.len()
            ));
        }
        out.budget(&report.published.budget);
    }
}

/// The `watch` object of a `--json` line.
fn watch_fields(why: Why, batch: &Batch) -> Value {
    json!({
        "trigger": why.name(),
        "changed": batch.paths,
        "rescan": batch.rescan,
        "finished_at": clock::now_utc(),
    })
}

fn json_line(doc: &Value) -> String {
    let mut line = serde_json::to_string(doc).unwrap_or_default();
    line.push('\n');
    line
}

/// One line per run, e.g. `new run run_3f2a9c1e4b5d (+14.2 KiB) after
/// notes/a.md changed: 12 files, parsed 1; seal 9f…`.
fn human_line(why: Why, batch: &Batch, report: &PipelineReport) -> String {
    let what = match report.outcome {
        "published" => "new run",
        "up_to_date" => "up to date, run",
        "reselected" => "earlier run made current:",
        "completed" => "completed run",
        other => other,
    };
    let c = &report.counts;
    let failed = if c.failed > 0 {
        format!(", {} failed", c.failed)
    } else {
        String::new()
    };
    format!(
        "{what} {} (+{}) {}: {} files, parsed {}{failed}; seal {}\n",
        short_run(&report.run_id),
        human_bytes(report.published.added_bytes),
        changes(why, batch, NAMED),
        c.files,
        report.parsed,
        report.published.seal.as_deref().unwrap_or("(none)"),
    )
}

/// `on start`, `after a.md, b.md, c.md and 3 more changed`.
fn changes(why: Why, batch: &Batch, named: usize) -> String {
    if let Why::Start = why {
        return "on start".to_string();
    }
    let shown: Vec<String> = batch
        .paths
        .iter()
        .take(named)
        .map(|p| {
            if p.chars().any(char::is_control) {
                format!("{p:?}")
            } else {
                p.clone()
            }
        })
        .collect();
    let mut text = shown.join(", ");
    if batch.paths.len() > named {
        text.push_str(&format!(" and {} more", batch.paths.len() - named));
    }
    match (text.is_empty(), batch.rescan) {
        (true, _) => "after lost change notifications".to_string(),
        (false, true) => format!("after {text} changed (and lost notifications)"),
        (false, false) => format!("after {text} changed"),
    }
}

/// Prints a line on stdout now; a closed stdout ends the watch.
fn print_line(line: Option<String>) -> Outcome {
    let Some(line) = line else {
        return Outcome::Done;
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(line.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Outcome::OutputClosed,
        _ => Outcome::Done,
    }
}
