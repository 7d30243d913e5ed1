//! Rule matching with 1,000 rules per message (target under 20 µs a message), and what compiling
//! the set costs (once per change of the rules).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use wabridge::automation::matcher::{RuleSet, Subject};
use wabridge::automation::rules::Rule;

/// 1,000 rules: 400 word, 300 contains, 200 exact and 100 regex, two keywords each.
fn thousand_rules() -> Vec<Rule> {
    (0..1000)
        .filter_map(|i| {
            let (mode, keywords) = match i % 10 {
                0..=3 => ("word", json!([format!("product {i}"), format!("sku{i}")])),
                4..=6 => ("contains", json!([format!("issue-{i}"), format!("ticket{i}x")])),
                7 | 8 => ("exact", json!([format!("menu {i}"), format!("option {i}")])),
                _ => (
                    "regex",
                    json!([format!(r"^order\s+#?{i}\d+$"), format!(r"ref[-_]?{i}[a-z]")]),
                ),
            };
            Rule::parse(
                &json!({"priority": i % 7, "match": {"keywords": keywords, "mode": mode},
                        "reply": {"type": "text", "text": {"body": format!("rule {i}")}}}),
                &format!("rule-{i:04}"),
            )
            .ok()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rules = thousand_rules();
    assert_eq!(rules.len(), 1000);
    let set = RuleSet::new(rules.clone());
    let mut group = c.benchmark_group("rules_1000");
    let cases = [
        (
            "no_match",
            "Hi there, could you tell me when the shop opens on Saturday morning?",
        ),
        (
            "word_match",
            "Hello, I would like to know the price of Product 512 in blue please",
        ),
        ("regex_match", "order #9991234"),
    ];
    for (name, text) in cases {
        let subject = Subject {
            phone_number_id: "100000000000001",
            texts: &[text],
        };
        group.bench_function(format!("best/{name}"), |b| {
            b.iter(|| black_box(set.best(black_box(&subject))).is_some())
        });
    }
    group.bench_function("compile", |b| b.iter(|| RuleSet::new(black_box(rules.clone())).len()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
