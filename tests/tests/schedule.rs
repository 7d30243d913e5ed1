//! Scheduled work on both backends, on a manual clock. Reminders: each offset's template goes out
//! at its time and once, whatever the ticks overlapping, a crash mid-tick, a cancel or a move.
//! Sequences: each step after the one before, stopped by the customer's reply, a free-form step
//! skipped while the window is closed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use wabridge::api::{self, ApiKeys};
use wabridge::app::{App, Numbers, Settings};
use wabridge::domain::CustomerKey;
use wabridge::ports::Walk;
use wabridge::schedule::reminder::Reminder;
use wabridge::schedule::send::SendStatus;
use wabridge::schedule::{Scheduler, send_id};
use wabridge_tests::secrecy::SecretString;
use wabridge_tests::{Backend, Kind, ManualClock, on_both_kinds};

/// 2025-11-22 08:00 UTC.
const T0: i64 = 1_763_798_400_000;
const HOUR: i64 = 3_600_000;
const CUSTOMER: &str = "27820000001";

struct World {
    clock: Arc<ManualClock>,
    backend: Backend,
    app: App,
}

impl World {
    async fn new(kind: Kind) -> Self {
        let clock = ManualClock::at(T0);
        let backend = Backend::at(kind, clock.clone()).await;
        let app = App::new(Settings::for_tests(), clock.clone());
        Self { clock, backend, app }
    }

    fn numbers() -> Numbers {
        Numbers {
            phone_number_id: Some("100000000000001".into()),
            waba_id: None,
        }
    }

    /// A scheduler that ticks (one of possibly several over the same store).
    fn scheduler(&self) -> Scheduler {
        self.app.scheduler(
            self.backend.store.clone(),
            Some(self.backend.outbound.clone()),
            &Self::numbers(),
        )
    }

    fn at(&self, ms: i64) {
        self.clock.set(ms);
    }

    /// Our messages to the customer, oldest first: what the sender would send.
    async fn sent(&self) -> Vec<Value> {
        let walk = Walk {
            lo: "",
            hi: "~",
            newest_first: false,
            limit: 100,
            ours_only: true,
        };
        let msgs = self
            .backend
            .store
            .timeline(&CustomerKey::parse(CUSTOMER).unwrap(), walk)
            .await
            .unwrap();
        msgs.iter().map(|m| m.content.value()).collect()
    }
}

impl World {
    /// The customer writes at `ts_ms`, which opens the window.
    async fn customer_writes(&self, wamid: &str, ts_ms: i64) {
        let body = wabridge_infra::simulate::inbound(
            "100000000000001",
            CUSTOMER,
            "Ayanda",
            wamid,
            ts_ms / 1000,
            "text",
            json!({"body": "hi"}),
        );
        let updates = wabridge::inbound::webhook::split(&serde_json::to_vec(&body).unwrap(), 0).unwrap();
        let wabridge::inbound::webhook::Update::Message(m) = &updates[0] else {
            panic!("{updates:?}")
        };
        self.backend.store.record_inbound(m).await.unwrap();
    }
}

fn sequence_body() -> Value {
    json!({"to": CUSTOMER, "steps": [
        {"delay_s": 0, "message": {"type": "text", "text": {"body": "Thanks for your order"}}},
        {"delay_s": 3600, "message": {"type": "text", "text": {"body": "How did it go?"}}},
        {"delay_s": 86400, "message": {"type": "template", "template": {"name": "review", "language": {"code": "en"}}}}
    ]})
}

fn steps(view: &Value) -> Vec<&str> {
    view["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect()
}

/// Each step goes the delay after the one before; the customer's reply stops what is left.
async fn a_sequence_steps_after_each_send_and_stops_when_the_customer_replies(kind: Kind) {
    let w = World::new(kind).await;
    let s = w.scheduler();
    w.customer_writes("wamid.SEQ0", T0 - HOUR).await;
    let (view, created) = s.create_sequence(&sequence_body()).await.unwrap();
    assert!(created);
    assert_eq!(view["status"], "running");
    let id = view["id"].as_str().unwrap().to_owned();
    w.at(T0 + 10_000);
    assert_eq!(s.tick().await.unwrap().queued, 1);
    let view = s.sequence(&id).await.unwrap().unwrap();
    assert_eq!(steps(&view), ["queued", "scheduled", "scheduled"]);
    assert_eq!(
        view["steps"][1]["due_at"].as_str(),
        wabridge::timefmt::rfc3339(T0 + 10_000 + HOUR).as_deref(),
        "due an hour after the first went out"
    );
    w.at(T0 + HOUR);
    assert_eq!(s.tick().await.unwrap().queued, 0, "not yet");
    // The customer answers before the second step.
    w.customer_writes("wamid.SEQ1", T0 + HOUR).await;
    w.at(T0 + 2 * HOUR);
    assert_eq!(s.tick().await.unwrap().queued, 0);
    let view = s.sequence(&id).await.unwrap().unwrap();
    assert_eq!(view["status"], "stopped");
    assert_eq!(steps(&view), ["queued", "cancelled", "cancelled"]);
    assert_eq!(w.sent().await.len(), 1);
    w.at(T0 + 48 * HOUR);
    assert_eq!(s.tick().await.unwrap().queued, 0, "nothing after the stop");
}

/// With the window closed a free-form step is skipped (`window_closed`) and the next, a
/// template, still goes.
async fn a_free_form_step_outside_the_window_is_skipped_and_a_template_step_goes(kind: Kind) {
    let w = World::new(kind).await;
    let s = w.scheduler();
    let mut body = sequence_body();
    body["steps"] = json!([
        {"delay_s": 0, "message": {"type": "text", "text": {"body": "free form"}}},
        {"delay_s": 60, "message": {"type": "template", "template": {"name": "review", "language": {"code": "en"}}}}
    ]);
    let (view, _) = s.create_sequence(&body).await.unwrap();
    let id = view["id"].as_str().unwrap().to_owned();
    let first = s.tick().await.unwrap();
    assert_eq!((first.queued, first.skipped), (0, 1));
    let view = s.sequence(&id).await.unwrap().unwrap();
    assert_eq!(steps(&view), ["skipped", "scheduled"]);
    assert_eq!(view["steps"][0]["reason"], "window_closed");
    w.at(T0 + 60_000);
    assert_eq!(s.tick().await.unwrap().queued, 1);
    let sent = w.sent().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["name"], "review", "the template went: {}", sent[0]);
    assert_eq!(s.sequence(&id).await.unwrap().unwrap()["status"], "completed");
}

fn reminder_body(at_ms: i64) -> Value {
    json!({"to": "+27 82 000 0001", "at": wabridge::timefmt::rfc3339(at_ms), "offsets_s": [86400, 7200, 1800],
           "tz": "Africa/Johannesburg",
           "template": {"name": "appointment", "language": {"code": "en"}, "components": [
               {"type": "body", "parameters": [{"type": "text", "text": "{{appointment.date}} {{appointment.time}}"}]}]}})
}

fn statuses(view: &Value) -> Vec<&str> {
    view["sends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect()
}

/// Three offsets, three templates, each at its time; a tick early sends nothing; ticking again
/// sends nothing twice.
async fn each_offset_sends_its_template_once_at_its_time(kind: Kind) {
    let w = World::new(kind).await;
    let s = w.scheduler();
    let appointment = T0 + 48 * HOUR;
    let (view, created) = s.create_reminder(&reminder_body(appointment)).await.unwrap();
    assert!(created);
    assert_eq!(statuses(&view), ["scheduled", "scheduled", "scheduled"]);
    let id = view["id"].as_str().unwrap().to_owned();

    assert_eq!(s.tick().await.unwrap().queued, 0, "nothing is due yet");
    w.at(appointment - 24 * HOUR - 1);
    assert_eq!(s.tick().await.unwrap().queued, 0, "a millisecond early");
    w.at(appointment - 24 * HOUR);
    assert_eq!(s.tick().await.unwrap().queued, 1);
    assert_eq!(s.tick().await.unwrap().queued, 0, "sent once");
    let sent = w.sent().await;
    assert_eq!(sent.len(), 1);
    // 2025-11-24 08:00 UTC is 10:00 in Johannesburg.
    assert_eq!(sent[0]["components"][0]["parameters"][0]["text"], "2025-11-24 10:00");

    w.at(appointment - HOUR);
    assert_eq!(s.tick().await.unwrap().queued, 1, "the 2-hour send, late but once");
    w.at(appointment);
    assert_eq!(s.tick().await.unwrap().queued, 1);
    assert_eq!(w.sent().await.len(), 3);
    let view = s.reminder(&id).await.unwrap().unwrap();
    assert_eq!(view["status"], "completed");
    assert_eq!(statuses(&view), ["queued", "queued", "queued"]);
    let first = view["sends"][0]["message_id"].as_str().unwrap();
    assert_eq!(
        first,
        send_id(&id, "86400").to_string(),
        "the id is derived from the reminder and offset"
    );
}

async fn past_offsets_are_skipped_and_creation_is_idempotent_by_external_id(kind: Kind) {
    let w = World::new(kind).await;
    let s = w.scheduler();
    let mut body = reminder_body(T0 + 3 * HOUR);
    body["external_id"] = json!("booking-42");
    let (view, created) = s.create_reminder(&body).await.unwrap();
    assert!(created);
    assert_eq!(statuses(&view), ["skipped", "scheduled", "scheduled"]);
    let (again, created) = s.create_reminder(&body).await.unwrap();
    assert!(!created, "the same external id returns the first reminder");
    assert_eq!(again["id"], view["id"]);
    let found = s.reminder_by_external_id("booking-42").await.unwrap().unwrap();
    assert_eq!(found["id"], view["id"]);
    w.at(T0 + 3 * HOUR);
    assert_eq!(s.tick().await.unwrap().queued, 2);
    assert_eq!(w.sent().await.len(), 2, "the skipped send never goes");
}

async fn nothing_goes_after_cancel_and_a_move_takes_the_pending_sends_along(kind: Kind) {
    let w = World::new(kind).await;
    let s = w.scheduler();
    let appointment = T0 + 48 * HOUR;
    let (view, _) = s.create_reminder(&reminder_body(appointment)).await.unwrap();
    let id = view["id"].as_str().unwrap().to_owned();
    w.at(appointment - 24 * HOUR);
    assert_eq!(s.tick().await.unwrap().queued, 1);

    // The appointment moves a day later: the two pending sends follow, the sent one stays.
    let later = appointment + 24 * HOUR;
    let moved = s
        .reschedule_reminder(&id, &json!({"at": wabridge::timefmt::rfc3339(later)}))
        .await
        .unwrap();
    assert_eq!(statuses(&moved), ["queued", "scheduled", "scheduled"]);
    w.at(appointment);
    assert_eq!(s.tick().await.unwrap().queued, 0, "the old times have moved");
    w.at(later - 2 * HOUR);
    assert_eq!(s.tick().await.unwrap().queued, 1);

    let cancelled = s.cancel_reminder(&id).await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(statuses(&cancelled), ["queued", "queued", "cancelled"]);
    w.at(later + HOUR);
    assert_eq!(s.tick().await.unwrap().queued, 0);
    assert_eq!(w.sent().await.len(), 2);
    let e = s
        .reschedule_reminder(&id, &json!({"at": wabridge::timefmt::rfc3339(later)}))
        .await
        .unwrap_err();
    assert!(matches!(e, wabridge::schedule::ScheduleError::Invalid(_)), "{e}");
}

/// Two schedulers tick at once, again and again: every send goes once and their reports add up.
async fn concurrent_schedulers_send_each_due_send_once(kind: Kind) {
    let w = World::new(kind).await;
    let (a, b) = (w.scheduler(), w.scheduler());
    for i in 0..5 {
        let mut body = reminder_body(T0 + 3 * HOUR);
        body["to"] = json!(CUSTOMER);
        body["external_id"] = json!(format!("r{i}"));
        a.create_reminder(&body).await.unwrap();
    }
    w.at(T0 + 3 * HOUR);
    let mut queued = 0;
    for _ in 0..3 {
        let (ra, rb) = tokio::join!(a.tick(), b.tick());
        queued += ra.unwrap().queued + rb.unwrap().queued;
    }
    assert_eq!(queued, 10, "5 reminders × 2 sends not yet past");
    assert_eq!(w.sent().await.len(), 10);
}

/// A tick that crashed after claiming a send, before or after queueing it: the send waits out
/// the claim's lease, then the next tick takes it over and it goes once.
async fn a_send_claimed_by_a_crashed_tick_goes_once_after_the_lease(kind: Kind) {
    for queued_before_crash in [false, true] {
        let w = World::new(kind).await;
        let s = w.scheduler();
        let (view, _) = s.create_reminder(&reminder_body(T0 + 3 * HOUR)).await.unwrap();
        let id = view["id"].as_str().unwrap().to_owned();
        w.at(T0 + HOUR);
        // The crashed tick's claim, as it saved it.
        let mut stored = w.backend.store.schedule(&id).await.unwrap().unwrap();
        let mut r: Reminder = serde_json::from_value(stored.doc.clone()).unwrap();
        let send = r.sends.iter_mut().find(|s| s.offset_s == 7200).unwrap();
        send.progress.status = SendStatus::Claimed;
        send.progress.claimed_at_ms = Some(T0 + HOUR);
        stored.doc = serde_json::to_value(&r).unwrap();
        stored.next_due_ms = r.next_due(120_000);
        assert!(w.backend.store.save_schedule(&stored).await.unwrap());
        if queued_before_crash {
            let cmd = r.command().unwrap();
            let enqueuer = w.app.enqueuer(
                w.backend.store.clone(),
                w.backend.store.clone(),
                w.backend.outbound.clone(),
                World::numbers().phone_number_id,
            );
            enqueuer.enqueue_as(send_id(&id, "7200"), &cmd).await.unwrap();
        }
        assert_eq!(s.tick().await.unwrap().queued, 0, "the claim holds");
        w.clock.advance(Duration::from_secs(121));
        assert_eq!(s.tick().await.unwrap().queued, 1, "taken over after the lease");
        assert_eq!(s.tick().await.unwrap().queued, 0);
        assert_eq!(
            w.sent().await.len(),
            1,
            "queued before the crash: {queued_before_crash}"
        );
        let view = s.reminder(&id).await.unwrap().unwrap();
        assert_eq!(statuses(&view), ["skipped", "queued", "scheduled"]);
    }
}

async fn call(router: &Router, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", "Bearer k")
        .header("content-type", "application/json")
        .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
        .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The routes: 201 then 200 for the same external id, lists by status and external id, 404s,
/// and every wrong field named.
async fn the_reminders_api_answers_as_documented(kind: Kind) {
    let w = World::new(kind).await;
    let router = api::finish(api::schedule_router(
        w.app.scheduler(w.backend.store.clone(), None, &World::numbers()),
        ApiKeys::new(vec![SecretString::from("k")]),
    ));
    let mut body = reminder_body(T0 + 48 * HOUR);
    body["external_id"] = json!("booking-7");
    let (code, r) = call(&router, Method::POST, "/v1/reminders", Some(body.clone())).await;
    assert_eq!(code, StatusCode::CREATED, "{r}");
    assert_eq!(r["status"], "scheduled");
    assert!(r["sends"][0]["due_at"].is_string(), "{r}");
    let (code, again) = call(&router, Method::POST, "/v1/reminders", Some(body)).await;
    assert_eq!((code, &again["id"]), (StatusCode::OK, &r["id"]));
    let id = r["id"].as_str().unwrap();
    let (code, shown) = call(&router, Method::GET, &format!("/v1/reminders/{id}"), None).await;
    assert_eq!((code, &shown), (StatusCode::OK, &r));
    let (_, by_ext) = call(&router, Method::GET, "/v1/reminders?external_id=booking-7", None).await;
    assert_eq!(by_ext["data"][0]["id"], r["id"]);
    let (_, scheduled) = call(&router, Method::GET, "/v1/reminders?status=scheduled", None).await;
    assert_eq!(scheduled["data"].as_array().unwrap().len(), 1);
    let (code, cancelled) = call(&router, Method::DELETE, &format!("/v1/reminders/{id}"), None).await;
    assert_eq!(
        (code, cancelled["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    let (_, none) = call(&router, Method::GET, "/v1/reminders?status=scheduled", None).await;
    assert!(none["data"].as_array().unwrap().is_empty());
    let (code, _) = call(&router, Method::GET, "/v1/reminders/rem_nope", None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, e) = call(
        &router,
        Method::POST,
        "/v1/reminders",
        Some(json!({"to": "1", "offsets_s": []})),
    )
    .await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("validation_failed"))
    );
    let (code, _) = call(&router, Method::GET, "/v1/reminders?status=maybe", None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
}

/// The sequence routes: create (201, then 200 for the same external id), read, cancel, and a
/// bad step named.
async fn the_sequences_api_answers_as_documented(kind: Kind) {
    let w = World::new(kind).await;
    let router = api::finish(api::schedule_router(
        w.app.scheduler(w.backend.store.clone(), None, &World::numbers()),
        ApiKeys::new(vec![SecretString::from("k")]),
    ));
    let mut body = sequence_body();
    body["external_id"] = json!("onboarding-1");
    let (code, q) = call(&router, Method::POST, "/v1/sequences", Some(body.clone())).await;
    assert_eq!(code, StatusCode::CREATED, "{q}");
    let (code, again) = call(&router, Method::POST, "/v1/sequences", Some(body)).await;
    assert_eq!((code, &again["id"]), (StatusCode::OK, &q["id"]));
    let id = q["id"].as_str().unwrap();
    let (code, shown) = call(&router, Method::GET, &format!("/v1/sequences/{id}"), None).await;
    assert_eq!((code, &shown), (StatusCode::OK, &q));
    let (code, gone) = call(&router, Method::DELETE, &format!("/v1/sequences/{id}"), None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        (gone["status"].as_str(), steps(&gone)),
        (Some("cancelled"), vec!["cancelled"; 3])
    );
    let bad = json!({"to": CUSTOMER, "steps": [{"delay_s": -1, "message": {"type": "text"}}]});
    let (code, e) = call(&router, Method::POST, "/v1/sequences", Some(bad)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{e}");
    let fields: Vec<&str> = e["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"steps[0].delay_s"), "{fields:?}");
    let (code, _) = call(&router, Method::GET, "/v1/sequences/seq_nope", None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

/// `{{attr.<name>}}` in a template's parameters takes the contact's attribute when the send
/// goes; a contact without it gets no message with the placeholder: the send fails naming it.
async fn contact_attributes_fill_template_parameters(kind: Kind) {
    let w = World::new(kind).await;
    let s = w.scheduler();
    let mut body = reminder_body(T0 + 3 * HOUR);
    body["offsets_s"] = json!([3600]);
    body["template"]["components"][0]["parameters"][0]["text"] =
        json!("Hi {{attr.first_name}}, see you at {{appointment.time}}");
    let (view, _) = s.create_reminder(&body).await.unwrap();
    let without = view["id"].as_str().unwrap().to_owned();
    w.at(T0 + 2 * HOUR);
    assert_eq!(s.tick().await.unwrap().failed, 1);
    let failed = s.reminder(&without).await.unwrap().unwrap();
    assert_eq!(failed["sends"][0]["status"], "failed");
    assert!(
        failed["sends"][0]["reason"].as_str().unwrap().contains("first_name"),
        "{failed}"
    );
    assert!(w.sent().await.is_empty(), "no placeholder reaches the customer");

    let set = wabridge::contacts::ContactChange {
        attributes: vec![("first_name".into(), Some("Thandi".into()))],
        ..Default::default()
    };
    w.backend
        .store
        .change_contact(&CustomerKey::parse(CUSTOMER).unwrap(), &set, true, T0)
        .await
        .unwrap();
    body["at"] = json!(wabridge::timefmt::rfc3339(T0 + 4 * HOUR));
    s.create_reminder(&body).await.unwrap();
    w.at(T0 + 3 * HOUR);
    assert_eq!(s.tick().await.unwrap().queued, 1);
    let sent = w.sent().await;
    assert_eq!(
        sent[0]["components"][0]["parameters"][0]["text"],
        "Hi Thandi, see you at 14:00"
    );
}

on_both_kinds!(
    contact_attributes_fill_template_parameters,
    a_sequence_steps_after_each_send_and_stops_when_the_customer_replies,
    a_free_form_step_outside_the_window_is_skipped_and_a_template_step_goes,
    the_sequences_api_answers_as_documented,
    each_offset_sends_its_template_once_at_its_time,
    past_offsets_are_skipped_and_creation_is_idempotent_by_external_id,
    nothing_goes_after_cancel_and_a_move_takes_the_pending_sends_along,
    concurrent_schedulers_send_each_due_send_once,
    a_send_claimed_by_a_crashed_tick_goes_once_after_the_lease,
    the_reminders_api_answers_as_documented,
);
