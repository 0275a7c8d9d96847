//! `auditgraph validate-store`: read-only audit of one or every profile's store.

use crate::context::Context;
use crate::error::{CliError, CliResult, exit};
use crate::output::trail_entries;
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
        let mut err = CliError::new(
            exit::FAILURE,
            "validation_failed",
            format!("validate-store found {problems} problem(s)"),
        );
        if reports.iter().any(|r| r.expected_seal_found == Some(false)) {
            err = err.hint(
                "the store does not hold the state the expected seal proves: restore the copy of `.pkg` that does (from a backup) and find out who replaced it; `auditgraph runs` lists what this one holds",
            );
        }
        return Err(err
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
                "  seal {seal} ({})\n",
                trail_entries(r.trail_entries)
            ));
        }
        if let (Some(expected), Some(found)) = (&r.expected_seal, r.expected_seal_found) {
            let removed = r
                .removed_since_expected_seal
                .as_ref()
                .map_or(0, |runs| runs.len());
            let verdict = if !found {
                "NOT FOUND in this store's chain: the store was rolled back to an earlier copy, or its history was rewritten".to_string()
            } else if r.status != "pass" {
                "found in the chain, but the problems below show the store no longer holds it unchanged".to_string()
            } else if removed > 0 {
                format!(
                    "found: the chain from the current seal back to it is intact; `auditgraph gc` has since removed {removed} run(s), whose trail entries keep the chain linked"
                )
            } else {
                "found: the store holds that state and everything since, unchanged".to_string()
            };
            s.push_str(&format!("  expected seal {expected}: {verdict}\n"));
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
