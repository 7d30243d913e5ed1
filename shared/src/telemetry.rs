//! Logging set-up. Lambda gets one JSON object per line (CloudWatch Logs Insights reads the fields);
//! the local stack gets readable text. `RUST_LOG` filters both. Log fields never carry secrets,
//! message bodies or full phone numbers.

use tracing_subscriber::EnvFilter;

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// JSON logs for Lambda (no ANSI colours, no timestamps: CloudWatch adds them).
pub fn init_json() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter())
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .try_init();
}

/// Human-readable logs for the local stack and CLI.
pub fn init_text() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_target(false)
        .try_init();
}
