//! `auditgraph init`: writes `config/pkg.yaml` (never overwriting one) and
//! creates the active profile's store. Running it again changes nothing.

use crate::context::Context;
use crate::error::{CliError, CliResult, exit};
use auditgraph_core::config::DEFAULT_CONFIG_YAML;
use auditgraph_core::store::Access;
use serde_json::json;

pub fn run(ctx: &Context) -> CliResult {
    let root = ctx.root();
    std::fs::create_dir_all(&root).map_err(|e| {
        CliError::new(
            exit::FAILURE,
            "io_error",
            format!("cannot create workspace root {}: {e}", root.display()),
        )
    })?;
    let mut created = Vec::new();
    let config_path = match &ctx.global.config {
        Some(explicit) => explicit.clone(),
        None => root.join("config").join("pkg.yaml"),
    };
    if !config_path.exists() {
        if let Some(parent) = config_path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                CliError::new(
                    exit::FAILURE,
                    "io_error",
                    format!("cannot create {}: {e}", parent.display()),
                )
            })?;
        }
        std::fs::write(&config_path, DEFAULT_CONFIG_YAML).map_err(|e| {
            CliError::new(
                exit::FAILURE,
                "io_error",
                format!("cannot write {}: {e}", config_path.display()),
            )
        })?;
        created.push(config_path.display().to_string());
    }

    let ws = ctx.workspace_at(root)?;
    let store_created = ctx.with_write_options(|opts| -> CliResult<bool> {
        let mut writer = auditgraph_core::pipeline::open_writer(&ws, Access::Write, opts)?;
        if writer.is_new() {
            let txn = writer.begin();
            writer.commit(txn, |_| {})?;
            Ok(true)
        } else {
            Ok(false)
        }
    })?;
    if store_created {
        created.push(ws.layout.store_file().display().to_string());
    }
    let doc = json!({
        "root": ws.root,
        "config": config_path,
        "profile": ws.config.profile_name,
        "store": ws.layout.dir,
        "created": created,
    });
    ctx.out.result(&doc, || {
        if created.is_empty() {
            format!(
                "already initialised: {} (profile '{}')",
                ws.root.display(),
                ws.config.profile_name
            )
        } else {
            let mut s = String::from("created:\n");
            for c in &created {
                s.push_str(&format!("  {c}\n"));
            }
            s.push_str("next: `auditgraph run` builds the graph from this folder");
            s
        }
    });
    Ok(())
}
