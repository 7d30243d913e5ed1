//! Secrets, message bodies and phone numbers stay out of logs, on the paths that log the most:
//! refused webhooks, processing, failed processing, queue failures and refused API calls.
//! One test in its own binary, because it installs the process-wide log subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use wabridge_infra::simulate;
use wabridge_tests::{API_KEY, Backend, Pipeline, SECRET};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_no_secret_body_or_phone_number() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
        .with_writer(move || writer.clone())
        .init();

    let p = Pipeline::new(Backend::embedded().await);
    let body_text = "my medical aid number is 99887766";
    let number = "27829998877";
    let good = serde_json::to_vec(&simulate::inbound(
        "100000000000001",
        number,
        "Zanele",
        "wamid.LOGS",
        1_763_800_000,
        "text",
        json!({"body": body_text}),
    ))
    .unwrap();
    assert_eq!(p.post_raw(&good, Some("sha256=00")).await.status, 401);
    assert_eq!(p.post_webhook(&good).await.status, 200);
    p.backend.queue.send("not an envelope").await.unwrap();
    p.drain(Duration::from_millis(1600)).await;
    let wrong_key = http::Request::get("/v1/conversations").header("authorization", "Bearer wrong-key");
    assert_eq!(
        p.request(wrong_key.body(axum::body::Body::empty()).unwrap())
            .await
            .status,
        401
    );

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("webhook refused"), "the paths above did log: {text}");
    assert!(text.contains("dead-lettered"), "the poison record was logged: {text}");
    for (what, secret) in [
        ("app secret", SECRET),
        ("API key", API_KEY),
        ("message body", body_text),
        ("phone number", number),
    ] {
        assert!(!text.contains(secret), "the {what} reached the logs:\n{text}");
    }
}
