//! The `wabridge` command line: its commands and their flags. Each command runs in its own file
//! under `commands/`.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "wabridge",
    version,
    about = "WhatsApp Business Cloud API backend: local stack and tools"
)]
pub struct Cli {
    /// What to do; `serve` when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Measure inbound media downloads through the local stack and the process's memory during a
    /// large one, and write a report.
    BenchMedia {
        /// Small images to download.
        #[arg(long, default_value_t = 200)]
        images: usize,
        /// Size of each image, KiB.
        #[arg(long, default_value_t = 200)]
        image_kb: usize,
        /// Size of the large document, MB.
        #[arg(long, default_value_t = 100)]
        document_mb: usize,
        /// Where to write the Markdown report.
        #[arg(long, default_value = "target/reports/media.md")]
        report: std::path::PathBuf,
    },
    /// Analytics of the local stack's store.
    Analytics {
        #[command(subcommand)]
        what: Analytics,
    },
    /// Time analytics reports over a year of seeded data at each size, and write a report.
    BenchAnalytics {
        /// Message counts to seed and report over.
        #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
        messages: Vec<u64>,
        /// Distinct customers.
        #[arg(long, default_value_t = 50_000)]
        customers: u64,
        /// Where to write the Markdown report.
        #[arg(long, default_value = "target/reports/analytics.md")]
        report: std::path::PathBuf,
    },
    /// Print the AWS bill for a number of messages, from the counted request model.
    Cost {
        /// Inbound messages.
        #[arg(long, default_value_t = 1_000_000)]
        inbound: u64,
        /// Outbound messages (each with sent, delivered and read statuses).
        #[arg(long, default_value_t = 1_000_000)]
        outbound: u64,
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
        /// With automation on: the PMS example flow and 1,000 keyword rules installed, so every
        /// message is checked against a session and the rules (none of them matches the load's
        /// messages, so no reply is sent).
        #[arg(long)]
        automation: bool,
        /// Where to write the Markdown report.
        #[arg(long, default_value = "target/reports/load.md")]
        report: std::path::PathBuf,
    },
    /// Campaigns on a running stack.
    Campaign {
        #[command(subcommand)]
        what: Campaign,
    },
    /// Run a campaign to tagged contacts against the sandbox at the number's limit, and write a
    /// report: achieved rate, the most in any second, time to the last message, tick cost.
    BenchCampaign {
        /// Contacts in the audience.
        #[arg(long, default_value_t = 20_000)]
        recipients: usize,
        /// The number's limit, which the campaign asks for in full.
        #[arg(long, default_value_t = 1_000.0)]
        mps: f64,
        /// Where to write the Markdown report.
        #[arg(long, default_value = "target/reports/campaign.md")]
        report: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
pub enum Campaign {
    /// A campaign's status and counts as a progress bar.
    Status {
        /// The campaign's id (`cmp_…`).
        id: String,
        /// Redraw every second until the campaign completes or is cancelled.
        #[arg(long)]
        watch: bool,
        /// The stack's base URL (default: http://$WABRIDGE_LISTEN).
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum Analytics {
    /// Recompute every counter from the stored messages and statuses.
    Rebuild,
}

#[derive(Subcommand)]
pub enum Simulate {
    /// A customer's message: text by default, or a file as media. A file is uploaded to the
    /// local stack's sandbox first, so the webhook names a media id it can download, with the
    /// file's real SHA-256.
    Inbound {
        /// Customer number (wa_id digits; '+', spaces and dashes are dropped).
        #[arg(long)]
        from: String,
        /// Text body (or the caption of an image, video or document).
        #[arg(long)]
        text: Option<String>,
        /// Send this image file (or, if no such file exists, an image with this media id).
        #[arg(long, group = "media")]
        image: Option<String>,
        /// Send this document file.
        #[arg(long, group = "media")]
        document: Option<String>,
        /// Send this audio file (a voice note if it is .ogg or .opus).
        #[arg(long, group = "media")]
        audio: Option<String>,
        /// Send this video file.
        #[arg(long, group = "media")]
        video: Option<String>,
        /// Send this sticker (.webp).
        #[arg(long, group = "media")]
        sticker: Option<String>,
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
