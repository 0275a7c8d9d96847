//! Progress bars on a terminal (stderr), nothing otherwise.

use auditgraph_core::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Mutex;

pub struct TerminalProgress {
    bar: Mutex<Option<ProgressBar>>,
    enabled: bool,
}

impl TerminalProgress {
    /// Shows bars only when `enabled` (stderr is a terminal, not --quiet)
    /// and `CI` is not set.
    pub fn new(enabled: bool) -> TerminalProgress {
        TerminalProgress {
            bar: Mutex::new(None),
            enabled: enabled && std::env::var_os("CI").is_none(),
        }
    }
}

impl Progress for TerminalProgress {
    fn phase(&self, name: &str, total: u64) {
        if !self.enabled {
            return;
        }
        // A known amount of work gets a bar; an unknown one a spinner that
        // keeps ticking, so the terminal never sits blank during a stage.
        let (bar, template) = if total > 0 {
            (
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
                "{prefix:>20} [{bar:30}] {pos}/{len} {elapsed}",
            )
        } else {
            (
                ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
                "{prefix:>20} {spinner} {elapsed}",
            )
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(name.to_string());
        if total == 0 {
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
        }
        if let Ok(mut slot) = self.bar.lock() {
            // The previous phase, if it did not say it finished, is done.
            if let Some(previous) = slot.replace(bar) {
                previous.finish_and_clear();
            }
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(slot) = self.bar.lock()
            && let Some(bar) = slot.as_ref()
        {
            bar.inc(n);
        }
    }

    fn finish(&self) {
        if let Ok(mut slot) = self.bar.lock()
            && let Some(bar) = slot.take()
        {
            bar.finish_and_clear();
        }
    }
}
