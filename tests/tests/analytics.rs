//! Analytics on both backends: a scripted day of a support number (customers new and returning,
//! replies, a template, statuses in every order, a failure, a customer nobody answers, London's
//! 25-hour day) gives exactly the figures worked out by hand below, by hour, day and week; the
//! same day with every webhook delivered three times, statuses shuffled, a late customer message
//! and a crash mid-batch gives the same report; and so does `analytics rebuild`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use chrono::{NaiveDate, TimeZone, Utc};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use wabridge::analytics::rebuild;
use wabridge::api::{self, ApiKeys};
use wabridge::app::{App, Settings};
use wabridge::domain::{MessageId, MessageRef};
use wabridge::inbound::reactions::CountAnalytics;
use wabridge::outbound::enqueue::Enqueuer;
use wabridge::outbound::request::validate;
use wabridge::outbound::sender::Sender;
use wabridge::ports::Store;
use wabridge_infra::sandbox::{Sandbox, Template};
use wabridge_infra::simulate;
use wabridge_tests::rig::{WABA, sandbox_on_loopback};
use wabridge_tests::secrecy::SecretString;
use wabridge_tests::{API_KEY, Backend, Kind, ManualClock, Pipeline, on_both_kinds, settle_one_batch};

const PNI: &str = "100000000000001";
const A: &str = "447700900001";
const B: &str = "447700900002";
const C: &str = "447700900003";
const R: &str = "447700900004";

/// Unix ms of `hh:mm` UTC on 2026-10-25 (London's clocks go back that night) plus `day` days.
fn t(day: i64, hh: u32, mm: u32) -> i64 {
    let d = NaiveDate::from_ymd_opt(2026, 10, 25).unwrap() + chrono::Days::new(0);
    let d = if day < 0 {
        d - chrono::Days::new(day.unsigned_abs())
    } else {
        d + chrono::Days::new(day as u64)
    };
    Utc.from_utc_datetime(&d.and_hms_opt(hh, mm, 0).unwrap())
        .timestamp_millis()
}

/// One step of the day.
#[derive(Clone, Copy)]
enum Step {
    /// A customer writes (`wamid`, who, when).
    In(&'static str, &'static str, i64),
    /// We send (`name`, to whom, when, whether it is a template).
    Out(&'static str, &'static str, i64, bool),
    /// Meta reports a status of our message `name`.
    Status(&'static str, &'static str, i64),
}

fn script() -> Vec<Step> {
    use Step::*;
    let s = |hh, mm, ss: i64| t(0, hh, mm) + ss * 1000;
    vec![
        // The day before: R writes and is answered in ten minutes.
        In("wamid.r0", R, t(-1, 9, 0)),
        Out("o_r0", R, t(-1, 9, 10), false),
        Status("o_r0", "sent", t(-1, 9, 10) + 1000),
        Status("o_r0", "delivered", t(-1, 9, 11)),
        Status("o_r0", "read", t(-1, 9, 12)),
        // A, new, writes twice; answered 20 minutes after the first; replies; gets a template.
        In("wamid.a1", A, s(8, 0, 0)),
        In("wamid.a2", A, s(8, 5, 0)),
        Out("o_a1", A, s(8, 20, 0), false),
        Status("o_a1", "sent", s(8, 20, 1)),
        Status("o_a1", "delivered", s(8, 20, 5)),
        Status("o_a1", "read", s(8, 25, 0)),
        In("wamid.a3", A, s(8, 30, 0)),
        Out("o_a2", A, s(9, 10, 0), true),
        Status("o_a2", "sent", s(9, 10, 1)),
        // Read without a delivered webhook: delivered at the read.
        Status("o_a2", "read", s(9, 15, 0)),
        // B, new, waits two hours; our answer fails after it was sent.
        In("wamid.b1", B, s(10, 0, 0)),
        Out("o_b1", B, s(12, 0, 0), false),
        Status("o_b1", "sent", s(12, 0, 1)),
        Status("o_b1", "failed", s(12, 0, 30)),
        // C, new, is never answered: the wait stays open and is not counted.
        In("wamid.c1", C, s(13, 0, 0)),
        // R returns, is answered in 30 minutes; delivered the next hour.
        In("wamid.r1", R, s(14, 0, 0)),
        Out("o_r1", R, s(14, 30, 0), false),
        Status("o_r1", "sent", s(14, 30, 1)),
        Status("o_r1", "delivered", s(15, 10, 0)),
    ]
}

struct Day {
    pipe: Pipeline,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    enqueuer: Enqueuer,
    sender: Sender,
    kind: Kind,
    wamids: std::collections::HashMap<&'static str, (String, &'static str)>,
    sandbox: Sandbox,
    _serving: tokio::task::JoinHandle<()>,
}

impl Day {
    async fn start(kind: Kind) -> Self {
        let clock = ManualClock::at(t(-1, 8, 0));
        let backend = Backend::at(kind, clock.clone()).await;
        let store = backend.store.clone();
        let app = App::new(Settings::for_tests(), clock.clone());
        let recorder = app.recorder(store.clone());
        let (sandbox, graph, serving) = sandbox_on_loopback().await;
        let approved = Template {
            status: "APPROVED".into(),
            body_params: 0,
        };
        sandbox.add_template("order_update", "en_US", approved);
        // Template sends are checked against the copy, so they carry the template's category.
        let catalog = app.catalog(store.clone(), Some((graph.clone(), WABA.into())));
        let sender = app
            .sender(store.clone(), backend.limiter.clone(), graph)
            .counting(recorder.clone());
        let enqueuer = app
            .enqueuer(store.clone(), store.clone(), backend.outbound.clone(), Some(PNI.into()))
            .checking_templates(catalog)
            .counting(recorder.clone());
        let pipe = Pipeline::with_reactions(backend, move |a| {
            a.with_reaction(Arc::new(CountAnalytics::new(recorder)))
        });
        Self {
            pipe,
            store,
            clock,
            enqueuer,
            sender,
            kind,
            wamids: Default::default(),
            sandbox,
            _serving: serving,
        }
    }

    fn webhook(&self, step: Step) -> Vec<u8> {
        let body = match step {
            Step::In(wamid, who, at) => {
                simulate::inbound(PNI, who, "Customer", wamid, at / 1000, "text", json!({"body": "hello"}))
            }
            Step::Status(name, status, at) => {
                let (wamid, to) = &self.wamids[name];
                simulate::status(PNI, to, wamid, status, at / 1000)
            }
            Step::Out(..) => unreachable!(),
        };
        serde_json::to_vec(&body).unwrap()
    }

    async fn deliver(&self, step: Step, times: usize) {
        let body = self.webhook(step);
        for _ in 0..times {
            assert_eq!(self.pipe.post_webhook(&body).await.status, 200);
        }
        self.pipe.drain(Duration::from_millis(100)).await;
    }

    /// Sends at `at` and lets the sender handle it; returns the status it ended in.
    async fn send(&mut self, name: &'static str, to: &'static str, at: i64, template: bool) -> String {
        self.clock.set(at);
        let body = if template {
            json!({"to": to, "type": "template",
                   "template": {"name": "order_update", "language": {"code": "en_US"}}})
        } else {
            json!({"to": to, "type": "text", "text": {"body": "on it"}})
        };
        let id = self.enqueuer.enqueue(&validate(&body).unwrap()).await.unwrap();
        while settle_one_batch(self.kind, &self.sender, self.pipe.backend.outbound.as_ref()).await > 0 {}
        let view = self.store.message(&MessageRef::Id(id)).await.unwrap().unwrap();
        if let Some(wamid) = view.wamid {
            self.wamids.insert(name, (wamid, to));
        }
        view.status
    }

    /// Plays the script in order, each webhook once.
    async fn play(&mut self) {
        for step in script() {
            match step {
                Step::Out(name, to, at, template) => {
                    assert_eq!(self.send(name, to, at, template).await, "accepted", "{name}");
                }
                other => self.deliver(other, 1).await,
            }
        }
    }

    /// Plays the script as Meta might: every webhook three times, A's first message only after
    /// our answer to it (so its wait must move to the earlier start), every status after the
    /// sends in a shuffled order, then everything once more with a consumer crashing mid-batch.
    async fn play_badly(&mut self) {
        let steps = script();
        let late = steps
            .iter()
            .position(|s| matches!(s, Step::In("wamid.a1", ..)))
            .unwrap();
        let mut statuses = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            match *step {
                _ if i == late => {}
                Step::Out(name, to, at, template) => {
                    assert_eq!(self.send(name, to, at, template).await, "accepted", "{name}");
                    if name == "o_a1" {
                        self.deliver(steps[late], 3).await;
                    }
                }
                Step::Status(..) => statuses.push(*step),
                Step::In(..) => self.deliver(*step, 3).await,
            }
        }
        // A fixed shuffle: newest first, then interleaved.
        statuses.reverse();
        let (odd, even): (Vec<_>, Vec<_>) = statuses.iter().enumerate().partition(|(i, _)| i % 2 == 1);
        for (_, s) in odd.into_iter().chain(even) {
            self.deliver(*s, 3).await;
        }
        for step in steps.iter().filter(|s| !matches!(s, Step::Out(..))) {
            assert_eq!(self.pipe.post_webhook(&self.webhook(*step)).await.status, 200);
        }
        let taken = self.pipe.receive_and_crash().await;
        assert!(!taken.is_empty());
        if self.kind == Kind::Embedded {
            self.clock.set(t(1, 0, 0));
        }
        self.pipe.drain(Duration::from_millis(1500)).await;
    }
}

fn router(store: Arc<dyn Store>) -> Router {
    api::finish(api::analytics_router(
        store,
        ApiKeys::new(vec![SecretString::from(API_KEY)]),
    ))
}

async fn get(router: &Router, uri: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = http::Request::get(uri);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let res = router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn report(store: &Arc<dyn Store>, query: &str) -> Value {
    let (status, body) = get(&router(store.clone()), &format!("/v1/analytics?{query}"), Some(API_KEY)).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Within the histogram's 2 %.
fn about(v: &Value, expected: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!(
        (got - expected).abs() <= expected * 0.02,
        "{got} is not within 2 % of {expected}"
    );
}

/// The figures of the day, worked out by hand from the script.
fn assert_the_day(r: &Value) {
    assert_eq!(
        r["totals"],
        json!({"inbound": 6, "outbound": 4, "conversations": 4, "new_contacts": 3,
               "active_contacts": 4, "returning_contacts": 1})
    );
    assert_eq!(
        r["status"],
        json!({"queued": 0, "accepted": 0, "sent": 0, "delivered": 1, "read": 2, "failed": 1})
    );
    assert_eq!(
        r["rates"],
        json!({"delivery": 0.75, "read": 0.5, "failure": 0.25, "reply": 1.0 / 3.0})
    );
    let fr = &r["first_response"];
    assert_eq!(fr["count"], 4);
    assert_eq!(fr["within_1h"], 3);
    assert_eq!(fr["within_24h"], 4);
    assert_eq!(fr["mean_s"], 3150.0);
    about(&fr["median_s"], 1800.0);
    about(&fr["p90_s"], 7200.0);
    assert_eq!(
        r["templates"],
        json!([{"name": "order_update", "language": "en_US", "category": "UTILITY",
                "sent": 1, "delivered": 1, "read": 1, "failed": 0, "replied": 0}])
    );
    assert_eq!(
        r["failures"],
        json!([{"code": 131026, "title": "Message undeliverable", "count": 1}])
    );
}

/// London's local hours of 2026-10-25: 25 of them, 01:00 twice.
fn assert_the_hours(r: &Value) {
    let series = r["series"].as_array().unwrap();
    assert_eq!(series.len(), 25);
    assert_eq!(series[0]["start"], "2026-10-25T00:00:00+01:00");
    assert_eq!(series[1]["start"], "2026-10-25T01:00:00+01:00");
    assert_eq!(series[2]["start"], "2026-10-25T01:00:00Z");
    // UTC hour h is series[h + 1] after the change.
    let at = |h: usize| &series[h + 1];
    let row = |b: &Value| {
        [
            "inbound",
            "outbound",
            "sent",
            "delivered",
            "read",
            "failed",
            "new_contacts",
            "active_contacts",
        ]
        .map(|k| b[k].as_i64().unwrap())
    };
    assert_eq!(row(at(8)), [3, 1, 1, 1, 1, 0, 1, 1]);
    assert_eq!(row(at(9)), [0, 1, 1, 1, 1, 0, 0, 0]);
    assert_eq!(row(at(10)), [1, 0, 0, 0, 0, 0, 1, 1]);
    assert_eq!(row(at(12)), [0, 1, 1, 0, 0, 1, 0, 0]);
    assert_eq!(row(at(13)), [1, 0, 0, 0, 0, 0, 1, 1]);
    assert_eq!(row(at(14)), [1, 1, 1, 0, 0, 0, 0, 1]);
    assert_eq!(row(at(15)), [0, 0, 0, 1, 0, 0, 0, 0]);
    let quiet: i64 = [0, 1, 2, 3, 4, 5, 6, 7, 11, 16, 17, 18, 19, 20, 21, 22, 23]
        .iter()
        .map(|h| row(at(*h)).iter().sum::<i64>())
        .sum();
    assert_eq!(quiet + row(&series[0]).iter().sum::<i64>(), 0);
    assert_eq!(at(8)["first_response"]["count"], 2);
    about(&at(8)["first_response"]["median_s"], 1200.0);
    about(&at(8)["first_response"]["p90_s"], 2400.0);
    assert_eq!(at(10)["first_response"]["count"], 1);
    about(&at(10)["first_response"]["median_s"], 7200.0);
    assert_eq!(
        at(13)["first_response"],
        json!({"count": 0, "median_s": null, "p90_s": null})
    );
}

const DAY: &str = "from=2026-10-25&to=2026-10-26&granularity=day&tz=Europe/London";
const HOURS: &str = "from=2026-10-25&to=2026-10-26&granularity=hour&tz=Europe/London";
const WEEK: &str = "from=2026-10-19&to=2026-10-26&granularity=week&tz=Europe/London";

async fn the_scripted_day_gives_the_figures_worked_out_by_hand(kind: Kind) {
    let mut day = Day::start(kind).await;
    day.play().await;
    let d = report(&day.store, DAY).await;
    assert_the_day(&d);
    assert_eq!(d["series"].as_array().unwrap().len(), 1);
    assert_eq!(d["series"][0]["start"], "2026-10-25T00:00:00+01:00");
    assert_eq!(d["to"], "2026-10-26T00:00:00Z");
    let h = report(&day.store, HOURS).await;
    assert_the_day(&h);
    assert_the_hours(&h);
    // The week also holds the day before: R new then, answered in ten minutes.
    let w = report(&day.store, WEEK).await;
    assert_eq!(
        w["totals"],
        json!({"inbound": 7, "outbound": 5, "conversations": 4, "new_contacts": 4,
               "active_contacts": 4, "returning_contacts": 0})
    );
    assert_eq!(w["first_response"]["count"], 5);
    assert_eq!(w["first_response"]["within_1h"], 4);
    assert_eq!(w["status"]["read"], 3);
    // One business number filter: ours has it all, another has nothing.
    let other = report(&day.store, &format!("{DAY}&phone_number_id=100000000000999")).await;
    assert_eq!(other["totals"]["inbound"], 0);
    assert_eq!(other["series"][0]["inbound"], 0);
    let ours = report(&day.store, &format!("{DAY}&phone_number_id={PNI}")).await;
    assert_eq!(ours, d);
}

async fn duplicates_reordering_and_a_crash_change_nothing_and_a_rebuild_agrees(kind: Kind) {
    let mut clean = Day::start(kind).await;
    clean.play().await;
    let mut bad = Day::start(kind).await;
    bad.play_badly().await;
    for q in [DAY, HOURS, WEEK] {
        let (c, b) = (report(&clean.store, q).await, report(&bad.store, q).await);
        assert_eq!(c, b, "{q}");
    }
    assert_the_day(&report(&bad.store, HOURS).await);
    let live: Vec<Value> = futures::future::join_all([DAY, HOURS, WEEK].map(|q| report(&bad.store, q))).await;
    let done = rebuild::rebuild(bad.store.clone(), bad.store.clone(), t(2, 0, 0))
        .await
        .unwrap();
    assert_eq!(done.messages, 12);
    let rebuilt: Vec<Value> = futures::future::join_all([DAY, HOURS, WEEK].map(|q| report(&bad.store, q))).await;
    assert_eq!(live, rebuilt);
    // Counting a message again, as any later redelivery does, adds nothing.
    let recorder = App::new(Settings::for_tests(), bad.clock.clone()).recorder(bad.store.clone());
    recorder
        .record(&MessageRef::Id(MessageId::for_wamid(
            &wabridge::domain::Wamid::parse("wamid.a1").unwrap(),
        )))
        .await
        .unwrap();
    assert_eq!(report(&bad.store, HOURS).await, live[1]);
}

/// What the sender learns counts at once: a send Graph accepted is `accepted` before any status
/// arrives, and one Graph refused is `failed` with Meta's code, though no status webhook ever says so.
async fn the_senders_outcome_counts_before_meta_reports(kind: Kind) {
    let mut day = Day::start(kind).await;
    day.deliver(Step::In("wamid.x1", A, t(0, 8, 0)), 1).await;
    day.deliver(Step::In("wamid.x2", B, t(0, 8, 0)), 1).await;
    day.sandbox.fail_recipient(B, 131026);
    assert_eq!(day.send("to_a", A, t(0, 8, 10), false).await, "accepted");
    assert_eq!(day.send("to_b", B, t(0, 8, 20), false).await, "failed");
    let r = report(&day.store, DAY).await;
    assert_eq!(
        r["status"],
        json!({"queued": 0, "accepted": 1, "sent": 0, "delivered": 0, "read": 0, "failed": 1})
    );
    assert_eq!(
        r["failures"],
        json!([{"code": 131026, "title": "Message undeliverable", "count": 1}])
    );
    assert_eq!(r["rates"]["failure"], 0.5);
    assert_eq!(r["rates"]["delivery"], 0.0);
    assert_eq!(r["series"][0]["failed"], 0, "no status event said so");
}

on_both_kinds!(
    the_scripted_day_gives_the_figures_worked_out_by_hand,
    duplicates_reordering_and_a_crash_change_nothing_and_a_rebuild_agrees,
    the_senders_outcome_counts_before_meta_reports,
);

#[tokio::test]
async fn bad_parameters_are_refused_with_every_wrong_field_named() {
    let backend = Backend::embedded().await;
    let r = router(backend.store.clone());
    let cases = [
        ("from=2026-11-02&to=2026-11-01", "to"),
        ("from=2026-11-01&to=2026-11-01", "to"),
        ("from=2026-11-01&to=2026-12-01&tz=Mars/Olympus", "tz"),
        ("from=2026-11-01&to=2026-12-01&granularity=year", "granularity"),
        ("from=2026-01-01&to=2026-03-15&granularity=hour", "granularity"),
        ("from=yesterday&to=2026-12-01", "from"),
        ("to=2026-12-01", "from"),
        ("from=2026-11-01&to=2026-12-01&phone_number_id=abc", "phone_number_id"),
    ];
    for (q, field) in cases {
        let (status, body) = get(&r, &format!("/v1/analytics?{q}"), Some(API_KEY)).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert_eq!(body["error"]["code"], "validation_failed", "{q}");
        let named: Vec<&str> = body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect();
        assert!(named.contains(&field), "{q}: {body}");
    }
    // 1,000 buckets is the most: 1,000 hours pass, 1,001 do not.
    let ok = get(
        &r,
        "/v1/analytics?from=2026-01-01T00:00:00Z&to=2026-02-11T16:00:00Z&granularity=hour",
        Some(API_KEY),
    )
    .await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    assert_eq!(ok.1["series"].as_array().unwrap().len(), 1000);
    let over = get(
        &r,
        "/v1/analytics?from=2026-01-01T00:00:00Z&to=2026-02-11T17:00:00Z&granularity=hour",
        Some(API_KEY),
    )
    .await;
    assert_eq!(over.0, 400);
    // No key, no figures.
    assert_eq!(get(&r, &format!("/v1/analytics?{DAY}"), None).await.0, 401);
}
