//! Domain types: identifiers parsed at the boundary, the stored records, and the views the HTTP API
//! returns. Both store adapters build their answers from these, so the two backends cannot drift.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use ulid::Ulid;

use crate::timefmt;

/// Why an identifier or paging parameter was rejected; the API maps it to a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidInput {
    /// The parameter that was wrong.
    pub field: &'static str,
    /// What was wrong with it.
    pub reason: String,
}

impl InvalidInput {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// Longest identifier we accept from Meta or a client. Real wamids are ~60 characters; the bound only
/// keeps garbage out of keys.
const MAX_ID_LEN: usize = 512;

fn check_token(field: &'static str, s: &str, max: usize) -> Result<(), InvalidInput> {
    if s.is_empty() {
        return Err(InvalidInput::new(field, "must not be empty"));
    }
    if s.len() > max {
        return Err(InvalidInput::new(field, format!("must be at most {max} bytes")));
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(InvalidInput::new(
            field,
            "must not contain whitespace or control characters",
        ));
    }
    Ok(())
}

/// Our own message id: a ULID. Inbound messages derive theirs from the wamid, so every redelivery of
/// the same webhook maps to the same key and the store's conditional write is the de-duplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(Ulid);

impl MessageId {
    /// A fresh, time-ordered id (outbound messages).
    pub fn new() -> Self {
        Self(Ulid::new())
    }

    /// The id of the inbound message with this wamid: the first 128 bits of its SHA-256.
    pub fn for_wamid(wamid: &Wamid) -> Self {
        let digest = Sha256::digest(wamid.as_str().as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(Ulid::from(u128::from_be_bytes(bytes)))
    }

    /// Parses our id (26 characters of Crockford base32).
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        Ulid::from_string(s)
            .map(Self)
            .map_err(|_| InvalidInput::new("id", "not a wabridge message id"))
    }
}

impl Default for MessageId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A WhatsApp message id as Meta writes it (`wamid.…`). Meta's own examples use placeholders such as
/// `<WHATSAPP_MESSAGE_ID>`, so only emptiness, length and control characters are refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Wamid(String);

impl Wamid {
    /// Parses a wamid.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        check_token("wamid", s, MAX_ID_LEN)?;
        Ok(Self(s.to_owned()))
    }

    /// The wamid as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A reference to one message in the API: our id or Meta's wamid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageRef {
    /// Our ULID.
    Id(MessageId),
    /// Meta's id.
    Wamid(Wamid),
}

impl MessageRef {
    /// Our ids are ULIDs; anything else that is a well-formed token is taken as a wamid.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        match MessageId::parse(s) {
            Ok(id) => Ok(Self::Id(id)),
            Err(_) => Wamid::parse(s)
                .map(Self::Wamid)
                .map_err(|e| InvalidInput::new("id", e.reason)),
        }
    }
}

/// The customer a conversation is with: the `wa_id` when Meta sends one (E.164 digits, no '+'), else
/// the business-scoped `user_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerKey(String);

impl CustomerKey {
    /// Parses a wa_id or user_id from a path.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        check_token("wa_id", s, 128)?;
        if s.contains('/') {
            return Err(InvalidInput::new("wa_id", "must not contain '/'"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the customer to the business.
    Inbound,
    /// From the business to the customer.
    Outbound,
}

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

/// An error Meta attached to a message or status: `{"code","title","details"}` in the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// Meta's numeric error code.
    pub code: i64,
    /// Meta's short title.
    pub title: String,
    /// The longer explanation, when Meta gives one.
    pub details: Option<String>,
}

/// A message as kept in the messages table: everything but its delivery status, which lives in the
/// status record keyed by wamid so that statuses can arrive before, after or without the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Our id.
    pub id: MessageId,
    /// Meta's id, once known.
    pub wamid: Option<Wamid>,
    /// The business number it went through.
    pub phone_number_id: String,
    /// Which conversation it belongs to.
    pub customer: CustomerKey,
    /// Customer's number, when Meta gave it.
    pub wa_id: Option<String>,
    /// Customer's business-scoped user id, when Meta gave it.
    pub user_id: Option<String>,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Meta's type string (`text`, `image`, …).
    pub msg_type: String,
    /// Body, caption or reply title.
    pub text: Option<String>,
    /// Meta's type-specific object as received.
    pub content: Value,
    /// Meta's `context` object (reply, forwarded, referred product), as received.
    pub context: Option<Value>,
    /// Ad referral for click-to-WhatsApp messages, as received.
    pub referral: Option<Value>,
    /// The first error Meta attached to the message itself.
    pub error: Option<ErrorInfo>,
    /// Own status before Meta reports any: `received` for inbound, `queued`/`accepted` for outbound.
    pub status: String,
    /// Meta's timestamp (inbound) or creation time (outbound), Unix ms.
    pub timestamp_ms: i64,
    /// Whether this message opens or refreshes the 24-hour customer-service window.
    pub opens_window: bool,
    /// Profile name Meta sent with it.
    pub profile_name: Option<String>,
    /// Top-level fields of Meta's message we do not model, kept so nothing is lost.
    #[serde(default)]
    pub extra: Option<Value>,
}

impl StoredMessage {
    /// The key that orders messages inside a conversation: time, then id, so pages are stable while
    /// new messages arrive.
    pub fn seq(&self) -> String {
        seq_key(self.timestamp_ms, &self.id.to_string())
    }
}

/// Builds a sortable key from a time and a tiebreaker (zero-padded so text order is time order).
pub fn seq_key(ms: i64, tiebreak: &str) -> String {
    format!("{:015}#{tiebreak}", ms.max(0))
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
    pub conversation: Option<Value>,
    /// Meta's `pricing` object.
    pub pricing: Option<Value>,
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
    pub conversation: Option<Value>,
    /// Latest `pricing` object.
    pub pricing: Option<Value>,
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

/// The cursor list name of one conversation's messages, so its cursors fit no other conversation.
pub fn messages_list(customer: &CustomerKey) -> String {
    format!("messages:{}", customer.as_str())
}

/// A webhook change we do not model yet (template updates, account alerts, history, calls, value-level
/// errors, unparseable items): kept whole so later features can replay it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawEvent {
    /// Content hash: the same change delivered twice is stored once.
    pub id: String,
    /// The webhook `field` (`message_template_status_update`, …).
    pub field: String,
    /// What part of the change it is (`change`, `errors`, `status`, `message`).
    pub kind: String,
    /// The WABA id of the entry.
    pub entry_id: Option<String>,
    /// The business number, when the change names one.
    pub phone_number_id: Option<String>,
    /// The item exactly as received.
    pub payload: Value,
}

impl RawEvent {
    /// Builds an event whose id is the hash of what identifies it.
    pub fn new(
        field: &str,
        kind: &str,
        entry_id: Option<String>,
        phone_number_id: Option<String>,
        payload: Value,
    ) -> Self {
        let mut h = Sha256::new();
        for part in [
            field,
            kind,
            entry_id.as_deref().unwrap_or(""),
            phone_number_id.as_deref().unwrap_or(""),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(payload.to_string().as_bytes());
        Self {
            id: hex::encode(&h.finalize()[..16]),
            field: field.to_owned(),
            kind: kind.to_owned(),
            entry_id,
            phone_number_id,
            payload,
        }
    }
}

/// Where an outbound message is on its way to Meta (before Meta's own statuses take over).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SendState {
    /// Stored and on the outbound queue.
    Queued,
    /// A Graph call was made and its outcome is not known yet.
    Sending,
    /// Graph accepted it and gave a wamid.
    Accepted,
    /// It will not be sent: Meta refused it or retries ran out.
    Failed,
}

impl SendProgress {
    /// A message just queued.
    pub fn queued() -> Self {
        Self {
            state: SendState::Queued,
            attempts: 0,
            last_attempt_ms: None,
            wamid: None,
            error: None,
        }
    }

    /// Shows the progress on the stored message, which the view then joins with Meta's statuses.
    pub fn overlay(&self, m: &mut StoredMessage) {
        m.status = self.state.as_str().to_owned();
        if self.wamid.is_some() {
            m.wamid = self.wamid.clone();
        }
        if self.error.is_some() {
            m.error = self.error.clone();
        }
    }
}

impl SendState {
    /// The word shown as the message's status until Meta reports one.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Accepted => "accepted",
            Self::Failed => "failed",
        }
    }

    /// Parses [`SendState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "sending" => Self::Sending,
            "accepted" => Self::Accepted,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Accepted and failed are final: nothing moves them.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Accepted | Self::Failed)
    }
}

/// The sender's bookkeeping for one outbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendProgress {
    /// Where it is.
    pub state: SendState,
    /// Graph calls made so far.
    pub attempts: u32,
    /// When the last call was made, Unix ms.
    pub last_attempt_ms: Option<i64>,
    /// Meta's id, once known.
    pub wamid: Option<Wamid>,
    /// Why it failed.
    pub error: Option<ErrorInfo>,
}

/// A change to an outbound message's [`SendProgress`]. Each is a no-op on a message already in a final
/// state, so a redelivered queue record cannot undo an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendChange {
    /// A Graph call is about to be made. Takes effect only if the message has made exactly
    /// `after_attempts` attempts, so of two workers holding duplicate queue deliveries one wins.
    Attempt {
        /// When.
        at_ms: i64,
        /// Attempts the caller saw before this one.
        after_attempts: u32,
    },
    /// Graph accepted it, or a status webhook carrying our id told us so.
    Accepted {
        /// Meta's id.
        wamid: Wamid,
    },
    /// The attempt failed in a way worth retrying: back to `queued`, keeping the error.
    Deferred {
        /// Why this attempt failed.
        error: ErrorInfo,
    },
    /// It will not be sent.
    Failed {
        /// Why.
        error: ErrorInfo,
    },
}

/// What an `Idempotency-Key` claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// First use of the key: go ahead, then record the answer.
    New,
    /// Used before and answered: replay the answer if the request is the same.
    Answered {
        /// Hash of the request that used the key.
        fingerprint: String,
        /// HTTP status of the answer.
        status: u16,
        /// Body of the answer.
        body: Value,
    },
    /// Used by a request still being handled.
    InProgress {
        /// Hash of that request.
        fingerprint: String,
    },
}

/// Whether a conditional write took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// First time: stored, counters bumped.
    New,
    /// Seen before: nothing changed.
    Duplicate,
}

/// The message object the HTTP API returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageView {
    /// Our id (null for a status whose message we never stored).
    pub id: Option<String>,
    /// Meta's id.
    pub wamid: Option<String>,
    /// Business number.
    pub phone_number_id: Option<String>,
    /// Customer's number.
    pub wa_id: Option<String>,
    /// Customer's business-scoped id.
    pub user_id: Option<String>,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Meta's type (null for a status-only placeholder).
    #[serde(rename = "type")]
    pub msg_type: Option<String>,
    /// Body, caption or reply title.
    pub text: Option<String>,
    /// Meta's type-specific object.
    pub content: Value,
    /// `received` for inbound, else the latest outbound status.
    pub status: String,
    /// Why it failed.
    pub error: Option<ErrorInfo>,
    /// When it was sent or received.
    #[serde(serialize_with = "timefmt::ser_opt_ms")]
    pub timestamp: Option<i64>,
    /// When each status happened.
    #[serde(serialize_with = "timefmt::ser_ms_map")]
    pub status_timestamps: BTreeMap<String, i64>,
    /// Meta's context object.
    pub context: Option<Value>,
    /// Click-to-WhatsApp ad referral.
    pub referral: Option<Value>,
    /// Meta's pricing object from the latest status.
    pub pricing: Option<Value>,
}

impl MessageView {
    /// Joins a stored message with its status record. Either may be missing: a status without a
    /// message is shown as an outbound message of unknown type.
    pub fn join(message: Option<StoredMessage>, status: Option<StatusRecord>, wamid: Option<&Wamid>) -> Option<Self> {
        match (message, status) {
            (None, None) => None,
            (Some(m), st) => {
                let st = st.unwrap_or_default();
                let (status, error) = match (m.direction, st.status) {
                    (Direction::Inbound, _) => ("received".to_owned(), m.error.clone()),
                    (Direction::Outbound, Some(s)) => (s.as_str().to_owned(), st.error.or(m.error.clone())),
                    (Direction::Outbound, None) => (m.status.clone(), m.error.clone()),
                };
                Some(Self {
                    id: Some(m.id.to_string()),
                    wamid: m.wamid.map(|w| w.0),
                    phone_number_id: Some(m.phone_number_id),
                    wa_id: m.wa_id,
                    user_id: m.user_id,
                    direction: m.direction,
                    msg_type: Some(m.msg_type),
                    text: m.text,
                    content: m.content,
                    status,
                    error,
                    timestamp: Some(m.timestamp_ms),
                    status_timestamps: st.timestamps,
                    context: m.context,
                    referral: m.referral,
                    pricing: st.pricing,
                })
            }
            (None, Some(st)) => Some(Self {
                id: None,
                wamid: wamid.map(|w| w.0.clone()),
                phone_number_id: st.phone_number_id,
                wa_id: st.recipient_id,
                user_id: st.recipient_user_id,
                direction: Direction::Outbound,
                msg_type: None,
                text: None,
                content: Value::Null,
                status: st.status.map_or("unknown", DeliveryStatus::as_str).to_owned(),
                error: st.error,
                timestamp: st.timestamps.values().min().copied(),
                status_timestamps: st.timestamps,
                context: None,
                referral: None,
                pricing: st.pricing,
            }),
        }
    }
}

/// A short preview of the newest message in a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastMessage {
    /// Our id.
    pub id: String,
    /// Meta's type.
    #[serde(rename = "type")]
    pub msg_type: String,
    /// Body, caption or title.
    pub text: Option<String>,
    /// Inbound or outbound.
    pub direction: Direction,
}

/// The conversation object the HTTP API returns: one per customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    /// Customer's number.
    pub wa_id: Option<String>,
    /// Customer's business-scoped id.
    pub user_id: Option<String>,
    /// Business number of the latest message.
    pub phone_number_id: Option<String>,
    /// Customer's profile name.
    pub name: Option<String>,
    /// Preview of the newest message.
    pub last_message: Option<LastMessage>,
    /// When the newest message was sent or received.
    #[serde(serialize_with = "timefmt::ser_opt_ms")]
    pub last_message_at: Option<i64>,
    /// Inbound messages counted once each.
    pub unread: i64,
    /// When the 24-hour customer-service window closes.
    #[serde(serialize_with = "timefmt::ser_opt_ms")]
    pub window_expires_at: Option<i64>,
    /// Whether free-form messages may be sent now.
    pub window_open: bool,
    /// Internal: when the customer last wrote.
    #[serde(skip)]
    pub last_inbound_ms: Option<i64>,
    /// Internal: when Meta last refused a free-form message because the window was closed.
    #[serde(skip)]
    pub window_closed_ms: Option<i64>,
}

/// The 24-hour customer-service window, in milliseconds.
pub const WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

impl Conversation {
    /// Fills the window fields from the last inbound time and the current time.
    pub fn with_window(mut self, now_ms: i64) -> Self {
        let mut expires = self.last_inbound_ms.map(|t| t + WINDOW_MS);
        // Meta said the window is closed (error 131047) after the customer's last message: trust it.
        if let (Some(closed), Some(inbound)) = (self.window_closed_ms, self.last_inbound_ms)
            && closed >= inbound
        {
            expires = expires.map(|e| e.min(closed));
        }
        self.window_expires_at = expires;
        self.window_open = expires.is_some_and(|e| now_ms < e);
        self
    }
}

/// The contact object the HTTP API returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    /// Customer's number.
    pub wa_id: Option<String>,
    /// Customer's business-scoped id.
    pub user_id: Option<String>,
    /// Profile name, as last seen.
    pub name: Option<String>,
    /// Business number the customer last wrote to.
    pub phone_number_id: Option<String>,
    /// First message time.
    #[serde(serialize_with = "timefmt::ser_opt_ms")]
    pub first_seen_at: Option<i64>,
    /// Latest message time.
    #[serde(serialize_with = "timefmt::ser_opt_ms")]
    pub last_seen_at: Option<i64>,
}

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 200;

/// A validated page request: a limit within 1..=200 and an optional decoded cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items at most.
    pub limit: u32,
    /// Sort key to continue after (exclusive), decoded from the opaque cursor.
    pub after: Option<String>,
}

impl PageRequest {
    /// Validates `limit` and decodes `cursor`, which must have been issued for the same `list`.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>, list: &str) -> Result<Self, InvalidInput> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| InvalidInput::new("limit", format!("must be an integer from 1 to {MAX_LIMIT}")))?,
        };
        let after = cursor
            .filter(|c| !c.is_empty())
            .map(|c| Cursor::decode(c, list))
            .transpose()?;
        Ok(Self { limit, after })
    }
}

/// One page of results and the cursor for the next one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The items.
    pub data: Vec<T>,
    /// Pass back as `cursor` to get the next page; null at the end.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Cuts rows fetched with `limit + 1` (each with its sort key) to a page; the extra row, when
    /// there is one, only tells that a next page exists, and the cursor points after the last item.
    pub fn from_rows(mut rows: Vec<(T, String)>, limit: u32, list: &str) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|(_, k)| Cursor::encode(list, k))
        } else {
            None
        };
        Self {
            data: rows.into_iter().map(|(t, _)| t).collect(),
            next_cursor,
        }
    }
}

/// Sorts after every sequence and activity key (they start with digits): the "before" bound of a
/// first page that walks back in time.
pub const AFTER_ALL_KEYS: &str = "~";

/// Opaque pagination cursors: base64url of `{"l": list, "k": key}`, so a cursor from one list cannot
/// be replayed against another and a tampered one is a 400, not a 500.
#[derive(Debug)]
pub struct Cursor;

#[derive(Serialize, Deserialize)]
struct CursorBody {
    l: String,
    k: String,
}

impl Cursor {
    /// Encodes a sort key for `list`.
    pub fn encode(list: &str, key: &str) -> String {
        let body = CursorBody {
            l: list.to_owned(),
            k: key.to_owned(),
        };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default())
    }

    /// Decodes a cursor issued for `list`.
    pub fn decode(cursor: &str, list: &str) -> Result<String, InvalidInput> {
        let bad = || InvalidInput::new("cursor", "not a cursor this list issued");
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
        let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if body.l != list || body.k.is_empty() {
            return Err(bad());
        }
        Ok(body.k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_id_is_stable_per_wamid_and_distinct_across_wamids() {
        let a = Wamid::parse("wamid.A").unwrap();
        let b = Wamid::parse("wamid.B").unwrap();
        assert_eq!(MessageId::for_wamid(&a), MessageId::for_wamid(&a));
        assert_ne!(MessageId::for_wamid(&a), MessageId::for_wamid(&b));
    }

    #[test]
    fn our_id_parses_as_id_and_anything_else_as_wamid() {
        let id = MessageId::new();
        assert_eq!(MessageRef::parse(&id.to_string()).unwrap(), MessageRef::Id(id));
        assert!(matches!(
            MessageRef::parse("wamid.HBgL=").unwrap(),
            MessageRef::Wamid(_)
        ));
        assert!(matches!(
            MessageRef::parse("<WHATSAPP_MESSAGE_ID>").unwrap(),
            MessageRef::Wamid(_)
        ));
    }

    #[test]
    fn empty_long_or_spaced_ids_are_rejected() {
        assert!(MessageRef::parse("").is_err());
        assert!(MessageRef::parse("a b").is_err());
        assert!(MessageRef::parse(&"x".repeat(600)).is_err());
        assert!(CustomerKey::parse("12/34").is_err());
    }

    #[test]
    fn limits_outside_one_to_two_hundred_are_rejected() {
        for bad in ["0", "201", "-1", "ten", ""] {
            assert!(PageRequest::parse(Some(bad), None, "x").is_err(), "{bad}");
        }
        assert_eq!(PageRequest::parse(Some("200"), None, "x").unwrap().limit, 200);
        assert_eq!(PageRequest::parse(None, None, "x").unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn cursors_round_trip_and_refuse_tampering_or_another_list() {
        let c = Cursor::encode("contacts", "27820000001");
        assert_eq!(Cursor::decode(&c, "contacts").unwrap(), "27820000001");
        assert!(Cursor::decode(&c, "conversations").is_err());
        assert!(Cursor::decode("not-base64!", "contacts").is_err());
        assert!(Cursor::decode("eyJ4IjoxfQ", "contacts").is_err());
    }

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
