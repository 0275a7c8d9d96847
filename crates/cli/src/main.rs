//! The `auditgraph` binary: parses arguments, runs one command, renders its
//! result and maps errors to exit codes. All logic lives in
//! `auditgraph-core`.

#[cfg(windows)]
compile_error!(
    "auditgraph does not support Windows; supported platforms are Linux and macOS (x86_64 and aarch64)."
);

mod cli;
mod commands;
mod context;
mod error;
mod output;
mod progress;

use clap::Parser;
use error::exit;

// Parsing and graph building allocate many small strings; mimalloc makes
// that markedly cheaper than the system allocator (measured in
// scripts/bench-cli.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // A PDF worker (see auditgraph_core::ingest::formats::pdf): the
    // program reads PDFs in processes of its own.
    use auditgraph_core::ingest::formats::pdf;
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == pdf::WORKER_ARG)
    {
        std::process::exit(pdf::worker_main());
    }
    if let Ok(exe) = std::env::current_exe() {
        pdf::use_worker(exe);
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version print and succeed; usage errors exit 2.
            let code = if err.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            };
            if code == exit::USAGE && json_requested() {
                print!("{}", usage_error_document(&err));
            }
            let _ = err.print();
            std::process::exit(code);
        }
    };
    let ctx = context::Context::new(&cli.global);
    let code = match commands::dispatch(&ctx, cli.command) {
        Ok(()) => exit::SUCCESS,
        Err(err) => {
            report(&ctx, &err);
            err.exit_code
        }
    };
    std::process::exit(code);
}

/// Whether `--json` is among the arguments (before a `--`): a usage error
/// found while parsing them still owes a JSON document on stdout.
fn json_requested() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|arg| arg != "--")
        .any(|arg| arg == "--json")
}

/// The `--json` error document of an argument error: its first line as the
/// message, clap's usage text as a hint.
fn usage_error_document(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let mut lines = text.lines().filter(|line| !line.trim().is_empty());
    let message = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string();
    let mut cli_error = error::CliError::new(exit::USAGE, "usage_error", message);
    for line in lines {
        cli_error = cli_error.hint(line.trim());
    }
    let mut doc = serde_json::to_string_pretty(&cli_error.to_json()).unwrap_or_default();
    doc.push('\n');
    doc
}

fn report(ctx: &context::Context, err: &error::CliError) {
    if ctx.out.json && !err.result_printed {
        let mut doc = serde_json::to_string_pretty(&err.to_json()).unwrap_or_default();
        doc.push('\n');
        print!("{doc}");
    }
    eprintln!("error: {}", err.message);
    for hint in &err.hints {
        eprintln!("  hint: {hint}");
    }
}
