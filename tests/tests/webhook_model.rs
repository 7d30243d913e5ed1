//! The webhook model: every update of a body comes out, with its facts, whatever Meta sends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use serde_json::{Value, json};
use wabridge::domain::{DeliveryStatus, Direction, StoredMessage};
use wabridge::inbound::webhook::{Update, split};
use wabridge_tests::fixture;

fn parts(
    body: &[u8],
) -> (
    HashMap<String, StoredMessage>,
    Vec<wabridge::domain::StatusUpdate>,
    Vec<wabridge::domain::RawEvent>,
) {
    let mut msgs = HashMap::new();
    let (mut sts, mut evs) = (Vec::new(), Vec::new());
    for u in split(body, 0).unwrap() {
        match u {
            Update::Message(m) => {
                msgs.insert(m.wamid.clone().unwrap().as_str().to_owned(), *m);
            }
            Update::Status(s) => sts.push(s),
            Update::Event(e) => evs.push(e),
        }
    }
    (msgs, sts, evs)
}

#[test]
fn every_entry_change_message_status_and_error_is_split_out() {
    let (msgs, sts, evs) = parts(&fixture("webhooks/all_types.json"));
    assert_eq!(msgs.len(), 23, "all 23 messages across two changes");
    assert_eq!(sts.len(), 6, "six message statuses; the call status is kept raw");
    let kinds: Vec<(&str, &str)> = evs.iter().map(|e| (e.field.as_str(), e.kind.as_str())).collect();
    assert!(
        kinds.contains(&("messages", "status")),
        "call status kept raw: {kinds:?}"
    );
    assert!(
        kinds.contains(&("messages", "errors")),
        "value-level errors kept: {kinds:?}"
    );
    assert!(
        kinds.contains(&("message_template_status_update", "change")),
        "other fields kept: {kinds:?}"
    );
}

#[test]
fn text_caption_and_reply_titles_become_the_text() {
    let (m, _, _) = parts(&fixture("webhooks/all_types.json"));
    let text = |id: &str| m[id].text.clone();
    assert_eq!(
        text("wamid.FIXTURE01").as_deref(),
        Some("Hello, is the clinic open today?")
    );
    assert_eq!(text("wamid.FIXTURE04").as_deref(), Some("my prescription"));
    assert_eq!(text("wamid.FIXTURE05").as_deref(), Some("the noise it makes"));
    assert_eq!(text("wamid.FIXTURE07").as_deref(), Some("invoice"));
    assert_eq!(text("wamid.FIXTURE11").as_deref(), Some("Yes, confirm"));
    assert_eq!(text("wamid.FIXTURE12").as_deref(), Some("09:00"));
    assert_eq!(text("wamid.FIXTURE14").as_deref(), Some("Stop promotions"));
    for id in [
        "wamid.FIXTURE06",
        "wamid.FIXTURE08",
        "wamid.FIXTURE09",
        "wamid.FIXTURE15",
        "wamid.FIXTURE22",
    ] {
        assert_eq!(text(id), None, "{id}");
    }
}

#[test]
fn type_specific_content_context_referral_and_errors_are_kept_as_received() {
    let (m, _, _) = parts(&fixture("webhooks/all_types.json"));
    assert_eq!(m["wamid.FIXTURE06"].content.value()["voice"], json!(true));
    assert_eq!(
        m["wamid.FIXTURE07"].content.value()["filename"],
        json!("invoice-0042.pdf")
    );
    assert_eq!(m["wamid.FIXTURE08"].content.value()["animated"], json!(true));
    assert_eq!(m["wamid.FIXTURE09"].content.value()["latitude"], json!(-33.9249));
    assert_eq!(
        m["wamid.FIXTURE10"].content.value()[0]["phones"][0]["wa_id"],
        json!("27820000002")
    );
    assert_eq!(
        m["wamid.FIXTURE13"].content.value()["nfm_reply"]["response_json"],
        json!("{\"flow_token\":\"tok-1\",\"rating\":\"5\"}")
    );
    assert_eq!(m["wamid.FIXTURE15"].content.value()["emoji"], json!("👍"));
    assert_eq!(
        m["wamid.FIXTURE16"].content.value().get("emoji").cloned(),
        None,
        "un-reaction has no emoji"
    );
    assert_eq!(
        m["wamid.FIXTURE17"].content.value()["product_items"][0]["product_retailer_id"],
        json!("SKU-1")
    );
    assert_eq!(
        m["wamid.FIXTURE18"].content.value()["type"],
        json!("user_changed_number")
    );
    assert!(
        !m["wamid.FIXTURE18"].opens_window,
        "a system message does not open the window"
    );
    assert!(m["wamid.FIXTURE01"].opens_window);
    assert_eq!(
        m["wamid.FIXTURE02"].context.as_ref().unwrap().value()["id"],
        json!("wamid.OUTBOUND01")
    );
    assert_eq!(
        m["wamid.FIXTURE03"].context.as_ref().unwrap().value()["frequently_forwarded"],
        json!(true)
    );
    assert_eq!(
        m["wamid.FIXTURE19"].referral.as_ref().unwrap().value()["ctwa_clid"],
        json!("clid-1")
    );
    assert_eq!(m["wamid.FIXTURE20"].error.as_ref().unwrap().code, 131051);
    assert_eq!(
        m["wamid.FIXTURE21"].msg_type, "hologram",
        "unknown types keep their name"
    );
    assert_eq!(
        m["wamid.FIXTURE21"].content.value()["colour"],
        json!("teal"),
        "and their content"
    );
    assert!(m["wamid.FIXTURE22"].content.is_null());
}

#[test]
fn contacts_match_by_wa_id_and_business_scoped_ids_are_kept() {
    let (m, _, _) = parts(&fixture("webhooks/all_types.json"));
    let a = &m["wamid.FIXTURE01"];
    assert_eq!(a.wa_id.as_deref(), Some("27820000001"));
    assert_eq!(a.user_id.as_deref(), Some("ZA.1122334455667788"));
    assert_eq!(a.profile_name.as_deref(), Some("Ayanda Dlamini"));
    assert_eq!(a.direction, Direction::Inbound);
    assert_eq!(a.timestamp_ms, 1_763_800_001_000);
    let b = &m["wamid.FIXTURE11"];
    assert_eq!(
        (b.wa_id.as_deref(), b.profile_name.as_deref()),
        (Some("447700900123"), Some("Bea Jones"))
    );
    let z = &m["wamid.FIXTURE23"];
    assert_eq!(z.wa_id, None, "no number was sent");
    assert_eq!(z.user_id.as_deref(), Some("ZA.4455667788990011"));
    assert_eq!(z.customer.as_str(), "ZA.4455667788990011");
    assert_eq!(z.profile_name.as_deref(), Some("Zed"));
}

#[test]
fn a_message_with_neither_from_nor_from_user_id_belongs_to_the_changes_only_contact() {
    let (m, _, events) = parts(&fixture("webhooks/username_only.json"));
    assert!(events.is_empty(), "stored as a message, not kept raw: {events:?}");
    let n = &m["wamid.USERNAMEONLY01"];
    assert_eq!(n.wa_id, None);
    assert_eq!(n.user_id.as_deref(), Some("ZA.9988776655443322"));
    assert_eq!(n.customer.as_str(), "ZA.9988776655443322");
    assert_eq!(n.profile_name.as_deref(), Some("Nomsa"));
    assert_eq!(n.text.as_deref(), Some("Hello from my username"));
}

#[test]
fn statuses_carry_errors_conversation_pricing_and_callback_data() {
    let (_, sts, _) = parts(&fixture("webhooks/all_types.json"));
    let by: HashMap<&str, _> = sts.iter().map(|s| (s.wamid.as_str(), s)).collect();
    let sent = by["wamid.OUT-SENT"];
    assert_eq!(sent.status, DeliveryStatus::Sent);
    assert_eq!(sent.biz_opaque_callback_data.as_deref(), Some("order-77"));
    assert_eq!(sent.pricing.as_ref().unwrap().value()["category"], json!("service"));
    assert_eq!(sent.conversation.as_ref().unwrap().value()["id"], json!("conv-1"));
    let failed = by["wamid.OUT-FAILED"];
    let e = failed.error.as_ref().unwrap();
    assert_eq!((e.code, e.title.as_str()), (131047, "Re-engagement message"));
    assert!(e.details.as_deref().unwrap().contains("24 hours"));
    assert_eq!(by["wamid.OUT-PLAYED"].status, DeliveryStatus::Played);
    assert_eq!(by["wamid.OUT-DELETED"].status, DeliveryStatus::Deleted);
}

#[test]
fn numeric_timestamps_and_ids_are_read_like_strings() {
    let body = json!({"entry": [{"id": 123, "changes": [{"field": "messages", "value": {
        "metadata": {"phone_number_id": 456},
        "messages": [{"from": "27820000001", "id": "wamid.N", "timestamp": 1700000000, "type": "text", "text": {"body": "x"}}]
    }}]}]});
    let (m, _, _) = parts(body.to_string().as_bytes());
    assert_eq!(m["wamid.N"].timestamp_ms, 1_700_000_000_000);
    assert_eq!(m["wamid.N"].phone_number_id, "456");
}

#[test]
fn items_that_cannot_be_placed_are_kept_raw_not_dropped() {
    let body = json!({"entry": [{"changes": [{"field": "messages", "value": {
        "messages": [{"type": "text", "text": {"body": "no id"}}, {"id": "wamid.X", "type": "text"}],
        "statuses": [{"status": "read"}]
    }}]}]});
    let (m, s, e) = parts(body.to_string().as_bytes());
    assert!(m.is_empty() && s.is_empty());
    assert_eq!(e.len(), 3, "two messages and one status kept raw: {e:?}");
}

#[test]
fn a_body_that_is_not_a_webhook_is_an_error() {
    assert!(split(b"not json", 0).is_err());
    assert!(split(b"{\"object\":\"page\"}", 0).is_err());
    assert!(split(b"{\"entry\":[]}", 0).unwrap().is_empty());
}

/// Meta's and other SDKs' published payloads (`../shared/meta-samples`): every file parses and
/// every message and status comes out with its id, type, sender and timestamp. Missing samples fail
/// the test (a pass that checked nothing would hide it); `WABRIDGE_SKIP_META_SAMPLES=1` skips it on
/// purpose, for a checkout without the team's toolbox beside it.
#[test]
fn published_meta_samples_parse_with_their_facts() {
    let Some(root) = wabridge_tests::meta_samples() else {
        return;
    };
    let expected = std::fs::read_to_string(root.join("expected.jsonl")).unwrap();
    let mut checked = 0;
    for line in expected.lines() {
        let mut seen = std::collections::HashSet::new();
        let e: Value = serde_json::from_str(line).unwrap();
        let body = std::fs::read(root.join(e["file"].as_str().unwrap())).unwrap();
        let updates = split(&body, 0).unwrap_or_else(|err| panic!("{}: {err}", e["file"]));
        let events = e
            .get("events")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_else(|| vec![e.clone()]);
        for ev in events {
            match ev["kind"].as_str() {
                // The same wamid twice in one body: the first stands (Meta's redelivery semantics).
                Some("message") if !seen.insert(ev["id"].to_string()) => {}
                Some("message") => {
                    let m = updates
                        .iter()
                        .find_map(|u| match u {
                            Update::Message(m) if m.wamid.as_ref().unwrap().as_str() == ev["id"] => Some(m),
                            _ => None,
                        })
                        .unwrap_or_else(|| panic!("{}: message {} missing", e["file"], ev["id"]));
                    assert_eq!(m.msg_type, ev["type"].as_str().unwrap(), "{}", e["file"]);
                    let ts: i64 = ev["timestamp"].as_str().unwrap().parse().unwrap();
                    assert_eq!(m.timestamp_ms, ts * 1000, "{}", e["file"]);
                    if let Some(from) = ev["from"].as_str() {
                        assert_eq!(m.wa_id.as_deref(), Some(from), "{}", e["file"]);
                    }
                    checked += 1;
                }
                Some("status") if ev["extra"]["type"] != json!("call") => {
                    assert!(
                        updates
                            .iter()
                            .any(|u| matches!(u, Update::Status(s) if s.wamid.as_str() == ev["id"]
                            && s.status.as_str() == ev["status"])),
                        "{}: status missing",
                        e["file"]
                    );
                    checked += 1;
                }
                _ => assert!(
                    updates.iter().any(|u| matches!(u, Update::Event(_))),
                    "{}: other field not kept",
                    e["file"]
                ),
            }
        }
    }
    assert!(checked > 50, "only {checked} facts checked");
}

/// The body is read in one pass that keeps what it does not interpret as text: whatever order the
/// keys come in, whatever odd shape an item has, what comes out is what was sent.
#[test]
fn the_one_pass_reader_keeps_every_shape_and_key_order() {
    // Escapes as Meta may write them: `\/` in an id, `\"` and `\u00e9` in a body.
    let value = r#"{
        "metadata": {"phone_number_id": "100"},
        "messages": [
            {"id": "wamid.ESC\/APED", "from": "27820000001", "type": "text", "timestamp": "1700000000",
             "text": {"body": "quote \" and \u00e9"}, "identity": {"acknowledged": true}, "status": 7},
            "not an object",
            [1, 2]
        ],
        "statuses": [null]
    }"#;
    let field_last = format!(r#"{{"entry": [{{"changes": [{{"value": {value}, "field": "messages"}}]}}]}}"#);
    let field_first = format!(r#"{{"entry": [{{"changes": [{{"field": "messages", "value": {value}}}]}}]}}"#);
    for body in [field_last, field_first] {
        let (m, s, e) = parts(body.as_bytes());
        let msg = &m["wamid.ESC/APED"];
        assert_eq!(msg.text.as_deref(), Some("quote \" and é"));
        assert_eq!(msg.timestamp_ms, 1_700_000_000_000);
        assert_eq!(
            msg.extra.as_ref().unwrap().value(),
            json!({"identity": {"acknowledged": true}, "status": 7}),
            "unmodelled keys are kept, modelled ones are not repeated"
        );
        assert!(s.is_empty());
        let kept: Vec<Value> = e.iter().map(|e| e.payload.clone()).collect();
        assert_eq!(
            kept,
            vec![json!("not an object"), json!([1, 2]), Value::Null],
            "odd items kept as sent"
        );
    }
}

#[test]
fn a_change_for_another_field_is_kept_whole_whatever_its_keys() {
    let value = json!({"event": "APPROVED", "message_template_id": 42,
                       "messages": {"not": "an array"}, "statuses": [{"id": "x"}],
                       "metadata": {"phone_number_id": 100}});
    let body =
        json!({"entry": [{"id": "waba", "changes": [{"value": value, "field": "message_template_status_update"}]}]});
    let (_, _, e) = parts(body.to_string().as_bytes());
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].field, "message_template_status_update");
    assert_eq!(e[0].payload, value);
    assert_eq!(e[0].phone_number_id.as_deref(), Some("100"));
}

#[test]
fn a_body_that_is_not_utf8_or_has_no_entry_array_is_refused() {
    assert!(split(b"{\"entry\": [\"\xff\"]}", 0).is_err());
    assert!(split(b"{\"entry\": {\"id\": 1}}", 0).is_err());
    assert!(split(b"[1, 2]", 0).is_err());
    assert!(split(b"{\"entry\": [1, {\"changes\": \"x\"}]}", 0).unwrap().is_empty());
}
