//! `auditgraph node`, `neighbors` and `why-connected`.

use crate::commands::list::truncate;
use crate::context::Context;
use crate::error::CliResult;
use auditgraph_core::query::load::Need;
use auditgraph_core::query::nav::{self, EdgeFilter};
use serde_json::Value;

fn label(v: &Value) -> String {
    format!(
        "{} {} ({})",
        v["type"].as_str().unwrap_or(""),
        truncate(v["name"].as_str().unwrap_or(""), 60),
        v["id"].as_str().unwrap_or("")
    )
}

pub fn node(ctx: &Context, id: &str, run: Option<&str>) -> CliResult {
    let ws = ctx.workspace()?;
    let run = ctx.open_pieces(&ws, run, Need::Graph)?;
    let config = run.run_config(&ws)?;
    let doc = nav::node(&run, &config, id)?;
    ctx.out.result(&doc, || {
        let mut s = format!(
            "{} {}\n  id:   {}\n",
            doc["type"].as_str().unwrap_or(""),
            doc["name"].as_str().unwrap_or(""),
            doc["id"].as_str().unwrap_or("")
        );
        if let Some(refs) = doc["refs"].as_array() {
            for r in refs.iter().take(10) {
                s.push_str(&format!(
                    "  from: {}:{}-{} (sha256 {})\n",
                    r["source_path"].as_str().unwrap_or(""),
                    r["range"]["start_line"],
                    r["range"]["end_line"],
                    &r["source_hash"].as_str().unwrap_or("")
                        [..12.min(r["source_hash"].as_str().unwrap_or("").len())]
                ));
            }
        }
        if let Some(rule) = doc["provenance"]["created_by_rule"].as_str() {
            s.push_str(&format!("  rule: {rule}\n"));
        }
        if let Some(snippet) = doc["body_snippet"].as_str().filter(|t| !t.is_empty()) {
            s.push_str(&format!("  text: {}\n", truncate(snippet, 100)));
        }
        for (key, title) in [
            ("sections", "sections"),
            ("outgoing", "outgoing"),
            ("incoming", "incoming"),
        ] {
            if let Some(items) = doc[key].as_array().filter(|a| !a.is_empty()) {
                s.push_str(&format!("  {title}:\n"));
                for item in items.iter().take(50) {
                    if key == "sections" {
                        s.push_str(&format!(
                            "    {}{}\n",
                            "  ".repeat(
                                item["level"].as_u64().unwrap_or(1).saturating_sub(1) as usize
                            ),
                            item["name"].as_str().unwrap_or("")
                        ));
                    } else {
                        s.push_str(&format!(
                            "    {:<22} {}  [{}]\n",
                            item["type"].as_str().unwrap_or(""),
                            label(&item["other"]),
                            item["rule_id"].as_str().unwrap_or("")
                        ));
                    }
                }
                if items.len() > 50 {
                    s.push_str(&format!("    … {} more (see --json)\n", items.len() - 50));
                }
            }
        }
        s
    });
    Ok(())
}

pub fn neighbors(
    ctx: &Context,
    id: &str,
    depth: usize,
    edge_types: &[String],
    min_confidence: Option<f64>,
    limit: usize,
    run: Option<&str>,
) -> CliResult {
    let filter = EdgeFilter::parse(edge_types, min_confidence)?;
    let ws = ctx.workspace()?;
    let run = ctx.open_pieces(&ws, run, Need::Graph)?;
    let config = run.run_config(&ws)?;
    let doc = nav::neighbors(&run, &config, id, depth, &filter, Some(limit))?;
    ctx.out.result(&doc, || {
        let mut s = format!("{}\n", label(&doc["center"]));
        for n in doc["neighbors"].as_array().into_iter().flatten() {
            let via: Vec<String> = n["path"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|step| {
                    format!(
                        "{}{}",
                        if step["direction"] == "outgoing" {
                            "→"
                        } else {
                            "←"
                        },
                        step["type"].as_str().unwrap_or("")
                    )
                })
                .collect();
            s.push_str(&format!(
                "{}└ {}  via {}\n",
                "  ".repeat(n["depth"].as_u64().unwrap_or(1) as usize),
                label(n),
                via.join(" ")
            ));
        }
        s.push_str(&format!(
            "{} neighbour(s) within depth {depth}{}",
            doc["total_count"],
            if doc["truncated"] == true {
                " (more with --limit)"
            } else {
                ""
            }
        ));
        s
    });
    Ok(())
}

pub fn why(
    ctx: &Context,
    from: &str,
    to: &str,
    max_depth: usize,
    max_paths: usize,
    edge_types: &[String],
    run: Option<&str>,
) -> CliResult {
    let filter = EdgeFilter::parse(edge_types, None)?;
    let ws = ctx.workspace()?;
    let run = ctx.open_pieces(&ws, run, Need::Graph)?;
    let config = run.run_config(&ws)?;
    let doc = nav::why_connected(&run, &config, from, to, max_depth, max_paths, &filter)?;
    ctx.out.result(&doc, || {
        if doc["connected"] != true {
            return format!(
                "{} and {} are not connected within depth {max_depth}",
                label(&doc["from"]),
                label(&doc["to"])
            );
        }
        let mut s = format!(
            "{}\n  is connected to {}\n  by {} shortest path(s) of {} edge(s):\n",
            label(&doc["from"]),
            label(&doc["to"]),
            doc["paths"].as_array().map(|p| p.len()).unwrap_or(0),
            doc["length"]
        );
        for (i, path) in doc["paths"].as_array().into_iter().flatten().enumerate() {
            s.push_str(&format!("path {}:\n", i + 1));
            for step in path["edges"].as_array().into_iter().flatten() {
                s.push_str(&format!(
                    "  {} {} {}\n    rule {} (confidence {})\n",
                    label(&step["from"]),
                    if step["direction"] == "outgoing" {
                        format!("-[{}]->", step["type"].as_str().unwrap_or(""))
                    } else {
                        format!("<-[{}]-", step["type"].as_str().unwrap_or(""))
                    },
                    label(&step["to"]),
                    step["rule_id"].as_str().unwrap_or(""),
                    step["confidence"]
                ));
                for ev in step["evidence"].as_array().into_iter().flatten().take(3) {
                    // Git provenance evidence names a commit, not a chunk.
                    if let Some(sha) = ev["commit_sha"].as_str() {
                        let mut what = format!("commit {}", &sha[..sha.len().min(10)]);
                        if let Some(path) = ev["source_path"].as_str() {
                            what.push_str(&format!(" {path}"));
                        }
                        if let (Some(a), Some(r)) =
                            (ev["lines_added"].as_u64(), ev["lines_removed"].as_u64())
                        {
                            what.push_str(&format!(" +{a} -{r}"));
                        }
                        s.push_str(&format!("    evidence: {what}\n"));
                        continue;
                    }
                    if ev["line_start"].is_null() && ev["chunk_id"].is_null() {
                        s.push_str(&format!(
                            "    evidence: {}\n",
                            ev["source_path"].as_str().unwrap_or("")
                        ));
                        continue;
                    }
                    s.push_str(&format!(
                        "    evidence: {}:{} chunk {}{}\n",
                        ev["source_path"].as_str().unwrap_or(""),
                        ev["line_start"],
                        ev["chunk_id"].as_str().unwrap_or("-"),
                        ev["via_name"]
                            .as_str()
                            .map(|v| format!(" (shared: {v})"))
                            .unwrap_or_default()
                    ));
                }
            }
        }
        s
    });
    Ok(())
}
