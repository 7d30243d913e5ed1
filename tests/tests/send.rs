//! Sending, end to end on both backends: `POST /v1/messages` → store → outbound queue → sender →
//! Graph API sandbox (a real HTTP server) → signed status webhooks → `read` in the query API. Faults
//! are injected at the sandbox and the store; each test counts what Meta received.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use wabridge::api::ApiError;
use wabridge::domain::MessageId;
use wabridge::inbound::lag::{LagConfig, LagMarker, LagWatch};
use wabridge::inbound::process::Processor;
use wabridge::outbound::enqueue::{Enqueuer, SendError};
use wabridge::outbound::request::validate;
use wabridge::outbound::sender::SenderConfig;
use wabridge::outbound::sweep::{SweepConfig, Sweeper};
use wabridge::ports::{Delivery, SystemClock};
use wabridge_infra::sandbox::{Fault, Template};
use wabridge_infra::simulate;
use wabridge_tests::rig::{PNI, Rig, fast_config};
use wabridge_tests::{API_KEY, Backend, FlakyQueue, Kind, api_gateway_request, enc, on_both_backends, on_both_kinds};

fn text(to: &str, body: &str) -> Value {
    json!({"to": to, "type": "text", "text": {"body": body}})
}

fn hello_world(to: &str) -> Value {
    json!({"to": to, "type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}})
}

async fn a_text_in_the_window_goes_out_once_and_reaches_read(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    rig.customer_writes("27820000001").await;
    let (code, answer) = rig
        .post("/v1/messages", &text("+27 82 000 0001", "Your order has shipped"), None)
        .await;
    assert_eq!(code, 202, "{answer}");
    assert_eq!(answer["status"], "queued");
    let id = answer["id"].as_str().unwrap().to_owned();
    let m = rig.wait(&id, |m| m["status"] == "read", 15).await;
    assert_eq!(
        (m["direction"].as_str(), m["type"].as_str(), m["wa_id"].as_str()),
        (Some("outbound"), Some("text"), Some("27820000001"))
    );
    assert!(m["wamid"].as_str().unwrap().starts_with("wamid.SANDBOX"));
    for s in ["sent", "delivered", "read"] {
        assert!(m["status_timestamps"][s].is_string(), "{s} kept: {m}");
    }
    assert_eq!(rig.sent_to(&id), 1, "Meta received it exactly once");
    let sent = rig
        .sandbox
        .accepted()
        .into_iter()
        .find(|r| r["biz_opaque_callback_data"] == id)
        .unwrap();
    assert_eq!(
        sent,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "27820000001", "type": "text",
               "text": {"body": "Your order has shipped"}, "biz_opaque_callback_data": id})
    );
    let by_wamid = rig.wait(m["wamid"].as_str().unwrap(), |_| true, 5).await;
    assert_eq!(by_wamid["id"], json!(id));
    let (_, conv) = rig.get("/v1/conversations/27820000001").await;
    assert_eq!(conv["last_message"]["id"], json!(id));
}

/// A caller's `biz_opaque_callback_data` goes to Meta after our id (which links the statuses), and
/// comes back on the message; the longest Meta allows in all is 512 characters.
async fn the_callers_callback_data_travels_with_our_id_and_comes_back_on_the_message(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    rig.customer_writes("27820000005").await;
    let mut body = text("27820000005", "Ticket 9 is resolved");
    body["biz_opaque_callback_data"] = json!("crm:ticket-9");
    let (code, answer) = rig.post("/v1/messages", &body, None).await;
    assert_eq!(code, 202, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    let m = rig.wait(&id, |m| m["status"] == "read", 15).await;
    assert_eq!(m["biz_opaque_callback_data"], "crm:ticket-9", "{m}");
    let sent = rig.sandbox.accepted();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["biz_opaque_callback_data"], format!("{id}:crm:ticket-9"));
    // Within Meta's 512 characters once our id is in front; one more is refused before storing.
    let mut longest = text("27820000005", "x");
    longest["biz_opaque_callback_data"] = json!("é".repeat(485));
    assert_eq!(rig.post("/v1/messages", &longest, None).await.0, 202);
    longest["biz_opaque_callback_data"] = json!("é".repeat(486));
    let (code, e) = rig.post("/v1/messages", &longest, None).await;
    assert_eq!(
        (code, e["error"]["details"][0]["field"].as_str()),
        (400, Some("biz_opaque_callback_data")),
        "{e}"
    );
    // A message without one shows null.
    let (_, plain) = rig.post("/v1/messages", &text("27820000005", "y"), None).await;
    let plain = rig
        .wait(plain["id"].as_str().unwrap(), |m| m["status"] == "read", 15)
        .await;
    assert_eq!(plain["biz_opaque_callback_data"], Value::Null);
}

async fn outside_the_window_only_templates_go(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    let (code, err) = rig.post("/v1/messages", &text("447700900123", "hi"), None).await;
    assert_eq!(code, 422);
    assert_eq!(err["error"]["code"], "window_closed");
    assert!(err["error"]["details"]["hint"].as_str().unwrap().contains("template"));
    let (code, answer) = rig.post("/v1/messages", &hello_world("447700900123"), None).await;
    assert_eq!(code, 202);
    rig.wait(answer["id"].as_str().unwrap(), |m| m["status"] == "read", 15)
        .await;
    assert!(
        rig.sandbox.accepted().iter().all(|r| r["type"] == "template"),
        "the refused text never reached Meta"
    );
}

async fn an_idempotency_key_replays_the_first_answer_and_refuses_a_different_body(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    let body = hello_world("447700900124");
    let (c1, a1) = rig.post("/v1/messages", &body, Some("order-77-confirmation")).await;
    let (c2, a2) = rig.post("/v1/messages", &body, Some("order-77-confirmation")).await;
    assert_eq!((c1, c2), (202, 202));
    assert_eq!(a1, a2, "the same answer, the same id");
    let (c3, a3) = rig
        .post(
            "/v1/messages",
            &hello_world("447700900125"),
            Some("order-77-confirmation"),
        )
        .await;
    assert_eq!(c3, 409, "{a3}");
    assert_eq!(a3["error"]["code"], "idempotency_conflict");
    let id = a1["id"].as_str().unwrap();
    rig.wait(id, |m| m["status"] == "read", 15).await;
    assert_eq!(rig.sandbox.accepted().len(), 1, "sent once");
    // Another key, or none, is another message.
    let (c4, a4) = rig.post("/v1/messages", &body, Some("another-key")).await;
    assert_eq!(c4, 202);
    assert_ne!(a4["id"], a1["id"]);
}

async fn throttling_server_errors_and_timeouts_are_retried_until_sent_once(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    rig.sandbox.inject([
        Fault::TooManyRequests,
        Fault::ServerError,
        Fault::Code(130429),
        Fault::Code(131056),
        Fault::Code(131000),
        Fault::TimeoutBeforeAccept(Duration::from_millis(1500)),
    ]);
    let (code, answer) = rig.post("/v1/messages", &hello_world("447700900126"), None).await;
    assert_eq!(code, 202);
    let id = answer["id"].as_str().unwrap().to_owned();
    rig.wait(&id, |m| m["status"] == "read", 30).await;
    assert_eq!(
        rig.sent_to(&id),
        1,
        "every fault was before Meta accepted it: exactly one accepted send"
    );
}

async fn a_timeout_after_meta_accepted_is_not_sent_twice(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    rig.sandbox
        .inject([Fault::TimeoutAfterAccept(Duration::from_millis(1500))]);
    let (_, answer) = rig.post("/v1/messages", &hello_world("447700900127"), None).await;
    let id = answer["id"].as_str().unwrap().to_owned();
    let m = rig.wait(&id, |m| m["status"] == "read", 20).await;
    // Past the re-check: had the sender resent, the sandbox would have a second request.
    tokio::time::sleep(fast_config().recheck_after + Duration::from_millis(500)).await;
    assert_eq!(
        rig.sent_to(&id),
        1,
        "linked through the status webhook's callback data, not resent"
    );
    assert!(m["wamid"].as_str().is_some());
}

/// A 502 with no Graph body may come from a gateway after Meta accepted: it is not retried as if
/// unsent, but waits for the status that proves Meta has it.
async fn a_bad_gateway_after_meta_accepted_is_not_sent_twice(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    rig.sandbox.inject([Fault::BadGatewayAfterAccept]);
    let (_, answer) = rig.post("/v1/messages", &hello_world("447700900128"), None).await;
    let id = answer["id"].as_str().unwrap().to_owned();
    let m = rig.wait(&id, |m| m["status"] == "read", 20).await;
    tokio::time::sleep(fast_config().recheck_after + Duration::from_millis(500)).await;
    assert_eq!(rig.sent_to(&id), 1, "the 502 was ambiguous, and the status settled it");
    assert!(m["wamid"].as_str().is_some());
}

/// With two business numbers, a customer who wrote to one has opened no window with the other.
async fn a_window_with_one_business_number_does_not_open_another(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    rig.customer_writes("27820000014").await;
    let mut from_other = text("27820000014", "from the other number");
    from_other["phone_number_id"] = json!("100000000000002");
    let (code, refused) = rig.post("/v1/messages", &from_other, None).await;
    assert_eq!(code, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "window_closed");
    let (code, a) = rig
        .post(
            "/v1/messages",
            &text("27820000014", "from the number they wrote to"),
            None,
        )
        .await;
    assert_eq!(code, 202, "{a}");
    rig.wait(a["id"].as_str().unwrap(), |m| m["status"] == "read", 15).await;
}

/// Meta took the message but its answer and its statuses are lost in an incident: once the attempts
/// are used up the message is failed `outcome_unknown`, never sent blind; the status that arrives
/// later proves Meta had it and brings it back.
async fn an_unanswered_last_attempt_ends_outcome_unknown_and_a_late_status_revives_it(b: Backend) {
    let config = SenderConfig {
        max_attempts: 1,
        ..fast_config()
    };
    let rig = Rig::start(b, config, vec![]).await;
    rig.sandbox.hold_statuses();
    rig.sandbox
        .inject([Fault::TimeoutAfterAccept(Duration::from_millis(1500))]);
    let (_, answer) = rig.post("/v1/messages", &hello_world("447700900129"), None).await;
    let id = answer["id"].as_str().unwrap().to_owned();
    let m = rig.wait(&id, |m| m["status"] == "failed", 20).await;
    assert_eq!(m["error"]["title"], wabridge::outbound::sender::OUTCOME_UNKNOWN, "{m}");
    assert_eq!(rig.sent_to(&id), 1, "not sent blind a second time");
    rig.sandbox.release_statuses();
    let m = rig.wait(&id, |m| m["status"] == "read", 20).await;
    assert!(m["wamid"].as_str().is_some_and(|w| w.starts_with("wamid.")), "{m}");
    assert!(
        m["error"].is_null(),
        "the guess is gone once Meta's status proves it: {m}"
    );
    assert_eq!(rig.sent_to(&id), 1);
}

/// A template send to `to` that stored its message and crashed before queueing the record.
async fn stored_but_never_queued(rig: &Rig, to: &str) -> MessageId {
    let store = rig.backend.store.clone();
    let down = Arc::new(FlakyQueue::new(rig.backend.outbound.clone(), 1));
    let crashing = rig.app.enqueuer(store.clone(), store, down, Some(PNI.into()));
    let id = MessageId::new();
    let cmd = validate(&hello_world(to)).unwrap();
    assert!(matches!(
        crashing.enqueue_as(id, &cmd).await,
        Err(SendError::QueueUnavailable(_))
    ));
    id
}

/// A send that stored its message and crashed before queueing the record: the sweep finds it and
/// puts it on the queue, it goes out once, and a second sweep leaves it alone.
async fn a_message_stored_but_never_queued_is_swept_onto_the_queue_and_sent_once(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    let store = rig.backend.store.clone();
    let id = stored_but_never_queued(&rig, "447700900130").await;
    let sweep = SweepConfig {
        stranded_after: Duration::from_millis(500),
        ..SweepConfig::default()
    };
    let sweeper = Sweeper::new(
        store.clone(),
        rig.backend.outbound.clone(),
        Arc::new(SystemClock),
        sweep,
    );
    assert_eq!(sweeper.sweep().await.unwrap().requeued, 0, "not stranded yet");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(rig.get(&format!("/v1/messages/{id}")).await.1["status"], "queued");
    assert_eq!(sweeper.sweep().await.unwrap().requeued, 1);
    assert_eq!(sweeper.sweep().await.unwrap().requeued, 0, "just re-queued: left alone");
    rig.wait(&id.to_string(), |m| m["status"] == "read", 20).await;
    assert_eq!(rig.sent_to(&id.to_string()), 1);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        sweeper.sweep().await.unwrap().requeued,
        0,
        "sent messages are never swept"
    );
}

/// The `wa_id` of every conversation, newest activity first.
async fn conversation_keys(rig: &Rig) -> Vec<String> {
    let (_, page) = rig.get("/v1/conversations").await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["wa_id"].as_str().map(str::to_owned))
        .collect()
}

/// A customer WhatsApp knows by one form of a number (Brazil's without the ninth digit, Mexico's
/// with `521`) is sent to in the other, as a CRM writes it: the send finds the customer's window,
/// goes to the form Meta knows, and lands in the customer's own conversation, not a new one.
async fn a_number_written_in_its_other_form_reaches_the_customers_own_conversation(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    for (known, written) in [
        ("551187654321", "+55 11 98765-4321"),
        ("5215512345678", "+52 55 1234 5678"),
    ] {
        rig.customer_writes(known).await;
        let (code, a) = rig.post("/v1/messages", &text(written, "hello"), None).await;
        assert_eq!(code, 202, "the window is the customer's: {a}");
        let id = a["id"].as_str().unwrap().to_owned();
        rig.wait(&id, |m| m["status"] == "read", 20).await;
        let (_, page) = rig.get(&format!("/v1/conversations/{known}/messages")).await;
        assert!(
            page["data"].as_array().unwrap().iter().any(|m| m["id"] == id.as_str()),
            "in the customer's conversation: {page}"
        );
        let keys = conversation_keys(&rig).await;
        assert_eq!(
            keys.iter().filter(|k| k.starts_with(&known[..4])).count(),
            1,
            "no second conversation: {keys:?}"
        );
        let sent = rig.sandbox.accepted();
        assert!(
            sent.iter().any(|r| r["to"] == known),
            "sent to the form Meta knows: {sent:?}"
        );
    }
}

/// A first message to a number in the form WhatsApp does not key the customer by: Meta answers
/// with the form it does (`contacts[0].wa_id`), the message moves to that customer, and when the
/// customer replies from it there is one conversation holding both, none left under the form we
/// wrote; the next send written the same way goes straight to the known form.
async fn a_first_send_follows_the_number_whatsapp_resolves(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    let (written, known) = ("5511987654321", "551187654321");
    rig.sandbox.known_as(written, known);
    let (code, a) = rig.post("/v1/messages", &hello_world("+55 11 98765-4321"), None).await;
    assert_eq!(code, 202, "{a}");
    let first = a["id"].as_str().unwrap().to_owned();
    // The statuses and the move to the resolved form land independently: wait for both.
    let m = rig
        .wait(&first, |m| m["status"] == "read" && m["wa_id"] == known, 20)
        .await;
    assert_eq!(m["wa_id"], known, "the message follows the resolved form: {m}");
    let (_, left) = rig.get(&format!("/v1/conversations/{written}/messages")).await;
    assert!(
        left["data"].as_array().is_none_or(Vec::is_empty),
        "nothing left under the written form: {left}"
    );
    rig.customer_writes(known).await;
    let (code, a) = rig.post("/v1/messages", &text(written, "thanks"), None).await;
    assert_eq!(code, 202, "the customer's window is found: {a}");
    let second = a["id"].as_str().unwrap().to_owned();
    rig.wait(&second, |m| m["status"] == "read", 20).await;
    let (_, page) = rig.get(&format!("/v1/conversations/{known}/messages")).await;
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "outbound")
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [first.as_str(), second.as_str()],
        "both sends in the customer's conversation: {page}"
    );
    assert_eq!(conversation_keys(&rig).await, [known], "one conversation");
    let sent = rig.sandbox.accepted();
    assert_eq!(sent[1]["to"], known, "the second send goes to the known form: {sent:?}");
}

/// An attempt Graph never answered, whose status is stuck in an inbound backlog (the processor is
/// down): past the re-check the sender does not resend, because the status may be in that backlog.
/// Once the processor catches up the status arrives, and the customer got the message once.
async fn a_resend_waits_while_inbound_webhooks_are_behind(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    rig.pause_inbound(true);
    rig.sandbox
        .inject([Fault::TimeoutAfterAccept(Duration::from_millis(1500))]);
    let (_, answer) = rig.post("/v1/messages", &hello_world("447700900132"), None).await;
    let id = answer["id"].as_str().unwrap().to_owned();
    // Three re-check periods: without the check it would have been sent again by now.
    tokio::time::sleep(fast_config().recheck_after * 3).await;
    assert_eq!(rig.sent_to(&id), 1, "no resend while the status may be waiting");
    let (_, m) = rig.get(&format!("/v1/messages/{id}")).await;
    assert_eq!(m["status"], "sending", "{m}");
    assert!(rig.backend.queue.backlog().await.unwrap() > 0);
    rig.pause_inbound(false);
    let m = rig.wait(&id, |m| m["status"] == "read", 20).await;
    assert!(m["error"].is_null(), "{m}");
    tokio::time::sleep(fast_config().recheck_after).await;
    assert_eq!(rig.sent_to(&id), 1);
}

/// The processor's marks and the sender's question before a resend, at each corner: an empty
/// queue is current; a backlog is current only while the processor has reported within the
/// freshness limit and was then closer behind than the re-check. Marks are written at most every
/// `mark_every`, with the oldest record of the batch.
async fn inbound_is_current_only_while_the_processor_keeps_up(kind: Kind) {
    let t0 = 1_763_800_000_000;
    let clock = wabridge_tests::ManualClock::at(t0);
    let b = Backend::at(kind, clock.clone()).await;
    let lag = LagConfig {
        mark_every: Duration::from_secs(10),
        fresh_within: Duration::from_secs(60),
    };
    let marker = LagMarker::new(b.store.clone(), clock.clone(), lag);
    let watch = LagWatch::new(b.queue.clone(), b.store.clone(), clock.clone(), lag);
    let recheck = Duration::from_secs(300);
    let behind = || async { watch.behind(recheck).await.unwrap() };
    let delivery = |sent_ms: i64| Delivery {
        id: sent_ms.to_string(),
        body: String::new(),
        receive_count: 1,
        receipt: String::new(),
        sent_ms: Some(sent_ms),
    };

    assert_eq!(behind().await, None, "nothing waits");
    b.queue.send("a webhook").await.unwrap();
    assert!(behind().await.is_some_and(|w| w.contains("not reported")));

    // A batch 20 s behind, reported now: current for a 5-minute re-check.
    marker.processed(&[delivery(t0 - 5_000), delivery(t0 - 20_000)]).await;
    let mark = b.store.inbound_mark().await.unwrap().unwrap();
    assert_eq!((mark.at_ms, mark.oldest_sent_ms), (t0, t0 - 20_000));
    assert_eq!(behind().await, None);

    // A batch 10 minutes behind within `mark_every` is not written; after it, it is.
    clock.advance(Duration::from_secs(5));
    marker.processed(&[delivery(t0 - 600_000)]).await;
    assert_eq!(b.store.inbound_mark().await.unwrap(), Some(mark), "at most every 10 s");
    clock.advance(Duration::from_secs(5));
    marker.processed(&[delivery(t0 - 600_000)]).await;
    assert!(behind().await.is_some_and(|w| w.contains("610 s behind")));

    // The processor stops reporting while webhooks wait: not current, however small its last lag.
    clock.advance(Duration::from_secs(10));
    marker.processed(&[delivery(t0 + 19_000)]).await;
    assert_eq!(behind().await, None);
    clock.advance(Duration::from_secs(61));
    assert!(behind().await.is_some_and(|w| w.contains("last reported 61 s ago")));
}

/// A message whose queue record is dead-lettered every time it is queued is re-queued by the sweep
/// a bounded number of times, then ends `failed` as stranded, saying why; it is never sent, and
/// later sweeps leave it alone instead of cycling it between the queue and its dead-letter queue.
async fn a_message_whose_record_keeps_being_dead_lettered_ends_failed_not_cycling(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    let id = stored_but_never_queued(&rig, "447700900131").await;
    let clock = wabridge_tests::ManualClock::at(chrono::Utc::now().timestamp_millis());
    let sweep = SweepConfig {
        max_requeues: 2,
        ..SweepConfig::default()
    };
    let dead_lettering = Arc::new(FlakyQueue::losing(rig.backend.outbound.clone()));
    let sweeper = Sweeper::new(rig.backend.store.clone(), dead_lettering.clone(), clock.clone(), sweep);
    let after_the_horizon = sweep.stranded_after + Duration::from_secs(60);
    for round in 1..=2 {
        clock.advance(after_the_horizon);
        let report = sweeper.sweep().await.unwrap();
        assert_eq!((report.requeued, report.given_up), (1, 0), "round {round}");
    }
    // While other records wait on the queue, one of this message may be among them: not yet.
    dead_lettering.report_backlog(Some(5));
    clock.advance(after_the_horizon);
    let report = sweeper.sweep().await.unwrap();
    assert_eq!((report.requeued, report.given_up), (1, 0), "a backlog defers giving up");
    dead_lettering.report_backlog(None);
    clock.advance(after_the_horizon);
    let report = sweeper.sweep().await.unwrap();
    assert_eq!((report.requeued, report.given_up), (0, 1));
    let (_, m) = rig.get(&format!("/v1/messages/{id}")).await;
    assert_eq!(m["status"], "failed", "{m}");
    assert_eq!(m["error"]["title"], wabridge::outbound::sweep::STRANDED, "{m}");
    assert!(
        m["error"]["details"].as_str().is_some_and(|d| d.contains("4 times")),
        "{m}"
    );
    clock.advance(after_the_horizon);
    assert_eq!(sweeper.sweep().await.unwrap(), Default::default(), "failed is final");
    assert_eq!(rig.sent_to(&id.to_string()), 0);
}

async fn permanent_errors_fail_with_their_code_and_131047_closes_the_window(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    rig.customer_writes("27820000011").await;
    rig.customer_writes("27820000012").await;
    rig.sandbox.fail_recipient("27820000011", 131026);
    rig.sandbox.fail_recipient("27820000012", 131047);
    let (_, a) = rig.post("/v1/messages", &text("27820000011", "x"), None).await;
    let m = rig
        .wait(a["id"].as_str().unwrap(), |m| m["status"] == "failed", 15)
        .await;
    assert_eq!(
        (m["error"]["code"].as_i64(), m["error"]["title"].as_str()),
        (Some(131026), Some("Message undeliverable"))
    );
    let (_, a) = rig.post("/v1/messages", &text("27820000012", "x"), None).await;
    let m = rig
        .wait(a["id"].as_str().unwrap(), |m| m["status"] == "failed", 15)
        .await;
    assert_eq!(m["error"]["code"], 131047);
    let (_, conv) = rig.get("/v1/conversations/27820000012").await;
    assert_eq!(conv["window_open"], false, "Meta said the window is closed: {conv}");
    let (code, _) = rig.post("/v1/messages", &text("27820000012", "again"), None).await;
    assert_eq!(code, 422);
    // Template sends are checked against our copy before they are queued (tests/tests/templates.rs);
    // what Meta still refuses is recorded with Meta's code.
    let bad_template = json!({"to": "27820000013", "type": "template", "template": {"name": "no_such", "language": {"code": "en_US"}}});
    let (code, e) = rig.post("/v1/messages", &bad_template, None).await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (422, Some("template_not_found")),
        "{e}"
    );
    rig.sandbox.fail_recipient("27820000014", 132001);
    let (_, a) = rig.post("/v1/messages", &hello_world("27820000014"), None).await;
    let m = rig
        .wait(a["id"].as_str().unwrap(), |m| m["status"] == "failed", 15)
        .await;
    assert_eq!(m["error"]["code"], 132001, "Meta's template error is kept");
    rig.sandbox.add_template(
        "order_update",
        "en_US",
        Template {
            status: "APPROVED".into(),
            body_params: 2,
        },
    );
    let (code, synced) = rig.post("/v1/templates/sync", &json!({}), None).await;
    assert_eq!(code, 200, "{synced}");
    let one_param = json!({"to": "27820000013", "type": "template", "template": {"name": "order_update", "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ayanda"}]}]}});
    let (code, e) = rig.post("/v1/messages", &one_param, None).await;
    assert_eq!(
        (code, e["error"]["details"][0]["field"].as_str()),
        (400, Some("template.components.body")),
        "{e}"
    );
    assert!(rig.sandbox.accepted().is_empty());
}

async fn retries_that_run_out_end_failed_with_the_last_error(b: Backend) {
    let config = SenderConfig {
        max_attempts: 3,
        ..fast_config()
    };
    let rig = Rig::start(b, config, vec![]).await;
    rig.sandbox.inject([
        Fault::Code(131000),
        Fault::Code(131000),
        Fault::Code(131016),
        Fault::Code(131000),
    ]);
    let (_, a) = rig.post("/v1/messages", &hello_world("447700900128"), None).await;
    let m = rig
        .wait(a["id"].as_str().unwrap(), |m| m["status"] == "failed", 15)
        .await;
    assert_eq!(m["error"]["code"], 131016, "the last error is kept");
    assert!(rig.sandbox.accepted().is_empty());
}

async fn a_sender_crash_mid_batch_loses_nothing_and_sends_nothing_twice(b: Backend) {
    // A store failure after Graph accepted (recording the wamid fails) is a crash at the worst moment.
    let rig = Rig::start(b, fast_config(), vec![2, 9]).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let (code, a) = rig
            .post("/v1/messages", &hello_world(&format!("4477009002{i:02}")), None)
            .await;
        assert_eq!(code, 202);
        ids.push(a["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        rig.wait(id, |m| m["status"] == "read", 30).await;
    }
    tokio::time::sleep(fast_config().recheck_after + Duration::from_millis(500)).await;
    for id in &ids {
        assert_eq!(rig.sent_to(id), 1, "{id} sent exactly once");
    }
}

/// The Graph body of a read receipt that also shows the typing indicator.
fn read_with_typing(wamid: &str) -> Value {
    json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid, "typing_indicator": {"type": "text"}})
}

async fn read_receipts_mark_the_customers_message_read_with_typing(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    rig.customer_writes("27820000021").await;
    let (_, page) = rig.get("/v1/conversations/27820000021/messages").await;
    let wamid = page["data"][0]["wamid"].as_str().unwrap().to_owned();
    let (code, a) = rig
        .post(
            &format!("/v1/messages/{}/read", enc(&wamid)),
            &json!({"typing_indicator": true}),
            None,
        )
        .await;
    assert_eq!(code, 200, "{a}");
    assert_eq!(rig.sandbox.reads(), vec![read_with_typing(&wamid)]);
}

/// A frontend clears unread: marking one message read counts only what came after it, marking
/// the conversation read clears it and tells Meta about the newest message; a customer never
/// seen is a 404.
async fn marking_read_clears_the_conversations_unread(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    let c = "27820000022";
    let wamids: Vec<String> = (0..3).map(|_| simulate::new_wamid()).collect();
    let now = chrono::Utc::now().timestamp();
    for (i, w) in (0..).zip(&wamids) {
        rig.customer_writes_at(c, w, now - 3 + i).await;
    }
    let unread = || async {
        let (_, conv) = rig.get(&format!("/v1/conversations/{c}")).await;
        (conv["unread"].clone(), conv["unread_more"].clone())
    };
    assert_eq!(unread().await, (json!(3), json!(false)));
    let (code, a) = rig
        .post(&format!("/v1/messages/{}/read", enc(&wamids[0])), &json!({}), None)
        .await;
    assert_eq!(code, 200, "{a}");
    assert_eq!(unread().await.0, json!(2), "the two after it");
    let (code, a) = rig.post(&format!("/v1/conversations/{c}/read"), &json!({}), None).await;
    assert_eq!(code, 200, "{a}");
    assert_eq!(a["message_id"], wamids[2].as_str(), "the newest is marked: {a}");
    assert_eq!(unread().await.0, json!(0));
    let last = rig.sandbox.reads().last().cloned().unwrap();
    assert_eq!(
        last["message_id"],
        wamids[2].as_str(),
        "Meta hears of the newest: {last}"
    );
    let (code, e) = rig.post("/v1/conversations/27820000999/read", &json!({}), None).await;
    assert_eq!((code, e["error"]["code"].as_str()), (404, Some("not_found")), "{e}");
    let (code, e) = rig
        .post("/v1/conversations/not%20a%20number/read", &json!({}), None)
        .await;
    assert_eq!(code, 400, "{e}");
}

/// API Gateway hands the function a path with `%2F` already decoded to `/`, so a wamid holding `/`
/// cannot travel in a path there. The query and body forms carry any wamid; each event here is what
/// API Gateway (payload 2.0) delivers, decoded by `lambda_http` as in the deployed function.
async fn wamids_with_a_slash_are_read_and_marked_read_through_api_gateway(b: Backend) {
    const WAMID: &str = "wamid.HBgLMjc4MjAwMDAwMzEVAgASGBQzRUIw/Rk+QUE4RkYyQzE=";
    let rig = Rig::start(b, fast_config(), vec![]).await;
    rig.customer_writes_wamid("27820000031", WAMID).await;

    let (code, m) = rig
        .replay(api_gateway_request("lambda/apigw-v2-get-message-by-wamid.json"))
        .await;
    assert_eq!((code, m["wamid"].as_str()), (200, Some(WAMID)), "{m}");
    // The path form reaches the router with the slash decoded: a JSON 404, never a wrong message.
    let (code, e) = rig
        .replay(api_gateway_request("lambda/apigw-v2-get-message-decoded-slash.json"))
        .await;
    assert_eq!((code, e["error"]["code"].as_str()), (404, Some("not_found")), "{e}");
    // A `+` the caller forgot to percent-encode arrives as a space; a wamid never has one.
    let (code, m) = rig
        .get(&format!("/v1/messages?wamid={}", WAMID.replace('/', "%2F")))
        .await;
    assert_eq!((code, m["wamid"].as_str()), (200, Some(WAMID)), "{m}");
    for bad in ["/v1/messages", "/v1/messages?wamid=a%20%00", "/v1/messages?id=nope"] {
        let (code, e) = rig.get(bad).await;
        assert_eq!(
            (code, e["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{bad}: {e}"
        );
    }

    let (code, a) = rig
        .replay(api_gateway_request("lambda/apigw-v2-post-read-by-body.json"))
        .await;
    assert_eq!(code, 200, "{a}");
    assert_eq!(rig.sandbox.reads(), vec![read_with_typing(WAMID)]);
    let (code, e) = rig
        .post("/v1/messages/read", &json!({"typing_indicator": true}), None)
        .await;
    assert_eq!(
        (code, e["error"]["details"][0]["field"].as_str()),
        (400, Some("message_id")),
        "{e}"
    );
}

async fn bad_sends_get_field_errors_and_nothing_is_stored_or_sent(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    for (body, code) in [
        (
            json!({"to": "12345", "type": "text", "text": {"body": "x"}}),
            "invalid_phone_number",
        ),
        (
            json!({"to": "27820000001", "type": "hologram", "hologram": {}}),
            "unsupported_type",
        ),
        (
            json!({"to": "27820000001", "type": "text", "text": {"body": "x".repeat(4097)}}),
            "validation_failed",
        ),
        (
            json!({"to": "27820000001", "type": "image", "image": {"link": "http://insecure.example/a.jpg"}}),
            "validation_failed",
        ),
        // A business-scoped id becomes a storage key: malformed ones stop here, not at the store.
        (
            json!({"recipient": "US.12 34", "type": "text", "text": {"body": "x"}}),
            "validation_failed",
        ),
        (
            json!({"recipient": "US.12/34", "type": "text", "text": {"body": "x"}}),
            "validation_failed",
        ),
        (
            json!({"recipient": "US.12\u{7}34", "type": "text", "text": {"body": "x"}}),
            "validation_failed",
        ),
    ] {
        let (status, err) = rig.post("/v1/messages", &body, None).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(err["error"]["code"], code, "{err}");
        assert!(
            err["error"]["details"].as_array().is_some_and(|d| !d.is_empty()),
            "{err}"
        );
    }
    let res = rig
        .http
        .post(format!("{}/v1/messages", rig.base))
        .bearer_auth(API_KEY)
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "invalid_json", "{err}");
    let res = rig
        .http
        .post(format!("{}/v1/messages", rig.base))
        .bearer_auth(API_KEY)
        .body(vec![b' '; wabridge::api::MAX_V1_BODY_BYTES + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 413, "a message never needs more than 64 KiB");
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "payload_too_large", "{err}");
    // The largest text WhatsApp takes, in 4-byte characters, is well inside the cap.
    let (status, err) = rig
        .post("/v1/messages", &text("27820000001", &"😀".repeat(4096)), None)
        .await;
    assert_eq!(status, 422, "outside the window, but not refused for its size: {err}");
    assert_eq!(err["error"]["code"], "window_closed", "{err}");
    let unauth = rig
        .http
        .post(format!("{}/v1/messages", rig.base))
        .json(&hello_world("27820000001"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status().as_u16(), 401);
    let (_, convs) = rig.get("/v1/conversations").await;
    assert_eq!(convs["data"], json!([]), "nothing stored");
    assert!(rig.sandbox.accepted().is_empty());
}

async fn the_window_is_open_until_24_hours_after_the_customers_last_message(b: Backend) {
    let t = 1_763_800_000_000;
    let body = simulate::inbound(
        PNI,
        "27820000041",
        "C",
        "wamid.WINDOW",
        t / 1000,
        "text",
        json!({"body": "hi"}),
    );
    let processor = Processor::new(
        b.store.clone(),
        b.store.clone(),
        b.blobs.clone(),
        wabridge_tests::ManualClock::at(t),
    );
    processor.apply(&serde_json::to_vec(&body).unwrap()).await.unwrap();
    let at = |now: i64| {
        Enqueuer::new(
            b.store.clone(),
            b.store.clone(),
            b.outbound.clone(),
            wabridge_tests::ManualClock::at(now),
            Some(PNI.into()),
        )
    };
    let msg = validate(&text("27820000041", "still open?")).unwrap();
    let day = 24 * 3600 * 1000;
    at(t + day - 1).enqueue(&msg).await.unwrap();
    let at_expiry = at(t + day).enqueue(&msg).await.unwrap_err();
    assert!(
        matches!(at_expiry, SendError::WindowClosed { window_expires_at: Some(e) } if e == t + day),
        "{at_expiry:?}"
    );
    let answer = ApiError::from(at_expiry);
    assert_eq!(answer.status().as_u16(), 422);
    assert_eq!(
        answer.body()["error"]["details"]["window_expires_at"],
        "2025-11-23T08:26:40Z"
    );
    let template = validate(&hello_world("27820000041")).unwrap();
    at(t + 10 * day).enqueue(&template).await.expect("templates always go");
}

on_both_backends!(
    the_window_is_open_until_24_hours_after_the_customers_last_message,
    a_text_in_the_window_goes_out_once_and_reaches_read,
    outside_the_window_only_templates_go,
    an_idempotency_key_replays_the_first_answer_and_refuses_a_different_body,
    throttling_server_errors_and_timeouts_are_retried_until_sent_once,
    a_timeout_after_meta_accepted_is_not_sent_twice,
    a_bad_gateway_after_meta_accepted_is_not_sent_twice,
    permanent_errors_fail_with_their_code_and_131047_closes_the_window,
    a_window_with_one_business_number_does_not_open_another,
    an_unanswered_last_attempt_ends_outcome_unknown_and_a_late_status_revives_it,
    a_message_stored_but_never_queued_is_swept_onto_the_queue_and_sent_once,
    a_message_whose_record_keeps_being_dead_lettered_ends_failed_not_cycling,
    a_resend_waits_while_inbound_webhooks_are_behind,
    a_number_written_in_its_other_form_reaches_the_customers_own_conversation,
    a_first_send_follows_the_number_whatsapp_resolves,
    retries_that_run_out_end_failed_with_the_last_error,
    a_sender_crash_mid_batch_loses_nothing_and_sends_nothing_twice,
    read_receipts_mark_the_customers_message_read_with_typing,
    marking_read_clears_the_conversations_unread,
    bad_sends_get_field_errors_and_nothing_is_stored_or_sent,
    wamids_with_a_slash_are_read_and_marked_read_through_api_gateway,
    the_callers_callback_data_travels_with_our_id_and_comes_back_on_the_message,
);

on_both_kinds!(inbound_is_current_only_while_the_processor_keeps_up,);
