//! `wabridge bench-campaign`: one campaign against the sandbox, written as a report.

use std::path::Path;

use wabridge_infra::campaign_bench;

/// Runs the campaign and writes the report.
pub async fn run(recipients: usize, mps: f64, report: &Path) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("wabridge-bench-campaign-{}", ulid::Ulid::new()));
    let result = campaign_bench::run(recipients, mps, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    let md = result?.markdown();
    if let Some(parent) = report.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(report, &md)?;
    println!("{md}\nreport written to {}", report.display());
    Ok(())
}
