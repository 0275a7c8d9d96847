//! A plain `list` page read from the entity pieces is the page the whole
//! graph gives: same entities, same order, same JSON, same totals, for
//! every type, offset and limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use auditgraph_core::pipeline::run_cmd::{Command, execute};
use auditgraph_core::pipeline::{Workspace, WriteOptions};
use auditgraph_core::progress::NoProgress;
use auditgraph_core::query::filter::Page;
use auditgraph_core::query::list;
use auditgraph_core::query::load::{Need, RunPieces, open_run};
use auditgraph_core::query::select::{self, Selection};

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let techs = [
        "rust", "tokio", "serde", "postgres", "redis", "kafka", "nginx",
    ];
    for i in 0..60 {
        let sub = ["", "a/", "b/c/"][i % 3];
        let mut text = format!("# Note {i}\n\nUses `{}`", techs[i % techs.len()]);
        text.push_str(&format!(" and `{}`.\n", techs[(i * 3 + 1) % techs.len()]));
        if i % 4 == 0 {
            text.push_str(&format!(
                "\n## Part {i}\n\nSee [[Note {}]] and [x](missing-{i}.md).\n",
                (i + 7) % 60
            ));
        }
        let path = dir.path().join(format!("{sub}note-{i:02}.md"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn plain_pages_from_pieces_equal_pages_of_the_whole_graph() {
    let dir = workspace();
    let progress = NoProgress;
    let opts = WriteOptions {
        lock_timeout: std::time::Duration::from_secs(10),
        on_wait: &|| {},
        progress: &progress,
        allow_redaction_misses: false,
    };
    let ws = Workspace::open(dir.path(), None, None).unwrap();
    execute(&ws, &opts, Command::Run).unwrap();
    let whole = open_run(&ws, None, Need::Graph).unwrap();
    let all: Vec<u32> = (0..whole.view.graph.nodes.len() as u32).collect();
    let type_sets: [&[&str]; 4] = [
        &[],
        &["ag:note"],
        &["ag:technology", "ag:section"],
        &["ag:reference"],
    ];
    for types in type_sets {
        for (offset, limit) in [(0, 10), (0, 1), (7, 13), (40, 25), (150, 100), (0, 1000)] {
            let sel = Selection {
                types: types.iter().map(|t| t.to_string()).collect(),
                wheres: Vec::new(),
                sort: None,
                desc: false,
                page: Page {
                    limit: Some(limit),
                    offset,
                },
            };
            assert!(list::answers(&sel));
            let kept = select::filter(&whole.view, all.clone(), &sel).unwrap();
            let (page, total, truncated) =
                select::order_and_page(&whole.view, kept.clone(), &sel).unwrap();
            let expected: Vec<_> = page
                .iter()
                .map(|n| whole.view.entity(*n).unwrap())
                .collect();
            let pieces = RunPieces::open(&ws, None, Need::Graph).unwrap();
            let fast = list::page(&pieces, &ws.config, &sel).unwrap();
            assert_eq!(fast.total, total, "{types:?} {offset} {limit}");
            assert_eq!(list::count(&pieces, &sel).unwrap(), kept.len());
            assert_eq!(fast.truncated, truncated, "{types:?} {offset} {limit}");
            assert_eq!(fast.results, expected, "{types:?} {offset} {limit}");
        }
    }
}
