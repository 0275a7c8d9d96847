//! Path rules: everything the store records is a posix path relative to the
//! workspace root, and nothing is read or written outside that root.

use std::path::{Component, Path, PathBuf};

/// Checks that a configured path (an include path, say) is relative and does
/// not climb above the root lexically.
pub fn check_relative_inside(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("is empty".to_string());
    }
    let p = Path::new(path);
    if p.is_absolute() {
        return Err("is absolute".to_string());
    }
    let mut depth: i64 = 0;
    for component in p.components() {
        match component {
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err("leaves the workspace root".to_string());
                }
            }
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err("is absolute".to_string()),
        }
    }
    Ok(())
}

/// Joins `relative` onto `root` and normalizes `.` and `..` lexically.
/// Returns `None` if the result would leave `root`.
pub fn join_inside(root: &Path, relative: &str) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    let mut depth = 0usize;
    for component in Path::new(relative).components() {
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

/// The posix form of `path` relative to `root`, if `path` is inside `root`
/// and valid UTF-8. Both paths must be in the same form (both canonical, or
/// `path` built by joining onto `root`).
pub fn relative_posix(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for component in rel.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// True if `path` (canonical) is `root` (canonical) or inside it.
pub fn is_within(root: &Path, path: &Path) -> bool {
    path.starts_with(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_checks() {
        assert!(check_relative_inside(".").is_ok());
        assert!(check_relative_inside("notes/../docs").is_ok());
        assert!(check_relative_inside("../x").is_err());
        assert!(check_relative_inside("a/../../x").is_err());
        assert!(check_relative_inside("/etc").is_err());
        assert!(check_relative_inside("").is_err());
    }

    #[test]
    fn joins_stay_inside() {
        let root = Path::new("/w");
        assert_eq!(
            join_inside(root, "a/./b/../c"),
            Some(PathBuf::from("/w/a/c"))
        );
        assert_eq!(join_inside(root, "."), Some(PathBuf::from("/w")));
        assert_eq!(join_inside(root, "../x"), None);
        assert_eq!(join_inside(root, "/etc/passwd"), None);
    }

    #[test]
    fn posix_relative() {
        let root = Path::new("/w");
        assert_eq!(
            relative_posix(root, Path::new("/w/a/b c.md")),
            Some("a/b c.md".to_string())
        );
        assert_eq!(relative_posix(root, Path::new("/x/a")), None);
    }
}
