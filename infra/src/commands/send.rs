//! `wabridge send`: send a text or a template through a running stack and follow its status.

use std::time::Duration;

use anyhow::bail;
use serde_json::json;
use wabridge::Config;
use wabridge_infra::secrets::LocalSecrets;
use wabridge_infra::send;

use super::base_url;

/// Sends one message and prints its statuses for `follow` seconds.
pub async fn run(
    config: &Config,
    to: String,
    text: Option<String>,
    template: Option<String>,
    language: String,
    url: Option<String>,
    follow: u64,
) -> anyhow::Result<()> {
    let key = LocalSecrets::api_key_for_cli(config)?;
    let body = match (text, template) {
        (Some(text), None) => json!({"to": to, "type": "text", "text": {"body": text}}),
        (None, Some(name)) => {
            json!({"to": to, "type": "template", "template": {"name": name, "language": {"code": language}}})
        }
        _ => bail!("give --text or --template"),
    };
    send::run(&base_url(config, url), &key, &body, Duration::from_secs(follow)).await
}
