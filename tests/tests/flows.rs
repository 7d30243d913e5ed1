//! Menu-bot flows on both backends, through `/v1/flows` and the deployed inbound processor, with the
//! shipped PMS example (`examples/flows/pms.json`): "hi" → menu → "Submit Reject" → order,
//! description, quantity (a wrong quantity asked again) → the closing message with the session id
//! → an interaction record and a `flow.completed` callback with the fields. Duplicates and
//! reordering of the customer's messages move each step once; two messages racing for one session
//! never apply a step twice; a session expires after its TTL (manual clock) and "menu" restarts
//! one; bad definitions are refused with every problem named.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::body::Body;
use serde_json::{Value, json};
use wabridge::app::Settings;
use wabridge::domain::{CustomerKey, Direction};
use wabridge::ports::{Clock, Walk};
use wabridge::runtime::consume::{Handler, Outcome};
use wabridge_infra::simulate;
use wabridge_tests::permissions::assert_allowed;
use wabridge_tests::{Backend, Kind, ManualClock, Pipeline, Reply, on_both_backends, on_both_kinds};

const PNI: &str = "100000000000001";
const CUSTOMER: &str = "27820000321";

fn pms() -> Value {
    serde_json::from_str(include_str!("../../examples/flows/pms.json")).unwrap()
}

async fn call(p: &Pipeline, method: &str, path: &str, body: Option<Value>) -> Reply {
    p.call(method, path, body.as_ref()).await
}

fn text(wamid: &str, ts: i64, body: &str) -> Value {
    simulate::inbound(PNI, CUSTOMER, "Thabo", wamid, ts, "text", json!({"body": body}))
}

fn picked(wamid: &str, ts: i64, id: &str, title: &str) -> Value {
    simulate::inbound(
        PNI,
        CUSTOMER,
        "Thabo",
        wamid,
        ts,
        "interactive",
        json!({"type": "list_reply", "list_reply": {"id": id, "title": title}}),
    )
}

async fn deliver(p: &Pipeline, body: &Value) {
    let body = serde_json::to_vec(body).unwrap();
    assert_eq!(p.post_webhook(&body).await.status, 200);
    p.drain(Duration::ZERO).await;
}

/// What we sent the customer, oldest first: a text's body or an interactive message's body text.
async fn said(p: &Pipeline) -> Vec<String> {
    let walk = Walk {
        lo: "",
        hi: "~",
        newest_first: false,
        limit: 100,
        ours_only: true,
    };
    let key = CustomerKey::parse(CUSTOMER).unwrap();
    let ours = p.backend.store.timeline(&key, walk).await.unwrap();
    ours.iter()
        .filter(|m| m.direction == Direction::Outbound)
        .map(|m| {
            let c = m.content.value();
            c["body"]
                .as_str()
                .or_else(|| c["body"]["text"].as_str())
                .map(str::to_owned)
                .or_else(|| m.text.clone())
                .unwrap_or_default()
        })
        .collect()
}

async fn the_pms_flow_runs_end_to_end_once_however_meta_delivers(b: Backend) {
    let p = Pipeline::deployed_with_callbacks(b, Settings::for_tests());
    let put = call(&p, "PUT", "/v1/flows/pms", Some(pms())).await;
    assert_eq!(put.status, 201, "{}", put.json());
    assert_eq!(
        call(&p, "PUT", "/v1/flows/pms", Some(pms())).await.status,
        200,
        "replaced"
    );
    if let Some(r) = &p.backend.requests {
        assert_allowed("automation-api", &r.take_accesses());
    }
    let t = chrono::Utc::now().timestamp() - 600;
    let script = [
        text("wamid.PMS-1", t, "Hi"),
        picked("wamid.PMS-2", t + 10, "reject", "Submit Reject"),
        text("wamid.PMS-3", t + 20, "PO-7781"),
        text("wamid.PMS-4", t + 30, "Scratched casing on the lid"),
        text("wamid.PMS-5", t + 40, "a dozen"),
        text("wamid.PMS-6", t + 50, "12"),
    ];
    for (i, m) in script.iter().enumerate() {
        // Every message twice, and after each the one before it again (late and reordered).
        deliver(&p, m).await;
        deliver(&p, m).await;
        if i > 0 {
            deliver(&p, &script[i - 1]).await;
        }
    }
    if let Some(r) = &p.backend.requests {
        assert_allowed("inbound-processor", &r.take_accesses());
    }
    let session = call(&p, "GET", &format!("/v1/flows/sessions/{CUSTOMER}"), None)
        .await
        .json();
    assert_eq!(session["status"], "completed", "{session}");
    assert_eq!(session["flow"], "pms");
    assert_eq!(
        session["fields"],
        json!({"order": "PO-7781", "description": "Scratched casing on the lid", "quantity": "12"})
    );
    let id = session["id"].as_str().unwrap().to_owned();
    assert_eq!(
        said(&p).await,
        [
            "What would you like to do?".to_owned(),
            "Which order number or product code?".to_owned(),
            "Describe the defect.".to_owned(),
            "How many items are defective?".to_owned(),
            "Please send the quantity as a number, like 12.".to_owned(),
            "How many items are defective?".to_owned(),
            format!("Reject logged: 12 x PO-7781. Your ticket is {id}."),
        ],
        "each step once, in order"
    );

    let listed = call(&p, "GET", "/v1/flows/interactions?kind=reject", None).await.json();
    let records = listed["data"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{listed}");
    let record = &records[0];
    assert_eq!(
        (record["session_id"].as_str(), record["wa_id"].as_str()),
        (Some(id.as_str()), Some(CUSTOMER))
    );
    assert_eq!(record["fields"], session["fields"]);
    let answers: Vec<&str> = record["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["answer"].as_str().unwrap())
        .collect();
    assert_eq!(answers, ["reject", "PO-7781", "Scratched casing on the lid", "12"]);
    assert!(record.get("completed_ms").is_none(), "internal fields stay inside");
    let none = call(&p, "GET", "/v1/flows/interactions?kind=return", None).await.json();
    assert!(none["data"].as_array().unwrap().is_empty());

    let mut completed = Vec::new();
    loop {
        let batch = p.backend.callbacks.receive(10, Duration::ZERO).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for d in batch {
            let e: Value = serde_json::from_str(&d.body).unwrap();
            if e["type"] == "flow.completed" {
                completed.push(e);
            }
            p.backend.callbacks.ack(&d.receipt).await.unwrap();
        }
    }
    assert!(!completed.is_empty());
    assert!(completed.iter().all(|e| e == &completed[0]), "every copy one event");
    assert_eq!(completed[0]["data"], *record, "the callback carries the record");
}

async fn two_messages_racing_for_one_session_apply_each_step_at_most_once(b: Backend) {
    let p = Pipeline::deployed(b, Settings::for_tests());
    assert_eq!(call(&p, "PUT", "/v1/flows/pms", Some(pms())).await.status, 201);
    let t = chrono::Utc::now().timestamp() - 600;
    deliver(&p, &text("wamid.RACE-1", t, "menu")).await;
    deliver(&p, &picked("wamid.RACE-2", t + 1, "reject", "Submit Reject")).await;
    // Two answers arrive at once and go to two processors.
    for (w, ts, body) in [
        ("wamid.RACE-3", t + 2, "PO-1000"),
        ("wamid.RACE-4", t + 3, "Dented lid, three units"),
    ] {
        let body = serde_json::to_vec(&text(w, ts, body)).unwrap();
        assert_eq!(p.post_webhook(&body).await.status, 200);
    }
    let q = p.backend.queue.clone();
    let (a, b2) = (
        q.receive(1, Duration::from_secs(1)).await.unwrap(),
        q.receive(1, Duration::from_secs(1)).await.unwrap(),
    );
    assert_eq!((a.len(), b2.len()), (1, 1));
    let (oa, ob) = tokio::join!(p.processor.handle_batch(&a), p.processor.handle_batch(&b2));
    for (d, o) in a.iter().chain(&b2).zip(oa.into_iter().chain(ob)) {
        assert_eq!(o, Outcome::Done, "no race is an error");
        q.ack(&d.receipt).await.unwrap();
    }
    let session = call(&p, "GET", &format!("/v1/flows/sessions/{CUSTOMER}"), None)
        .await
        .json();
    let fields = session["fields"].as_object().unwrap();
    let replies = said(&p).await;
    match fields.len() {
        // Both applied, in the customer's order.
        2 => {
            assert_eq!(fields["order"], "PO-1000");
            assert_eq!(fields["description"], "Dented lid, three units");
            assert_eq!(replies.len(), 4, "{replies:?}");
        }
        // The later one applied first; the earlier one, older than it, was ignored.
        1 => {
            assert_eq!(fields["order"], "Dented lid, three units");
            assert_eq!(replies.len(), 3, "{replies:?}");
        }
        n => panic!("{n} fields: {session}"),
    }
    let mut unique = replies.clone();
    unique.dedup();
    assert_eq!(unique, replies, "no step's message twice");
}

async fn a_session_expires_after_its_ttl_and_menu_restarts_one(kind: Kind) {
    let start = chrono::Utc::now().timestamp_millis();
    let clock = ManualClock::at(start);
    let b = Backend::at(kind, clock.clone()).await;
    let p = Pipeline::deployed_on(b, Settings::for_tests(), clock.clone(), false);
    assert_eq!(call(&p, "PUT", "/v1/flows/pms", Some(pms())).await.status, 201);
    let s = |clock: &ManualClock| clock.now_ms() / 1000;
    deliver(&p, &text("wamid.TTL-1", s(&clock), "hello")).await;
    let first = call(&p, "GET", &format!("/v1/flows/sessions/{CUSTOMER}"), None)
        .await
        .json();
    assert_eq!(
        (first["status"].as_str(), first["step"].as_str()),
        (Some("active"), Some("menu"))
    );
    clock.advance(Duration::from_secs(60));
    deliver(&p, &text("wamid.TTL-2", s(&clock), "MENU")).await;
    let restarted = call(&p, "GET", &format!("/v1/flows/sessions/{CUSTOMER}"), None)
        .await
        .json();
    assert_ne!(restarted["id"], first["id"], "menu starts a new session");
    assert_eq!(said(&p).await.len(), 2, "the menu each time");

    clock.advance(Duration::from_secs(86_400 + 1));
    let expired = call(&p, "GET", &format!("/v1/flows/sessions/{CUSTOMER}"), None)
        .await
        .json();
    assert_eq!(expired["status"], "expired");
    let listed = call(&p, "GET", "/v1/flows/sessions?status=expired", None).await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let active = call(&p, "GET", "/v1/flows/sessions?status=active", None).await.json();
    assert!(active["data"].as_array().unwrap().is_empty());
    // The menu choice after a day is not an answer to the expired menu.
    deliver(&p, &picked("wamid.TTL-3", s(&clock), "reject", "Submit Reject")).await;
    assert_eq!(said(&p).await.len(), 2, "an expired session takes nothing");
    deliver(&p, &text("wamid.TTL-4", s(&clock) + 1, "hi")).await;
    let fresh = call(&p, "GET", &format!("/v1/flows/sessions/{CUSTOMER}"), None)
        .await
        .json();
    assert_eq!(fresh["status"], "active");
    assert_eq!(said(&p).await.len(), 3);
}

async fn flows_are_managed_through_the_api_and_bad_ones_refused(b: Backend) {
    let p = Pipeline::deployed(b, Settings::for_tests());
    let bad = call(
        &p,
        "PUT",
        "/v1/flows/broken",
        Some(json!({"triggers": ["hi"], "start": "menu", "steps": {
            "menu": {"send": {"type": "text", "text": {"body": "?"}}, "on": {"x": "ghost"}},
            "orphan": {"end": {"type": "text", "text": {"body": "never"}}}}})),
    )
    .await;
    assert_eq!(bad.status, 400);
    let fields: Vec<String> = bad.json()["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_owned())
        .collect();
    assert!(fields.contains(&"steps.menu.on.x".to_owned()), "{fields:?}");
    assert!(fields.contains(&"steps.orphan".to_owned()), "{fields:?}");
    assert_eq!(
        call(&p, "PUT", "/v1/flows/sessions", Some(pms())).await.status,
        405,
        "the sessions list is not a flow"
    );
    assert_eq!(call(&p, "PUT", "/v1/flows/pms", Some(pms())).await.status, 201);
    let one = call(&p, "GET", "/v1/flows/pms", None).await.json();
    assert_eq!(one["start"], "menu");
    assert_eq!(one["steps"]["reject_done"]["record"], "reject");
    let all = call(&p, "GET", "/v1/flows", None).await.json();
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        call(&p, "GET", "/v1/flows/interactions?from=2026-12-01&to=2026-11-01", None)
            .await
            .status,
        400
    );
    assert_eq!(
        call(&p, "GET", "/v1/flows/sessions?status=sleeping", None).await.status,
        400
    );
    assert_eq!(
        call(&p, "GET", &format!("/v1/flows/sessions/{CUSTOMER}"), None)
            .await
            .status,
        404
    );
    assert_eq!(call(&p, "DELETE", "/v1/flows/pms", None).await.status, 204);
    assert_eq!(call(&p, "GET", "/v1/flows/pms", None).await.status, 404);
    assert_eq!(call(&p, "DELETE", "/v1/flows/pms", None).await.status, 404);
    let anonymous = p
        .request(http::Request::get("/v1/flows").body(Body::empty()).unwrap())
        .await;
    assert_eq!(anonymous.status, 401);
}

on_both_backends!(
    the_pms_flow_runs_end_to_end_once_however_meta_delivers,
    two_messages_racing_for_one_session_apply_each_step_at_most_once,
    flows_are_managed_through_the_api_and_bad_ones_refused,
);
on_both_kinds!(a_session_expires_after_its_ttl_and_menu_restarts_one);
