//! `auditgraph validate-store`: read-only audit of one or every profile's store.

use crate::context::Context;
use crate::error::{CliError, CliResult, exit};
use auditgraph_core::redact::Redactor;
use auditgraph_core::store::layout::StoreLayout;
use auditgraph_core::validate::{self, ValidationReport};
use auditgraph_core::version::SchemaSupport;
use serde_json::json;

pub fn run(ctx: &Context, all_profiles: bool, expect_seal: Option<&str>) -> CliResult {
    let ws = ctx.workspace()?;
    let profiles: Vec<String> = if all_profiles {
        let dir = ws.root.join(".pkg").join("profiles");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    } else {
        vec![ws.config.profile_name.clone()]
    };
    let policy = ws.config.config.security.redaction.policy();
    let mut reports = Vec::new();
    for profile in &profiles {
        let layout = StoreLayout::new(&ws.root, profile);
        // Scanning never computes markers, so any key will do when the
        // profile has none yet.
        let scanner = if policy.enabled {
            Some(
                Redactor::new(&policy, b"validate-store-scan-only")
                    .map_err(auditgraph_core::Error::from)?,
            )
        } else {
            None
        };
        // A store written by a newer auditgraph cannot be judged by this one:
        // refuse it (exit 4) like every read command. Older or damaged stores
        // are what validation is for: they are reported as problems.
        let found = auditgraph_core::store::inspect(&layout)?;
        if let Err(e @ auditgraph_core::Error::NewerStore { .. }) =
            auditgraph_core::store::check_compatibility(
                &layout,
                &found,
                auditgraph_core::store::Access::Read,
                SchemaSupport::current(),
            )
        {
            return Err(e.into());
        }
        reports.push(validate::validate(
            &layout,
            SchemaSupport::current(),
            scanner.as_ref(),
            expect_seal,
        )?);
    }
    let failed = reports.iter().any(|r| r.status != "pass");
    let doc = if all_profiles {
        json!({
            "status": if failed { "fail" } else { "pass" },
            "profiles": reports,
            "total_problems": reports.iter().map(|r| r.problems.len()).sum::<usize>(),
        })
    } else {
        serde_json::to_value(&reports[0]).unwrap_or_default()
    };
    ctx.out.result(&doc, || human(&reports));
    if failed {
        let problems: usize = reports.iter().map(|r| r.problems.len()).sum();
        return Err(CliError::new(
            exit::FAILURE,
            "validation_failed",
            format!("validate-store found {problems} problem(s)"),
        )
        .hint("`auditgraph rebuild` writes a fresh run from the sources; existing runs are not touched")
        .after_result());
    }
    Ok(())
}

fn human(reports: &[ValidationReport]) -> String {
    let mut s = String::new();
    for r in reports {
        s.push_str(&format!(
            "profile {}: {} ({} runs, {} manifests, {} objects{})\n",
            r.profile,
            if r.status == "pass" {
                "clean"
            } else {
                "PROBLEMS FOUND"
            },
            r.runs,
            r.manifests,
            r.objects,
            if r.scanned_for_secrets {
                ", scanned for secrets"
            } else {
                ""
            }
        ));
        if let Some(seal) = &r.seal {
            s.push_str(&format!(
                "  seal {seal} ({} trail entries)\n",
                r.trail_entries
            ));
        }
        if let (Some(expected), Some(found)) = (&r.expected_seal, r.expected_seal_found) {
            s.push_str(&format!(
                "  expected seal {expected}: {}\n",
                if found {
                    "found: the store holds that state and everything since, unchanged"
                } else {
                    "NOT FOUND"
                }
            ));
        }
        for p in &r.problems {
            s.push_str(&format!("  {} {}: {}\n", p.kind, p.file, p.detail));
        }
        for l in &r.leftovers {
            s.push_str(&format!("  leftover (ignored): {l}\n"));
        }
    }
    s
}
