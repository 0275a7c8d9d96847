//! `git-who`, `git-log`, `git-introduced`, `git-history`: one module per
//! command; this one opens a run's git provenance and resolves the file.

pub mod history;
pub mod introduced;
pub mod log;
pub mod who;

use crate::context::Context;
use crate::error::CliResult;
use auditgraph_core::git::query::{CommitView, GitRun};
use auditgraph_core::pipeline::Workspace;
use clap::Args;

/// The arguments of every git-* command.
#[derive(Debug, Args, Clone)]
pub struct GitFileArgs {
    /// A file of the repository, relative to the current directory or to
    /// the workspace root
    #[arg(value_name = "FILE")]
    pub file: String,
    #[command(flatten)]
    pub run: crate::cli::RunArg,
}

/// The workspace, its run's git provenance and the file's repository path.
pub struct Opened {
    pub ws: Workspace,
    pub run: GitRun,
    pub file: String,
}

pub fn open(ctx: &Context, args: &GitFileArgs) -> CliResult<Opened> {
    let ws = ctx.workspace()?;
    let cwd = std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .unwrap_or_else(|_| ws.root.clone());
    let (run, file) = GitRun::open_file(&ws, args.run.run_id.as_deref(), &cwd, &args.file)?;
    Ok(Opened { ws, run, file })
}

/// One line of a commit: short sha, UTC date, author, subject.
pub fn commit_line(c: &CommitView) -> String {
    let short = &c.sha[..c.sha.len().min(10)];
    let date = c.authored_at.get(..10).unwrap_or(&c.authored_at);
    let mut line = format!(
        "{short} {date} {} <{}> {}",
        c.author_name, c.author_email, c.subject
    );
    if c.change == "renamed"
        && let Some(old) = &c.old_path
    {
        line.push_str(&format!("  (renamed from {old})"));
    }
    line
}
