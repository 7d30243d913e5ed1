//! Holds what the code does to what `template.yaml` lets each function do: every DynamoDB access
//! a scenario made ([`crate::Access`], noted by the request counter) must be allowed by an Allow
//! statement of the function's policy, on the table (and index) it was made on.

use std::collections::BTreeSet;

use serde_yaml::Value as Yaml;

use crate::Access;

fn template() -> Yaml {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn plain(v: &Yaml) -> String {
    match v {
        Yaml::Tagged(t) => plain(&t.value),
        Yaml::String(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn strings(v: &Yaml) -> Vec<String> {
    match v.as_sequence() {
        Some(items) => items.iter().map(plain).collect(),
        None => vec![plain(v)],
    }
}

/// The `(actions, resources)` of every Allow statement of the function built as `binary`.
fn statements(binary: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let t = template();
    let function = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .find(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
        .unwrap_or_else(|| panic!("{binary} is not in template.yaml"));
    function["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("Statement").and_then(Yaml::as_sequence))
        .flatten()
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
        .map(|s| (strings(&s["Action"]), strings(&s["Resource"])))
        .collect()
}

/// `t01…-rate-limits` → `RateLimitsTable`: the template's name for a table the tests created.
fn logical(table: &str) -> String {
    let (_, kind) = table.split_once('-').unwrap();
    let mut name: String = kind
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    name.push_str("Table");
    name
}

/// Fails naming every access the function's policy does not allow.
pub fn assert_allowed(binary: &str, accesses: &BTreeSet<Access>) {
    assert!(!accesses.is_empty(), "{binary}: the scenario made no DynamoDB request");
    let statements = statements(binary);
    let denied: Vec<String> = accesses
        .iter()
        .filter(|a| {
            let table = logical(&a.table);
            let wanted: Vec<String> = match &a.index {
                None => vec![format!("{table}.Arn")],
                Some(i) => vec![
                    format!("${{{table}.Arn}}/index/*"),
                    format!("${{{table}.Arn}}/index/{i}"),
                ],
            };
            !statements
                .iter()
                .any(|(actions, resources)| actions.contains(&a.action) && resources.iter().any(|r| wanted.contains(r)))
        })
        .map(|a| {
            format!(
                "{} on {}{}",
                a.action,
                logical(&a.table),
                a.index.as_ref().map(|i| format!(" index {i}")).unwrap_or_default()
            )
        })
        .collect();
    assert!(
        denied.is_empty(),
        "{binary} may not do what its code does:\n{}",
        denied.join("\n")
    );
}
