//! Read receipts: tell Meta the business has read a customer's message (blue ticks), optionally
//! with the typing indicator. One Graph call, not queued: the frontend wants the answer now.

use std::sync::Arc;

use crate::domain::{CustomerKey, Direction, MessageRef, Wamid};
use crate::graph::{GraphClient, GraphError};
use crate::ports::{Inbox, PortError, ReadModel};
use crate::read::{Cursor, PageRequest, messages_list};

/// Why a read receipt was not sent.
#[derive(Debug, thiserror::Error)]
pub enum ReadReceiptError {
    /// The message is not stored and there is no default business number to send through.
    #[error("unknown message and no default business number")]
    UnknownMessage,
    /// Only a customer's message can be marked read.
    #[error("only a customer's message can be marked read")]
    NotInbound,
    /// No conversation with that customer.
    #[error("no conversation with that customer")]
    UnknownConversation,
    /// Graph refused or failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The store failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Messages read per page while looking for a conversation's newest inbound message.
const NEWEST_INBOUND_PAGE: u32 = 100;
/// Pages read before concluding the customer wrote nothing lately enough to mark (a long run of
/// our own sends in between).
const NEWEST_INBOUND_PAGES: usize = 10;

/// The read-receipt use case.
#[derive(Clone)]
pub struct ReadReceipts {
    read: Arc<dyn ReadModel>,
    inbox: Arc<dyn Inbox>,
    graph: GraphClient,
    default_phone_number_id: Option<String>,
}

impl std::fmt::Debug for ReadReceipts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadReceipts").finish_non_exhaustive()
    }
}

impl ReadReceipts {
    /// Wires the use case; `read` finds the business number the message came in on, `inbox`
    /// keeps the conversation's read position.
    pub fn new(
        read: Arc<dyn ReadModel>,
        inbox: Arc<dyn Inbox>,
        graph: GraphClient,
        default_phone_number_id: Option<String>,
    ) -> Self {
        Self {
            read,
            inbox,
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
        self.receipt(&pni, wamid, typing).await
    }

    /// Tells Meta, then moves the read position: a receipt Meta refused leaves the message unread
    /// here too.
    async fn receipt(&self, pni: &str, wamid: &Wamid, typing: bool) -> Result<(), ReadReceiptError> {
        self.graph.mark_read(pni, wamid, typing).await?;
        self.inbox.mark_read(wamid).await?;
        Ok(())
    }

    /// Marks everything the customer wrote read: the newest inbound message at Meta (Meta then
    /// shows every earlier one read too) and the conversation's read position here. Returns that
    /// message's wamid, or `None` when the customer has written nothing to mark.
    pub async fn mark_conversation_read(&self, customer: &CustomerKey) -> Result<Option<Wamid>, ReadReceiptError> {
        let list = messages_list(customer);
        let mut page = PageRequest {
            limit: NEWEST_INBOUND_PAGE,
            after: None,
        };
        for round in 0..NEWEST_INBOUND_PAGES {
            let found = self.read.conversation_messages(customer, &page).await?;
            // A conversation exists only with a message in it.
            if round == 0 && found.data.is_empty() {
                return Err(ReadReceiptError::UnknownConversation);
            }
            let newest = found
                .data
                .iter()
                .rev()
                .find(|m| m.direction == Direction::Inbound && m.wamid.is_some());
            if let Some(m) = newest {
                let wamid = Wamid::parse(m.wamid.as_deref().unwrap_or_default())
                    .map_err(|e| PortError::invalid("read newest inbound", e.reason))?;
                let pni = m
                    .phone_number_id
                    .as_deref()
                    .or(self.default_phone_number_id.as_deref())
                    .ok_or(ReadReceiptError::UnknownMessage)?;
                self.receipt(pni, &wamid, false).await?;
                return Ok(Some(wamid));
            }
            match found.next_cursor.as_deref().map(|c| Cursor::decode(c, &list)) {
                Some(Ok(after)) => page.after = Some(after),
                _ => break,
            }
        }
        Ok(None)
    }
}
