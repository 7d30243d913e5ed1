//! `wabridge tail`: prints messages as they arrive, by polling the query API the way a frontend
//! would (conversations by activity, then each changed conversation's newest page).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

async fn get(client: &reqwest::Client, base: &str, key: &SecretString, path: &str) -> anyhow::Result<Value> {
    let res = client
        .get(format!("{}{path}", base.trim_end_matches('/')))
        .bearer_auth(key.expose_secret())
        .send()
        .await
        .with_context(|| format!("GET {path}: is the stack running at {base}?"))?;
    if !res.status().is_success() {
        bail!("GET {path} answered {}", res.status());
    }
    Ok(res.json().await?)
}

fn line(m: &Value) -> String {
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
    let arrow = if s("direction") == "inbound" { "<-" } else { "->" };
    let body = m
        .get("text")
        .and_then(Value::as_str)
        .map(|t| format!(" {t:?}"))
        .unwrap_or_default();
    format!(
        "{} {arrow} {} [{}] {}{body}",
        s("timestamp"),
        s("wa_id"),
        s("type"),
        s("status")
    )
}

/// Polls until interrupted. With `from_start`, prints what is already stored first.
pub async fn run(base: &str, key: &SecretString, from_start: bool, every: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let mut seen_activity: HashMap<String, String> = HashMap::new();
    let mut printed: HashSet<String> = HashSet::new();
    let mut first = true;
    loop {
        let convs = get(&client, base, key, "/v1/conversations?limit=50").await?;
        for c in convs["data"].as_array().into_iter().flatten() {
            let who = c["wa_id"]
                .as_str()
                .or(c["user_id"].as_str())
                .unwrap_or_default()
                .to_owned();
            let at = c["last_message_at"].as_str().unwrap_or_default().to_owned();
            if seen_activity.get(&who) == Some(&at) {
                continue;
            }
            seen_activity.insert(who.clone(), at);
            let page = get(
                &client,
                base,
                key,
                &format!("/v1/conversations/{who}/messages?limit=50"),
            )
            .await?;
            for m in page["data"].as_array().into_iter().flatten() {
                let id = m["id"].as_str().unwrap_or_default().to_owned();
                if printed.insert(id) && (!first || from_start) {
                    println!("{}", line(m));
                }
            }
        }
        first = false;
        tokio::time::sleep(every).await;
    }
}
