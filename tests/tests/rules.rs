//! Keyword rules on both backends, through `/v1/rules` and the deployed inbound processor: a rule
//! replies once however often Meta delivers and after the outbound queue failed mid-reaction; the
//! highest-priority match wins, a button reply's id matches, opt-out keywords stay opt-out's; a
//! cooldown suppresses the same rule for the same customer; escalation labels the conversation,
//! replies and raises `conversation.escalated`; a closed window sends nothing and says so; bad
//! rules are refused with every problem named.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use serde_json::{Value, json};
use wabridge::app::{App, Numbers, Settings};
use wabridge::callbacks::Events;
use wabridge::domain::{CustomerKey, Direction, MessageId, Wamid};
use wabridge::ports::{SystemClock, Walk};
use wabridge::templates::Template;
use wabridge_infra::simulate;
use wabridge_tests::permissions::assert_allowed;
use wabridge_tests::{Backend, FlakyQueue, Pipeline, Reply, on_both_backends};

const PNI: &str = "100000000000001";
const CUSTOMER: &str = "27820000444";

async fn call(p: &Pipeline, method: &str, path: &str, body: Option<Value>) -> Reply {
    p.call(method, path, body.as_ref()).await
}

async fn add_rule(p: &Pipeline, rule: Value) {
    let r = call(p, "POST", "/v1/rules", Some(rule)).await;
    assert_eq!(r.status, 201, "{}", r.json());
}

/// Ten minutes ago, in Meta's whole seconds: the window is open.
fn t() -> i64 {
    chrono::Utc::now().timestamp() - 600
}

fn text(wamid: &str, ts: i64, body: &str) -> Value {
    simulate::inbound(PNI, CUSTOMER, "Nomsa", wamid, ts, "text", json!({"body": body}))
}

async fn deliver(p: &Pipeline, body: &Value) {
    let body = serde_json::to_vec(body).unwrap();
    assert_eq!(p.post_webhook(&body).await.status, 200);
    p.drain(Duration::ZERO).await;
}

/// Our messages to the customer, oldest first: (text, the wamid they answer).
async fn replies(p: &Pipeline) -> Vec<(String, String)> {
    let walk = Walk {
        lo: "",
        hi: "~",
        newest_first: false,
        limit: 50,
        ours_only: true,
    };
    let key = CustomerKey::parse(CUSTOMER).unwrap();
    let ours = p.backend.store.timeline(&key, walk).await.unwrap();
    ours.iter()
        .filter(|m| m.direction == Direction::Outbound)
        .map(|m| {
            let ctx = m.context.as_ref().map(|c| c.value()).unwrap_or(Value::Null);
            (
                m.text.clone().unwrap_or_default(),
                ctx["message_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn automation(p: &Pipeline, wamid: &str) -> Value {
    p.get(&format!("/v1/messages/{wamid}")).await.json()["automation"].clone()
}

fn reply(body: &str) -> Value {
    json!({"type": "text", "text": {"body": body}})
}

async fn a_rule_replies_once_to_a_webhook_delivered_three_times_and_after_a_queue_outage(b: Backend) {
    let mut p = Pipeline::deployed(b, Settings::for_tests());
    // The outbound queue refuses the first reply: the webhook is retried, and heals.
    let outbound = Arc::new(FlakyQueue::new(p.backend.outbound.clone(), 1));
    let bk = &p.backend;
    p.processor = App::new(Settings::for_tests(), Arc::new(SystemClock)).full_processor(
        bk.store.clone(),
        bk.blobs.clone(),
        bk.media.clone(),
        Some(outbound),
        Some(Events::new(bk.callbacks.clone())),
        &Numbers::default(),
    );
    add_rule(
        &p,
        json!({"id": "prices", "match": {"keywords": ["price", "cost"]}, "reply": reply("A haircut is R150.")}),
    )
    .await;
    let t = t();
    let msg = text("wamid.RULE-PRICE", t, "What is the PRICE of a cut?");
    for _ in 0..3 {
        deliver(&p, &msg).await;
    }
    assert_eq!(
        replies(&p).await,
        [("A haircut is R150.".to_owned(), "wamid.RULE-PRICE".to_owned())],
        "one reply, as a reply to the message"
    );
    assert_eq!(
        automation(&p, "wamid.RULE-PRICE").await,
        json!({"rule_id": "prices", "outcome": "replied"})
    );
    let id = MessageId::derived(&Wamid::parse("wamid.RULE-PRICE").unwrap(), "rule:prices");
    let sent = p.get(&format!("/v1/messages/{id}")).await;
    assert_eq!(
        sent.status, 200,
        "the reply's id is derived from the wamid and the rule"
    );
    // A message no rule matches records nothing.
    deliver(&p, &text("wamid.RULE-NONE", t + 1, "thanks!")).await;
    assert_eq!(automation(&p, "wamid.RULE-NONE").await, Value::Null);
    assert_eq!(replies(&p).await.len(), 1);
}

async fn the_highest_priority_match_fires_a_reply_id_matches_and_opt_out_keywords_stay_opt_outs(b: Backend) {
    let p = Pipeline::deployed(b, Settings::for_tests());
    add_rule(
        &p,
        json!({"id": "low", "priority": 1, "match": {"keywords": ["help"]}, "reply": reply("low")}),
    )
    .await;
    add_rule(
        &p,
        json!({"id": "high", "priority": 9, "match": {"keywords": ["HELP"], "mode": "contains"},
                        "reply": reply("high")}),
    )
    .await;
    add_rule(
        &p,
        json!({"id": "off", "priority": 99, "enabled": false, "match": {"keywords": ["help"]},
                        "reply": reply("off")}),
    )
    .await;
    add_rule(
        &p,
        json!({"id": "returns", "match": {"keywords": ["menu_returns"], "mode": "exact"},
                        "reply": reply("returns")}),
    )
    .await;
    add_rule(
        &p,
        json!({"id": "stop-word", "priority": 50, "match": {"keywords": ["stop"]}, "reply": reply("nope")}),
    )
    .await;
    let t = t();
    deliver(&p, &text("wamid.RULE-HELP", t, "I need help")).await;
    let button = simulate::inbound(
        PNI,
        CUSTOMER,
        "Nomsa",
        "wamid.RULE-BTN",
        t + 1,
        "interactive",
        json!({"type": "button_reply", "button_reply": {"id": "MENU_RETURNS", "title": "Returns"}}),
    );
    deliver(&p, &button).await;
    deliver(&p, &text("wamid.RULE-STOP", t + 2, "STOP")).await;
    let texts: Vec<String> = replies(&p).await.into_iter().map(|(t, _)| t).collect();
    assert_eq!(texts[..2], ["high", "returns"], "{texts:?}");
    assert_eq!(texts.len(), 3, "STOP gets opt-out's confirmation only: {texts:?}");
    assert_ne!(texts[2], "nope");
    assert_eq!(automation(&p, "wamid.RULE-STOP").await, Value::Null);
}

async fn a_cooldown_suppresses_the_same_rule_for_the_same_customer(b: Backend) {
    let p = Pipeline::deployed(b, Settings::for_tests());
    add_rule(
        &p,
        json!({"id": "hours", "match": {"keywords": ["open"]}, "reply": reply("9 to 5"), "cooldown_s": 60}),
    )
    .await;
    let t = t();
    deliver(&p, &text("wamid.CD-1", t, "are you open?")).await;
    deliver(&p, &text("wamid.CD-2", t + 10, "open today?")).await;
    // The first again (Meta redelivers it): still its own reply, still one.
    deliver(&p, &text("wamid.CD-1", t, "are you open?")).await;
    deliver(&p, &text("wamid.CD-3", t + 61, "open tomorrow?")).await;
    assert_eq!(
        automation(&p, "wamid.CD-2").await,
        json!({"rule_id": "hours", "outcome": "suppressed"})
    );
    assert_eq!(automation(&p, "wamid.CD-1").await["outcome"], "replied");
    assert_eq!(automation(&p, "wamid.CD-3").await["outcome"], "replied");
    let answered: Vec<String> = replies(&p).await.into_iter().map(|(_, w)| w).collect();
    assert_eq!(answered, ["wamid.CD-1", "wamid.CD-3"]);
}

async fn escalation_labels_the_conversation_replies_and_raises_a_callback(b: Backend) {
    let p = Pipeline::deployed_with_callbacks(b, Settings::for_tests());
    add_rule(
        &p,
        json!({"id": "agent", "match": {"keywords": ["talk to a person", "agent"]},
               "escalate": {"label": "support", "reply": reply("Connecting you to our team.")}}),
    )
    .await;
    let t = t();
    let requests = p.backend.requests.clone();
    if let Some(r) = &requests {
        assert_allowed("automation-api", &r.take_accesses());
    }
    let msg = text("wamid.ESC-1", t, "Can I talk to a person please");
    deliver(&p, &msg).await;
    deliver(&p, &msg).await;
    if let Some(r) = &requests {
        assert_allowed("inbound-processor", &r.take_accesses());
    }
    assert_eq!(
        automation(&p, "wamid.ESC-1").await,
        json!({"rule_id": "agent", "outcome": "escalated"})
    );
    let c = p.get(&format!("/v1/conversations/{CUSTOMER}")).await.json();
    assert_eq!(c["labels"], json!(["support"]));
    assert_eq!(c["escalated_at"], wabridge::timefmt::rfc3339(t * 1000).unwrap());
    assert_eq!(replies(&p).await.len(), 1, "the escalation's reply, once");

    let mut escalations = Vec::new();
    loop {
        let batch = p.backend.callbacks.receive(10, Duration::ZERO).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for d in batch {
            let e: Value = serde_json::from_str(&d.body).unwrap();
            if e["type"] == "conversation.escalated" {
                escalations.push(e);
            }
            p.backend.callbacks.ack(&d.receipt).await.unwrap();
        }
    }
    assert_eq!(escalations.len(), 2, "raised on each delivery");
    assert_eq!(escalations[0], escalations[1], "as one event");
    let data = &escalations[0]["data"];
    assert_eq!(data["label"], "support");
    assert_eq!(data["rule_id"], "agent");
    assert_eq!(data["customer"], CUSTOMER);
    assert_eq!(data["message"]["wamid"], "wamid.ESC-1");
}

async fn a_closed_window_sends_nothing_and_says_so(b: Backend) {
    let p = Pipeline::deployed(b, Settings::for_tests());
    add_rule(
        &p,
        json!({"id": "prices", "match": {"keywords": ["price"]}, "reply": reply("R150")}),
    )
    .await;
    // A message from two days ago, delivered now (Meta retried it for days): its window closed.
    let old = chrono::Utc::now().timestamp() - 2 * 86_400;
    deliver(&p, &text("wamid.OLD-PRICE", old, "price?")).await;
    assert_eq!(
        automation(&p, "wamid.OLD-PRICE").await,
        json!({"rule_id": "prices", "outcome": "window_closed"})
    );
    assert!(replies(&p).await.is_empty());
}

async fn rules_are_managed_through_the_api_and_bad_ones_refused_with_every_problem(b: Backend) {
    let p = Pipeline::deployed(b, Settings::for_tests());
    let bad = call(
        &p,
        "POST",
        "/v1/rules",
        Some(json!({"match": {"keywords": ["(", ""], "mode": "regex"}, "reply": {"type": "text"}, "cooldown_s": -1})),
    )
    .await;
    assert_eq!(bad.status, 400);
    let body = bad.json();
    assert_eq!(body["error"]["code"], "validation_failed");
    let bad = call(
        &p,
        "POST",
        "/v1/rules",
        Some(json!({"match": {"keywords": ["(", ""], "mode": "regex"}, "reply": {"type": "text"}})),
    )
    .await;
    let fields: Vec<String> = bad.json()["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_owned())
        .collect();
    for want in ["match.keywords[0]", "match.keywords[1]"] {
        assert!(fields.iter().any(|f| f == want), "{want} in {fields:?}");
    }
    assert!(fields.iter().any(|f| f.starts_with("reply.")), "{fields:?}");
    assert_eq!(call(&p, "POST", "/v1/rules", Some(json!([1]))).await.status, 400);

    let made = call(
        &p,
        "POST",
        "/v1/rules",
        Some(json!({"match": {"keywords": ["hi"]}, "reply": reply("hello")})),
    )
    .await;
    assert_eq!(made.status, 201);
    let made = made.json();
    let id = made["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("rule_"), "{id}");
    assert_eq!(
        (made["enabled"].clone(), made["priority"].clone()),
        (json!(true), json!(0))
    );
    assert_eq!(made["match"]["mode"], "word");
    let dup = call(
        &p,
        "POST",
        "/v1/rules",
        Some(json!({"id": id, "match": {"keywords": ["x"]}, "reply": reply("x")})),
    )
    .await;
    assert_eq!(
        (dup.status, dup.json()["error"]["code"].clone()),
        (409, json!("rule_exists"))
    );

    let put = json!({"name": "greeting", "priority": 5, "match": {"keywords": ["hello"]}, "reply": reply("hey")});
    assert_eq!(
        call(&p, "PUT", &format!("/v1/rules/{id}"), Some(put.clone()))
            .await
            .status,
        200
    );
    assert_eq!(call(&p, "PUT", "/v1/rules/second", Some(put.clone())).await.status, 201);
    let mismatch = call(
        &p,
        "PUT",
        "/v1/rules/third",
        Some(json!({"id": "other", "match": {"keywords": ["a"]},
                                                                   "reply": reply("a")})),
    )
    .await;
    assert_eq!(mismatch.status, 400);
    let one = call(&p, "GET", &format!("/v1/rules/{id}"), None).await.json();
    assert_eq!(
        (one["name"].clone(), one["priority"].clone()),
        (json!("greeting"), json!(5))
    );
    let list = call(&p, "GET", "/v1/rules", None).await.json();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(call(&p, "DELETE", "/v1/rules/second", None).await.status, 204);
    let gone = call(&p, "DELETE", "/v1/rules/second", None).await;
    assert_eq!(
        (gone.status, gone.json()["error"]["code"].clone()),
        (404, json!("not_found"))
    );
    assert_eq!(call(&p, "GET", "/v1/rules/second", None).await.status, 404);
    let anonymous = p
        .request(http::Request::get("/v1/rules").body(Body::empty()).unwrap())
        .await;
    assert_eq!(anonymous.status, 401);
    if let Some(r) = &p.backend.requests {
        assert_allowed("automation-api", &r.take_accesses());
    }
}

async fn a_marketing_template_reply_never_reaches_an_opted_out_customer(b: Backend) {
    let p = Pipeline::deployed(b, Settings::for_tests());
    let mut promo = Template::new("promo", "en");
    promo.category = Some("MARKETING".into());
    promo.status = "APPROVED".into();
    promo.components = json!([{"type": "BODY", "text": "This week: {{1}}"}]);
    assert!(p.backend.store.save_template(&promo).await.unwrap());
    add_rule(
        &p,
        json!({"id": "deals", "match": {"keywords": ["deals"]},
               "reply": {"type": "template", "template": {"name": "promo", "language": {"code": "en"},
                         "components": [{"type": "body", "parameters": [{"type": "text", "text": "20% off"}]}]}}}),
    )
    .await;
    let t = t();
    let (opted, other) = (CUSTOMER, "27820000445");
    deliver(&p, &text("wamid.MKT-STOP", t, "STOP")).await;
    deliver(&p, &text("wamid.MKT-1", t + 1, "any deals?")).await;
    let deals = |wa: &str, wamid: &str, ts: i64| {
        simulate::inbound(PNI, wa, "Pat", wamid, ts, "text", json!({"body": "deals?"}))
    };
    deliver(&p, &deals(other, "wamid.MKT-2", t + 2)).await;
    let templates_to = |wa: &'static str| {
        let p = &p;
        async move {
            let page = p.get(&format!("/v1/conversations/{wa}/messages")).await.json();
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["direction"] == "outbound" && m["type"] == "template")
                .count()
        }
    };
    assert_eq!(templates_to(opted).await, 0, "opted out: no marketing");
    assert_eq!(templates_to("27820000445").await, 1, "the others get it");
    assert_eq!(automation(&p, "wamid.MKT-2").await["outcome"], "replied");
}

on_both_backends!(
    a_marketing_template_reply_never_reaches_an_opted_out_customer,
    a_rule_replies_once_to_a_webhook_delivered_three_times_and_after_a_queue_outage,
    the_highest_priority_match_fires_a_reply_id_matches_and_opt_out_keywords_stay_opt_outs,
    a_cooldown_suppresses_the_same_rule_for_the_same_customer,
    escalation_labels_the_conversation_replies_and_raises_a_callback,
    a_closed_window_sends_nothing_and_says_so,
    rules_are_managed_through_the_api_and_bad_ones_refused_with_every_problem,
);
