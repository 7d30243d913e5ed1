//! `wabridge`: the local stack (`serve`, the default) and its tools (`simulate`, `send`, `tail`,
//! `load`, `bench-send`, `bench-media`, `bench-analytics`, `analytics rebuild`, `cost`). The flags live in `cli.rs`, each command in `commands/`.

mod cli;
mod commands;

use clap::Parser;
use wabridge::Config;

use cli::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => commands::serve::run(config).await,
        Command::Simulate { what, url } => commands::simulate::run(&config, what, url).await,
        Command::Send {
            to,
            text,
            template,
            language,
            url,
            follow,
        } => commands::send::run(&config, to, text, template, language, url, follow).await,
        Command::Tail { url, all } => commands::tail::run(&config, url, all).await,
        Command::Cost { inbound, outbound } => {
            commands::cost::run(inbound, outbound);
            Ok(())
        }
        Command::BenchSend { mps, seconds, report } => commands::bench_send::run(mps, seconds, &report).await,
        Command::Analytics {
            what: cli::Analytics::Rebuild,
        } => commands::analytics::rebuild(&config).await,
        Command::BenchAnalytics {
            messages,
            customers,
            report,
        } => commands::bench_analytics::run(&messages, customers, &report).await,
        Command::BenchMedia {
            images,
            image_kb,
            document_mb,
            report,
        } => commands::bench_media::run(images, image_kb, document_mb, &report).await,
        Command::Campaign {
            what: cli::Campaign::Status { id, watch, url },
        } => commands::campaign::status(&config, &id, watch, url).await,
        Command::BenchCampaign {
            recipients,
            mps,
            report,
        } => commands::bench_campaign::run(recipients, mps, &report).await,
        Command::Load {
            count,
            concurrency,
            customers,
            automation,
            report,
        } => commands::load::run(count, concurrency, customers, automation, &report).await,
    }
}
