//! Signed event callbacks on both backends, through the deployed inbound processor and the
//! callbacks queue's consumer posting to a real HTTP receiver: every body verifies against its
//! `X-Wabridge-Signature-256` (checked here with HMAC-SHA256 as a receiver would, not with our
//! signer); a receiver's 500 is retried and the event still arrives; the copies a redelivered
//! webhook raises carry one id; an event the receiver keeps refusing is dead-lettered with its
//! answer after the last attempt, and a record that is not an event at once. Nothing is lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;
use wabridge::app::{App, Settings};
use wabridge::callbacks::CallbackConfig;
use wabridge::callbacks::deliver::Deliverer;
use wabridge::ports::SystemClock;
use wabridge_infra::simulate;
use wabridge_tests::{Backend, Pipeline, on_both_backends, settle_one_batch};

const PNI: &str = "100000000000001";
const CUSTOMER: &str = "27820000888";
const CALLBACK_SECRET: &str = "integration shared secret";

/// What the receiver saw: every attempt, in order.
#[derive(Debug, Clone)]
struct Attempt {
    id: String,
    kind: String,
    body: Value,
    signature_ok: bool,
    answered: u16,
}

#[derive(Clone)]
struct Receiver {
    attempts: Arc<Mutex<Vec<Attempt>>>,
    /// Refuse each event's first this-many attempts with a 500.
    refuse_first: usize,
}

fn verifies(body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(CALLBACK_SECRET.as_bytes()).unwrap();
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature_ok = verifies(
        &body,
        headers.get("x-wabridge-signature-256").and_then(|h| h.to_str().ok()),
    );
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = v["id"].as_str().unwrap_or_default().to_owned();
    let header_id = headers.get("x-wabridge-event-id").and_then(|h| h.to_str().ok());
    assert_eq!(header_id, Some(id.as_str()), "the id header names the body's event");
    let mut attempts = r.attempts.lock().unwrap();
    let before = attempts.iter().filter(|a| a.id == id).count();
    let answered = if before < r.refuse_first { 500 } else { 200 };
    attempts.push(Attempt {
        kind: v["type"].as_str().unwrap_or_default().to_owned(),
        id,
        body: v,
        signature_ok,
        answered,
    });
    StatusCode::from_u16(answered).unwrap()
}

/// Serves a receiver on loopback; returns its URL and what it saw.
async fn receiver(refuse_first: usize) -> (String, Arc<Mutex<Vec<Attempt>>>) {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let state = Receiver {
        attempts: attempts.clone(),
        refuse_first,
    };
    let app = Router::new()
        .route("/hooks/wabridge", axum::routing::post(receive))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hooks/wabridge"), attempts)
}

fn deliverer(url: &str) -> Deliverer {
    App::new(Settings::for_tests(), Arc::new(SystemClock))
        .deliverer(CallbackConfig {
            url: url.to_owned(),
            secret: SecretString::from(CALLBACK_SECRET),
        })
        .unwrap()
}

/// Posts everything on the callbacks queue until it stays empty.
async fn post_callbacks(p: &Pipeline, d: &Deliverer) {
    let q = p.backend.callbacks.as_ref();
    let mut idle = 0;
    for _ in 0..400 {
        if settle_one_batch(p.backend.kind, d, q).await == 0 {
            idle += 1;
            if idle >= 3 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        } else {
            idle = 0;
        }
    }
    panic!("the callbacks queue did not drain");
}

async fn deliver(p: &Pipeline, body: &Value) {
    let body = serde_json::to_vec(body).unwrap();
    assert_eq!(p.post_webhook(&body).await.status, 200);
    while p.settle_one_batch().await > 0 {}
}

fn now() -> i64 {
    chrono::Utc::now().timestamp() - 60
}

async fn events_arrive_signed_once_per_id_after_the_receivers_500(b: Backend) {
    let p = Pipeline::deployed_with_callbacks(b, Settings::for_tests());
    let (url, attempts) = receiver(1).await;
    let t = now();
    let hello = simulate::inbound(
        PNI,
        CUSTOMER,
        "Sipho",
        "wamid.CB-HELLO",
        t,
        "text",
        json!({"body": "hello"}),
    );
    // Meta delivers the message three times and a status twice.
    for _ in 0..3 {
        deliver(&p, &hello).await;
    }
    let read = simulate::status(PNI, CUSTOMER, "wamid.CB-OURS", "read", t + 5);
    for _ in 0..2 {
        deliver(&p, &read).await;
    }
    let stop = simulate::inbound(
        PNI,
        CUSTOMER,
        "Sipho",
        "wamid.CB-STOP",
        t + 10,
        "text",
        json!({"body": "STOP"}),
    );
    deliver(&p, &stop).await;
    post_callbacks(&p, &deliverer(&url)).await;

    let attempts = attempts.lock().unwrap().clone();
    assert!(
        attempts.iter().all(|a| a.signature_ok),
        "every body verifies: {attempts:?}"
    );
    let delivered: BTreeMap<String, &Attempt> = attempts
        .iter()
        .filter(|a| a.answered == 200)
        .map(|a| (a.id.clone(), a))
        .collect();
    let kinds: BTreeSet<(&str, String)> = delivered
        .values()
        .map(|a| (a.kind.as_str(), a.body["data"].to_string()))
        .collect();
    // One id per event however often Meta sent what raised it.
    let by_kind = |k: &str| delivered.values().filter(|a| a.kind == k).count();
    assert_eq!(by_kind("message.received"), 2, "hello and STOP: {kinds:?}");
    assert_eq!(by_kind("message.status"), 1, "{kinds:?}");
    assert_eq!(by_kind("contact.opted_out"), 1, "{kinds:?}");
    // Every event was refused once and arrived on its retry.
    for id in delivered.keys() {
        let tries: Vec<u16> = attempts.iter().filter(|a| &a.id == id).map(|a| a.answered).collect();
        assert_eq!(tries.first(), Some(&500), "{id}: {tries:?}");
        assert!(tries.contains(&200), "{id}: {tries:?}");
    }
    // Copies of one event are the same bytes, so a receiver may keep any of them.
    for a in &attempts {
        assert_eq!(a.body, delivered[&a.id].body, "copies of {} differ", a.id);
    }

    let message = delivered
        .values()
        .find(|a| a.kind == "message.received" && a.body["data"]["message"]["text"] == "hello")
        .unwrap();
    let m = &message.body["data"]["message"];
    assert_eq!(m["wamid"], "wamid.CB-HELLO");
    assert_eq!(m["wa_id"], CUSTOMER);
    assert_eq!(m["direction"], "inbound");
    let stored = p.get("/v1/messages/wamid.CB-HELLO").await.json();
    assert_eq!(m["id"], stored["id"], "the event names the message as the API does");
    assert_eq!(
        message.body["created_at"],
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    );

    let status = delivered.values().find(|a| a.kind == "message.status").unwrap();
    assert_eq!(status.body["data"]["wamid"], "wamid.CB-OURS");
    assert_eq!(status.body["data"]["status"], "read");
    assert_eq!(status.body["data"]["wa_id"], CUSTOMER);

    let opted = delivered.values().find(|a| a.kind == "contact.opted_out").unwrap();
    assert_eq!(opted.body["data"]["customer"], CUSTOMER);
    assert_eq!(opted.body["data"]["opted_out"], true);
    assert_eq!(opted.body["data"]["source"], "keyword");

    assert!(p.backend.callbacks.dead_letters(10).await.unwrap().is_empty());
}

async fn an_event_the_receiver_keeps_refusing_is_dead_lettered_with_its_answer(b: Backend) {
    let p = Pipeline::deployed_with_callbacks(b, Settings::for_tests());
    let (url, attempts) = receiver(usize::MAX).await;
    let hello = simulate::inbound(
        PNI,
        CUSTOMER,
        "Sipho",
        "wamid.CB-DOWN",
        now(),
        "text",
        json!({"body": "anyone?"}),
    );
    deliver(&p, &hello).await;
    // A record that is not an event (a hand-edited redrive, say) can never be posted.
    p.backend.callbacks.send("not json").await.unwrap();
    post_callbacks(&p, &deliverer(&url)).await;

    let attempts = attempts.lock().unwrap().clone();
    let max = Settings::for_tests().callback_retry.max_receives as usize;
    assert_eq!(
        attempts.len(),
        max,
        "every attempt the policy allows, then no more: {attempts:?}"
    );
    let dead = p.backend.callbacks.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    let event = dead.iter().find(|d| d.body.contains("wamid.CB-DOWN")).unwrap();
    assert!(event.reason.contains("500"), "{}", event.reason);
    let junk = dead.iter().find(|d| d.body == "not json").unwrap();
    assert!(junk.reason.contains("not a callback event"), "{}", junk.reason);
    assert_eq!(p.backend.callbacks.backlog().await.unwrap(), 0, "nothing left behind");
}

async fn an_unreachable_receiver_is_retried_like_a_refusal(b: Backend) {
    let p = Pipeline::deployed_with_callbacks(b, Settings::for_tests());
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    drop(listener);
    let hello = simulate::inbound(
        PNI,
        CUSTOMER,
        "Sipho",
        "wamid.CB-GONE",
        now(),
        "text",
        json!({"body": "hi"}),
    );
    deliver(&p, &hello).await;
    post_callbacks(&p, &deliverer(&url)).await;
    let dead = p.backend.callbacks.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].reason.contains("could not be reached"), "{}", dead[0].reason);
    assert!(
        !dead[0].reason.contains(&url),
        "the URL stays out of reasons: {}",
        dead[0].reason
    );
}

on_both_backends!(
    events_arrive_signed_once_per_id_after_the_receivers_500,
    an_event_the_receiver_keeps_refusing_is_dead_lettered_with_its_answer,
    an_unreachable_receiver_is_retried_like_a_refusal,
);
