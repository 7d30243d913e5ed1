//! The local stack as `cargo run` starts it: a real HTTP server on loopback, generated secrets,
//! inbound workers on the SQLite queue. Driven the way the CLI drives it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use wabridge::Config;
use wabridge_infra::LocalStack;
use wabridge_infra::simulate::{self, DEFAULT_PHONE_NUMBER_ID};
use wabridge_infra::tail::Tail;

async fn wait_for(client: &reqwest::Client, url: &str, key: &str, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..400 {
        let r = client.get(url).bearer_auth(key).send().await.unwrap();
        if r.status().is_success() {
            let v: Value = r.json().await.unwrap();
            if pred(&v) {
                return v;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{url} never matched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_webhooks_flow_through_the_running_local_stack() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let config = Config::from_lookup(&move |k| (k == "WABRIDGE_DATA_DIR").then(|| data.clone())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stack = LocalStack::open(&config, listener.local_addr().unwrap()).unwrap();
    assert_eq!(
        stack.secrets.generated.len(),
        3,
        "a fresh data dir gets generated secrets"
    );
    let secret = stack.secrets.app_secret.clone();
    let key = stack.secrets.first_api_key().unwrap().to_owned();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = tokio::spawn(stack.serve(listener, stop_rx));
    let client = reqwest::Client::new();

    let health: Value = client
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");

    let now = chrono::Utc::now().timestamp();
    let text = simulate::inbound(
        DEFAULT_PHONE_NUMBER_ID,
        "27820000001",
        "Ayanda",
        "wamid.LOCAL1",
        now,
        "text",
        json!({"body": "hello"}),
    );
    let image = simulate::inbound(
        DEFAULT_PHONE_NUMBER_ID,
        "27820000001",
        "Ayanda",
        "wamid.LOCAL2",
        now + 1,
        "image",
        json!({"id": "555", "mime_type": "image/jpeg", "caption": "a photo"}),
    );
    let status = simulate::status(DEFAULT_PHONE_NUMBER_ID, "27820000001", "wamid.OURS", "delivered", now);
    for body in [&text, &image, &status] {
        let code = simulate::post(&client, &base, &secret, &serde_json::to_vec(body).unwrap())
            .await
            .unwrap();
        assert_eq!(code, 200);
    }
    // `wabridge tail`: skips what was stored before it started, then shows each new message once.
    let mut tail = Tail::new(&base, secrecy::SecretString::from(key.clone()), false).unwrap();
    wait_for(
        &client,
        &format!("{base}/v1/conversations/27820000001/messages"),
        &key,
        |v| v["data"].as_array().is_some_and(|a| a.len() == 2),
    )
    .await;
    assert!(tail.poll().await.unwrap().is_empty(), "already stored: not shown");
    let later = simulate::inbound(
        DEFAULT_PHONE_NUMBER_ID,
        "27820000002",
        "Bea",
        "wamid.LOCAL3",
        now + 2,
        "text",
        json!({"body": "new one"}),
    );
    assert_eq!(
        simulate::post(&client, &base, &secret, &serde_json::to_vec(&later).unwrap())
            .await
            .unwrap(),
        200
    );
    let mut shown = Vec::new();
    for _ in 0..100 {
        shown.extend(tail.poll().await.unwrap());
        if !shown.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].contains("<- 27820000002 [text] received \"new one\""),
        "{}",
        shown[0]
    );
    assert!(tail.poll().await.unwrap().is_empty(), "shown once");

    let unsigned = client
        .post(format!("{base}/webhook"))
        .body(serde_json::to_vec(&text).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);

    let page = wait_for(
        &client,
        &format!("{base}/v1/conversations/27820000001/messages"),
        &key,
        |v| v["data"].as_array().is_some_and(|a| a.len() == 2),
    )
    .await;
    assert_eq!(page["data"][0]["text"], "hello");
    assert_eq!(page["data"][1]["text"], "a photo");
    let conv = wait_for(&client, &format!("{base}/v1/conversations/27820000001"), &key, |v| {
        v["unread"] == 2
    })
    .await;
    assert_eq!(conv["window_open"], true, "the customer wrote just now");
    let st = wait_for(&client, &format!("{base}/v1/messages/wamid.OURS"), &key, |v| {
        v["status"] == "delivered"
    })
    .await;
    assert_eq!(st["type"], Value::Null);

    // Sending through the built-in sandbox, with a demo fault knob on the way.
    let faults = client
        .post(format!("{base}/sandbox/_sandbox/faults"))
        .bearer_auth(&key)
        .json(&json!({"faults": ["5xx"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(faults.status().as_u16(), 200);
    let knob = client
        .post(format!("{base}/sandbox/_sandbox/recipients/27820000009"))
        .bearer_auth(&key)
        .json(&json!({"fail_with": 131026}))
        .send()
        .await
        .unwrap();
    assert_eq!(knob.status().as_u16(), 200);
    let sent: Value = client
        .post(format!("{base}/v1/messages"))
        .bearer_auth(&key)
        .json(&json!({"to": "+27 82 000 0001", "type": "text", "text": {"body": "hello back"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = sent["id"].as_str().unwrap().to_owned();
    let read = wait_for(&client, &format!("{base}/v1/messages/{id}"), &key, |v| {
        v["status"] == "read"
    })
    .await;
    assert_eq!(read["direction"], "outbound");
    let failing: Value = client
        .post(format!("{base}/v1/messages"))
        .bearer_auth(&key)
        .json(&json!({"to": "27820000009", "type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let failed = wait_for(
        &client,
        &format!("{base}/v1/messages/{}", failing["id"].as_str().unwrap()),
        &key,
        |v| v["status"] == "failed",
    )
    .await;
    assert_eq!(failed["error"]["code"], 131026);

    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("stops promptly")
        .unwrap()
        .unwrap();
}

/// `wabridge simulate inbound --document <file>` against `cargo run`: the file goes to the sandbox,
/// the webhook names it with its real hash, and seconds later the stack serves the same bytes
/// from its own folder through a signed link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_file_is_copied_and_served_by_the_local_stack() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let config = Config::from_lookup(&move |k| (k == "WABRIDGE_DATA_DIR").then(|| data.clone())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stack = LocalStack::open(&config, listener.local_addr().unwrap()).unwrap();
    let (secret, key) = (
        stack.secrets.app_secret.clone(),
        stack.secrets.first_api_key().unwrap().to_owned(),
    );
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = tokio::spawn(stack.serve(listener, stop_rx));
    let client = reqwest::Client::new();

    let file = dir.path().join("manual.pdf");
    let bytes: Vec<u8> = (0..150_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let upload_url = format!("{base}/sandbox/{}/{DEFAULT_PHONE_NUMBER_ID}/media", config.api_version);
    let content = simulate::media_content(
        &client,
        &upload_url,
        &secrecy::SecretString::from(key.clone()),
        "document",
        file.to_str().unwrap(),
        Some("the manual"),
    )
    .await
    .unwrap();
    assert_eq!(content["filename"], "manual.pdf");
    let id = content["id"].as_str().unwrap().to_owned();
    let now = chrono::Utc::now().timestamp();
    let body = simulate::inbound(
        DEFAULT_PHONE_NUMBER_ID,
        "27820000009",
        "Sipho",
        "wamid.DOC1",
        now,
        "document",
        content,
    );
    let code = simulate::post(&client, &base, &secret, &serde_json::to_vec(&body).unwrap())
        .await
        .unwrap();
    assert_eq!(code, 200);
    let media = wait_for(&client, &format!("{base}/v1/media/{id}"), &key, |v| {
        v["status"] == "stored"
    })
    .await;
    let served = client.get(media["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(served.status().as_u16(), 200);
    assert_eq!(served.headers()["content-type"], "application/pdf");
    assert_eq!(served.bytes().await.unwrap().to_vec(), bytes);
    let msg = wait_for(&client, &format!("{base}/v1/messages/wamid.DOC1"), &key, |v| {
        v["media"]["status"] == "stored"
    })
    .await;
    assert_eq!(msg["text"], "the manual");
    stop_tx.send(true).unwrap();
    server.await.unwrap().unwrap();
}

/// `cargo run` ticks the scheduler every second: a reminder due two seconds from now is queued
/// and sent through the sandbox without anything else running it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_stack_sends_a_due_reminder_on_its_own_tick() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let config = Config::from_lookup(&move |k| (k == "WABRIDGE_DATA_DIR").then(|| data.clone())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stack = LocalStack::open(&config, listener.local_addr().unwrap()).unwrap();
    let key = stack.secrets.first_api_key().unwrap().to_owned();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = tokio::spawn(stack.serve(listener, stop_rx));
    let client = reqwest::Client::new();

    // The stack's first template sync brings the sandbox's hello_world into the copy.
    wait_for(&client, &format!("{base}/v1/templates/hello_world"), &key, |v| {
        v["data"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    let at = chrono::Utc::now() + chrono::Duration::seconds(2);
    let reminder = json!({"to": "27820000021", "at": at.to_rfc3339(), "offsets_s": [0],
                          "template": {"name": "hello_world", "language": {"code": "en_US"}}});
    let r: Value = client
        .post(format!("{base}/v1/reminders"))
        .bearer_auth(&key)
        .json(&reminder)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = r["id"].as_str().unwrap_or_else(|| panic!("{r}"));
    let done = wait_for(&client, &format!("{base}/v1/reminders/{id}"), &key, |v| {
        v["status"] == "completed"
    })
    .await;
    assert_eq!(done["sends"][0]["status"], "queued", "{done}");
    let message_id = done["sends"][0]["message_id"].as_str().unwrap();
    wait_for(&client, &format!("{base}/v1/messages/{message_id}"), &key, |v| {
        v["status"] == "read"
    })
    .await;

    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("stops promptly")
        .unwrap()
        .unwrap();
}

/// A campaign created on the running stack goes out on the stack's own tick, its counts follow the
/// sandbox's statuses, and `wabridge campaign status --watch` returns once it has completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_stack_runs_a_campaign_that_status_watch_follows_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let config = Config::from_lookup(&move |k| (k == "WABRIDGE_DATA_DIR").then(|| data.clone())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stack = LocalStack::open(&config, listener.local_addr().unwrap()).unwrap();
    let key = stack.secrets.first_api_key().unwrap().to_owned();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = tokio::spawn(stack.serve(listener, stop_rx));
    let client = reqwest::Client::new();
    wait_for(&client, &format!("{base}/v1/templates/hello_world"), &key, |v| {
        v["data"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    for wa in ["27820000031", "27820000032", "27820000033"] {
        let res = client
            .post(format!("{base}/v1/contacts"))
            .bearer_auth(&key)
            .json(&json!({"wa_id": wa, "tags": ["launch"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let created: Value = client
        .post(format!("{base}/v1/campaigns"))
        .bearer_auth(&key)
        .json(&json!({"name": "Launch", "audience": {"tags": ["launch"]},
                      "template": {"name": "hello_world", "language": {"code": "en_US"}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap_or_else(|| panic!("{created}"));
    let secret = secrecy::SecretString::from(key.clone());
    tokio::time::timeout(
        Duration::from_secs(20),
        wabridge_infra::campaign_status::run(&base, &secret, id, true, Duration::from_millis(100)),
    )
    .await
    .expect("the campaign completes on the stack's tick")
    .unwrap();
    let done = wait_for(&client, &format!("{base}/v1/campaigns/{id}"), &key, |v| {
        v["counts"]["read"] == 3
    })
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(wabridge_infra::campaign_status::line(&done).contains("100% 3/3"));

    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("stops promptly")
        .unwrap()
        .unwrap();
}

/// `WABRIDGE_CALLBACK_URL` set and no secret: the stack generates one, saves it with the others,
/// and posts a customer's message to the receiver signed with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_stack_posts_signed_callbacks_with_its_generated_secret() {
    use std::sync::{Arc, Mutex};
    /// Each post's signature header and body.
    type Posts = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
    let seen: Posts = Arc::default();
    let record = seen.clone();
    let receiver = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let record = record.clone();
            async move {
                let sig = headers
                    .get("x-wabridge-signature-256")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                record.lock().unwrap().push((sig, body.to_vec()));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let receiver_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", receiver_listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(receiver_listener, receiver).await;
    });

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let config = Config::from_lookup(&move |k| match k {
        "WABRIDGE_DATA_DIR" => Some(data.clone()),
        "WABRIDGE_CALLBACK_URL" => Some(url.clone()),
        _ => None,
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stack = LocalStack::open(&config, listener.local_addr().unwrap()).unwrap();
    let generated: Vec<&str> = stack.secrets.generated.iter().map(|(n, _)| *n).collect();
    assert!(generated.contains(&"WABRIDGE_CALLBACK_SECRET"), "{generated:?}");
    let saved: Value = serde_json::from_slice(&std::fs::read(dir.path().join("secrets.json")).unwrap()).unwrap();
    let callback_secret = saved["callback_secret"].as_str().unwrap().to_owned();
    let secret = stack.secrets.app_secret.clone();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = tokio::spawn(stack.serve(listener, stop_rx));

    let now = chrono::Utc::now().timestamp();
    let body = simulate::inbound(
        DEFAULT_PHONE_NUMBER_ID,
        "27820000010",
        "Zodwa",
        "wamid.LOCAL-CB",
        now,
        "text",
        json!({"body": "is my order ready?"}),
    );
    let client = reqwest::Client::new();
    let code = simulate::post(&client, &base, &secret, &serde_json::to_vec(&body).unwrap())
        .await
        .unwrap();
    assert_eq!(code, 200);
    let mut event = None;
    for _ in 0..400 {
        if let Some(e) = seen.lock().unwrap().first().cloned() {
            event = Some(e);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (sig, raw) = event.expect("the receiver got the event");
    let expected = wabridge::callbacks::sign(&secrecy::SecretString::from(callback_secret), &raw);
    assert_eq!(sig, expected, "signed with the saved secret");
    let v: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(v["type"], "message.received");
    assert_eq!(v["data"]["message"]["text"], "is my order ready?");
    stop_tx.send(true).unwrap();
    server.await.unwrap().unwrap();
}

/// `wabridge load --automation`: with the PMS flow and 1,000 rules installed, every webhook of a
/// concurrent run is still stored and readable (the figures themselves are the release run's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_run_with_automation_on_stores_every_message() {
    let dir = tempfile::tempdir().unwrap();
    let spec = wabridge_infra::load::LoadSpec {
        count: 200,
        concurrency: 16,
        customers: 20,
        automation: true,
    };
    let report = wabridge_infra::load::run(spec, dir.path()).await.unwrap();
    assert_eq!((report.accepted, report.stored), (200, 200));
    assert!(report.markdown().contains("automation: on"));
}
