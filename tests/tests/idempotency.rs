//! `Idempotency-Key` over HTTP semantics: a request that crashed after claiming its key does not
//! lock the client out; while the claim is live the client is told when to come back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use serde_json::json;
use wabridge::api::idempotency::{Answer, IdempotentRequests};
use wabridge_tests::{Backend, Kind, ManualClock};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_crashed_request_waits_out_the_lease_then_does_the_work_once() {
    let t0 = 1_763_800_000_000;
    let clock = ManualClock::at(t0);
    let b = Backend::at(Kind::Embedded, clock.clone()).await;
    let requests = IdempotentRequests::new(b.store.clone(), clock.clone(), Duration::from_secs(30));
    let body = json!({"to": "27820000001", "type": "text", "text": {"body": "hi"}});

    // The first request claims the key and dies before answering (its future is dropped).
    let crashed = tokio::time::timeout(
        Duration::from_millis(50),
        requests.run("caller", Some("key-1"), &body, std::future::pending::<Answer>()),
    )
    .await;
    assert!(crashed.is_err(), "the first request never answered");

    // A client retry, answered as the route answers it (errors rendered by `api::error`); `id`
    // marks which attempt did the work.
    let retry = |id: &'static str| {
        let (requests, body) = (requests.clone(), body.clone());
        async move {
            let work = async move { Answer::new(StatusCode::ACCEPTED, json!({"id": id})) };
            match requests.run("caller", Some("key-1"), &body, work).await {
                Ok(res) => res,
                Err(e) => e.into_response(),
            }
        }
    };

    // A retry while the claim is live: 409, told when to come back.
    let res = retry("a").await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(res.headers()["retry-after"], "30");
    clock.advance(Duration::from_millis(12_500));
    let res = retry("a").await;
    assert_eq!(
        res.headers()["retry-after"],
        "18",
        "rounded up, so waiting as told is enough"
    );

    // After the lease, the retry does the work; the next one replays its answer.
    clock.advance(Duration::from_millis(17_501));
    let res = retry("b").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert!(res.headers().get("idempotent-replayed").is_none());
    let res = retry("c").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    let replayed: serde_json::Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(replayed["id"], "b", "the work ran once, on the retry after the lease");
}
