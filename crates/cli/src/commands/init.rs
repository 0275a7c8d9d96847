//! `auditgraph init`: writes `config/pkg.yaml` (never overwriting one) and
//! creates the active profile's store. Running it again changes nothing.

use crate::context::Context;
use crate::error::{CliError, CliResult, exit};
use auditgraph_core::config::{DEFAULT_CONFIG_YAML, parse_text, validate_profile_name};
use auditgraph_core::store::Access;
use serde_json::json;
use std::path::Path;

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
        let text = config_text(ctx.global.profile.as_deref(), &config_path)?;
        if let Some(parent) = config_path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                CliError::new(
                    exit::FAILURE,
                    "io_error",
                    format!("cannot create {}: {e}", parent.display()),
                )
            })?;
        }
        std::fs::write(&config_path, text).map_err(|e| {
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
            let txn = writer.begin()?;
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

/// The configuration to write: the defaults, with the `--profile` name (if
/// any) as the active and only profile, so that `init --profile work` sets
/// up a `work` profile instead of writing a configuration that then
/// refuses the flag. Nothing is written unless it loads with that profile.
fn config_text(profile: Option<&str>, config_path: &Path) -> CliResult<String> {
    let Some(name) = profile else {
        return Ok(DEFAULT_CONFIG_YAML.to_string());
    };
    validate_profile_name(name).map_err(|problem| {
        CliError::new(
            exit::USAGE,
            "usage_error",
            format!("--profile '{name}': a profile name {problem}; nothing was written"),
        )
        .hint("profile names become directory names under .pkg/profiles: use letters, digits, '-', '_' and '.'")
    })?;
    let text = DEFAULT_CONFIG_YAML
        .replacen(
            "active_profile: \"default\"",
            &format!("active_profile: \"{name}\""),
            1,
        )
        .replacen(
            "\nprofiles:\n  default:\n",
            &format!("\nprofiles:\n  \"{name}\":\n"),
            1,
        );
    match parse_text(&text, config_path) {
        Ok((config, _)) if config.profiles.contains_key(name) && config.active_profile == name => {
            Ok(text)
        }
        _ => Err(CliError::new(
            exit::FAILURE,
            "failed",
            format!(
                "internal error: the default configuration does not take profile '{name}'; nothing was written"
            ),
        )
        .hint("`auditgraph init` without --profile writes the default profile; rename it in config/pkg.yaml")),
    }
}
