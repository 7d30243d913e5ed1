//! `wabridge analytics rebuild`: recomputes the local stack's analytics counters from its stored
//! messages and statuses (for data kept before analytics existed, or to check the live counters).

use std::sync::Arc;

use anyhow::Context;
use wabridge::Config;
use wabridge::adapters::embedded::SqliteStore;
use wabridge::analytics::rebuild;
use wabridge::ports::{Clock, SystemClock};

/// Rebuilds the counters of the store in the configured data dir.
pub async fn rebuild(config: &Config) -> anyhow::Result<()> {
    let path = config.data_dir.join("store.db");
    let store = Arc::new(SqliteStore::open(&path).with_context(|| format!("opening {}", path.display()))?);
    let started = std::time::Instant::now();
    let done = rebuild::rebuild(store.clone(), store, SystemClock.now_ms()).await?;
    println!(
        "rebuilt analytics from {} messages in {} conversations in {:.1} s",
        done.messages,
        done.conversations,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
