//! Every tuning knob in one place. [`Settings::from_config`] is what Lambda runs;
//! [`Settings::local`] and [`Settings::for_tests`] are named overrides of it, so no other file
//! carries a retry delay or a timeout of its own.

use std::time::Duration;

use crate::Config;
use crate::inbound::ingest::DEFAULT_MAX_QUEUE_BYTES;
use crate::inbound::lag::LagConfig;
use crate::media::download::MediaConfig;
use crate::outbound::sender::SenderConfig;
use crate::outbound::sweep::SweepConfig;
use crate::runtime::consume::RetryPolicy;
use crate::schedule::TickConfig;

/// How the use cases behave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Back-off and attempts of the inbound processor before a webhook is dead-lettered.
    pub inbound_retry: RetryPolicy,
    /// The outbound sender: throughput, attempts, back-off, the re-check after an unanswered send.
    pub sender: SenderConfig,
    /// How long a Graph call may take.
    pub graph_timeout: Duration,
    /// Webhook bodies larger than this go through blob storage (SQS takes 256 KiB).
    pub max_queue_bytes: usize,
    /// Local queues: how long a received record stays hidden (SQS's default is 30 s).
    pub queue_visibility: Duration,
    /// Local stack: concurrent workers per queue.
    pub workers: usize,
    /// Local stack: webhooks one inbound worker takes at once (SQS gives Lambda at most 10). They
    /// are applied concurrently, so their writes share commits.
    pub inbound_batch: u32,
    /// How long an `Idempotency-Key` stays claimed by a request that has not answered: long enough
    /// for any request to finish, short enough that a retry after a crash is not locked out.
    pub idempotency_lease: Duration,
    /// The sweep of outbound messages stranded without a queue record.
    pub sweep: SweepConfig,
    /// The scheduler's tick: how much it takes, how long a claim holds.
    pub schedule: TickConfig,
    /// The share of the number's limit a campaign takes when it names no `rate_mps`: the rest
    /// is left for conversation replies, which share the number's bucket.
    pub campaign_share: f64,
    /// How the processor reports its progress, and how recent a report the sender trusts.
    pub inbound_lag: LagConfig,
    /// The media downloader: cap, lease, back-off.
    pub media: MediaConfig,
    /// How long a media URL handed out stays valid.
    pub media_url_ttl: Duration,
    /// Attempts and back-off of event callbacks before one is dead-lettered.
    pub callback_retry: RetryPolicy,
    /// How long a callback receiver may take to answer.
    pub callback_timeout: Duration,
}

impl Settings {
    /// The deployed defaults, with what the environment overrides (`WABRIDGE_MAX_RECEIVES`,
    /// `WABRIDGE_THROUGHPUT_MPS`).
    pub fn from_config(config: &Config) -> Self {
        let sender = SenderConfig::default();
        Self {
            inbound_retry: RetryPolicy {
                max_receives: config.max_receives,
                ..RetryPolicy::default()
            },
            sender: SenderConfig {
                throughput_mps: config.throughput_mps,
                recheck_after: config.recheck_after.unwrap_or(sender.recheck_after),
                ..sender
            },
            // Nested inside the functions' timeouts (template.yaml: send-api 29 s, outbound-sender
            // 60 s with its batch deadline of 40 s), so no call is cut off by Lambda mid-flight.
            graph_timeout: Duration::from_secs(8),
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            queue_visibility: Duration::from_secs(30),
            workers: 2,
            inbound_batch: 10,
            idempotency_lease: Duration::from_secs(30),
            sweep: SweepConfig::default(),
            // EventBridge Scheduler invokes the scheduler every minute: a campaign's share per
            // tick covers the minute ahead.
            schedule: TickConfig {
                every: Duration::from_secs(60),
                ..TickConfig::default()
            },
            campaign_share: 0.9,
            inbound_lag: LagConfig::default(),
            media: MediaConfig {
                max_bytes: config.media_max_bytes,
                ..MediaConfig::default()
            },
            media_url_ttl: config.media_url_ttl,
            callback_retry: crate::callbacks::deliver::DEFAULT_RETRY,
            callback_timeout: crate::callbacks::deliver::DEFAULT_TIMEOUT,
        }
    }

    /// The laptop stack: quicker retries and re-checks, so a demo recovers in seconds.
    pub fn local(config: &Config) -> Self {
        let deployed = Self::from_config(config);
        Self {
            inbound_retry: RetryPolicy {
                base_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(60),
                ..deployed.inbound_retry
            },
            sender: SenderConfig {
                recheck_after: config.recheck_after.unwrap_or(Duration::from_secs(15)),
                ..deployed.sender
            },
            inbound_batch: 100,
            callback_retry: RetryPolicy {
                base_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(60),
                ..deployed.callback_retry
            },
            // The local stack ticks every second.
            schedule: TickConfig {
                every: Duration::from_secs(1),
                ..deployed.schedule
            },
            sweep: SweepConfig {
                stranded_after: Duration::from_secs(5 * 60),
                ..deployed.sweep
            },
            ..deployed
        }
    }

    /// Tests: no back-off, three inbound attempts, one-second Graph timeouts and visibility, so a
    /// "crash" is redelivered quickly and retries run out within a test.
    pub fn for_tests() -> Self {
        let zero = RetryPolicy {
            max_receives: 3,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        };
        Self {
            inbound_retry: zero,
            sender: SenderConfig::default(),
            graph_timeout: Duration::from_secs(1),
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            queue_visibility: Duration::from_secs(1),
            workers: 2,
            inbound_batch: 10,
            idempotency_lease: Duration::from_secs(30),
            sweep: SweepConfig::default(),
            schedule: TickConfig::default(),
            campaign_share: 0.9,
            // A mark after every batch, so what a test sees does not depend on when it started.
            inbound_lag: LagConfig {
                mark_every: Duration::ZERO,
                ..LagConfig::default()
            },
            // Retries at once, so a Graph 5xx heals within a test.
            media: MediaConfig {
                retry: RetryPolicy {
                    max_receives: 5,
                    ..zero
                },
                ..MediaConfig::default()
            },
            media_url_ttl: Duration::from_secs(300),
            callback_retry: zero,
            callback_timeout: Duration::from_secs(1),
        }
    }
}
