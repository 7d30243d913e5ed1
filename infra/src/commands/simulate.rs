//! `wabridge simulate`: sign and post a webhook to a running stack, as Meta would.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::json;
use wabridge::Config;
use wabridge_infra::secrets::LocalSecrets;
use wabridge_infra::simulate::{self, DEFAULT_PHONE_NUMBER_ID};

use super::base_url;
use crate::cli::Simulate;

/// Posts one simulated inbound message or status.
pub async fn run(config: &Config, what: Simulate, url: Option<String>) -> anyhow::Result<()> {
    let secret = LocalSecrets::app_secret_for_cli(config)?;
    let base = base_url(config, url);
    let pni = config
        .phone_number_id
        .clone()
        .unwrap_or_else(|| DEFAULT_PHONE_NUMBER_ID.to_owned());
    let now = chrono::Utc::now().timestamp();
    let (body, id) = match what {
        Simulate::Inbound {
            from,
            text,
            image,
            document,
            audio,
            video,
            sticker,
            name,
        } => {
            let from: String = from.chars().filter(char::is_ascii_digit).collect();
            if from.is_empty() {
                bail!("--from must contain the customer's number");
            }
            let wamid = simulate::new_wamid();
            let media = [
                ("image", image),
                ("document", document),
                ("audio", audio),
                ("video", video),
                ("sticker", sticker),
            ]
            .into_iter()
            .find_map(|(kind, v)| v.map(|v| (kind, v)));
            let body = match media {
                Some((kind, given)) => {
                    let key = LocalSecrets::api_key_for_cli(config)?;
                    let content = simulate::media_content(
                        &reqwest::Client::new(),
                        &format!("{base}/sandbox/{}/{pni}/media", config.api_version),
                        &key,
                        kind,
                        &given,
                        text.as_deref(),
                    )
                    .await?;
                    simulate::inbound(&pni, &from, &name, &wamid, now, kind, content)
                }
                None => {
                    let text =
                        text.context("give --text, or a file with --image, --document, --audio, --video or --sticker")?;
                    simulate::inbound(&pni, &from, &name, &wamid, now, "text", json!({"body": text}))
                }
            };
            (body, wamid)
        }
        Simulate::Status { id, status, to } => {
            if wabridge::domain::DeliveryStatus::parse(&status).is_none() {
                bail!("--status must be one of sent, delivered, read, played, deleted, failed");
            }
            (simulate::status(&pni, &to, &id, &status, now), id)
        }
    };
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let code = simulate::post(&client, &base, &secret, &serde_json::to_vec(&body)?).await?;
    if code != 200 {
        bail!("the stack answered {code}");
    }
    println!("posted {id}");
    Ok(())
}
