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
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version print and succeed; usage errors exit 2.
            let code = if err.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            };
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

fn report(ctx: &context::Context, err: &error::CliError) {
    if ctx.out.json {
        let mut doc = serde_json::to_string_pretty(&err.to_json()).unwrap_or_default();
        doc.push('\n');
        print!("{doc}");
    }
    eprintln!("error: {}", err.message);
    for hint in &err.hints {
        eprintln!("  hint: {hint}");
    }
}
