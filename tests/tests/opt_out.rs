//! Opt-out on both backends, through the deployed inbound processor: `STOP` marks the contact
//! opted out at the message's time and is confirmed once however often the webhook comes;
//! `START` opts back in; an older choice delivered late changes nothing; Meta's
//! `user_preferences` stop and resume do the same without a reply.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use wabridge::app::Settings;
use wabridge::domain::CustomerKey;
use wabridge::inbound::reactions::opt_out::{OPTED_IN_REPLY, OPTED_OUT_REPLY};
use wabridge::ports::Walk;
use wabridge_infra::simulate;
use wabridge_tests::permissions::assert_allowed;
use wabridge_tests::{Backend, Pipeline, on_both_backends};

const PNI: &str = "100000000000001";
const CUSTOMER: &str = "27820000777";

/// Ten minutes ago: the customer's window is open, so the confirmation may go.
fn t() -> i64 {
    chrono::Utc::now().timestamp() - 600
}

fn text(wamid: &str, ts: i64, body: &str) -> Vec<u8> {
    let b = simulate::inbound(PNI, CUSTOMER, "Lindiwe", wamid, ts, "text", json!({"body": body}));
    serde_json::to_vec(&b).unwrap()
}

fn preference(value: &str, ts: i64) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"object": "whatsapp_business_account", "entry": [{"id": "200000000000001",
        "changes": [{"field": "user_preferences", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PNI},
            "contacts": [{"profile": {"name": "Lindiwe"}, "wa_id": CUSTOMER}],
            "user_preferences": [{"wa_id": CUSTOMER, "detail": "User requested to stop marketing messages",
                                  "category": "marketing_messages", "value": value, "timestamp": ts}]}}]}]}),
    )
    .unwrap()
}

async fn deliver(p: &Pipeline, body: &[u8]) {
    assert_eq!(p.post_webhook(body).await.status, 200);
    while p.settle_one_batch().await > 0 {}
}

async fn opted_out(p: &Pipeline) -> (bool, Option<String>) {
    let (_, v) = contact(p).await;
    (
        v["opted_out"].as_bool().unwrap(),
        v["opted_out_at"].as_str().map(str::to_owned),
    )
}

async fn contact(p: &Pipeline) -> (u16, Value) {
    let r = p.get(&format!("/v1/contacts/{CUSTOMER}")).await;
    (r.status, r.json())
}

/// Our messages to the customer: the confirmations.
async fn replies(p: &Pipeline) -> Vec<String> {
    let walk = Walk {
        lo: "",
        hi: "~",
        newest_first: false,
        limit: 50,
        ours_only: true,
    };
    let key = CustomerKey::parse(CUSTOMER).unwrap();
    let ours = p.backend.store.timeline(&key, walk).await.unwrap();
    ours.iter().map(|m| m.text.clone().unwrap_or_default()).collect()
}

async fn keywords_opt_out_and_back_in_in_the_customers_order(b: Backend) {
    let p = Pipeline::deployed(b, Settings::for_tests());
    let t = t();
    let requests = p.backend.requests.clone();
    if let Some(r) = &requests {
        r.take_accesses();
    }
    // "Stop!" three times (Meta redelivers), then the processor's reactions run each time.
    for _ in 0..3 {
        deliver(&p, &text("wamid.STOP1", t, " Stop! ")).await;
    }
    if let Some(r) = &requests {
        assert_allowed("inbound-processor", &r.take_accesses());
    }
    assert_eq!(opted_out(&p).await, (true, wabridge::timefmt::rfc3339(t * 1000)));
    assert_eq!(replies(&p).await, [OPTED_OUT_REPLY], "confirmed once");
    let confirmation = p.get(&format!("/v1/conversations/{CUSTOMER}/messages")).await.json();
    let ours: Vec<&Value> = confirmation["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "outbound")
        .collect();
    assert_eq!(
        ours[0]["context"]["message_id"], "wamid.STOP1",
        "a reply to the keyword"
    );

    deliver(&p, &text("wamid.START1", t + 60, "start")).await;
    assert_eq!(opted_out(&p).await, (false, None));
    // The STOP arrives once more, late: older than the START, it changes nothing.
    deliver(&p, &text("wamid.STOP1", t, "Stop!")).await;
    assert_eq!(opted_out(&p).await, (false, None));
    assert_eq!(replies(&p).await, [OPTED_OUT_REPLY, OPTED_IN_REPLY]);

    // A word in a sentence is not a keyword.
    deliver(&p, &text("wamid.TALK1", t + 120, "please stop calling me later")).await;
    assert_eq!(opted_out(&p).await, (false, None));
    assert_eq!(replies(&p).await.len(), 2);
}

async fn metas_user_preferences_stop_and_resume_in_their_order(b: Backend) {
    let p = Pipeline::deployed(b, Settings::for_tests());
    let t = t();
    deliver(&p, &preference("stop", t)).await;
    assert_eq!(opted_out(&p).await, (true, wabridge::timefmt::rfc3339(t * 1000)));
    deliver(&p, &preference("resume", t + 30)).await;
    assert!(!opted_out(&p).await.0);
    // The stop redelivered after the resume: older, so it changes nothing.
    deliver(&p, &preference("stop", t)).await;
    assert!(!opted_out(&p).await.0);
    assert!(replies(&p).await.is_empty(), "Meta told the customer; we send nothing");
    // Meta's own sample bodies: a resume, and a signup (consent, as a resume).
    let Some(root) = wabridge_tests::meta_samples() else {
        return;
    };
    for n in ["01", "02"] {
        let body = std::fs::read(root.join(format!("webhooks/user_preferences_{n}.json"))).unwrap();
        deliver(&p, &body).await;
        let sample: Value = serde_json::from_slice(&body).unwrap();
        let pref = &sample["entry"][0]["changes"][0]["value"]["user_preferences"][0];
        let who = pref["wa_id"].as_str().unwrap();
        let v = p.get(&format!("/v1/contacts/{who}")).await.json();
        assert_eq!(v["opted_out"], pref["value"] == "stop", "{n}: {v}");
    }
}

on_both_backends!(
    keywords_opt_out_and_back_in_in_the_customers_order,
    metas_user_preferences_stop_and_resume_in_their_order,
);
