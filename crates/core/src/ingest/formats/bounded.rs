//! Running an outside program on bytes, bounded: its standard input fed
//! from memory, its standard output read up to a limit, killed after a
//! time limit. The PDF worker and the OCR programs run through it.
//!
//! The program's standard error is read too (its last few kilobytes are
//! kept for the error message), so a chatty program never blocks on a full
//! pipe.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How much of a program's standard error is kept for messages.
const STDERR_TAIL: usize = 4096;

/// What a finished program gave.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// The end of its standard error, lossily decoded.
    pub stderr: String,
}

/// Why a program gave nothing usable.
#[derive(Debug)]
pub enum RunError {
    /// It could not be started (not installed, not executable...).
    Spawn(std::io::Error),
    /// It ran past its time limit and was killed.
    Timeout(Duration),
    /// It wrote more than the limit to its standard output and was killed.
    TooMuchOutput(usize),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Spawn(e) => write!(f, "cannot be started: {e}"),
            RunError::Timeout(limit) => {
                write!(f, "ran past its {} s and was stopped", limit.as_secs())
            }
            RunError::TooMuchOutput(limit) => {
                write!(f, "wrote more than {} MiB and was stopped", limit >> 20)
            }
        }
    }
}

/// A program to run (see the module documentation).
pub struct Bounded<'a> {
    pub program: &'a OsStr,
    pub args: &'a [&'a OsStr],
    /// Extra environment variables.
    pub env: &'a [(&'a str, &'a str)],
    pub stdin: &'a [u8],
    pub timeout: Duration,
    pub max_stdout: usize,
}

impl Bounded<'_> {
    /// Runs the program to its end, its time limit or its output limit.
    pub fn run(&self) -> Result<Finished, RunError> {
        let mut command = Command::new(self.program);
        command
            .args(self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in self.env {
            command.env(key, value);
        }
        let mut child = command.spawn().map_err(RunError::Spawn)?;
        let started = Instant::now();
        let max_stdout = self.max_stdout;
        let over = AtomicBool::new(false);
        std::thread::scope(|scope| {
            // Feed and drain on threads of their own, so no pipe blocks.
            let stdin = child.stdin.take();
            let input = self.stdin;
            scope.spawn(move || {
                if let Some(mut stdin) = stdin {
                    // A program that stops reading early closes the pipe:
                    // not an error of ours.
                    let _ = stdin.write_all(input);
                }
            });
            let stdout = child.stdout.take();
            let over_flag = &over;
            let out = scope.spawn(move || {
                let mut out = Vec::new();
                if let Some(stdout) = stdout {
                    // One byte more than allowed tells "too much".
                    let _ = stdout.take(max_stdout as u64 + 1).read_to_end(&mut out);
                }
                if out.len() > max_stdout {
                    over_flag.store(true, Ordering::Relaxed);
                }
                out
            });
            let stderr = child.stderr.take();
            let err = scope.spawn(move || {
                let mut tail: Vec<u8> = Vec::new();
                if let Some(mut stderr) = stderr {
                    let mut buf = [0u8; 8192];
                    while let Ok(n) = stderr.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        tail.extend_from_slice(&buf[..n]);
                        if tail.len() > 2 * STDERR_TAIL {
                            tail.drain(..tail.len() - STDERR_TAIL);
                        }
                    }
                }
                let start = tail.len().saturating_sub(STDERR_TAIL);
                String::from_utf8_lossy(&tail[start..]).trim().to_string()
            });
            let deadline = started + self.timeout;
            let status = loop {
                match child.try_wait() {
                    Ok(Some(status)) => break Some(status),
                    // Past its output limit, it is stopped at once.
                    Ok(None) if Instant::now() < deadline && !over.load(Ordering::Relaxed) => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break None;
                    }
                }
            };
            let stdout = out.join().unwrap_or_default();
            let stderr = err.join().unwrap_or_default();
            if stdout.len() > max_stdout {
                return Err(RunError::TooMuchOutput(max_stdout));
            }
            match status {
                Some(status) => Ok(Finished {
                    status,
                    stdout,
                    stderr,
                }),
                None => Err(RunError::Timeout(self.timeout)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        program: &str,
        args: &[&str],
        stdin: &[u8],
        seconds: u64,
        max: usize,
    ) -> Result<Finished, RunError> {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        Bounded {
            program: OsStr::new(program),
            args: &args,
            env: &[("BOUNDED_TEST", "x")],
            stdin,
            timeout: Duration::from_secs(seconds),
            max_stdout: max,
        }
        .run()
    }

    #[test]
    fn input_goes_in_and_output_comes_out() {
        let big = vec![b'a'; 1 << 20];
        let done = run("cat", &[], &big, 30, 2 << 20).unwrap();
        assert!(done.status.success());
        assert_eq!(done.stdout, big);
        let env = run(
            "sh",
            &["-c", "echo $BOUNDED_TEST; echo oops >&2; exit 3"],
            b"",
            30,
            100,
        )
        .unwrap();
        assert_eq!(env.stdout, b"x\n");
        assert_eq!(env.stderr, "oops");
        assert_eq!(env.status.code(), Some(3));
    }

    #[test]
    fn a_program_past_its_limits_is_stopped() {
        let started = Instant::now();
        assert!(matches!(
            run("sleep", &["30"], b"", 1, 100),
            Err(RunError::Timeout(_))
        ));
        // `yes` writes without end: stopped at the output limit, long
        // before its time limit.
        assert!(matches!(
            run("yes", &[], b"", 30, 1 << 16),
            Err(RunError::TooMuchOutput(_))
        ));
        assert!(started.elapsed() < Duration::from_secs(20));
        assert!(matches!(
            run("/nonexistent/program", &[], b"", 1, 100),
            Err(RunError::Spawn(_))
        ));
    }
}
