//! Every applied message and status updates the analytics counters.

use async_trait::async_trait;

use super::{Applied, Reaction, ReactionError};
use crate::analytics::Recorder;
use crate::domain::MessageRef;
use crate::read::MessageView;

/// Records the message an update concerns (the customer's message, or our message a status is
/// about) in the counters. Each count is keyed by what it counts, so running it on every
/// redelivery changes nothing twice.
#[derive(Debug, Clone)]
pub struct CountAnalytics {
    recorder: Recorder,
}

impl CountAnalytics {
    /// The reaction over `recorder`.
    pub fn new(recorder: Recorder) -> Self {
        Self { recorder }
    }
}

#[async_trait]
impl Reaction for CountAnalytics {
    fn name(&self) -> &str {
        "count-analytics"
    }

    async fn react(&self, applied: Applied<'_>) -> Result<(), ReactionError> {
        match applied {
            // A customer's message has no statuses: the message in hand is the whole view.
            Applied::Message { message, .. } => {
                if let Some(view) = MessageView::join(Some(message.clone()), None, None) {
                    self.recorder.record_view(&view).await?;
                }
            }
            Applied::Status(status) => {
                self.recorder
                    .record_own(&MessageRef::Wamid(status.wamid.clone()))
                    .await?;
            }
            Applied::Event(_) => {}
        }
        Ok(())
    }
}
