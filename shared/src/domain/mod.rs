//! The shared kernel: only what two or more features use. Identifiers parsed at the boundary
//! ([`MessageId`], [`Wamid`], [`CustomerKey`], …), the stored message, delivery statuses and how they
//! merge, the send state machine, conversations with their 24-hour window, contacts. Both store
//! adapters build their answers from these, so the two backends cannot drift.

mod contact;
mod conversation;
mod event;
mod ids;
mod json;
mod lag;
mod message;
mod records;
mod send;
mod status;

pub use contact::{Contact, Managed, Seen, fold_name};
pub use conversation::{Conversation, LastMessage, UNREAD_SHOWN, WINDOW_MS, Window};
pub use event::RawEvent;
pub use ids::{CustomerKey, InvalidInput, MessageId, MessageRef, Wamid};
pub use json::Json;
pub use lag::InboundMark;
pub use message::{Direction, ErrorInfo, StoredMessage, seq_key};
pub use records::{IdempotencyClaim, Recorded};
pub use send::{SendChange, SendProgress, SendState, Stranded};
pub use status::{DeliveryStatus, StatusRecord, StatusUpdate};
