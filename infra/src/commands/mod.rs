//! One file per `wabridge` command.

pub mod analytics;
pub mod bench_analytics;
pub mod bench_campaign;
pub mod bench_media;
pub mod bench_send;
pub mod campaign;
pub mod cost;
pub mod load;
pub mod send;
pub mod serve;
pub mod simulate;
pub mod tail;

use wabridge::Config;

/// The running stack's address: `--url`, or the one `WABRIDGE_LISTEN` configures.
pub fn base_url(config: &Config, url: Option<String>) -> String {
    url.unwrap_or_else(|| format!("http://{}", config.listen))
}
