//! Property tests (fuzz targets) for configuration loading: any text gives
//! a configuration or an error that names a position inside the text, never
//! a panic; mutating the shipped defaults keeps that promise; valid numbers
//! load and mean what they say.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use auditgraph_core::config::{ConfigError, DEFAULT_CONFIG_YAML, parse_text};
use proptest::prelude::*;
use std::path::Path;

fn check(text: &str) -> Result<(), TestCaseError> {
    match parse_text(text, Path::new("config/pkg.yaml")) {
        Ok((config, warnings)) => {
            for w in warnings {
                prop_assert!(!w.key_path.is_empty() || !w.message.is_empty());
            }
            let budget = &config.storage.footprint_budget;
            prop_assert!(budget.multiplier > 0.0 && budget.multiplier.is_finite());
            prop_assert!(budget.warn_threshold <= budget.block_threshold);
        }
        Err(ConfigError::Invalid { problems, .. }) => {
            prop_assert!(!problems.is_empty());
            let lines = text.lines().count() as u64 + 1;
            for p in problems {
                prop_assert!(!p.message.is_empty() && !p.expected.is_empty());
                prop_assert!(
                    p.position.line <= lines,
                    "line {} of {lines}",
                    p.position.line
                );
            }
        }
        Err(other) => prop_assert!(!other.to_string().is_empty()),
    }
    Ok(())
}

/// The default configuration with one value replaced by something else.
fn mutated_defaults() -> impl Strategy<Value = String> {
    let lines: Vec<&'static str> = DEFAULT_CONFIG_YAML.lines().collect();
    let n = lines.len();
    let replacement = prop_oneof![
        Just("-1.5".to_string()),
        Just("0".to_string()),
        Just("1e309".to_string()),
        Just(".nan".to_string()),
        Just("yes".to_string()),
        Just("~".to_string()),
        Just("[1, 2]".to_string()),
        Just("{a: b}".to_string()),
        Just("\"../../etc\"".to_string()),
        Just("'unterminated".to_string()),
        Just("&anchor 3".to_string()),
        Just("*missing".to_string()),
        "\\PC{0,12}",
        "[0-9.-]{1,6}",
    ];
    (0..n, replacement, any::<bool>()).prop_map(move |(at, value, drop_line)| {
        let mut out = String::new();
        for (i, line) in lines.iter().enumerate() {
            if i == at {
                if drop_line {
                    continue;
                }
                match line.split_once(": ") {
                    Some((key, _)) if !line.trim_start().starts_with('#') => {
                        out.push_str(key);
                        out.push_str(": ");
                        out.push_str(&value);
                    }
                    _ => out.push_str(&value),
                }
            } else {
                out.push_str(line);
            }
            out.push('\n');
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(1000)
    ))]

    #[test]
    fn any_text_loads_or_names_a_position(text in "(\\PC|[\n\t])*") {
        check(&text)?;
    }

    #[test]
    fn yamlish_text_loads_or_names_a_position(
        text in "([a-z_]{1,10}:( |\n  )([a-z0-9._\\[\\]{}\"',-]{0,12})\n){0,12}"
    ) {
        check(&text)?;
    }

    #[test]
    fn mutated_defaults_load_or_name_a_position(text in mutated_defaults()) {
        check(&text)?;
    }

    #[test]
    fn valid_budget_numbers_load_as_given(
        multiplier in 0.01f64..1000.0,
        warn in 0.0f64..1.0,
        gap in 0.0f64..1.0,
    ) {
        let block = warn + gap;
        let text = format!(
            "storage:\n  footprint_budget:\n    multiplier: {multiplier}\n    warn_threshold: {warn}\n    block_threshold: {block}\n"
        );
        let (config, warnings) = parse_text(&text, Path::new("c.yaml")).unwrap();
        prop_assert!(warnings.is_empty());
        let b = &config.storage.footprint_budget;
        prop_assert_eq!(b.multiplier, multiplier);
        prop_assert_eq!(b.warn_threshold, warn);
        prop_assert_eq!(b.block_threshold, block);
    }
}

#[test]
fn the_shipped_defaults_load_without_warnings() {
    let (_, warnings) = parse_text(DEFAULT_CONFIG_YAML, Path::new("pkg.yaml")).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}
