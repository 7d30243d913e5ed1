//! `wabridge tail`: prints messages as they arrive, by polling the query API the way a frontend
//! would (conversations by activity, then each changed conversation's newest page).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// `GET path` on the stack at `base` with the API key: the JSON answer, or an error naming the
/// status and the API's message.
pub(crate) async fn get(client: &reqwest::Client, base: &str, key: &SecretString, path: &str) -> anyhow::Result<Value> {
    let res = client
        .get(format!("{}{path}", base.trim_end_matches('/')))
        .bearer_auth(key.expose_secret())
        .send()
        .await
        .with_context(|| format!("GET {path}: is the stack running at {base}?"))?;
    let status = res.status();
    if !status.is_success() {
        let body: Value = res.json().await.unwrap_or(Value::Null);
        bail!(
            "GET {path} answered {status} {}",
            body["error"]["message"].as_str().unwrap_or("")
        );
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

/// Follows a stack's messages: each [`Tail::poll`] returns the lines of messages not shown before.
#[derive(Debug)]
pub struct Tail {
    client: reqwest::Client,
    base: String,
    key: SecretString,
    seen_activity: HashMap<String, String>,
    shown: HashSet<String>,
    first: bool,
    from_start: bool,
}

impl Tail {
    /// A follower of the stack at `base`. Without `from_start`, what is already stored is skipped.
    pub fn new(base: &str, key: SecretString, from_start: bool) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
            base: base.to_owned(),
            key,
            seen_activity: HashMap::new(),
            shown: HashSet::new(),
            first: true,
            from_start,
        })
    }

    /// One look: conversations by activity, then the newest page of each one that changed.
    pub async fn poll(&mut self) -> anyhow::Result<Vec<String>> {
        let mut lines = Vec::new();
        let convs = get(&self.client, &self.base, &self.key, "/v1/conversations?limit=50").await?;
        for c in convs["data"].as_array().into_iter().flatten() {
            let who = c["wa_id"]
                .as_str()
                .or(c["user_id"].as_str())
                .unwrap_or_default()
                .to_owned();
            let at = c["last_message_at"].as_str().unwrap_or_default().to_owned();
            if self.seen_activity.get(&who) == Some(&at) {
                continue;
            }
            self.seen_activity.insert(who.clone(), at);
            let path = format!("/v1/conversations/{who}/messages?limit=50");
            let page = get(&self.client, &self.base, &self.key, &path).await?;
            for m in page["data"].as_array().into_iter().flatten() {
                let id = m["id"].as_str().unwrap_or_default().to_owned();
                if self.shown.insert(id) && (!self.first || self.from_start) {
                    lines.push(line(m));
                }
            }
        }
        self.first = false;
        Ok(lines)
    }
}

/// Polls until interrupted, printing each new message.
pub async fn run(base: &str, key: &SecretString, from_start: bool, every: Duration) -> anyhow::Result<()> {
    let mut tail = Tail::new(base, key.clone(), from_start)?;
    loop {
        for l in tail.poll().await? {
            println!("{l}");
        }
        tokio::time::sleep(every).await;
    }
}
