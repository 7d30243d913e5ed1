//! Delivery statuses and how they merge: monotonic, failed terminal, every timestamp kept.

use std::collections::BTreeMap;

use super::{ErrorInfo, Json, Wamid};
use serde::{Deserialize, Serialize};

/// A delivery status Meta reports for a message the business sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Accepted by WhatsApp's servers.
    Sent,
    /// Reached the customer's device.
    Delivered,
    /// Opened by the customer.
    Read,
    /// A voice message was played: counts as read, and beyond it.
    Played,
    /// The message was deleted.
    Deleted,
    /// Could not be delivered; terminal, with an error.
    Failed,
}

impl DeliveryStatus {
    /// Parses Meta's status word; `None` for words that are not message statuses (call statuses).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "played" => Self::Played,
            "deleted" => Self::Deleted,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Meta's word for this status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Played => "played",
            Self::Deleted => "deleted",
            Self::Failed => "failed",
        }
    }

    /// Order in which statuses may replace each other: a status only ever moves to a higher rank, so
    /// reordered webhooks cannot take it backwards. Failed is terminal.
    pub fn rank(self) -> i64 {
        match self {
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            Self::Played => 4,
            Self::Deleted => 5,
            Self::Failed => 9,
        }
    }
}

/// One status update from a webhook, to be applied monotonically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// Which message.
    pub wamid: Wamid,
    /// The new status.
    pub status: DeliveryStatus,
    /// When Meta says it happened, Unix ms.
    pub timestamp_ms: i64,
    /// Business number.
    pub phone_number_id: String,
    /// Who the message went to (a wa_id, or a group id).
    pub recipient_id: Option<String>,
    /// Recipient's business-scoped user id.
    pub recipient_user_id: Option<String>,
    /// First error, for `failed`.
    pub error: Option<ErrorInfo>,
    /// Meta's `conversation` object.
    pub conversation: Option<Json>,
    /// Meta's `pricing` object.
    pub pricing: Option<Json>,
    /// What the sender put in `biz_opaque_callback_data` (our message id for our own sends).
    pub biz_opaque_callback_data: Option<String>,
}

/// What the store knows of a wamid's delivery: the merged result of every status applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusRecord {
    /// Highest status reached.
    pub status: Option<DeliveryStatus>,
    /// When each status happened, Unix ms; every status seen is kept even when it came late.
    pub timestamps: BTreeMap<String, i64>,
    /// The error that made it fail.
    pub error: Option<ErrorInfo>,
    /// Business number.
    pub phone_number_id: Option<String>,
    /// Recipient as Meta reported it.
    pub recipient_id: Option<String>,
    /// Recipient's business-scoped id.
    pub recipient_user_id: Option<String>,
    /// Latest `conversation` object.
    pub conversation: Option<Json>,
    /// Latest `pricing` object.
    pub pricing: Option<Json>,
    /// `biz_opaque_callback_data` as sent.
    pub biz_opaque_callback_data: Option<String>,
}

impl StatusRecord {
    /// Folds one status in: the timestamp of each status is kept as first seen, the status moves only
    /// up in rank, a failure keeps its error, and the other fields are kept from the first status that
    /// carries them.
    /// Applying the same updates in any order, any number of times, gives the same record.
    pub fn apply(&mut self, u: &StatusUpdate) {
        self.timestamps
            .entry(u.status.as_str().to_owned())
            .or_insert(u.timestamp_ms);
        if self.status.is_none_or(|cur| cur.rank() < u.status.rank()) {
            self.status = Some(u.status);
            if u.status == DeliveryStatus::Failed {
                self.error = u.error.clone();
            }
        }
        fill(
            &mut self.phone_number_id,
            Some(&u.phone_number_id).filter(|p| !p.is_empty()),
        );
        fill(&mut self.recipient_id, u.recipient_id.as_ref());
        fill(&mut self.recipient_user_id, u.recipient_user_id.as_ref());
        fill(&mut self.biz_opaque_callback_data, u.biz_opaque_callback_data.as_ref());
        fill(&mut self.conversation, u.conversation.as_ref());
        fill(&mut self.pricing, u.pricing.as_ref());
    }
}

fn fill<T: Clone>(slot: &mut Option<T>, v: Option<&T>) {
    if slot.is_none() {
        *slot = v.cloned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_rank_so_read_beats_delivered_and_failed_is_terminal() {
        use DeliveryStatus::*;
        assert!(Sent.rank() < Delivered.rank() && Delivered.rank() < Read.rank());
        assert!(Read.rank() < Played.rank());
        for s in [Sent, Delivered, Read, Played, Deleted] {
            assert!(s.rank() < Failed.rank());
        }
    }
}
