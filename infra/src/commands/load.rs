//! `wabridge load`: signed webhooks at a fresh local stack until every message is readable, with a
//! report.

use std::path::Path;

use anyhow::Context;
use wabridge_infra::load;

/// Runs the load and writes the report.
pub async fn run(
    count: usize,
    concurrency: usize,
    customers: usize,
    automation: bool,
    report: &Path,
) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("wabridge-load-{}", ulid::Ulid::new()));
    let spec = load::LoadSpec {
        count,
        concurrency: concurrency.max(1),
        customers,
        automation,
    };
    let result = load::run(spec, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    let md = result?.markdown();
    if let Some(parent) = report.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(report, &md).with_context(|| format!("writing {}", report.display()))?;
    println!("{md}\nreport written to {}", report.display());
    Ok(())
}
