//! `wabridge campaign status <id> [--watch]`: a campaign's progress on a running stack.

use std::time::Duration;

use wabridge::Config;
use wabridge_infra::campaign_status;
use wabridge_infra::secrets::LocalSecrets;

use super::base_url;

/// Prints the campaign's progress (redrawn every second with `watch`).
pub async fn status(config: &Config, id: &str, watch: bool, url: Option<String>) -> anyhow::Result<()> {
    let key = LocalSecrets::api_key_for_cli(config)?;
    campaign_status::run(&base_url(config, url), &key, id, watch, Duration::from_secs(1)).await
}
