//! `wabridge campaign status`: a campaign's progress as a bar with its counts, read from a running
//! stack's `GET /v1/campaigns/{id}` the way a dashboard would.

use std::io::Write as _;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;

/// Width of the bar, in characters.
const BAR: usize = 30;

/// One line: status, a bar of the recipients whose turn has come, and every count.
pub fn line(c: &Value) -> String {
    let n = |k: &str| c["counts"][k].as_u64().unwrap_or(0);
    let total = n("total");
    let done = total.saturating_sub(n("pending"));
    let filled = usize::try_from((done * BAR as u64).checked_div(total).unwrap_or(0)).unwrap_or(BAR);
    let percent = (done * 100).checked_div(total).unwrap_or(0);
    let counts = [
        "queued",
        "sent",
        "delivered",
        "read",
        "failed",
        "skipped",
        "cancelled",
        "replied",
    ]
    .iter()
    .map(|k| format!("{k} {}", n(k)))
    .collect::<Vec<_>>()
    .join(" · ");
    let status = c["status"].as_str().unwrap_or("?");
    let blocked = c["blocked"]
        .as_str()
        .map(|b| format!(" (blocked: {b})"))
        .unwrap_or_default();
    format!(
        "{status:<9} [{}{}] {percent:>3}% {done}/{total}  {counts}{blocked}",
        "#".repeat(filled),
        "-".repeat(BAR - filled)
    )
}

/// Whether a campaign has ended (nothing more will change but its messages' statuses).
pub fn ended(c: &Value) -> bool {
    matches!(c["status"].as_str(), Some("completed" | "cancelled"))
}

/// Prints the campaign's line; with `watch`, redraws it every `every` until the campaign ends.
pub async fn run(base: &str, key: &SecretString, id: &str, watch: bool, every: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    loop {
        let c = crate::tail::get(&client, base, key, &format!("/v1/campaigns/{id}")).await?;
        if !watch {
            println!("{}", line(&c));
            return Ok(());
        }
        print!("\r{}\x1b[K", line(&c));
        std::io::stdout().flush()?;
        if ended(&c) {
            println!();
            return Ok(());
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_bar_fills_with_the_recipients_whose_turn_has_come() {
        let c = json!({"status": "running", "counts": {"total": 200, "pending": 50, "skipped": 10,
                       "queued": 40, "sent": 100, "replied": 3}});
        let l = line(&c);
        assert!(l.starts_with("running   ["), "{l}");
        assert!(l.contains(&format!("[{}{}]", "#".repeat(22), "-".repeat(8))), "{l}");
        assert!(l.contains(" 75% 150/200"), "{l}");
        assert!(
            l.contains("sent 100") && l.contains("replied 3") && l.contains("skipped 10"),
            "{l}"
        );
        assert!(!ended(&c));
        assert!(ended(&json!({"status": "cancelled"})));
        let empty = line(&json!({"status": "scheduled", "counts": {"total": 0}, "blocked": "template paused"}));
        assert!(
            empty.contains("  0% 0/0") && empty.ends_with("(blocked: template paused)"),
            "{empty}"
        );
    }
}
