//! What every command needs: the global flags, output, and how to open the
//! workspace.

use crate::cli::GlobalArgs;
use crate::error::CliResult;
use crate::output::Output;
use crate::progress::TerminalProgress;
use auditgraph_core::pipeline::{Workspace, WriteOptions};
use auditgraph_core::query::load::{Need, RunPieces};
use auditgraph_core::store::last_attempt;
use std::path::PathBuf;
use std::time::Duration;

pub struct Context {
    pub global: GlobalArgs,
    pub out: Output,
    pub progress: TerminalProgress,
}

impl Context {
    pub fn new(global: &GlobalArgs) -> Context {
        let out = Output::new(global);
        if global.verbose > 1 {
            auditgraph_core::progress::show_timings();
        }
        let progress = TerminalProgress::new(out.stderr_is_terminal() && !out.quiet);
        Context {
            global: global.clone(),
            out,
            progress,
        }
    }

    /// `--root`, `AUDITGRAPH_ROOT`, or the current directory.
    pub fn root(&self) -> PathBuf {
        self.global
            .root
            .clone()
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// Opens the workspace at `root` and prints configuration warnings.
    pub fn workspace_at(&self, root: PathBuf) -> CliResult<Workspace> {
        let ws = Workspace::open(
            &root,
            self.global.config.as_deref(),
            self.global.profile.as_deref(),
        )?;
        for warning in &ws.config.warnings {
            self.out.warn(format!("configuration: {warning}"));
        }
        Ok(ws)
    }

    pub fn workspace(&self) -> CliResult<Workspace> {
        self.workspace_at(self.root())
    }

    /// When the last write did not publish and the current run is the one
    /// it left, says on stderr, in one line, that answers come from that
    /// older run and what to do (and adds `stale` to the `--json`
    /// document). One small read of the store's scratch; no walk of the
    /// sources.
    pub fn stale_warning(&self, ws: &Workspace, current_run: &str) {
        let Some(attempt) = last_attempt::stale(&ws.layout, Some(current_run)) else {
            return;
        };
        let todo = attempt
            .hint
            .clone()
            .unwrap_or_else(|| format!("run `auditgraph {}` again", attempt.command));
        eprintln!(
            "warning: results come from run {}: the last `{}` ({}) did not publish ({}); {todo}, then `auditgraph {}`",
            crate::output::short_run(current_run),
            attempt.command,
            attempt.at,
            attempt.code,
            attempt.command,
        );
        if let Ok(mut slot) = self.out.stale.lock() {
            *slot = serde_json::to_value(&attempt).ok();
        }
    }

    /// Opens a run's pieces for a read command that reads only what it
    /// needs. The process exits right after the command, so the run is
    /// never dropped: the OS reclaims its memory at exit at once, instead
    /// of ~100k frees one by one (~3 ms of a ~50 ms `query` on tldr-en).
    pub fn open_pieces(
        &self,
        ws: &Workspace,
        run: Option<&str>,
        need: Need,
    ) -> CliResult<std::mem::ManuallyDrop<RunPieces>> {
        let pieces = RunPieces::open(ws, run, need)?;
        if run.is_none() {
            self.stale_warning(ws, &pieces.run_id);
        }
        Ok(std::mem::ManuallyDrop::new(pieces))
    }

    /// How long to wait for another writer: `AUDITGRAPH_LOCK_TIMEOUT`
    /// seconds, default 60.
    pub fn lock_timeout(&self) -> Duration {
        std::env::var("AUDITGRAPH_LOCK_TIMEOUT")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(auditgraph_core::store::DEFAULT_LOCK_TIMEOUT)
    }

    pub fn with_write_options<T>(&self, f: impl FnOnce(&WriteOptions<'_>) -> T) -> T {
        let on_wait =
            || eprintln!("waiting for another auditgraph process to finish writing (lock held)...");
        let opts = WriteOptions {
            lock_timeout: self.lock_timeout(),
            on_wait: &on_wait,
            progress: &self.progress,
            allow_redaction_misses: self.global.allow_redaction_misses,
        };
        f(&opts)
    }
}
