//! Classification and resolution of link targets.
//!
//! [`classify`] looks at one link on its own (syntax only): is it external, a
//! local path (normalized relative to the workspace root) or unusable.
//! [`Resolver`] is built once per run from the run's Markdown and text
//! documents and decides whether a link points at one of them.
//!
//! Everything here is pure and deterministic: no I/O, no file-system probes;
//! "exists" means "is a document of the run".
//!
//! # Rules for ordinary links ([`classify`], then [`Resolver::resolve`])
//!
//! * Empty (or whitespace-only) target ⇒ unresolved `empty_target`.
//! * A scheme (`[A-Za-z][A-Za-z0-9+.-]+:`, at least two characters so that
//!   `C:\…` is not a scheme) among `http`, `https`, `ftp`, `ftps`, `mailto`
//!   (case-insensitive) ⇒ external; any other scheme (`file:`, `javascript:`,
//!   `redacted:` …) ⇒ unresolved `unsupported_scheme`. A target starting with
//!   `www.` ⇒ external `http`; a scheme-relative `//host/…` ⇒ external with an
//!   empty scheme.
//! * Otherwise the target is a path. The fragment (after the first `#`) and
//!   the query (after the first `?`) are dropped, the rest is percent-decoded
//!   (left as written if that is not valid UTF-8). A path starting with `/` is
//!   relative to the workspace root, any other is joined with the source's
//!   directory; `.` and `..` segments are collapsed and climbing above the root
//!   ⇒ unresolved `outside_root`.
//! * **Same-document anchors**: a target whose path part is empty (`#intro`,
//!   `?x`, `#`) refers to the source document itself: it classifies as
//!   `Local { path: <source>, fragment }` and resolves as
//!   `Internal { path: <source>, .. }` (rule `same_document`), whether or not
//!   the source is among the run's documents. In-document anchors are
//!   legitimate links, so they are not reported as unresolved.
//! * **Directory links** (a path ending in `/`, `.` or `..`, or the root
//!   itself) classify as `Local` with a trailing `/` (the root is `""`).
//!
//! The resolver then tries, in order, and the first document of the run wins:
//!
//! 1. the path itself (`exact_path`), unless it is a directory link;
//! 2. `*.html` / `*.htm` ⇒ the same path with `.md`, then `.markdown`
//!    (`html_source`): static-site generators (mdBook, Jekyll, MkDocs…) turn
//!    `x.md` into `x.html` and authors link the output, so the link names the
//!    source document. mdBook also renders `README.md` as `index.html`, so
//!    `dir/index.html` finally tries `dir/README.md`;
//! 3. a path without an extension ⇒ `path.md`, then `path.markdown`
//!    (`append_extension`), the wiki / static-site convention;
//! 4. a directory link or a path without an extension ⇒ `path/index.md`, then
//!    `path/README.md` (`directory_index`).
//!
//! Anything else ⇒ unresolved `not_found` (links to images, PDFs or source
//! files that are not documents of the run end up here too). Matching is
//! exact and case-sensitive.
//!
//! # Wikilinks
//!
//! `[[Page#Heading|alias]]` resolves its page part by, in order:
//!
//! 1. `wiki_path`: the page as a path (relative to the source's directory if it
//!    starts with `./` or `../`; otherwise relative to the root first, then to
//!    the source's directory), as is, then with `.md` and `.markdown` appended;
//! 2. `wiki_stem`: the file name without its extension, case-insensitive; a page
//!    containing `/` (`folder/Note`) must match the end of the path at a
//!    segment boundary; a trailing `.md`/`.markdown` in the page is ignored;
//! 3. `wiki_title`: the document title (front matter `title` or first H1),
//!    case-insensitive, whitespace collapsed;
//! 4. `wiki_alias`: one of the document's aliases, same comparison.
//!
//! When several documents match in the same step, the shortest path (in
//! bytes) wins, then the lexicographically smallest. `[[#Heading]]` is a
//! same-document anchor; a page containing `://` is treated as an ordinary URL.
//! A wikilink that matches nothing is unresolved `not_found`.

use foldhash::HashMap;

use serde::{Deserialize, Serialize};

use super::markdown::{LinkForm, LinkMention};

/// URL schemes that are classified as external.
pub const EXTERNAL_SCHEMES: [&str; 5] = ["http", "https", "ftp", "ftps", "mailto"];

/// Unresolved: the target is empty.
pub const EMPTY_TARGET: &str = "empty_target";
/// Unresolved: the target uses a scheme other than [`EXTERNAL_SCHEMES`].
pub const UNSUPPORTED_SCHEME: &str = "unsupported_scheme";
/// Unresolved: the path climbs above the workspace root.
pub const OUTSIDE_ROOT: &str = "outside_root";
/// Unresolved: no document of the run matches.
pub const NOT_FOUND: &str = "not_found";

/// What a link target is, judged from the link alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetClass {
    /// A URL with a supported scheme (lowercased; empty for `//host/…`).
    External { scheme: String },
    /// A path in the workspace: normalized, posix, relative to the root;
    /// directory links end in `/` (the root itself is `""`).
    Local {
        path: String,
        fragment: Option<String>,
    },
    /// Not usable; `reason` is a stable snake_case code.
    Unresolved { reason: &'static str },
}

/// The identity of one document of the run, as wikilinks may name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocKey {
    /// Posix path relative to the workspace root.
    pub path: String,
    /// Front matter `title`, else first H1, else empty.
    pub title: String,
    /// Front matter aliases.
    pub aliases: Vec<String>,
}

/// Where a link leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resolution {
    /// A document of the run (or the source itself for anchors).
    Internal {
        path: String,
        fragment: Option<String>,
    },
    /// A URL with a supported scheme.
    External { scheme: String },
    /// Not resolvable; `reason` is a stable snake_case code.
    Unresolved { reason: &'static str },
}

/// Classifies a link from its syntax alone (see the module docs).
///
/// Meant for ordinary links; for a wikilink the page part is treated as a
/// path (root-relative unless it starts with `./` or `../`) without any of the
/// resolver's fallbacks.
pub fn classify(source_path: &str, link: &LinkMention) -> TargetClass {
    if link.form == LinkForm::Wiki {
        let page = link.target.trim();
        if page.is_empty() {
            return match &link.fragment {
                Some(fragment) => TargetClass::Local {
                    path: normalize_source(source_path),
                    fragment: Some(fragment.clone()),
                },
                None => TargetClass::Unresolved {
                    reason: EMPTY_TARGET,
                },
            };
        }
        let base = if is_explicitly_relative(page) {
            source_dir(source_path)
        } else {
            ""
        };
        return match join_normalize(base, page) {
            Some(path) => TargetClass::Local {
                path,
                fragment: link.fragment.clone(),
            },
            None => TargetClass::Unresolved {
                reason: OUTSIDE_ROOT,
            },
        };
    }
    classify_href(source_path, &link.target)
}

/// Classifies an href written in `source_path` (see the module docs).
pub fn classify_href(source_path: &str, href: &str) -> TargetClass {
    let href = href.trim();
    if href.is_empty() {
        return TargetClass::Unresolved {
            reason: EMPTY_TARGET,
        };
    }
    if let Some(scheme) = scheme_of(href) {
        let scheme = scheme.to_ascii_lowercase();
        return if EXTERNAL_SCHEMES.contains(&scheme.as_str()) {
            TargetClass::External { scheme }
        } else {
            TargetClass::Unresolved {
                reason: UNSUPPORTED_SCHEME,
            }
        };
    }
    if href.starts_with("//") {
        return TargetClass::External {
            scheme: String::new(),
        };
    }
    if href
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("www."))
    {
        return TargetClass::External {
            scheme: "http".to_string(),
        };
    }
    let (before_fragment, fragment) = match href.split_once('#') {
        Some((before, frag)) => (before, (!frag.is_empty()).then(|| frag.to_string())),
        None => (href, None),
    };
    let raw_path = before_fragment
        .split_once('?')
        .map_or(before_fragment, |(p, _)| p);
    if raw_path.is_empty() {
        return TargetClass::Local {
            path: normalize_source(source_path),
            fragment,
        };
    }
    let decoded = percent_decode(raw_path);
    let (base, rel) = match decoded.strip_prefix('/') {
        Some(rest) => ("", rest),
        None => (source_dir(source_path), decoded.as_str()),
    };
    let last = rel.rsplit('/').next().unwrap_or_default();
    let dir_link = rel.is_empty() || rel.ends_with('/') || last == "." || last == "..";
    match join_normalize(base, rel) {
        Some(mut path) => {
            if dir_link && !path.is_empty() {
                path.push('/');
            }
            TargetClass::Local { path, fragment }
        }
        None => TargetClass::Unresolved {
            reason: OUTSIDE_ROOT,
        },
    }
}

/// The scheme of `s` if it starts with one (at least two characters).
fn scheme_of(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic()
        && scheme.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

fn is_explicitly_relative(s: &str) -> bool {
    s == "." || s == ".." || s.starts_with("./") || s.starts_with("../")
}

/// The directory part of a root-relative posix path (`""` at the root).
fn source_dir(source_path: &str) -> &str {
    source_path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn normalize_source(source_path: &str) -> String {
    join_normalize("", source_path).unwrap_or_else(|| source_path.to_string())
}

/// Joins `base` and `rel` and collapses empty, `.` and `..` segments;
/// `None` if the result would climb above the root.
fn join_normalize(base: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for segment in base.split('/').chain(rel.split('/')) {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// Decodes `%XX` escapes; returns `s` unchanged if the result is not UTF-8.
fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| hex_value(*b)),
                bytes.get(i + 2).and_then(|b| hex_value(*b)),
            )
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The extension of the last path segment (after its last `.`, which must not
/// be the segment's first character).
fn extension(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rfind('.') {
        Some(at) if at > 0 => name.get(at + 1..),
        _ => None,
    }
}

/// Lowercases and collapses whitespace: the comparison key of names.
pub fn name_key(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Strips a trailing `.md` / `.markdown` (case-insensitive).
fn strip_doc_extension(s: &str) -> &str {
    for ext in [".md", ".markdown"] {
        if s.len() > ext.len()
            && let Some(tail) = s.get(s.len() - ext.len()..)
            && tail.eq_ignore_ascii_case(ext)
        {
            return s.get(..s.len() - ext.len()).unwrap_or(s);
        }
    }
    s
}

/// What resolution needs to know about the documents of a run. Paths are
/// posix and root-relative; lists are ordered shortest path first, then
/// by path (the first match of a step wins).
pub trait DocKeys {
    /// Whether `path` is a document of the run.
    fn has_path(&self, path: &str) -> bool;
    /// Documents whose lowercased file stem is `stem` ([`name_key`]).
    fn by_stem(&self, stem: &str) -> Vec<String>;
    /// Documents whose title key is `key`.
    fn by_title(&self, key: &str) -> Vec<String>;
    /// Documents with an alias whose key is `key`.
    fn by_alias(&self, key: &str) -> Vec<String>;
}

/// The keys a document can be found by, each named `p:<path>`,
/// `s:<stem>`, `t:<title>` or `a:<alias>` (see [`DocKeys`]).
pub fn holder_keys(doc: &DocKey) -> Vec<String> {
    let mut keys = vec![format!("p:{}", doc.path)];
    let name = doc.path.rsplit('/').next().unwrap_or(&doc.path);
    let stem = match name.rfind('.') {
        Some(at) if at > 0 => name.get(..at).unwrap_or(name),
        _ => name,
    };
    keys.push(format!("s:{}", name_key(stem)));
    let title = name_key(&doc.title);
    if !title.is_empty() {
        keys.push(format!("t:{title}"));
    }
    for alias in &doc.aliases {
        let alias = name_key(alias);
        if !alias.is_empty() {
            keys.push(format!("a:{alias}"));
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Every key resolving `link` could ever look up, named as in
/// [`holder_keys`]: resolution against a run holding no document looks
/// up each step's keys, and a step only ever stops the search early, so
/// this is every key whose documents can change how the link resolves.
pub fn lookup_keys(source_path: &str, link: &LinkMention) -> Vec<String> {
    struct Recorder(std::cell::RefCell<Vec<String>>);
    impl DocKeys for Recorder {
        fn has_path(&self, path: &str) -> bool {
            self.0.borrow_mut().push(format!("p:{path}"));
            false
        }
        fn by_stem(&self, stem: &str) -> Vec<String> {
            self.0.borrow_mut().push(format!("s:{stem}"));
            Vec::new()
        }
        fn by_title(&self, key: &str) -> Vec<String> {
            self.0.borrow_mut().push(format!("t:{key}"));
            Vec::new()
        }
        fn by_alias(&self, key: &str) -> Vec<String> {
            self.0.borrow_mut().push(format!("a:{key}"));
            Vec::new()
        }
    }
    let recorder = Recorder(std::cell::RefCell::new(Vec::new()));
    resolve_explained(&recorder, source_path, link);
    let mut keys = recorder.0.into_inner();
    keys.sort();
    keys.dedup();
    keys
}

/// Resolves links against the documents of one run, held in memory.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    /// Document paths, sorted by (length, path), deduplicated.
    paths: Vec<String>,
    /// Path ⇒ rank (index into `paths`).
    by_path: HashMap<String, usize>,
    /// Lowercased file stem ⇒ ranks, ascending.
    by_stem: HashMap<String, Vec<usize>>,
    /// Title key ⇒ ranks, ascending.
    by_title: HashMap<String, Vec<usize>>,
    /// Alias key ⇒ ranks, ascending.
    by_alias: HashMap<String, Vec<usize>>,
}

impl Resolver {
    /// Indexes the documents of a run. Paths are posix, relative to the root.
    pub fn new(docs: &[DocKey]) -> Resolver {
        let mut order: Vec<&DocKey> = docs.iter().collect();
        order.sort_by(|a, b| {
            (a.path.len(), &a.path, &a.title, &a.aliases).cmp(&(
                b.path.len(),
                &b.path,
                &b.title,
                &b.aliases,
            ))
        });
        order.dedup_by(|a, b| a.path == b.path);

        let mut resolver = Resolver::default();
        for (rank, doc) in order.into_iter().enumerate() {
            resolver.by_path.insert(doc.path.clone(), rank);
            resolver.paths.push(doc.path.clone());
            let name = doc.path.rsplit('/').next().unwrap_or(&doc.path);
            let stem = match name.rfind('.') {
                Some(at) if at > 0 => name.get(..at).unwrap_or(name),
                _ => name,
            };
            push_rank(&mut resolver.by_stem, name_key(stem), rank);
            let title = name_key(&doc.title);
            if !title.is_empty() {
                push_rank(&mut resolver.by_title, title, rank);
            }
            for alias in &doc.aliases {
                let alias = name_key(alias);
                if !alias.is_empty() {
                    push_rank(&mut resolver.by_alias, alias, rank);
                }
            }
        }
        resolver
    }

    /// Resolves one link of the document at `source_path`.
    pub fn resolve(&self, source_path: &str, link: &LinkMention) -> Resolution {
        self.resolve_explained(source_path, link).0
    }

    /// Like [`Resolver::resolve`], and also names the rule that decided
    /// (see [`resolve_explained`]).
    pub fn resolve_explained(
        &self,
        source_path: &str,
        link: &LinkMention,
    ) -> (Resolution, &'static str) {
        resolve_explained(self, source_path, link)
    }
}

impl DocKeys for Resolver {
    fn has_path(&self, path: &str) -> bool {
        self.by_path.contains_key(path)
    }
    fn by_stem(&self, stem: &str) -> Vec<String> {
        self.paths_of(&self.by_stem, stem)
    }
    fn by_title(&self, key: &str) -> Vec<String> {
        self.paths_of(&self.by_title, key)
    }
    fn by_alias(&self, key: &str) -> Vec<String> {
        self.paths_of(&self.by_alias, key)
    }
}

impl Resolver {
    fn paths_of(&self, index: &HashMap<String, Vec<usize>>, key: &str) -> Vec<String> {
        index
            .get(key)
            .map(|ranks| {
                ranks
                    .iter()
                    .filter_map(|r| self.paths.get(*r).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Resolves one link of the document at `source_path` against `keys`, and
/// names the rule that decided: `same_document`, `exact_path`,
/// `html_source`, `append_extension`, `directory_index`, `wiki_path`,
/// `wiki_stem`, `wiki_title`, `wiki_alias`, `external_scheme` or
/// `unresolved`.
pub fn resolve_explained(
    keys: &dyn DocKeys,
    source_path: &str,
    link: &LinkMention,
) -> (Resolution, &'static str) {
    if link.form == LinkForm::Wiki {
        return resolve_wiki(keys, source_path, link);
    }
    let normalized_source = normalize_source(source_path);
    match classify(source_path, link) {
        TargetClass::External { scheme } => (Resolution::External { scheme }, "external_scheme"),
        TargetClass::Unresolved { reason } => (Resolution::Unresolved { reason }, "unresolved"),
        TargetClass::Local { path, fragment } => {
            if path == normalized_source {
                return (Resolution::Internal { path, fragment }, "same_document");
            }
            match lookup_path(keys, &path) {
                Some((path, rule)) => (Resolution::Internal { path, fragment }, rule),
                None => (Resolution::Unresolved { reason: NOT_FOUND }, "unresolved"),
            }
        }
    }
}

fn has(keys: &dyn DocKeys, path: &str) -> Option<String> {
    keys.has_path(path).then(|| path.to_string())
}

/// The first document among the candidates for a normalized local path.
fn lookup_path(keys: &dyn DocKeys, path: &str) -> Option<(String, &'static str)> {
    let dir_link = path.is_empty() || path.ends_with('/');
    let base = path.trim_end_matches('/');
    let ext = if dir_link { None } else { extension(base) };
    if !dir_link {
        if let Some(found) = has(keys, base) {
            return Some((found, "exact_path"));
        }
        if let Some(ext) = ext
            && (ext.eq_ignore_ascii_case("html") || ext.eq_ignore_ascii_case("htm"))
        {
            let stem = base.get(..base.len() - ext.len() - 1).unwrap_or(base);
            for candidate in [format!("{stem}.md"), format!("{stem}.markdown")] {
                if let Some(found) = has(keys, &candidate) {
                    return Some((found, "html_source"));
                }
            }
            let name = stem.rsplit('/').next().unwrap_or(stem);
            if name.eq_ignore_ascii_case("index") {
                let dir = stem.get(..stem.len() - name.len()).unwrap_or("");
                if let Some(found) = has(keys, &format!("{dir}README.md")) {
                    return Some((found, "html_source"));
                }
            }
            return None;
        }
        if ext.is_none() {
            for candidate in [format!("{base}.md"), format!("{base}.markdown")] {
                if let Some(found) = has(keys, &candidate) {
                    return Some((found, "append_extension"));
                }
            }
        }
    }
    if dir_link || ext.is_none() {
        let prefix = if base.is_empty() {
            String::new()
        } else {
            format!("{base}/")
        };
        for index in ["index.md", "README.md"] {
            if let Some(found) = has(keys, &format!("{prefix}{index}")) {
                return Some((found, "directory_index"));
            }
        }
    }
    None
}

fn resolve_wiki(
    keys: &dyn DocKeys,
    source_path: &str,
    link: &LinkMention,
) -> (Resolution, &'static str) {
    let page = link.target.trim();
    let fragment = link.fragment.clone();
    if page.is_empty() {
        return match fragment {
            Some(fragment) => (
                Resolution::Internal {
                    path: normalize_source(source_path),
                    fragment: Some(fragment),
                },
                "same_document",
            ),
            None => (
                Resolution::Unresolved {
                    reason: EMPTY_TARGET,
                },
                "unresolved",
            ),
        };
    }
    if page.contains("://") {
        return match classify_href(source_path, page) {
            TargetClass::External { scheme } => {
                (Resolution::External { scheme }, "external_scheme")
            }
            TargetClass::Unresolved { reason } => (Resolution::Unresolved { reason }, "unresolved"),
            TargetClass::Local { .. } => {
                (Resolution::Unresolved { reason: NOT_FOUND }, "unresolved")
            }
        };
    }
    let internal = |path: String| Resolution::Internal {
        path,
        fragment: fragment.clone(),
    };

    // 1. Path, root-relative then source-relative (or only the latter).
    let dir = source_dir(source_path);
    let bases: &[&str] = if is_explicitly_relative(page) {
        &[dir]
    } else {
        &["", dir]
    };
    for base in bases {
        if let Some(path) = join_normalize(base, page) {
            for candidate in [
                path.clone(),
                format!("{path}.md"),
                format!("{path}.markdown"),
            ] {
                if let Some(found) = has(keys, &candidate) {
                    return (internal(found), "wiki_path");
                }
            }
        }
    }

    // 2. File stem, or path suffix at a segment boundary.
    let key = name_key(strip_doc_extension(page));
    let (suffix, stem) = match key.rsplit_once('/') {
        Some((_, stem)) => (Some(format!("/{key}")), stem),
        None => (None, key.as_str()),
    };
    {
        for path in keys.by_stem(stem) {
            let matches = match &suffix {
                None => true,
                Some(suffix) => {
                    let lower = name_key(strip_extension(&path));
                    lower == key || lower.ends_with(suffix.as_str())
                }
            };
            if matches {
                return (internal(path), "wiki_stem");
            }
        }
    }

    // 3. Title, 4. alias.
    let key = name_key(page);
    for (found, rule) in [
        (keys.by_title(&key), "wiki_title"),
        (keys.by_alias(&key), "wiki_alias"),
    ] {
        if let Some(path) = found.into_iter().next() {
            return (internal(path), rule);
        }
    }
    (Resolution::Unresolved { reason: NOT_FOUND }, "unresolved")
}

fn push_rank(index: &mut HashMap<String, Vec<usize>>, key: String, rank: usize) {
    let ranks = index.entry(key).or_default();
    if ranks.last() != Some(&rank) {
        ranks.push(rank);
    }
}

/// `path` without the extension of its last segment.
fn strip_extension(path: &str) -> &str {
    match extension(path) {
        Some(ext) => path.get(..path.len() - ext.len() - 1).unwrap_or(path),
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization() {
        assert_eq!(join_normalize("a/b", "../c/./d"), Some("a/c/d".into()));
        assert_eq!(join_normalize("a", "../../x"), None);
        assert_eq!(join_normalize("", ""), Some(String::new()));
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%ff"), "%ff");
        assert_eq!(extension("a/b.c/d"), None);
        assert_eq!(extension("a/.hidden"), None);
        assert_eq!(extension("a/x.tar.gz"), Some("gz"));
        assert_eq!(scheme_of("C:\\x"), None);
        assert_eq!(scheme_of("git+ssh://x"), Some("git+ssh"));
        assert_eq!(scheme_of("a b:c"), None);
        assert_eq!(strip_doc_extension("Note.MD"), "Note");
        assert_eq!(strip_doc_extension(".md"), ".md");
    }
}
