//! Where an export is written, and writing it atomically.
//!
//! # Rules
//!
//! * The default output is `<root>/exports/<file name>` (see
//!   [`super::default_file_name`]).
//! * A relative `--output` is resolved against the workspace root (never
//!   the current directory) and normalized lexically; if `..` climbs above
//!   the root it is refused.
//! * Inside the root, every directory on the way that already exists is
//!   inspected: a symbolic link is followed only if it leads to a directory
//!   that is still inside the root; one that leads outside is refused, as is
//!   a path component that is a file. Missing directories are created (after
//!   the budget check), and the parent is checked again after creating them.
//! * An absolute `--output` outside the root is accepted: the user named
//!   the place explicitly. Its parent directory must already exist
//!   (auditgraph creates no directories outside the root). An absolute path
//!   that lies (lexically) inside the root follows the rules of a relative
//!   one.
//! * Never written, wherever the path comes from: an existing symbolic link
//!   (it is not written through, nor replaced), a directory, anything inside
//!   `<root>/.pkg` (the store), or a source file the run ingested.
//! * The file is written to a new temporary file in the target directory
//!   (created exclusively, so a planted link is never followed), synced and
//!   renamed over the target: readers see the old or the new export, never
//!   a mix. The temporary file is removed if anything fails.

use crate::error::{Error, IoContext, Result};
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// The directory under the root where exports go by default.
pub const EXPORTS_DIR: &str = "exports";

/// A checked output location, ready to be written once the budget allows.
#[derive(Debug, Clone)]
pub struct OutputTarget {
    /// The file to write (absolute).
    pub path: PathBuf,
    /// Its directory (absolute; may not exist yet when inside the root).
    pub dir: PathBuf,
    /// Directories to create, outermost first.
    pub missing_dirs: Vec<PathBuf>,
    /// True when the target is inside the workspace root.
    pub inside_root: bool,
}

fn refuse(shown: &Path, reason: impl std::fmt::Display) -> Error {
    Error::InvalidArgument {
        message: format!(
            "refusing to write the export to {}: {reason}; nothing was written. Choose a file path inside the workspace root (relative paths are resolved against it), or give an absolute path to write outside it",
            shown.display()
        ),
    }
}

/// Normalizes `rel` lexically onto `root`. `None` if `..` climbs above
/// `root` or `rel` is absolute.
fn join_lexically(root: &Path, rel: &Path) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    let mut depth = 0usize;
    for component in rel.components() {
        match component {
            Component::Normal(part) => {
                out.push(part);
                depth += 1;
            }
            Component::ParentDir => {
                if depth == 0 {
                    return None;
                }
                out.pop();
                depth -= 1;
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Normalizes an absolute path lexically (`.` and `..` removed).
fn normalize_absolute(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The last component of `path` if it names a file (not `.`, `..` or `/`).
fn file_name_of(path: &Path) -> Option<&OsStr> {
    match path.components().next_back() {
        Some(Component::Normal(name)) => Some(name),
        _ => None,
    }
}

/// Resolves where an export goes.
///
/// `root` is the canonical workspace root; `given` is `--output` as typed
/// (`None` for the default `exports/<default_name>`); `sources` are the
/// root-relative posix paths of the run's source files, which are never
/// overwritten.
pub fn resolve(
    root: &Path,
    given: Option<&Path>,
    default_name: &str,
    sources: &HashSet<&str>,
) -> Result<OutputTarget> {
    let default_rel = Path::new(EXPORTS_DIR).join(default_name);
    let typed: &Path = given.unwrap_or(&default_rel);
    if typed.as_os_str().is_empty() {
        return Err(refuse(typed, "the path is empty"));
    }
    // `--output dir/` names a directory, not a file.
    if typed.as_os_str().as_encoded_bytes().ends_with(b"/") {
        return Err(refuse(
            typed,
            "the path ends with `/`, so it names a directory",
        ));
    }
    if file_name_of(typed).is_none() {
        return Err(refuse(
            typed,
            "the path does not end in a file name (it ends in `.`, `..` or `/`)",
        ));
    }
    let lexical = if typed.is_absolute() {
        normalize_absolute(typed)
    } else {
        join_lexically(root, typed).ok_or_else(|| {
            refuse(
                typed,
                format!(
                    "it leaves the workspace root {} (`..` climbs above it)",
                    root.display()
                ),
            )
        })?
    };
    let Some(name) = file_name_of(&lexical).map(OsStr::to_os_string) else {
        return Err(refuse(typed, "the path does not name a file"));
    };
    let Some(lexical_dir) = lexical.parent().map(Path::to_path_buf) else {
        return Err(refuse(typed, "the path has no parent directory"));
    };

    let target = if lexical.starts_with(root) && lexical != root {
        resolve_inside(root, typed, &lexical_dir, &name)?
    } else {
        // Explicit absolute path outside the root: its directory must exist.
        let canonical_dir = fs::canonicalize(&lexical_dir).map_err(|e| {
            refuse(
                typed,
                format!(
                    "its directory {} is not accessible ({e}); auditgraph creates directories only inside the workspace root",
                    lexical_dir.display()
                ),
            )
        })?;
        if !canonical_dir.is_dir() {
            return Err(refuse(
                typed,
                format!("{} is not a directory", lexical_dir.display()),
            ));
        }
        let inside_root = canonical_dir.starts_with(root);
        OutputTarget {
            path: canonical_dir.join(&name),
            dir: canonical_dir,
            missing_dirs: Vec::new(),
            inside_root,
        }
    };
    check_target(root, typed, &target, sources)?;
    Ok(target)
}

/// Walks the existing directories between `root` and `dir` (both absolute,
/// `dir` lexically inside `root`), refusing links that leave the root.
fn resolve_inside(root: &Path, typed: &Path, dir: &Path, name: &OsStr) -> Result<OutputTarget> {
    let rel = dir.strip_prefix(root).map_err(|_| {
        refuse(
            typed,
            format!("it is not inside the workspace root {}", root.display()),
        )
    })?;
    // `current` is always canonical and inside the root.
    let mut current = root.to_path_buf();
    let mut missing = Vec::new();
    for component in rel.components() {
        let Component::Normal(part) = component else {
            return Err(refuse(typed, "the path is not normalized"));
        };
        let next = current.join(part);
        if !missing.is_empty() {
            missing.push(next.clone());
            current = next;
            continue;
        }
        match fs::symlink_metadata(&next) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing.push(next.clone());
                current = next;
            }
            Err(e) => {
                return Err(refuse(
                    typed,
                    format!("cannot inspect {}: {e}", next.display()),
                ));
            }
            Ok(meta) if meta.file_type().is_symlink() => {
                let resolved = fs::canonicalize(&next).map_err(|e| {
                    refuse(
                        typed,
                        format!(
                            "{} is a symbolic link that cannot be resolved ({e})",
                            next.display()
                        ),
                    )
                })?;
                if !resolved.starts_with(root) {
                    return Err(refuse(
                        typed,
                        format!(
                            "{} is a symbolic link to {}, outside the workspace root; exports never follow a link out of the root",
                            next.display(),
                            resolved.display()
                        ),
                    ));
                }
                if !resolved.is_dir() {
                    return Err(refuse(
                        typed,
                        format!("{} does not lead to a directory", next.display()),
                    ));
                }
                current = resolved;
            }
            Ok(meta) if meta.is_dir() => current = next,
            Ok(_) => {
                return Err(refuse(
                    typed,
                    format!("{} exists and is not a directory", next.display()),
                ));
            }
        }
    }
    Ok(OutputTarget {
        path: current.join(name),
        dir: current,
        missing_dirs: missing,
        inside_root: true,
    })
}

/// Refusals that hold wherever the path came from.
fn check_target(
    root: &Path,
    typed: &Path,
    target: &OutputTarget,
    sources: &HashSet<&str>,
) -> Result<()> {
    let store = root.join(".pkg");
    if target.path.starts_with(&store) {
        return Err(refuse(
            typed,
            format!(
                "it is inside the store {}, which only auditgraph's own commands write",
                store.display()
            ),
        ));
    }
    match fs::symlink_metadata(&target.path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(refuse(
                typed,
                format!(
                    "{} is a symbolic link; exports are not written through links (remove it or choose another name)",
                    target.path.display()
                ),
            ));
        }
        Ok(meta) if meta.is_dir() => {
            return Err(refuse(
                typed,
                format!("{} is a directory; give a file name", target.path.display()),
            ));
        }
        Ok(meta) if !meta.is_file() => {
            return Err(refuse(
                typed,
                format!("{} is not a regular file", target.path.display()),
            ));
        }
        Ok(_) => {
            if let Some(rel) = crate::paths::relative_posix(root, &target.path)
                && sources.contains(rel.as_str())
            {
                return Err(refuse(
                    typed,
                    format!("{rel} is a source file of the run; exports never overwrite sources"),
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(refuse(
                typed,
                format!("cannot inspect {}: {e}", target.path.display()),
            ));
        }
    }
    Ok(())
}

/// Writes `bytes` to the target atomically (see the module docs). Creates
/// the missing directories inside the root first, and re-checks that the
/// directory is still inside the root once they exist.
pub fn write(root: &Path, target: &OutputTarget, bytes: &[u8]) -> Result<()> {
    for dir in &target.missing_dirs {
        match fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(Error::io("create export directory", dir, e)),
        }
    }
    if target.inside_root {
        let canonical = fs::canonicalize(&target.dir).ctx("resolve", &target.dir)?;
        if !canonical.starts_with(root) {
            return Err(refuse(
                &target.path,
                format!(
                    "its directory now resolves to {}, outside the workspace root",
                    canonical.display()
                ),
            ));
        }
    }
    let name = target
        .path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "export".to_string());
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Like any new file: 0666 minus the umask (not tempfile's 0600).
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder
        .tempfile_in(&target.dir)
        .ctx("create a temporary file in", &target.dir)?;
    tmp.write_all(bytes).ctx("write", tmp.path())?;
    tmp.as_file().sync_all().ctx("sync", tmp.path())?;
    // On failure the temporary file is removed when `tmp` is dropped.
    tmp.persist(&target.path)
        .map_err(|e| Error::io("replace", &target.path, e.error))?;
    crate::store::fsutil::sync_dir(&target.dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_joins() {
        let root = Path::new("/w");
        assert_eq!(
            join_lexically(root, Path::new("a/./b/../c.json")),
            Some(PathBuf::from("/w/a/c.json"))
        );
        assert_eq!(join_lexically(root, Path::new("../x.json")), None);
        assert_eq!(join_lexically(root, Path::new("sub/../../x")), None);
        assert_eq!(
            normalize_absolute(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(file_name_of(Path::new("a/..")), None);
        assert_eq!(file_name_of(Path::new(".")), None);
        assert_eq!(
            file_name_of(Path::new("a/b.json")),
            Some(OsStr::new("b.json"))
        );
    }
}
