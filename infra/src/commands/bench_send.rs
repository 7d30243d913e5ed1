//! `wabridge bench-send`: the sender's throughput against the sandbox, written as a report.

use std::path::Path;

use wabridge_infra::load;

/// Runs one sender throughput measurement per limit and writes the report.
pub async fn run(mps: Vec<f64>, seconds: f64, report: &Path) -> anyhow::Result<()> {
    let mut md = String::from(
        "# wabridge sender throughput against the Graph API sandbox\n\n\
         | limit (msg/s) | messages | accepted | achieved (msg/s) | achieved / limit | most in any 1 s |\n\
         |---|---|---|---|---|---|\n",
    );
    for limit in mps {
        let dir = std::env::temp_dir().join(format!("wabridge-bench-send-{}", ulid::Ulid::new()));
        let count = (limit * seconds).ceil() as usize;
        let result = load::send_run(limit, count, &dir).await;
        let _ = std::fs::remove_dir_all(&dir);
        md.push_str(&result?.row());
        md.push('\n');
    }
    md.push_str(&format!(
        "\nmachine: {} cores; build: {}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) { "debug" } else { "release" }
    ));
    if let Some(parent) = report.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(report, &md)?;
    println!("{md}\nreport written to {}", report.display());
    Ok(())
}
