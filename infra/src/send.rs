//! `wabridge send`: posts a message to a running stack's `POST /v1/messages`, prints its id, then
//! each status as it arrives.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// Sends `body` and follows the message's status for up to `follow`.
pub async fn run(base: &str, key: &SecretString, body: &Value, follow: Duration) -> anyhow::Result<()> {
    let base = base.trim_end_matches('/');
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let res = client
        .post(format!("{base}/v1/messages"))
        .bearer_auth(key.expose_secret())
        .json(body)
        .send()
        .await
        .with_context(|| format!("posting to {base}/v1/messages: is the stack running?"))?;
    let status = res.status();
    let answer: Value = res.json().await.unwrap_or(Value::Null);
    if status.as_u16() != 202 {
        bail!(
            "{status}: {}",
            serde_json::to_string_pretty(&answer).unwrap_or_default()
        );
    }
    let id = answer["id"].as_str().context("no id in the answer")?.to_owned();
    println!("{id} queued");
    let deadline = Instant::now() + follow;
    let mut last = String::from("queued");
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let m: Value = client
            .get(format!("{base}/v1/messages/{id}"))
            .bearer_auth(key.expose_secret())
            .send()
            .await?
            .json()
            .await?;
        let now = m["status"].as_str().unwrap_or_default().to_owned();
        if now != last {
            match m["error"].as_object() {
                Some(e) => println!(
                    "{id} {now}: {} {}",
                    e.get("code").unwrap_or(&Value::Null),
                    e.get("title").unwrap_or(&Value::Null)
                ),
                None => println!("{id} {now}"),
            }
            last = now;
        }
        if matches!(last.as_str(), "read" | "played" | "failed" | "deleted") {
            break;
        }
    }
    Ok(())
}
