//! `wabridge`: the local stack (`serve`, the default) and its tools (`simulate`, `tail`, `load`).

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde_json::json;
use tokio::sync::watch;

use wabridge::{Config, telemetry};
use wabridge_infra::secrets::LocalSecrets;
use wabridge_infra::simulate::{self, DEFAULT_PHONE_NUMBER_ID};
use wabridge_infra::{LocalStack, load, send, tail};

#[derive(Parser)]
#[command(
    name = "wabridge",
    version,
    about = "WhatsApp Business Cloud API backend: local stack and tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the local stack (the default): webhooks, query API and inbound workers on one port.
    Serve,
    /// Sign and post a webhook to a running stack, as Meta would.
    Simulate {
        #[command(subcommand)]
        what: Simulate,
        /// The stack's base URL (default: http://$WABRIDGE_LISTEN).
        #[arg(long, global = true)]
        url: Option<String>,
    },
    /// Send a message through a running stack and follow its statuses.
    Send {
        /// Recipient number (any common format) .
        #[arg(long)]
        to: String,
        /// Text body.
        #[arg(long, conflicts_with = "template")]
        text: Option<String>,
        /// Template name (e.g. hello_world).
        #[arg(long)]
        template: Option<String>,
        /// Template language.
        #[arg(long, default_value = "en_US")]
        language: String,
        /// The stack's base URL (default: http://$WABRIDGE_LISTEN).
        #[arg(long)]
        url: Option<String>,
        /// Seconds to follow statuses for.
        #[arg(long, default_value_t = 30)]
        follow: u64,
    },
    /// Print messages as they arrive at a running stack.
    Tail {
        /// The stack's base URL (default: http://$WABRIDGE_LISTEN).
        #[arg(long)]
        url: Option<String>,
        /// Print what is already stored first.
        #[arg(long)]
        all: bool,
    },
    /// Measure sender throughput against the sandbox at each limit and write a report.
    BenchSend {
        /// Limits to run at, messages per second.
        #[arg(long, value_delimiter = ',', default_value = "80,1000")]
        mps: Vec<f64>,
        /// Seconds of sending at each limit.
        #[arg(long, default_value_t = 8.0)]
        seconds: f64,
        /// Where to write the Markdown report.
        #[arg(long, default_value = "target/reports/send.md")]
        report: std::path::PathBuf,
    },
    /// Load-run a fresh local stack and write a report.
    Load {
        /// Webhooks to post.
        #[arg(long, default_value_t = 2000)]
        count: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Distinct customers.
        #[arg(long, default_value_t = 100)]
        customers: usize,
        /// Where to write the Markdown report.
        #[arg(long, default_value = "target/reports/load.md")]
        report: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum Simulate {
    /// A customer's message: text by default, or an image.
    Inbound {
        /// Customer number (wa_id digits; '+', spaces and dashes are dropped).
        #[arg(long)]
        from: String,
        /// Text body (or the image caption with --image).
        #[arg(long)]
        text: Option<String>,
        /// Send an image with this media id instead of text.
        #[arg(long)]
        image: Option<String>,
        /// Profile name.
        #[arg(long, default_value = "Simulated Customer")]
        name: String,
    },
    /// A delivery status for a message the business sent.
    Status {
        /// The message's wamid.
        #[arg(long)]
        id: String,
        /// sent, delivered, read, played, deleted or failed.
        #[arg(long)]
        status: String,
        /// Recipient number.
        #[arg(long)]
        to: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Simulate { what, url } => simulate_cmd(&config, what, url).await,
        Command::Send {
            to,
            text,
            template,
            language,
            url,
            follow,
        } => {
            let key = LocalSecrets::api_key_for_cli(&config)?;
            let body = match (text, template) {
                (Some(text), None) => json!({"to": to, "type": "text", "text": {"body": text}}),
                (None, Some(name)) => {
                    json!({"to": to, "type": "template", "template": {"name": name, "language": {"code": language}}})
                }
                _ => bail!("give --text or --template"),
            };
            send::run(&base_url(&config, url), &key, &body, Duration::from_secs(follow)).await
        }
        Command::Tail { url, all } => {
            let key = LocalSecrets::api_key_for_cli(&config)?;
            tail::run(&base_url(&config, url), &key, all, Duration::from_millis(500)).await
        }
        Command::BenchSend { mps, seconds, report } => {
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
            std::fs::write(&report, &md)?;
            println!("{md}\nreport written to {}", report.display());
            Ok(())
        }
        Command::Load {
            count,
            concurrency,
            customers,
            report,
        } => {
            let dir = std::env::temp_dir().join(format!("wabridge-load-{}", ulid::Ulid::new()));
            let spec = load::LoadSpec {
                count,
                concurrency: concurrency.max(1),
                customers,
            };
            let result = load::run(spec, &dir).await;
            let _ = std::fs::remove_dir_all(&dir);
            let md = result?.markdown();
            if let Some(parent) = report.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&report, &md).with_context(|| format!("writing {}", report.display()))?;
            println!("{md}\nreport written to {}", report.display());
            Ok(())
        }
    }
}

fn base_url(config: &Config, url: Option<String>) -> String {
    url.unwrap_or_else(|| format!("http://{}", config.listen))
}

async fn serve(config: Config) -> anyhow::Result<()> {
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
    if stack.sandbox.is_some() {
        println!(
            "  no WHATSAPP_ACCESS_TOKEN: the Graph API sandbox plays Meta (http://{}/sandbox)",
            config.listen
        );
    } else {
        println!(
            "  sending through Meta's Graph API at {} ({})",
            config.graph_url, config.api_version
        );
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

async fn simulate_cmd(config: &Config, what: Simulate, url: Option<String>) -> anyhow::Result<()> {
    let secret = LocalSecrets::app_secret_for_cli(config)?;
    let base = base_url(config, url);
    let pni = config
        .phone_number_id
        .clone()
        .unwrap_or_else(|| DEFAULT_PHONE_NUMBER_ID.to_owned());
    let now = chrono::Utc::now().timestamp();
    let (body, id) = match what {
        Simulate::Inbound {
            from,
            text,
            image,
            name,
        } => {
            let from: String = from.chars().filter(char::is_ascii_digit).collect();
            if from.is_empty() {
                bail!("--from must contain the customer's number");
            }
            let wamid = simulate::new_wamid();
            let body = match image {
                Some(media) => simulate::inbound(
                    &pni,
                    &from,
                    &name,
                    &wamid,
                    now,
                    "image",
                    json!({
                        "id": media, "mime_type": "image/jpeg", "sha256": "c2ltdWxhdGVk", "caption": text,
                    }),
                ),
                None => {
                    let text = text.context("give --text, or --image for an image")?;
                    simulate::inbound(&pni, &from, &name, &wamid, now, "text", json!({"body": text}))
                }
            };
            (body, wamid)
        }
        Simulate::Status { id, status, to } => {
            if wabridge::domain::DeliveryStatus::parse(&status).is_none() {
                bail!("--status must be one of sent, delivered, read, played, deleted, failed");
            }
            (simulate::status(&pni, &to, &id, &status, now), id)
        }
    };
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let code = simulate::post(&client, &base, &secret, &serde_json::to_vec(&body)?).await?;
    if code != 200 {
        bail!("the stack answered {code}");
    }
    println!("posted {id}");
    Ok(())
}
