//! `wabridge serve` (the default): the local stack on one port until Ctrl-C or SIGTERM.

use anyhow::Context;
use tokio::sync::watch;
use wabridge::{Config, telemetry};
use wabridge_infra::LocalStack;
use wabridge_infra::stack::SendMode;

/// Runs the local stack.
pub async fn run(config: Config) -> anyhow::Result<()> {
    telemetry::init_text();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {} (set WABRIDGE_LISTEN to use another address)", config.listen))?;
    let stack = LocalStack::open(&config, listener.local_addr()?)?;
    banner(&config, &stack);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    stack.serve(listener, stop_rx).await
}

/// The one place a secret is shown: on stdout at start, when it was generated for this data dir.
fn banner(config: &Config, stack: &LocalStack) {
    println!(
        "wabridge local stack on http://{}  (data in {})",
        config.listen,
        config.data_dir.display()
    );
    println!(
        "  webhook:   http://{}/webhook   query API: http://{}/v1/...",
        config.listen, config.listen
    );
    for (name, value) in &stack.secrets.generated {
        println!(
            "  generated {name}={value}  (saved in {}/secrets.json)",
            config.data_dir.display()
        );
    }
    if !stack.secrets.from_file.is_empty() {
        println!(
            "  using {} from {}/secrets.json",
            stack.secrets.from_file.join(", "),
            config.data_dir.display()
        );
    }
    match stack.mode() {
        SendMode::Sandbox => println!(
            "  sends: the Graph API sandbox plays Meta (http://{}/sandbox, API key required)",
            config.listen
        ),
        SendMode::Meta => println!(
            "  sends: Meta's Graph API at {} ({})",
            config.graph_url, config.api_version
        ),
        SendMode::Off => println!(
            "  sends: off (receive only). WHATSAPP_APP_SECRET is yours, so the sandbox stays off; \
             set WHATSAPP_ACCESS_TOKEN to send through Meta, or WABRIDGE_SANDBOX=1 for the sandbox"
        ),
    }
    println!("  try: cargo run -- simulate inbound --from 27820000001 --text hello");
    println!("       cargo run -- send --to 27820000001 --text \"hi there\"");
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
