//! The budget check reads maintained counters, so its cost does not grow
//! with the store. This bench builds a store of 100,000 artifacts and times
//! the check next to what a full walk of the same store costs (what the
//! Python tool did on every check).
//!
//! Run: cargo bench -p auditgraph-core --bench budget

use auditgraph_core::config::FootprintBudget;
use auditgraph_core::store::budget::check_store;
use auditgraph_core::store::fsutil::tree_size;
use auditgraph_core::store::layout::StoreLayout;
use auditgraph_core::store::state::{RunEntry, StoreState};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const ARTIFACTS: usize = 100_000;

fn build_store(root: &std::path::Path) -> StoreLayout {
    let layout = StoreLayout::new(root, "default");
    let mut bytes = 0u64;
    for i in 0..ARTIFACTS {
        let id = format!("{:064x}", (i as u128) * 0x9e37_79b9_7f4a_7c15);
        let path = layout.object_path(&id);
        std::fs::create_dir_all(path.parent().unwrap_or(root)).ok();
        let body = vec![b'x'; 64 + i % 512];
        bytes += body.len() as u64;
        std::fs::write(&path, body).ok();
    }
    let mut state = StoreState::new("default", "v2");
    state.accounting.bytes = bytes;
    state.accounting.files = ARTIFACTS as u64;
    state.runs.insert(
        "run_x".to_string(),
        RunEntry {
            schema_version: "v2".to_string(),
            seq: 1,
            stages: Default::default(),
            source_bytes: 1 << 30,
        },
    );
    state.current_run = Some("run_x".to_string());
    std::fs::write(layout.store_file(), state.to_bytes()).ok();
    layout
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let layout = build_store(dir.path());
    let settings = FootprintBudget::default();
    let mut group = c.benchmark_group("budget_100k_artifacts");
    group.bench_function("check_from_counters", |b| {
        b.iter(|| black_box(check_store(&layout, &settings, 4096, "bench")))
    });
    group.sample_size(10);
    group.bench_function("full_walk_for_comparison", |b| {
        b.iter(|| black_box(tree_size(&layout.dir)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
