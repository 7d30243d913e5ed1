//! The first reaction: a status webhook carrying our id links the outbound message to its wamid.
//!
//! Our sends carry our id as `biz_opaque_callback_data`. A status for it proves Meta accepted a send
//! whose answer we may never have got (a timeout), so the sender will not send it again, and revives
//! one we gave up on without knowing (failed `outcome_unknown`).

use std::sync::Arc;

use async_trait::async_trait;

use super::{Applied, Reaction, ReactionError};
use crate::domain::SendChange;
use crate::outbound::callback_data;
use crate::ports::Outbox;

/// Marks an outbound message accepted when a status for it arrives.
#[derive(Clone)]
pub struct LinkOutbound {
    outbox: Arc<dyn Outbox>,
}

impl std::fmt::Debug for LinkOutbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkOutbound")
    }
}

impl LinkOutbound {
    /// The reaction over the outbox it updates.
    pub fn new(outbox: Arc<dyn Outbox>) -> Self {
        Self { outbox }
    }
}

#[async_trait]
impl Reaction for LinkOutbound {
    fn name(&self) -> &str {
        "link-outbound"
    }

    async fn react(&self, applied: Applied<'_>) -> Result<(), ReactionError> {
        let Applied::Status(s) = applied else { return Ok(()) };
        // Callback data a caller set themselves (not one of our ids) is not ours to link.
        let Some(id) = s
            .biz_opaque_callback_data
            .as_deref()
            .and_then(|d| callback_data::decode(d).0)
        else {
            return Ok(());
        };
        // A no-op on a message already accepted, so redeliveries change nothing; a message we
        // failed without knowing whether Meta had it comes back to life.
        self.outbox
            .update_outbound(id, &SendChange::Confirmed { wamid: s.wamid.clone() })
            .await?;
        Ok(())
    }
}
