//! What a commit changed: a walk of two trees that skips identical
//! subtrees, rename detection by content similarity, and lines added and
//! removed per path.

use super::record::{Change, ChangeKind};
use super::text;
use gix::ObjectId;
use gix::objs::tree::EntryKind;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The least similarity (percent) for a deleted and an added file to count
/// as a rename (git's default).
pub const RENAME_THRESHOLD: u8 = 50;
/// Inexact rename detection compares every deleted file with every added
/// one; above this many pairs in one commit only identical content counts
/// as a rename (git has a similar limit, `diff.renameLimit`).
pub const RENAME_PAIR_LIMIT: usize = 10_000;
/// Blobs larger than this are not read (a hostile or generated history must
/// not exhaust memory): like binary content, they get no line counts.
pub const MAX_BLOB_BYTES: u64 = 32 * 1024 * 1024;
/// Content with a NUL byte in its first 8000 bytes is binary (git's rule):
/// no line counts.
const BINARY_PROBE: usize = 8000;

type DiffResult<T> = Result<T, String>;

/// One side of a changed path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Side {
    oid: ObjectId,
    kind: EntryKind,
}

impl Side {
    /// Whether the content is a blob in this repository (files and
    /// symlinks; a submodule's commit is not).
    fn has_content(self) -> bool {
        !matches!(self.kind, EntryKind::Commit | EntryKind::Tree)
    }
}

#[derive(Debug, Clone)]
struct Raw {
    path: String,
    old: Option<Side>,
    new: Option<Side>,
}

/// The changes of a commit with tree `tree` and parents' trees `parents`.
pub fn commit_changes(
    repo: &gix::Repository,
    tree: ObjectId,
    parents: &[ObjectId],
) -> DiffResult<Vec<Change>> {
    let mut blobs = Blobs::new(repo);
    let mut raw = Vec::new();
    tree_diff(repo, parents.first().copied(), Some(tree), "", &mut raw)?;
    // A merge: only paths that differ from every parent (the others came
    // in with a parent's history, where they are counted).
    if parents.len() > 1 {
        for other in &parents[1..] {
            let mut against = Vec::new();
            tree_diff(repo, Some(*other), Some(tree), "", &mut against)?;
            let changed: BTreeSet<String> = against.into_iter().map(|r| r.path).collect();
            raw.retain(|r| changed.contains(&r.path));
        }
    }
    let mut changes = detect_renames(raw, &mut blobs)?;
    changes.sort_by(|a, b| a.path.cmp(&b.path).then(a.kind.cmp(&b.kind)));
    Ok(changes)
}

/// Submodule paths (gitlinks) under `tree`.
pub fn gitlinks(
    repo: &gix::Repository,
    tree: ObjectId,
    prefix: &str,
    out: &mut BTreeSet<String>,
) -> DiffResult<()> {
    for (name, side) in entries(repo, Some(tree))? {
        let path = join(prefix, &name);
        match side.kind {
            EntryKind::Tree => gitlinks(repo, side.oid, &path, out)?,
            EntryKind::Commit => {
                out.insert(path);
            }
            _ => {}
        }
    }
    Ok(())
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// A tree's entries by name (an absent tree has none).
fn entries(repo: &gix::Repository, tree: Option<ObjectId>) -> DiffResult<BTreeMap<String, Side>> {
    let mut out = BTreeMap::new();
    let Some(tree) = tree else {
        return Ok(out);
    };
    let object = repo
        .find_object(tree)
        .map_err(|e| format!("tree {tree}: {e}"))?;
    let decoded = gix::objs::TreeRef::from_bytes(&object.data, repo.object_hash())
        .map_err(|e| format!("tree {tree}: {e}"))?;
    for entry in decoded.entries {
        out.insert(
            text::path(entry.filename),
            Side {
                oid: entry.oid.to_owned(),
                kind: entry.mode.kind(),
            },
        );
    }
    Ok(out)
}

/// Every path that differs between two trees (absent: empty), skipping
/// subtrees with the same id.
fn tree_diff(
    repo: &gix::Repository,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    prefix: &str,
    out: &mut Vec<Raw>,
) -> DiffResult<()> {
    if old.is_some() && old == new {
        return Ok(());
    }
    let old_entries = entries(repo, old)?;
    let new_entries = entries(repo, new)?;
    let names: BTreeSet<&String> = old_entries.keys().chain(new_entries.keys()).collect();
    for name in names {
        let path = join(prefix, name);
        let o = old_entries.get(name).copied();
        let n = new_entries.get(name).copied();
        let o_tree = o.filter(|s| s.kind == EntryKind::Tree);
        let n_tree = n.filter(|s| s.kind == EntryKind::Tree);
        if (o_tree.is_some() || n_tree.is_some()) && o_tree.map(|s| s.oid) != n_tree.map(|s| s.oid)
        {
            tree_diff(
                repo,
                o_tree.map(|s| s.oid),
                n_tree.map(|s| s.oid),
                &path,
                out,
            )?;
        }
        let o_file = o.filter(|s| s.kind != EntryKind::Tree);
        let n_file = n.filter(|s| s.kind != EntryKind::Tree);
        if o_file != n_file {
            out.push(Raw {
                path,
                old: o_file,
                new: n_file,
            });
        }
    }
    Ok(())
}

/// Blob contents read once per commit.
struct Blobs<'r> {
    repo: &'r gix::Repository,
    cache: HashMap<ObjectId, Vec<u8>>,
}

impl<'r> Blobs<'r> {
    fn new(repo: &'r gix::Repository) -> Blobs<'r> {
        Blobs {
            repo,
            cache: HashMap::new(),
        }
    }

    /// The blob's bytes; a blob larger than [`MAX_BLOB_BYTES`] is not read
    /// and reads as binary (a NUL byte): no line counts, no similarity.
    fn get(&mut self, oid: ObjectId) -> DiffResult<&[u8]> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.cache.entry(oid) {
            let header = self
                .repo
                .find_header(oid)
                .map_err(|e| format!("blob {oid}: {e}"))?;
            if header.size() > MAX_BLOB_BYTES {
                slot.insert(vec![0]);
            } else {
                let object = self
                    .repo
                    .find_object(oid)
                    .map_err(|e| format!("blob {oid}: {e}"))?;
                slot.insert(object.data.clone());
            }
        }
        Ok(self.cache.get(&oid).map(Vec::as_slice).unwrap_or(&[]))
    }
}

fn is_binary(bytes: &[u8]) -> bool {
    memchr::memchr(0, &bytes[..bytes.len().min(BINARY_PROBE)]).is_some()
}

fn line_count(bytes: &[u8]) -> u32 {
    let newlines = memchr::memchr_iter(b'\n', bytes).count();
    let tail = usize::from(!bytes.is_empty() && !bytes.ends_with(b"\n"));
    u32::try_from(newlines + tail).unwrap_or(u32::MAX)
}

/// Lines (added, removed) from `old` to `new`, and the bytes of `old`'s
/// lines that stay (for similarity); `None` for binary content.
fn line_diff(old: &[u8], new: &[u8]) -> Option<(u32, u32, usize)> {
    if is_binary(old) || is_binary(new) {
        return None;
    }
    let input = imara_diff::InternedInput::new(old, new);
    let diff = imara_diff::Diff::compute(imara_diff::Algorithm::Myers, &input);
    let kept: usize = input
        .before
        .iter()
        .enumerate()
        .filter(|(i, _)| !diff.is_removed(*i as u32))
        .map(|(_, t)| input.interner[*t].len())
        .sum();
    Some((diff.count_additions(), diff.count_removals(), kept))
}

/// Counts for one side pair: lines added and removed.
fn counts(
    blobs: &mut Blobs<'_>,
    old: Option<Side>,
    new: Option<Side>,
) -> DiffResult<(Option<u32>, Option<u32>)> {
    let content = |s: Option<Side>| s.filter(|s| s.has_content());
    // A submodule on either side: no line counts.
    if old.is_some_and(|s| !s.has_content()) || new.is_some_and(|s| !s.has_content()) {
        return Ok((None, None));
    }
    let old_bytes = match content(old) {
        Some(s) => blobs.get(s.oid)?.to_vec(),
        None => Vec::new(),
    };
    let new_bytes = match content(new) {
        Some(s) => blobs.get(s.oid)?.to_vec(),
        None => Vec::new(),
    };
    if old.is_none() {
        return Ok(if is_binary(&new_bytes) {
            (None, None)
        } else {
            (Some(line_count(&new_bytes)), Some(0))
        });
    }
    if new.is_none() {
        return Ok(if is_binary(&old_bytes) {
            (None, None)
        } else {
            (Some(0), Some(line_count(&old_bytes)))
        });
    }
    Ok(match line_diff(&old_bytes, &new_bytes) {
        Some((a, r, _)) => (Some(a), Some(r)),
        None => (None, None),
    })
}

/// Similarity in percent of two contents: the bytes of unchanged lines over
/// the larger size (0 for binary or empty content).
fn similarity(old: &[u8], new: &[u8]) -> u8 {
    let larger = old.len().max(new.len());
    if larger == 0 || old.is_empty() || new.is_empty() {
        return 0;
    }
    match line_diff(old, new) {
        Some((_, _, kept)) => ((kept * 100) / larger).min(100) as u8,
        None => 0,
    }
}

/// Pairs deleted and added files into renames (identical content first,
/// then the most similar at or above [`RENAME_THRESHOLD`]), and counts
/// lines.
fn detect_renames(raw: Vec<Raw>, blobs: &mut Blobs<'_>) -> DiffResult<Vec<Change>> {
    let candidate = |s: Option<Side>| s.is_some_and(|s| s.has_content());
    let deleted: Vec<usize> = (0..raw.len())
        .filter(|&i| raw[i].new.is_none() && candidate(raw[i].old))
        .collect();
    let added: Vec<usize> = (0..raw.len())
        .filter(|&i| raw[i].old.is_none() && candidate(raw[i].new))
        .collect();
    // (added index) -> (deleted index, similarity)
    let mut pairs: BTreeMap<usize, (usize, u8)> = BTreeMap::new();
    let mut used: BTreeSet<usize> = BTreeSet::new();
    // Identical content, in path order.
    for &a in &added {
        let oid = raw[a].new.map(|s| s.oid);
        if let Some(&d) = deleted
            .iter()
            .find(|&&d| !used.contains(&d) && raw[d].old.map(|s| s.oid) == oid)
        {
            used.insert(d);
            pairs.insert(a, (d, 100));
        }
    }
    let open_added: Vec<usize> = added
        .iter()
        .copied()
        .filter(|a| !pairs.contains_key(a))
        .collect();
    let open_deleted: Vec<usize> = deleted
        .iter()
        .copied()
        .filter(|d| !used.contains(d))
        .collect();
    if !open_added.is_empty()
        && !open_deleted.is_empty()
        && open_added.len() * open_deleted.len() <= RENAME_PAIR_LIMIT
    {
        let mut scored: Vec<(u8, usize, usize)> = Vec::new();
        for &a in &open_added {
            let Some(new) = raw[a].new else { continue };
            let new_bytes = blobs.get(new.oid)?.to_vec();
            for &d in &open_deleted {
                let Some(old) = raw[d].old else { continue };
                let old_bytes = blobs.get(old.oid)?;
                let score = similarity(old_bytes, &new_bytes);
                if score >= RENAME_THRESHOLD {
                    scored.push((score, a, d));
                }
            }
        }
        // Most similar first; ties by path order (indices follow paths).
        scored.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
        for (score, a, d) in scored {
            if pairs.contains_key(&a) || used.contains(&d) {
                continue;
            }
            used.insert(d);
            pairs.insert(a, (d, score));
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        if used.contains(&i) {
            continue; // the old side of a rename
        }
        if let Some(&(d, score)) = pairs.get(&i) {
            let old = raw[d].old;
            let (added, removed) = counts(blobs, old, r.new)?;
            out.push(Change {
                path: r.path.clone(),
                kind: ChangeKind::Renamed,
                old_path: Some(raw[d].path.clone()),
                similarity: Some(score),
                added,
                removed,
            });
            continue;
        }
        let kind = match (r.old, r.new) {
            (None, _) => ChangeKind::Added,
            (_, None) => ChangeKind::Deleted,
            (Some(o), Some(n))
                if o.has_content() != n.has_content()
                    || (o.kind == EntryKind::Link) != (n.kind == EntryKind::Link) =>
            {
                ChangeKind::TypeChanged
            }
            _ => ChangeKind::Modified,
        };
        let (added, removed) = counts(blobs, r.old, r.new)?;
        out.push(Change {
            path: r.path.clone(),
            kind,
            old_path: None,
            similarity: None,
            added,
            removed,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_and_similarity() {
        assert_eq!(line_count(b""), 0);
        assert_eq!(line_count(b"a"), 1);
        assert_eq!(line_count(b"a\nb\n"), 2);
        assert_eq!(
            line_diff(b"a\nb\nc\n", b"a\nc\nd\n").map(|(a, r, _)| (a, r)),
            Some((1, 1))
        );
        assert_eq!(line_diff(b"a\0", b"b"), None);
        assert_eq!(similarity(b"a\nb\nc\nd\n", b"a\nb\nc\nd\n"), 100);
        assert_eq!(similarity(b"a\nb\nc\nd\n", b"a\nb\nc\nx\n"), 75);
        assert_eq!(similarity(b"", b"a"), 0);
    }
}
