//! Progress reporting from the library to whatever front end is driving it.
//! The CLI shows a bar on a terminal and nothing otherwise.

/// Receives progress events; must be cheap and thread-safe.
pub trait Progress: Sync {
    /// A new phase with `total` units of work (0 = unknown).
    fn phase(&self, name: &str, total: u64);
    /// `n` more units done in the current phase.
    fn advance(&self, n: u64);
    /// The current phase is finished.
    fn finish(&self);
    /// A new phase whose amount of work is not known up front (a spinner
    /// on a terminal): every stage of a long run says what it is doing.
    fn step(&self, name: &str) {
        self.phase(name, 0);
    }
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _name: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}

static SHOW_TIMINGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns the phase timings on for the rest of the process (`-vv`).
pub fn show_timings() {
    SHOW_TIMINGS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Phase timings on stderr when `AUDITGRAPH_TIMINGS` is set or
/// [`show_timings`] was called (a profiling aid; never part of any output
/// document).
pub struct Timer {
    enabled: bool,
    last: std::time::Instant,
    last_cpu_ms: u64,
}

/// User plus system time of the whole process so far, in ms (0 where
/// `/proc` has no figure): next to wall time, it shows how parallel a
/// phase was.
fn cpu_ms() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses.
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            // Clock ticks; Linux reports them at 100 per second.
            Some((utime + stime) * 10)
        })
        .unwrap_or(0)
}

/// A figure of `/proc/self/status` in MB (0 where there is none).
fn memory_mb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

impl Timer {
    pub fn start() -> Timer {
        Timer {
            enabled: SHOW_TIMINGS.load(std::sync::atomic::Ordering::Relaxed)
                || std::env::var_os("AUDITGRAPH_TIMINGS").is_some(),
            last: std::time::Instant::now(),
            last_cpu_ms: cpu_ms(),
        }
    }

    pub fn lap(&mut self, phase: &str) {
        if self.enabled {
            let now = std::time::Instant::now();
            let cpu = cpu_ms();
            eprintln!(
                "timing: {phase:<24} {:>8.1} ms  (cpu {} ms, rss {} MB, peak {} MB)",
                (now - self.last).as_secs_f64() * 1000.0,
                cpu.saturating_sub(self.last_cpu_ms),
                memory_mb("VmRSS:"),
                memory_mb("VmHWM:"),
            );
            self.last = now;
            self.last_cpu_ms = cpu;
        }
    }
}
