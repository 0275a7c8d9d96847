//! Ids of git entities and links. Every key is relative to the repository
//! (a commit's sha, an email, a tag or branch name, a repository-relative
//! path), never an absolute path, so a moved or re-cloned repository keeps
//! every id.
//!
//! | entity | key | id |
//! |---|---|---|
//! | `commit` | `commit:<sha>` | `commit_` + sha256(key) |
//! | `author_identity` | `author:<email, lower case>` | `author_` + sha256(key) |
//! | `tag` | `tag:<name>` | `tag_` + sha256(key) |
//! | `ref` | `ref:<branch name>` | `ref_` + sha256(key) |
//! | `repository` | `repository:.` (the workspace's repository) | `repo_` + sha256(key) |
//! | `file` | `file:<repository-relative path>` | `ent_` + sha256(key) |
//! | link | `<rule_id>:<from_id>:<to_id>` | `lnk_` + sha256(key) |

use crate::hashing::sha256_hex;

pub fn commit(sha: &str) -> String {
    format!("commit_{}", sha256_hex(format!("commit:{sha}")))
}

pub fn author(email: &str) -> String {
    format!(
        "author_{}",
        sha256_hex(format!("author:{}", email.to_lowercase()))
    )
}

pub fn tag(name: &str) -> String {
    format!("tag_{}", sha256_hex(format!("tag:{name}")))
}

pub fn branch(name: &str) -> String {
    format!("ref_{}", sha256_hex(format!("ref:{name}")))
}

pub fn repository() -> String {
    format!("repo_{}", sha256_hex("repository:."))
}

pub fn file(path: &str) -> String {
    crate::graph::model::entity_id(&format!("file:{path}"))
}

pub fn link(rule: &str, from: &str, to: &str) -> String {
    crate::graph::model::link_id(rule, from, to)
}

/// Rule ids of the links.
pub mod rules {
    pub const MODIFIES: &str = "link.git_modifies.v1";
    pub const AUTHORED_BY: &str = "link.git_authored_by.v1";
    pub const PARENT_OF: &str = "link.git_parent.v1";
    pub const TAGS: &str = "link.git_tags.v1";
    pub const ON_BRANCH: &str = "link.git_branch.v1";
    pub const CONTAINS: &str = "link.git_contains.v1";
    pub const SUCCEEDED_FROM: &str = "link.git_succeeded_from.v1";
    pub const SOURCE_NOTE: &str = "link.git_file_note.v1";
}
