//! Read receipts: tell Meta the business has read a customer's message (blue ticks), optionally
//! with the typing indicator. One Graph call, not queued: the frontend wants the answer now.

use std::sync::Arc;

use crate::domain::{Direction, MessageRef, Wamid};
use crate::graph::{GraphClient, GraphError};
use crate::ports::{PortError, ReadModel};

/// Why a read receipt was not sent.
#[derive(Debug, thiserror::Error)]
pub enum ReadReceiptError {
    /// The message is not stored and there is no default business number to send through.
    #[error("unknown message and no default business number")]
    UnknownMessage,
    /// Only a customer's message can be marked read.
    #[error("only a customer's message can be marked read")]
    NotInbound,
    /// Graph refused or failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The store failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// The read-receipt use case.
#[derive(Clone)]
pub struct ReadReceipts {
    read: Arc<dyn ReadModel>,
    graph: GraphClient,
    default_phone_number_id: Option<String>,
}

impl std::fmt::Debug for ReadReceipts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadReceipts").finish_non_exhaustive()
    }
}

impl ReadReceipts {
    /// Wires the use case; `read` finds the business number the message came in on.
    pub fn new(read: Arc<dyn ReadModel>, graph: GraphClient, default_phone_number_id: Option<String>) -> Self {
        Self {
            read,
            graph,
            default_phone_number_id,
        }
    }

    /// Marks `wamid` read, showing the typing indicator when `typing`.
    pub async fn mark_read(&self, wamid: &Wamid, typing: bool) -> Result<(), ReadReceiptError> {
        let known = self.read.message(&MessageRef::Wamid(wamid.clone())).await?;
        let pni = known
            .as_ref()
            .and_then(|m| m.phone_number_id.clone())
            .or_else(|| self.default_phone_number_id.clone())
            .ok_or(ReadReceiptError::UnknownMessage)?;
        if known.as_ref().is_some_and(|m| m.direction != Direction::Inbound) {
            return Err(ReadReceiptError::NotInbound);
        }
        self.graph.mark_read(&pni, wamid, typing).await?;
        Ok(())
    }
}
