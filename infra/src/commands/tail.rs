//! `wabridge tail`: print messages as they arrive at a running stack.

use std::time::Duration;

use wabridge::Config;
use wabridge_infra::secrets::LocalSecrets;
use wabridge_infra::tail;

use super::base_url;

/// Polls until interrupted.
pub async fn run(config: &Config, url: Option<String>, all: bool) -> anyhow::Result<()> {
    let key = LocalSecrets::api_key_for_cli(config)?;
    tail::run(&base_url(config, url), &key, all, Duration::from_millis(500)).await
}
