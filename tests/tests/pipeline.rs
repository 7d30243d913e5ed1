//! End to end on both backends: signed webhook over HTTP → queue → processor → store → query API,
//! with the faults the design promises to survive: duplicates, reordering, bad signatures, poison
//! records, store failures and a crash mid-batch. Each test counts that nothing was lost or doubled.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use wabridge::ports::{DeadLetter, Delivery, PortError, Queue};
use wabridge_infra::simulate;
use wabridge_tests::{API_KEY, Backend, FlakyStore, Pipeline, VERIFY_TOKEN, enc, fixture, on_both_backends};

/// Longer than the test queues' visibility timeout, so retried records come back before we stop.
const PAST_VISIBILITY: Duration = Duration::from_millis(1600);

async fn message(p: &Pipeline, id: &str) -> Value {
    let r = p.get(&format!("/v1/messages/{}", enc(id))).await;
    assert_eq!(r.status, 200, "GET message {id}: {}", String::from_utf8_lossy(&r.body));
    r.json()
}

async fn conversation(p: &Pipeline, who: &str) -> Value {
    let r = p.get(&format!("/v1/conversations/{}", enc(who))).await;
    assert_eq!(r.status, 200, "GET conversation {who}");
    r.json()
}

async fn every_update_of_a_webhook_is_stored_and_queryable(b: Backend) {
    let p = Pipeline::new(b);
    let r = p.post_webhook(&fixture("webhooks/all_types.json")).await;
    assert_eq!(r.status, 200);
    p.drain(Duration::ZERO).await;

    for i in 1..=23 {
        let m = message(&p, &format!("wamid.FIXTURE{i:02}")).await;
        assert_eq!(m["direction"], "inbound");
        assert_eq!(m["status"], "received");
        assert!(
            m["timestamp"].as_str().unwrap().ends_with('Z'),
            "RFC 3339 UTC: {}",
            m["timestamp"]
        );
    }
    let img = message(&p, "wamid.FIXTURE04").await;
    assert_eq!(
        (img["type"].as_str(), img["text"].as_str()),
        (Some("image"), Some("my prescription"))
    );
    assert_eq!(img["content"]["id"], "880000000000001");
    assert_eq!(img["timestamp"], "2025-11-22T08:26:44Z");
    let reply = message(&p, "wamid.FIXTURE02").await;
    assert_eq!(reply["context"]["id"], "wamid.OUTBOUND01");
    let unsupported = message(&p, "wamid.FIXTURE20").await;
    assert_eq!(unsupported["error"]["code"], 131051);
    let by_user_id = message(&p, "wamid.FIXTURE23").await;
    assert_eq!(
        (by_user_id["wa_id"].clone(), by_user_id["user_id"].clone()),
        (Value::Null, json!("ZA.4455667788990011"))
    );

    let failed = message(&p, "wamid.OUT-FAILED").await;
    assert_eq!(
        (failed["type"].clone(), failed["status"].clone()),
        (Value::Null, json!("failed"))
    );
    assert_eq!(failed["error"]["code"], 131047);
    assert_eq!(failed["direction"], "outbound");
    assert_eq!(message(&p, "wamid.OUT-PLAYED").await["status"], "played");
    assert_eq!(message(&p, "wamid.OUT-SENT").await["pricing"]["category"], "service");

    let list = p.get("/v1/conversations").await.json();
    let who: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["wa_id"].as_str().or(c["user_id"].as_str()).unwrap())
        .collect();
    assert_eq!(
        who,
        ["ZA.4455667788990011", "447700900123", "27820000001"],
        "newest activity first"
    );
    let a = conversation(&p, "27820000001").await;
    assert_eq!(a["unread"], 10);
    assert_eq!(a["name"], "Ayanda Dlamini");
    assert_eq!(a["user_id"], "ZA.1122334455667788");
    assert_eq!(a["last_message"]["type"], "contacts");
    assert_eq!(conversation(&p, "447700900123").await["unread"], 12);
    let msgs = p.get("/v1/conversations/27820000001/messages?limit=200").await.json();
    assert_eq!(msgs["data"].as_array().unwrap().len(), 10);
    assert_eq!(msgs["next_cursor"], Value::Null);
    let contact = p.get("/v1/contacts/447700900123").await.json();
    assert_eq!(contact["name"], "Bea Jones");
    let contacts = p.get("/v1/contacts").await.json();
    assert_eq!(contacts["data"].as_array().unwrap().len(), 3);
}

async fn the_same_webhook_delivered_three_times_also_concurrently_is_stored_once(b: Backend) {
    let p = Pipeline::new(b);
    let body = fixture("webhooks/text.json");
    for _ in 0..3 {
        assert_eq!(p.post_webhook(&body).await.status, 200);
    }
    let (r1, r2, r3) = tokio::join!(p.post_webhook(&body), p.post_webhook(&body), p.post_webhook(&body));
    assert_eq!([r1.status, r2.status, r3.status], [200; 3]);
    p.drain(Duration::ZERO).await;
    let c = conversation(&p, "27820000001").await;
    assert_eq!(c["unread"], 1, "counted once");
    let msgs = p.get("/v1/conversations/27820000001/messages").await.json();
    assert_eq!(msgs["data"].as_array().unwrap().len(), 1, "stored once");
    assert!(msgs["data"][0]["text"].as_str().unwrap().ends_with("Thank you 🙏"));
}

async fn statuses_reordered_across_webhooks_end_in_the_right_status(b: Backend) {
    let p = Pipeline::new(b);
    let w = "wamid.REORDER";
    for (s, ts) in [
        ("read", 1_763_800_030),
        ("sent", 1_763_800_010),
        ("delivered", 1_763_800_020),
        ("read", 1_763_800_030),
    ] {
        let body = serde_json::to_vec(&simulate::status("100000000000001", "27820000001", w, s, ts)).unwrap();
        assert_eq!(p.post_webhook(&body).await.status, 200);
    }
    p.drain(Duration::ZERO).await;
    let m = message(&p, w).await;
    assert_eq!(m["status"], "read");
    assert_eq!(
        m["status_timestamps"],
        json!({"sent": "2025-11-22T08:26:50Z", "delivered": "2025-11-22T08:27:00Z", "read": "2025-11-22T08:27:10Z"})
    );
}

async fn bad_missing_and_reserialised_signatures_are_refused_and_nothing_is_queued(b: Backend) {
    let p = Pipeline::new(b);
    let body = fixture("webhooks/text.json");
    let wrong = wabridge::inbound::webhook::sign(&wabridge_tests::secrecy::SecretString::from("not-the-secret"), &body);
    let reserialised = serde_json::to_vec(&serde_json::from_slice::<Value>(&body).unwrap()).unwrap();
    let over_reserialised = wabridge::inbound::webhook::sign(
        &wabridge_tests::secrecy::SecretString::from(wabridge_tests::SECRET),
        &reserialised,
    );
    for (sig, why) in [
        (None, "missing"),
        (Some(wrong.as_str()), "wrong secret"),
        (Some("sha256=nothex"), "malformed"),
        (Some(over_reserialised.as_str()), "signed over re-serialised JSON"),
    ] {
        let r = p.post_raw(&body, sig).await;
        assert_eq!(r.status, 401, "{why}");
        assert_eq!(r.json()["error"]["code"], "invalid_signature", "{why}");
    }
    assert!(
        p.backend
            .queue
            .receive(10, Duration::from_millis(200))
            .await
            .unwrap()
            .is_empty(),
        "nothing queued"
    );

    // A body with non-ASCII text, signed over its exact bytes, goes through untouched.
    let unicode = serde_json::to_vec(&simulate::inbound(
        "100000000000001",
        "27820000002",
        "Zoë",
        "wamid.UNICODE",
        1_763_800_000,
        "text",
        json!({"body": "Sawubona! Ngiyabonga 🙏 — café ñ 你好"}),
    ))
    .unwrap();
    assert_eq!(p.post_webhook(&unicode).await.status, 200);
    p.drain(Duration::ZERO).await;
    assert_eq!(
        message(&p, "wamid.UNICODE").await["text"],
        "Sawubona! Ngiyabonga 🙏 — café ñ 你好"
    );
}

async fn the_subscription_handshake_answers_the_challenge_only_to_the_right_token(b: Backend) {
    let p = Pipeline::new(b);
    let get = |q: String| {
        let req = http::Request::get(format!("/webhook?{q}"))
            .body(axum::body::Body::empty())
            .unwrap();
        p.request(req)
    };
    let ok = get(format!(
        "hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
    ))
    .await;
    assert_eq!((ok.status, ok.body.as_slice()), (200, b"1158201444".as_slice()));
    assert!(ok.content_type.unwrap().starts_with("text/plain"));
    for q in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1".to_owned(),
        format!("hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1"),
        "".to_owned(),
    ] {
        assert_eq!(get(q).await.status, 403);
    }
    // The challenge is echoed as text: markup or a long string is refused, not reflected.
    for challenge in ["%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_owned(), "1".repeat(129)] {
        let bad = get(format!(
            "hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge={challenge}"
        ))
        .await;
        assert_eq!(bad.status, 400, "{challenge}");
        assert_eq!(bad.json()["error"]["code"], "invalid_challenge");
    }
}

async fn a_customer_known_only_by_user_id_is_stored_under_that_id(b: Backend) {
    let p = Pipeline::new(b);
    assert_eq!(
        p.post_webhook(&fixture("webhooks/username_only.json")).await.status,
        200
    );
    p.drain(Duration::ZERO).await;
    let m = message(&p, "wamid.USERNAMEONLY01").await;
    assert_eq!(m["user_id"], "ZA.9988776655443322");
    assert_eq!(m["wa_id"], Value::Null);
    assert_eq!(m["text"], "Hello from my username");
    let c = conversation(&p, "ZA.9988776655443322").await;
    assert_eq!(c["name"], "Nomsa");
    assert_eq!(c["last_message"]["text"], "Hello from my username");
    let page = p.get("/v1/conversations/ZA.9988776655443322/messages").await.json();
    assert_eq!(page["data"][0]["wamid"], "wamid.USERNAMEONLY01");
}

async fn a_poison_record_is_dead_lettered_on_its_first_attempt_and_the_rest_are_stored(b: Backend) {
    let p = Pipeline::new(b);
    p.backend.queue.send("this is not an envelope").await.unwrap();
    // A record that can never succeed is not retried: one attempt moves it aside with its reason.
    assert_eq!(p.settle_one_batch().await, 1);
    assert_eq!(p.backend.queue.dead_letters(10).await.unwrap().len(), 1);
    for i in 0..3 {
        let body = serde_json::to_vec(&simulate::inbound(
            "100000000000001",
            "27820000003",
            "C",
            &format!("wamid.GOOD{i}"),
            1_763_800_000 + i,
            "text",
            json!({"body": format!("good {i}")}),
        ))
        .unwrap();
        assert_eq!(p.post_webhook(&body).await.status, 200);
    }
    p.drain(PAST_VISIBILITY).await;
    for i in 0..3 {
        assert_eq!(
            message(&p, &format!("wamid.GOOD{i}")).await["text"],
            format!("good {i}")
        );
    }
    let dead: Vec<DeadLetter> = p.backend.queue.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1, "only the poison record: {dead:?}");
    assert_eq!(dead[0].body, "this is not an envelope");
    assert!(
        dead[0].reason.contains("not a wabridge envelope"),
        "reason kept: {}",
        dead[0].reason
    );
}

async fn store_failures_mid_webhook_are_retried_without_double_counting(b: Backend) {
    // Call 5 fails after four messages were stored; call 30 fails after the retry passed them again.
    let flaky = Arc::new(FlakyStore::new(b.store.clone(), vec![5, 30]));
    let p = Pipeline::with_store(flaky.clone(), b);
    assert_eq!(p.post_webhook(&fixture("webhooks/all_types.json")).await.status, 200);
    p.drain(PAST_VISIBILITY).await;
    assert!(
        flaky.calls.load(Ordering::SeqCst) > 60,
        "the webhook was attempted more than once"
    );
    for i in 1..=23 {
        message(&p, &format!("wamid.FIXTURE{i:02}")).await;
    }
    assert_eq!(
        conversation(&p, "27820000001").await["unread"],
        10,
        "each message counted once"
    );
    assert_eq!(conversation(&p, "447700900123").await["unread"], 12);
    assert!(
        p.backend.queue.dead_letters(10).await.unwrap().is_empty(),
        "recovered, not dead-lettered"
    );
}

/// One update the store can never take does not take the webhook with it: every other update is
/// stored on the first delivery, the webhook is dead-lettered at once with a reason naming that
/// update, and redriving the dead letter once the store takes it stores the last message without
/// counting any other twice.
async fn one_refused_update_does_not_take_the_webhook_with_it(b: Backend) {
    let body = fixture("webhooks/all_types.json");
    let updates = wabridge::inbound::webhook::split(&body, 0).unwrap().len();
    let flaky = Arc::new(FlakyStore::new(b.store.clone(), vec![]));
    flaky.refuse(Some("wamid.FIXTURE07"));
    let p = Pipeline::with_store(flaky.clone(), b);
    assert_eq!(p.post_webhook(&body).await.status, 200);
    p.drain(PAST_VISIBILITY).await;
    assert_eq!(
        flaky.calls.load(Ordering::SeqCst),
        updates,
        "each update was tried once: no retry of what can never succeed"
    );
    for i in (1..=23).filter(|i| *i != 7) {
        message(&p, &format!("wamid.FIXTURE{i:02}")).await;
    }
    assert_eq!(p.get("/v1/messages?wamid=wamid.FIXTURE07").await.status, 404);
    let dead = p.backend.queue.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(
        dead[0].reason.contains(&format!("1 of {updates} updates failed"))
            && dead[0].reason.contains("message wamid.FIXTURE07"),
        "{}",
        dead[0].reason
    );

    // The operator fixes the cause and redrives the dead letter as it is.
    flaky.refuse(None);
    p.backend.queue.send(&dead[0].body).await.unwrap();
    p.drain(PAST_VISIBILITY).await;
    message(&p, "wamid.FIXTURE07").await;
    assert_eq!(
        conversation(&p, "27820000001").await["unread"],
        10,
        "each message counted once"
    );
    assert_eq!(conversation(&p, "447700900123").await["unread"], 12);
}

async fn a_crash_mid_batch_loses_nothing_and_doubles_nothing(b: Backend) {
    let p = Pipeline::new(b);
    let mut wamids = Vec::new();
    for i in 0..6 {
        let w = format!("wamid.CRASH{i}");
        let body = serde_json::to_vec(&simulate::inbound(
            "100000000000001",
            "27820000004",
            "D",
            &w,
            1_763_800_000 + i,
            "text",
            json!({"body": format!("crash {i}")}),
        ))
        .unwrap();
        assert_eq!(p.post_webhook(&body).await.status, 200);
        wamids.push(w);
    }
    // The consumer takes a batch, applies part of it, and dies before acknowledging anything.
    let taken: Vec<Delivery> = p.receive_and_crash().await;
    assert!(!taken.is_empty());
    for d in taken.iter().take(2) {
        p.processor.handle(&d.body).await.unwrap();
    }
    drop(taken);
    p.drain(PAST_VISIBILITY).await;
    for w in &wamids {
        message(&p, w).await;
    }
    let c = conversation(&p, "27820000004").await;
    assert_eq!(
        c["unread"], 6,
        "every message once, including those applied before the crash"
    );
    let msgs = p.get("/v1/conversations/27820000004/messages").await.json();
    assert_eq!(msgs["data"].as_array().unwrap().len(), 6);
}

async fn a_body_over_the_queue_limit_travels_through_blob_storage(b: Backend) {
    let p = Pipeline::with_queue_limit(b, 512);
    let body = fixture("webhooks/text.json");
    assert!(body.len() > 512);
    assert_eq!(p.post_webhook(&body).await.status, 200);
    let queued = p.backend.queue.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert!(
        queued[0].body.contains("\"kind\":\"blob\""),
        "a pointer is queued: {}",
        queued[0].body
    );
    p.backend
        .queue
        .retry_later(&queued[0].receipt, Duration::ZERO)
        .await
        .unwrap();
    p.drain(Duration::ZERO).await;
    let c = conversation(&p, "27820000001").await;
    assert_eq!(c["unread"], 1);
}

/// A queue that is down: ingestion must answer 5xx so Meta retries.
struct DownQueue;

#[async_trait]
impl Queue for DownQueue {
    async fn send(&self, _: &str) -> Result<(), PortError> {
        Err(PortError::unavailable("send", std::io::Error::other("queue down")))
    }
    async fn send_later(&self, body: &str, _: Duration) -> Result<(), PortError> {
        self.send(body).await
    }
    async fn receive(&self, _: u32, _: Duration) -> Result<Vec<Delivery>, PortError> {
        Ok(vec![])
    }
    async fn ack(&self, _: &str) -> Result<(), PortError> {
        Ok(())
    }
    async fn retry_later(&self, _: &str, _: Duration) -> Result<(), PortError> {
        Ok(())
    }
    async fn dead_letter(&self, _: &Delivery, _: &str) -> Result<(), PortError> {
        Ok(())
    }
    async fn backlog(&self) -> Result<u64, PortError> {
        Err(PortError::unavailable("backlog", std::io::Error::other("queue down")))
    }
    async fn dead_letters(&self, _: u32) -> Result<Vec<DeadLetter>, PortError> {
        Ok(vec![])
    }
}

async fn a_queue_failure_answers_5xx_so_meta_retries(mut b: Backend) {
    b.queue = Arc::new(DownQueue);
    let p = Pipeline::new(b);
    let r = p.post_webhook(&fixture("webhooks/text.json")).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["code"], "queue_unavailable");
    assert!(!String::from_utf8_lossy(&r.body).contains(wabridge_tests::SECRET));
}

async fn the_query_api_answers_bad_requests_with_clear_json_errors(b: Backend) {
    let p = Pipeline::new(b);
    assert_eq!(p.post_webhook(&fixture("webhooks/text.json")).await.status, 200);
    p.drain(Duration::ZERO).await;
    let call = |path: &str, key: Option<&str>| {
        let mut req = http::Request::get(path);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        p.request(req.body(axum::body::Body::empty()).unwrap())
    };
    let long_cursor = format!("/v1/contacts?cursor={}", "A".repeat(wabridge::read::MAX_CURSOR_LEN + 1));
    for (path, key, status, code) in [
        (long_cursor.as_str(), Some(API_KEY), 400, "invalid_request"),
        ("/v1/conversations", None, 401, "unauthorized"),
        ("/v1/conversations", Some("wrong-key"), 401, "unauthorized"),
        ("/v1/conversations?limit=0", Some(API_KEY), 400, "invalid_request"),
        ("/v1/conversations?limit=201", Some(API_KEY), 400, "invalid_request"),
        ("/v1/conversations?limit=ten", Some(API_KEY), 400, "invalid_request"),
        (
            "/v1/conversations?cursor=garbage",
            Some(API_KEY),
            400,
            "invalid_request",
        ),
        (
            "/v1/contacts?cursor=eyJsIjoiY29udmVyc2F0aW9ucyIsImsiOiJ4In0",
            Some(API_KEY),
            400,
            "invalid_request",
        ),
        ("/v1/messages/wamid.DOES-NOT-EXIST", Some(API_KEY), 404, "not_found"),
        (
            "/v1/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV",
            Some(API_KEY),
            404,
            "not_found",
        ),
        ("/v1/messages/a%20b", Some(API_KEY), 400, "invalid_request"),
        ("/v1/contacts/27820000099", Some(API_KEY), 404, "not_found"),
        ("/v1/conversations/27820000099", Some(API_KEY), 404, "not_found"),
        ("/v1/nothing-here", Some(API_KEY), 404, "not_found"),
    ] {
        let r = call(path, key).await;
        assert_eq!(r.status, status, "{path}: {}", String::from_utf8_lossy(&r.body));
        let e = r.json();
        assert_eq!(e["error"]["code"], code, "{path}");
        assert!(
            e["error"]["message"].is_string() && e["error"].get("details").is_some(),
            "{path}: {e}"
        );
    }
    let health = call("/health", None).await;
    assert_eq!((health.status, health.json()["status"].clone()), (200, json!("ok")));
    let wrong_method = p
        .request(
            http::Request::delete("/v1/conversations")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.json()["error"]["code"], "method_not_allowed");
    // Rejections axum makes before any handler runs are JSON too: a body over the 6 MB limit.
    let huge = vec![b'x'; wabridge::api::MAX_BODY_BYTES + 1];
    let too_large = p.post_raw(&huge, Some("sha256=00")).await;
    assert_eq!(too_large.status, 413, "{}", String::from_utf8_lossy(&too_large.body));
    assert_eq!(too_large.content_type.as_deref(), Some("application/json"));
    assert_eq!(too_large.json()["error"]["code"], "payload_too_large");
    assert!(too_large.json()["error"]["message"].is_string());
    // And the happy path uses the cursor it was given.
    let first = call("/v1/contacts?limit=1", Some(API_KEY)).await.json();
    assert_eq!(first["data"].as_array().unwrap().len(), 1);
    assert_eq!(first["next_cursor"], Value::Null);
}

on_both_backends!(
    every_update_of_a_webhook_is_stored_and_queryable,
    the_same_webhook_delivered_three_times_also_concurrently_is_stored_once,
    statuses_reordered_across_webhooks_end_in_the_right_status,
    bad_missing_and_reserialised_signatures_are_refused_and_nothing_is_queued,
    the_subscription_handshake_answers_the_challenge_only_to_the_right_token,
    a_poison_record_is_dead_lettered_on_its_first_attempt_and_the_rest_are_stored,
    a_customer_known_only_by_user_id_is_stored_under_that_id,
    store_failures_mid_webhook_are_retried_without_double_counting,
    one_refused_update_does_not_take_the_webhook_with_it,
    a_crash_mid_batch_loses_nothing_and_doubles_nothing,
    a_body_over_the_queue_limit_travels_through_blob_storage,
    a_queue_failure_answers_5xx_so_meta_retries,
    the_query_api_answers_bad_requests_with_clear_json_errors,
);
