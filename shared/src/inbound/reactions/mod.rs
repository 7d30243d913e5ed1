//! Reactions: everything an applied inbound message or status triggers (linking a status to our
//! send, a counter, a media download, an auto-reply, a flow step, a template's new status).
//!
//! The processor runs every reaction each time an update is applied: on the first delivery and on
//! every redelivery alike, including after a crash between storing the message and reacting to it.
//! So a reaction must make itself idempotent: its effects carry ids derived from the triggering
//! wamid ([`crate::domain::MessageId::derived`]), the store's conditional writes refuse the second
//! copy, and the sender treats a final state as done. That is what makes side effects exactly once
//! over at-least-once webhooks.

pub mod automate;
mod count_analytics;
mod fetch_media;
mod link_outbound;
pub mod opt_out;
pub mod raise_events;
mod track_templates;

use std::sync::Arc;

use async_trait::async_trait;

pub use automate::Automate;
pub use count_analytics::CountAnalytics;
pub use fetch_media::FetchMedia;
pub use link_outbound::LinkOutbound;
pub use opt_out::OptOut;
pub use raise_events::RaiseEvents;
pub use track_templates::TrackTemplates;

use serde_json::{Value, json};

use crate::domain::{RawEvent, Recorded, StatusUpdate, StoredMessage};
use crate::outbound::enqueue::SendError;
use crate::ports::{BoxError, PortError};

/// An update the processor has just applied.
#[derive(Debug, Clone, Copy)]
pub enum Applied<'a> {
    /// A customer's message, and whether this delivery stored it for the first time.
    Message {
        /// The message as stored.
        message: &'a StoredMessage,
        /// New or seen before. Reactions must not rely on `New`: a crash may have come between
        /// the store write and the reaction.
        recorded: Recorded,
    },
    /// A delivery status of a message the business sent.
    Status(&'a StatusUpdate),
    /// A webhook change kept raw (template updates, account alerts, …).
    Event(&'a RawEvent),
}

/// Why a reaction did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum ReactionError {
    /// Infrastructure trouble that may pass: the whole webhook is retried (every reaction is
    /// idempotent, so those that already ran change nothing the second time).
    #[error("may succeed later: {0}")]
    Retry(#[source] BoxError),
    /// It can never take effect (a rule whose reply breaks WhatsApp's rules, a closed window):
    /// logged, and the other reactions and updates go on.
    #[error("{0}")]
    Permanent(String),
}

/// Only bad data is permanent. A store that is down or misconfigured retries the webhook, as the
/// processor's own writes do, so the effect still happens once an operator has fixed it.
impl From<PortError> for ReactionError {
    fn from(e: PortError) -> Self {
        match e {
            PortError::Invalid { .. } => Self::Permanent(e.to_string()),
            PortError::Unavailable { .. } | PortError::Misconfigured { .. } => Self::Retry(Box::new(e)),
        }
    }
}

impl From<SendError> for ReactionError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Port(p) => p.into(),
            SendError::QueueUnavailable(_) => Self::Retry(Box::new(e)),
            SendError::Invalid { .. }
            | SendError::WindowClosed { .. }
            | SendError::Template(_)
            | SendError::OptedOut => Self::Permanent(e.to_string()),
        }
    }
}

/// A send body answering customer message `m` with `message` (a message object without `to`):
/// to whoever wrote, from the number they wrote to, as a reply to their message. `None` when the
/// message has neither a wa_id nor a user id to answer.
pub(crate) fn reply_body(m: &StoredMessage, message: &Value) -> Option<Value> {
    let mut body = message.clone();
    let obj = body.as_object_mut()?;
    obj.insert("phone_number_id".into(), json!(m.phone_number_id));
    if let Some(wamid) = &m.wamid {
        obj.insert("context".into(), json!({"message_id": wamid.as_str()}));
    }
    match (&m.wa_id, &m.user_id) {
        (Some(wa), _) => obj.insert("to".into(), json!(wa)),
        (None, Some(user)) => obj.insert("recipient".into(), json!(user)),
        (None, None) => return None,
    };
    Some(body)
}

/// Something that happens because an update was applied.
#[async_trait]
pub trait Reaction: Send + Sync + 'static {
    /// A short stable name, for logs and derived ids (`"link-outbound"`, `"rule:42"`).
    fn name(&self) -> &str;

    /// Reacts to one applied update; most reactions ignore most updates.
    async fn react(&self, applied: Applied<'_>) -> Result<(), ReactionError>;
}

/// The reactions a processor runs, in order.
#[derive(Clone, Default)]
pub struct Reactions(Vec<Arc<dyn Reaction>>);

impl std::fmt::Debug for Reactions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|r| r.name())).finish()
    }
}

impl Reactions {
    /// No reactions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a reaction after the ones already registered.
    pub fn with(mut self, reaction: Arc<dyn Reaction>) -> Self {
        self.0.push(reaction);
        self
    }

    /// Runs every reaction on `applied`. A permanent failure is logged and skipped; the first
    /// retryable one stops here and is returned, so the webhook is retried.
    pub async fn run(&self, applied: Applied<'_>) -> Result<(), ReactionError> {
        for r in &self.0 {
            match r.react(applied).await {
                Ok(()) => {}
                Err(ReactionError::Permanent(reason)) => {
                    tracing::warn!(reaction = r.name(), reason = %reason, "reaction skipped");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Fails with the error `fail` makes, and counts its runs.
    struct Probe {
        fail: fn() -> Option<ReactionError>,
        runs: AtomicUsize,
    }

    #[async_trait]
    impl Reaction for Probe {
        fn name(&self) -> &str {
            "probe"
        }

        async fn react(&self, _: Applied<'_>) -> Result<(), ReactionError> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            (self.fail)().map_or(Ok(()), Err)
        }
    }

    fn probe(fail: fn() -> Option<ReactionError>) -> Arc<Probe> {
        Arc::new(Probe {
            fail,
            runs: AtomicUsize::new(0),
        })
    }

    fn event() -> RawEvent {
        RawEvent::new("account_update", "change", None, None, serde_json::json!({}))
    }

    #[tokio::test]
    async fn a_permanent_failure_is_skipped_and_the_next_reaction_still_runs() {
        let (bad, next) = (
            probe(|| Some(ReactionError::Permanent("bad rule".into()))),
            probe(|| None),
        );
        let reactions = Reactions::new().with(bad.clone()).with(next.clone());
        reactions.run(Applied::Event(&event())).await.unwrap();
        assert_eq!(next.runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_retryable_failure_stops_the_run_so_the_webhook_is_retried() {
        let (down, next) = (probe(|| Some(ReactionError::Retry("down".into()))), probe(|| None));
        let reactions = Reactions::new().with(down.clone()).with(next.clone());
        assert!(matches!(
            reactions.run(Applied::Event(&event())).await,
            Err(ReactionError::Retry(_))
        ));
        assert_eq!(next.runs.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn only_bad_data_is_permanent_a_store_down_or_misconfigured_retries() {
        let io = || std::io::Error::other("x");
        assert!(matches!(
            ReactionError::from(PortError::unavailable("op", io())),
            ReactionError::Retry(_)
        ));
        assert!(matches!(
            ReactionError::from(PortError::misconfigured("op", io())),
            ReactionError::Retry(_)
        ));
        assert!(matches!(
            ReactionError::from(PortError::invalid("op", "corrupt row")),
            ReactionError::Permanent(_)
        ));
        assert!(matches!(
            ReactionError::from(SendError::WindowClosed {
                window_expires_at: None
            }),
            ReactionError::Permanent(_)
        ));
        assert!(matches!(
            ReactionError::from(SendError::QueueUnavailable(PortError::unavailable("send", io()))),
            ReactionError::Retry(_)
        ));
    }
}
