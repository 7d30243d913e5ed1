//! The callbacks queue's consumer: posts each event to the receiver, signed, and decides from the
//! answer whether it is done, retried after a back-off, or dead-lettered.

use std::time::Duration;

use async_trait::async_trait;
use http::header::{CONTENT_TYPE, USER_AGENT};

use super::{CallbackConfig, Event, SIGNATURE_HEADER, sign};
use crate::ports::Delivery;
use crate::runtime::consume::{Handler, Outcome, RetryPolicy};

/// Attempts and back-off as deployed: sixteen attempts, starting 10 s apart and doubling to 15
/// minutes, which rides out more than an hour of the receiver being down.
pub const DEFAULT_RETRY: RetryPolicy = RetryPolicy {
    max_receives: 16,
    base_delay: Duration::from_secs(10),
    max_delay: Duration::from_secs(15 * 60),
};

/// How long a receiver may take to answer before the attempt counts as failed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Posts events to the receiver.
#[derive(Clone)]
pub struct Deliverer {
    http: reqwest::Client,
    config: CallbackConfig,
    policy: RetryPolicy,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The client could not be built (no TLS backend).
#[derive(Debug, thiserror::Error)]
#[error("callback client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

impl Deliverer {
    /// Posts to `config.url`, giving each attempt `timeout` and retrying as `policy` says.
    pub fn new(config: CallbackConfig, policy: RetryPolicy, timeout: Duration) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            // A redirect is an answer we did not ask for: it fails the attempt instead of sending
            // the signed body somewhere the operator did not configure.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { http, config, policy })
    }

    /// One attempt at one event.
    async fn deliver(&self, d: &Delivery) -> Outcome {
        let event: Event = match serde_json::from_str(&d.body) {
            Ok(e) => e,
            // Nothing will ever make this a callback: aside at once, with why.
            Err(e) => {
                return Outcome::DeadLetter {
                    reason: format!("not a callback event: {e}"),
                };
            }
        };
        // The body goes out exactly as queued, so every attempt carries the same bytes and
        // signature.
        let attempt = self
            .http
            .post(&self.config.url)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("wabridge/", env!("CARGO_PKG_VERSION")))
            .header(SIGNATURE_HEADER, sign(&self.config.secret, d.body.as_bytes()))
            .header("X-Wabridge-Event-Id", &event.id)
            .header("X-Wabridge-Event-Type", &event.kind)
            .body(d.body.clone())
            .send()
            .await;
        let result = match attempt {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("the receiver answered {}", r.status())),
            // Without the URL: it may carry a token of the receiver's.
            Err(e) => Err(format!("the receiver could not be reached: {}", e.without_url())),
        };
        let outcome = self.policy.outcome(result, d.receive_count);
        match &outcome {
            Outcome::Done => tracing::info!(event = %event.id, kind = %event.kind, "callback delivered"),
            Outcome::Retry { reason, .. } | Outcome::DeadLetter { reason } | Outcome::Postpone { reason, .. } => {
                tracing::warn!(event = %event.id, kind = %event.kind, attempt = d.receive_count, reason = %reason, "callback not delivered");
            }
        }
        outcome
    }
}

#[async_trait]
impl Handler for Deliverer {
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome> {
        futures::future::join_all(batch.iter().map(|d| self.deliver(d))).await
    }
}
