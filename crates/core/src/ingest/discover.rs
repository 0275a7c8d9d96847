//! Discovery: which files of the workspace a profile covers.
//!
//! Include paths are walked in sorted order without following symbolic
//! links. A link to a file inside the root is ingested under its own path; a
//! link that leaves the root is refused (recorded, never read); links to
//! directories are not followed (their targets are ingested under their real
//! paths when included), so loops cannot happen. Exclude globs match the
//! root-relative posix path; a glob ending in `/**` also prunes the
//! directories it covers.

use crate::config::Profile;
use crate::error::{Error, Result};
use crate::ingest::statcache::FileStat;
use crate::paths::{join_inside, relative_posix};
use globset::{Glob, GlobSet, GlobSetBuilder};
use rayon::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

/// Why a discovered file is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unread {
    UnsupportedExtension,
    TooLarge,
    SymlinkRefused,
    SymlinkLoop,
    SymlinkDangling,
    SymlinkDirectory,
    NotRegularFile,
    NonUtf8Path,
    Unreadable,
    SecretInPath,
}

impl Unread {
    pub fn reason(self) -> &'static str {
        match self {
            Unread::UnsupportedExtension => "unsupported_extension",
            Unread::TooLarge => "too_large",
            Unread::SymlinkRefused => "symlink_refused",
            Unread::SymlinkLoop => "symlink_loop",
            Unread::SymlinkDangling => "symlink_dangling",
            Unread::SymlinkDirectory => "symlink_directory",
            Unread::NotRegularFile => "not_regular_file",
            Unread::NonUtf8Path => "non_utf8_path",
            Unread::Unreadable => "unreadable",
            Unread::SecretInPath => "secret_in_path",
        }
    }
}

/// One discovered path.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// Root-relative posix path (lossy for non-UTF-8 names, which are never read).
    pub rel: String,
    /// Absolute path to read (through the link, for in-root symlinks).
    pub abs: PathBuf,
    /// Size for files that are not read; files to read get theirs when
    /// opened (from the open handle, so it is the size that was read).
    pub size: u64,
    /// A regular file's stat when it was listed (symbolic links: `None`):
    /// matched against the stat cache, an unchanged file is not opened.
    pub stat: Option<FileStat>,
    /// `None` if the file is to be read and parsed.
    pub unread: Option<Unread>,
    /// Extra detail for the record (e.g. where a refused link points).
    pub detail: Option<String>,
}

/// What discovery found, sorted by path, plus warnings.
#[derive(Debug, Default)]
pub struct Discovery {
    pub files: Vec<Discovered>,
    pub warnings: Vec<String>,
}

#[derive(Debug)]
struct Filters {
    excludes: GlobSet,
    /// Globs that, matched by a directory, exclude everything inside it.
    dir_prunes: GlobSet,
    allowed: Vec<String>,
}

impl Filters {
    fn new(profile: &Profile) -> Result<Filters> {
        let mut excludes = GlobSetBuilder::new();
        let mut prunes = GlobSetBuilder::new();
        for pattern in &profile.exclude_globs {
            let glob = Glob::new(pattern).map_err(|e| Error::InvalidArgument {
                message: format!("invalid exclude glob '{pattern}': {}", e.kind()),
            })?;
            excludes.add(glob);
            if let Some(dir_part) = pattern.strip_suffix("/**")
                && let Ok(g) = Glob::new(dir_part)
            {
                prunes.add(g);
            }
        }
        let build = |b: GlobSetBuilder| {
            b.build().map_err(|e| Error::InvalidArgument {
                message: format!("invalid exclude globs: {e}"),
            })
        };
        Ok(Filters {
            excludes: build(excludes)?,
            dir_prunes: build(prunes)?,
            allowed: profile
                .ingestion
                .allowed_extensions
                .iter()
                .map(|e| e.to_lowercase())
                .collect(),
        })
    }

    fn extension_allowed(&self, rel: &str) -> bool {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        match name.rfind('.') {
            Some(dot) if dot > 0 => {
                let ext = name[dot..].to_lowercase();
                self.allowed.contains(&ext)
            }
            _ => false,
        }
    }
}

/// Which paths discovery reaches, asked one path at a time (for `watch`,
/// which must tell a change that matters from one that does not without
/// walking the tree): the same include paths, exclude globs, pruned
/// directories and allowed extensions as [`discover`].
#[derive(Debug)]
pub struct Coverage {
    root: PathBuf,
    starts: Vec<PathBuf>,
    filters: Filters,
}

impl Coverage {
    /// The coverage of `profile` under `root` (canonical). Fails, as
    /// [`discover`] does, on an include path that leaves the root or an
    /// invalid exclude glob.
    pub fn new(root: &Path, profile: &Profile) -> Result<Coverage> {
        let starts = profile
            .include_paths
            .iter()
            .map(|include| {
                join_inside(root, include).ok_or_else(|| Error::InvalidArgument {
                    message: format!("include path '{include}' leaves the workspace root"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Coverage {
            root: root.to_path_buf(),
            starts,
            filters: Filters::new(profile)?,
        })
    }

    /// Whether discovery would read a file at `path` (absolute, under the
    /// root): inside an include path, outside the store, in no pruned
    /// directory, not excluded, and with an allowed extension.
    pub fn reads_file(&self, path: &Path) -> bool {
        let Some(rel) = relative_posix(&self.root, path) else {
            return false;
        };
        !rel.is_empty()
            && self.starts.iter().any(|s| path.starts_with(s))
            && !self.pruned(&rel, false)
            && !self.filters.excludes.is_match(&rel)
            && self.filters.extension_allowed(&rel)
    }

    /// Whether discovery walks into (or through) a directory at `path`
    /// (absolute, under the root): it is not the store nor in a pruned
    /// directory, and it is inside an include path or holds one.
    pub fn walks_dir(&self, path: &Path) -> bool {
        let Some(rel) = relative_posix(&self.root, path) else {
            return false;
        };
        !self.pruned(&rel, true)
            && self
                .starts
                .iter()
                .any(|s| path.starts_with(s) || s.starts_with(path))
    }

    /// Whether `rel` lies in the store or in a directory discovery prunes
    /// (`rel` itself counts when it is a directory).
    fn pruned(&self, rel: &str, is_dir: bool) -> bool {
        if rel == ".pkg" || rel.starts_with(".pkg/") {
            return true;
        }
        let mut dirs: Vec<&str> = rel.match_indices('/').map(|(i, _)| &rel[..i]).collect();
        if is_dir && !rel.is_empty() {
            dirs.push(rel);
        }
        dirs.iter().any(|d| self.filters.dir_prunes.is_match(d))
    }
}

/// Walks the profile's include paths under `root` (which must be canonical).
pub fn discover(root: &Path, profile: &Profile) -> Result<Discovery> {
    let filters = Filters::new(profile)?;
    let mut found: Vec<Vec<(String, Discovered)>> = Vec::new();
    let mut discovery = Discovery::default();
    let store_dir = root.join(".pkg");
    for include in &profile.include_paths {
        let Some(start) = join_inside(root, include) else {
            return Err(Error::InvalidArgument {
                message: format!("include path '{include}' leaves the workspace root"),
            });
        };
        let meta = match fs::symlink_metadata(&start) {
            Ok(m) => m,
            Err(_) => {
                discovery
                    .warnings
                    .push(format!("include path '{include}' does not exist; skipped"));
                continue;
            }
        };
        if meta.is_dir() {
            let walked = walk_dir(root, &store_dir, &start, &filters);
            found.extend(walked.found);
            discovery.warnings.extend(walked.warnings);
        } else {
            let stat = meta.is_file().then(|| FileStat::of(&meta));
            found.extend(
                visit_entry(root, &start, meta.file_type(), stat, &filters).map(|e| vec![e]),
            );
        }
    }
    // One sort of everything (include paths may overlap: a path is kept
    // once).
    let mut all: Vec<(String, Discovered)> = found.into_iter().flatten().collect();
    all.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
    all.dedup_by(|a, b| a.0 == b.0);
    discovery.files = all.into_iter().map(|(_, d)| d).collect();
    Ok(discovery)
}

/// What one directory's walk found (in no particular order): a list per
/// directory, so that nothing is copied on the way up.
#[derive(Default)]
struct Walked {
    found: Vec<Vec<(String, Discovered)>>,
    warnings: Vec<String>,
}

/// Walks a directory; its subdirectories are walked in parallel.
fn walk_dir(root: &Path, store_dir: &Path, dir: &Path, filters: &Filters) -> Walked {
    let mut walked = Walked::default();
    if dir == store_dir {
        return walked;
    }
    if dir != root
        && let Some(rel) = relative_posix(root, dir)
        && filters.dir_prunes.is_match(&rel)
    {
        return walked;
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            // An unreadable directory is recorded as one unreadable entry,
            // and said: everything under it is left out.
            let rel = relative_posix(root, dir).unwrap_or_else(|| lossy_rel(root, dir));
            walked.warnings.push(format!(
                "cannot list directory '{rel}' ({e}); nothing under it is ingested: check its permissions"
            ));
            walked.found.push(vec![(
                rel.clone(),
                Discovered {
                    rel,
                    abs: dir.to_path_buf(),
                    size: 0,
                    stat: None,
                    unread: Some(Unread::Unreadable),
                    detail: Some(format!("cannot list directory: {e}")),
                },
            )]);
            return walked;
        }
    };
    // The entry's type needs no extra system call; a regular file's stat
    // is taken relative to the open directory (cheaper than by path), so
    // that unchanged files need not be opened at all.
    let children: Vec<fs::DirEntry> = entries.filter_map(|e| e.ok()).collect();
    let (dirs, files): (Vec<_>, Vec<_>) = children
        .into_par_iter()
        .filter_map(|e| e.file_type().ok().map(|t| (e, t)))
        .partition(|(_, kind)| kind.is_dir());
    let here: Vec<(String, Discovered)> = files
        .par_iter()
        .filter_map(|(e, kind)| {
            let stat = if kind.is_file() {
                e.metadata().ok().map(|m| FileStat::of(&m))
            } else {
                None
            };
            visit_entry(root, &e.path(), *kind, stat, filters)
        })
        .collect();
    walked.found.push(here);
    let below: Vec<Walked> = dirs
        .par_iter()
        .map(|(e, _)| walk_dir(root, store_dir, &e.path(), filters))
        .collect();
    for w in below {
        walked.found.extend(w.found);
        walked.warnings.extend(w.warnings);
    }
    walked
}

fn lossy_rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn visit_entry(
    root: &Path,
    path: &Path,
    kind: fs::FileType,
    stat: Option<FileStat>,
    filters: &Filters,
) -> Option<(String, Discovered)> {
    let size_of = |p: &Path| fs::symlink_metadata(p).map(|m| m.len()).unwrap_or(0);
    let Some(rel) = relative_posix(root, path) else {
        let rel = lossy_rel(root, path);
        if filters.excludes.is_match(&rel) {
            return None;
        }
        // Names that differ only in their invalid bytes read the same here,
        // so the record names the bytes, and the key (never a path: it holds
        // a NUL) keeps every such file.
        let raw = path
            .strip_prefix(root)
            .unwrap_or(path)
            .as_os_str()
            .as_encoded_bytes();
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        return Some((
            format!("{rel}\0{hex}"),
            Discovered {
                rel,
                abs: path.to_path_buf(),
                size: size_of(path),
                stat: None,
                unread: Some(Unread::NonUtf8Path),
                detail: Some(format!(
                    "file name is not valid UTF-8 (its bytes in hex: {hex}); rename it"
                )),
            },
        ));
    };
    if filters.excludes.is_match(&rel) {
        return None;
    }
    let mut entry = Discovered {
        rel: rel.clone(),
        abs: path.to_path_buf(),
        size: 0,
        stat,
        unread: None,
        detail: None,
    };
    if kind.is_symlink() {
        match fs::canonicalize(path) {
            Err(e) if is_loop_error(&e) => {
                entry.unread = Some(Unread::SymlinkLoop);
                entry.detail = Some("symbolic link loop".to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                entry.unread = Some(Unread::SymlinkDangling);
                entry.detail = Some("symbolic link target does not exist".to_string());
            }
            Err(e) => {
                // Where it points cannot be checked (a directory on the way
                // cannot be searched, say): it may leave the workspace.
                entry.unread = Some(Unread::SymlinkRefused);
                entry.detail = Some(format!(
                    "symbolic link target cannot be resolved ({e}); not followed"
                ));
            }
            Ok(target) => {
                if !target.starts_with(root) {
                    // Never read or record where it points: that is outside
                    // the workspace and may itself be sensitive.
                    entry.unread = Some(Unread::SymlinkRefused);
                    entry.detail =
                        Some("symbolic link points outside the workspace root".to_string());
                } else {
                    match fs::metadata(&target) {
                        Ok(m) if m.is_dir() => {
                            entry.unread = Some(Unread::SymlinkDirectory);
                            entry.detail = Some("links to a directory; not followed".to_string());
                        }
                        Ok(m) if m.is_file() => {}
                        _ => entry.unread = Some(Unread::NotRegularFile),
                    }
                }
            }
        }
    } else if !kind.is_file() {
        entry.unread = Some(Unread::NotRegularFile);
        entry.detail = Some("not a regular file (FIFO, socket or device)".to_string());
    }
    if entry.unread.is_none() && !filters.extension_allowed(&rel) {
        entry.unread = Some(Unread::UnsupportedExtension);
        entry.size = size_of(path);
    }
    Some((rel, entry))
}

/// ELOOP: too many levels of symbolic links.
fn is_loop_error(e: &std::io::Error) -> bool {
    let eloop = if cfg!(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd"
    )) {
        62
    } else {
        40
    };
    e.raw_os_error() == Some(eloop)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// `Coverage` says "reads" of exactly the files `discover` reads.
    #[test]
    fn coverage_agrees_with_discovery() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let files = [
            "a.md",
            "b.png",
            "notes/c.md",
            "notes/d.TXT",
            "notes/drafts/e.md",
            "notes/sub/f.md",
            "notes/sub/g.tmp.md",
            "other/h.md",
            "exports/i.md",
            ".pkg/profiles/default/j.md",
            "deep/.git/k.md",
            "deep/node_modules/x/l.md",
        ];
        for f in files {
            let p = root.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, "x").unwrap();
        }
        let mut profile = Profile::default();
        for includes in [vec!["."], vec!["notes", "a.md", "./deep/"]] {
            profile.include_paths = includes.iter().map(|s| s.to_string()).collect();
            profile
                .exclude_globs
                .extend(["notes/drafts/**".to_string(), "**/*.tmp.md".to_string()]);
            let read: Vec<String> = discover(&root, &profile)
                .unwrap()
                .files
                .into_iter()
                .filter(|d| d.unread.is_none())
                .map(|d| d.rel)
                .collect();
            let coverage = Coverage::new(&root, &profile).unwrap();
            let covered: Vec<String> = files
                .iter()
                .filter(|f| coverage.reads_file(&root.join(f)))
                .map(|f| f.to_string())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            assert_eq!(covered, read, "include paths {includes:?}");
            assert!(coverage.walks_dir(&root.join("notes/sub")));
            assert!(!coverage.walks_dir(&root.join("notes/drafts")));
            assert!(!coverage.walks_dir(&root.join(".pkg")));
        }
    }
}
