//! Verify + parse + split, the work on the hot path of every webhook: a typical single-message body
//! and a 100-update batch.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use secrecy::SecretString;
use serde_json::{Value, json};
use wabridge::inbound::webhook::{sign, split, verify_signature};

fn typical() -> Vec<u8> {
    include_bytes!("../../tests/fixtures/webhooks/text.json").to_vec()
}

fn batch_of_100() -> Vec<u8> {
    let messages: Vec<Value> = (0..50)
        .map(|i| {
            json!({"from": format!("2782{i:07}"), "id": format!("wamid.BENCH{i:04}"), "timestamp": "1763800000",
                   "type": "text", "text": {"body": format!("message number {i} with a little text")}})
        })
        .collect();
    let statuses: Vec<Value> = (0..50)
        .map(|i| {
            json!({"id": format!("wamid.OUT{i:04}"), "status": "delivered", "timestamp": "1763800000",
                   "recipient_id": format!("2782{i:07}"),
                   "pricing": {"billable": true, "pricing_model": "PMP", "category": "service"}})
        })
        .collect();
    let value = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000001", "phone_number_id": "100000000000001"},
        "messages": messages, "statuses": statuses});
    serde_json::to_vec(&json!({"object": "whatsapp_business_account",
        "entry": [{"id": "200000000000001", "changes": [{"field": "messages", "value": value}]}]}))
    .unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let secret = SecretString::from("bench-app-secret");
    let mut group = c.benchmark_group("webhook");
    for (name, body) in [("typical_1_message", typical()), ("batch_100_updates", batch_of_100())] {
        let sig = sign(&secret, &body);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("verify_parse_split/{name}"), |b| {
            b.iter(|| {
                verify_signature(&secret, black_box(&body), Some(&sig)).ok();
                black_box(split(black_box(&body), 0).map(|u| u.len()).unwrap_or(0))
            })
        });
        // The floor a Value-tree parser cannot go below: parsing the body, nothing else.
        group.bench_function(format!("json_tree_only/{name}"), |b| {
            b.iter(|| serde_json::from_slice::<Value>(black_box(&body)).is_ok())
        });
        // The floor of any parser: reading the JSON once without keeping anything.
        group.bench_function(format!("json_scan_only/{name}"), |b| {
            b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&body)).is_ok())
        });
        group.bench_function(format!("verify_only/{name}"), |b| {
            b.iter(|| verify_signature(&secret, black_box(&body), Some(&sig)).is_ok())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
