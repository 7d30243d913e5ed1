//! Sending as a use case any caller can use: the send API, automation, flows and the scheduler all
//! hand a validated [`SendCommand`] to [`Enqueuer::enqueue`], which enforces the 24-hour rule, stores
//! the message as `queued` and puts its id on the outbound queue. The sender does the rest.
//!
//! **Exactly once with derived ids.** A caller that reacts to something (an inbound message, a due
//! reminder) passes an id derived from what triggered it ([`MessageId::derived`]). Enqueueing that id
//! again stores nothing new; if the first attempt crashed between the store write and the queue, the
//! message is still `queued` and goes on the queue again. Duplicate queue records are harmless: the
//! sender claims each Graph attempt with a conditional write and treats a final state as done.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::phone;
use super::request::{FieldError, Recipient, SendCommand};
use crate::analytics::Recorder;
use crate::domain::{
    CustomerKey, Direction, ErrorInfo, Json, MessageId, MessageRef, Recorded, SendChange, SendState, StoredMessage,
};
use crate::ports::{Clock, ContactBook, Outbox, PortError, Queue, ReadModel};
use crate::templates::catalog::{Catalog, SendCheck};

/// What the outbound queue carries: just our message id; the message itself is in the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutboundRecord {
    /// Our message id.
    pub id: String,
}

impl OutboundRecord {
    /// The queue message that names message `id`.
    pub fn body(id: MessageId) -> String {
        serde_json::json!({ "id": id.to_string() }).to_string()
    }
}

/// The template category that opted-out contacts never get.
const MARKETING: &str = "MARKETING";

/// Why a message was not enqueued.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message breaks WhatsApp's rules; `details` lists each wrong field.
    #[error("{message}")]
    Invalid {
        /// Stable code: `validation_failed`, `invalid_phone_number` or `unsupported_type`.
        code: &'static str,
        /// For people.
        message: String,
        /// One entry per wrong field.
        details: Vec<FieldError>,
    },
    /// A free-form message outside the customer's 24-hour window.
    #[error("the customer's 24-hour window is closed")]
    WindowClosed {
        /// When the window closed (Unix ms), if the customer ever wrote.
        window_expires_at: Option<i64>,
    },
    /// The message is stored but could not be put on the queue; it is marked failed.
    #[error("the outbound queue is unavailable")]
    QueueUnavailable(#[source] PortError),
    /// A template send the templates copy refuses (unknown, not approved, wrong parameters).
    #[error(transparent)]
    Template(SendCheck),
    /// A marketing template to a contact who opted out.
    #[error("the customer opted out of marketing messages")]
    OptedOut,
    /// The store failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

impl From<SendCheck> for SendError {
    fn from(e: SendCheck) -> Self {
        match e {
            SendCheck::Port(p) => Self::Port(p),
            other => Self::Template(other),
        }
    }
}

impl SendError {
    /// The error for a command that failed validation, coded by its most telling field error.
    pub fn invalid(details: Vec<FieldError>) -> Self {
        let code = if details.iter().any(|e| e.code == "invalid_phone_number") {
            "invalid_phone_number"
        } else if details.iter().any(|e| e.code == "unsupported_type") {
            "unsupported_type"
        } else {
            "validation_failed"
        };
        Self::Invalid {
            code,
            message: "the message does not meet WhatsApp's rules".into(),
            details,
        }
    }
}

/// The enqueue use case.
#[derive(Clone)]
pub struct Enqueuer {
    outbox: Arc<dyn Outbox>,
    read: Arc<dyn ReadModel>,
    queue: Arc<dyn Queue>,
    clock: Arc<dyn Clock>,
    default_phone_number_id: Option<String>,
    templates: Option<Catalog>,
    analytics: Option<Recorder>,
    contacts: Option<Arc<dyn ContactBook>>,
}

impl std::fmt::Debug for Enqueuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enqueuer")
            .field("default_phone_number_id", &self.default_phone_number_id)
            .finish_non_exhaustive()
    }
}

impl Enqueuer {
    /// Wires the use case. `read` answers whether the customer's window is open; messages without a
    /// `phone_number_id` go through `default_phone_number_id`.
    pub fn new(
        outbox: Arc<dyn Outbox>,
        read: Arc<dyn ReadModel>,
        queue: Arc<dyn Queue>,
        clock: Arc<dyn Clock>,
        default_phone_number_id: Option<String>,
    ) -> Self {
        Self {
            outbox,
            read,
            queue,
            clock,
            default_phone_number_id,
            templates: None,
            analytics: None,
            contacts: None,
        }
    }

    /// Refuses marketing templates (by the templates copy's category) to contacts who opted out.
    /// Only checked with [`Self::checking_templates`]: without the copy the category is unknown.
    pub fn respecting_opt_outs(mut self, contacts: Arc<dyn ContactBook>) -> Self {
        self.contacts = Some(contacts);
        self
    }

    /// Counts each new message in the analytics counters. A count that fails is only logged: the
    /// sender and the message's statuses count its own facts again; its activity and the wait it
    /// ends come back with `analytics rebuild`.
    pub fn counting(mut self, recorder: Recorder) -> Self {
        self.analytics = Some(recorder);
        self
    }

    /// Checks every template send against `catalog` before it is stored: known, APPROVED, and
    /// with the template's parameters. The message then shows the template's name, language and
    /// category.
    pub fn checking_templates(mut self, catalog: Catalog) -> Self {
        self.templates = Some(catalog);
        self
    }

    /// Enqueues a new message under a fresh id. If the queue refuses it, the message is marked
    /// failed ("could not be queued"): the caller is told to retry and will do so under a new id.
    pub async fn enqueue(&self, cmd: &SendCommand) -> Result<MessageId, SendError> {
        self.enqueue_once(MessageId::new(), cmd, Fresh::Yes, Duration::ZERO)
            .await
    }

    /// Enqueues `cmd` under `id`, at most once per id: repeating the call with the same id stores
    /// nothing new and only re-queues a message that is still `queued`. If the queue refuses it, the
    /// message stays `queued` and [`SendError::QueueUnavailable`] asks the caller to retry with the
    /// same id, which puts it on the queue then.
    pub async fn enqueue_as(&self, id: MessageId, cmd: &SendCommand) -> Result<MessageId, SendError> {
        self.enqueue_once(id, cmd, Fresh::No, Duration::ZERO).await
    }

    /// [`Self::enqueue_as`], with the queue record hidden for `delay` (at most
    /// [`crate::ports::MAX_SEND_DELAY`]): a campaign releases a tick's share of its recipients
    /// spread over the tick, at its pace, instead of all at once ahead of conversation replies.
    pub async fn enqueue_as_in(
        &self,
        id: MessageId,
        cmd: &SendCommand,
        delay: Duration,
    ) -> Result<MessageId, SendError> {
        self.enqueue_once(id, cmd, Fresh::No, delay).await
    }

    async fn enqueue_once(
        &self,
        id: MessageId,
        cmd: &SendCommand,
        fresh: Fresh,
        delay: Duration,
    ) -> Result<MessageId, SendError> {
        let Some(pni) = cmd
            .phone_number_id
            .clone()
            .or_else(|| self.default_phone_number_id.clone())
        else {
            return Err(SendError::Invalid {
                code: "validation_failed",
                message: "no business number: give phone_number_id or set WHATSAPP_PHONE_NUMBER_ID".into(),
                details: vec![FieldError {
                    field: "phone_number_id".into(),
                    code: "required",
                    reason: "is required".into(),
                }],
            });
        };
        let customer = CustomerKey::parse(cmd.recipient.key()).map_err(|e| {
            SendError::invalid(vec![FieldError {
                field: "to".into(),
                code: "invalid",
                reason: e.reason,
            }])
        })?;
        let now = self.clock.now_ms();
        // A number goes to the form the customer is known by; the message's `wa_id` follows.
        let customer = match cmd.recipient {
            Recipient::WaId(_) => self.known_form(&customer, now).await?.unwrap_or(customer),
            Recipient::UserId(_) => customer,
        };
        if fresh == Fresh::No
            && let Some((_, progress)) = self.outbox.outbound(id).await?
        {
            if progress.state == SendState::Queued {
                self.put_on_queue(id, fresh, delay).await?;
            }
            return Ok(id);
        }
        if cmd.needs_open_window() {
            let window = self.read.window(&pni, &customer).await?;
            if !window.is_open(now) {
                return Err(SendError::WindowClosed {
                    window_expires_at: window.expires_at(),
                });
            }
        }
        let mut msg = outbound_message(id, cmd, pni, customer, now);
        if let (Some(catalog), "template") = (&self.templates, cmd.msg_type.as_str()) {
            let used = catalog.check_send(&cmd.content).await?;
            // A marketing template to an opted-out contact breaks WhatsApp's opt-out rule: refused
            // before it is stored. Utility and authentication templates still go.
            if used
                .category
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(MARKETING))
                && let Some(contacts) = &self.contacts
                && contacts.contact(&msg.customer).await?.is_some_and(|c| c.opted_out)
            {
                return Err(SendError::OptedOut);
            }
            let mut extra = msg.extra.as_ref().map(Json::value).unwrap_or_else(|| json!({}));
            extra["template"] = json!({"name": used.name, "language": used.language, "category": used.category});
            msg.extra = Some(Json::from_value(&extra));
        }
        if self.outbox.record_outbound(&msg).await? == Recorded::Duplicate {
            // A concurrent call with the same id stored it first: that call queues it.
            return Ok(id);
        }
        if let Some(recorder) = &self.analytics
            && let Err(e) = recorder.record(&MessageRef::Id(id)).await
        {
            tracing::warn!(id = %id, error = %e, "could not count the message yet");
        }
        self.put_on_queue(id, fresh, delay).await?;
        Ok(id)
    }

    /// The form WhatsApp already knows a customer by, when the number was given in another
    /// ([`phone::variants`]: Brazil's ninth digit, Mexico's `521`/`52`) and the customer has a
    /// conversation only under that one. The send then goes to that form, checks that window and
    /// lands in that conversation, beside the customer's own messages.
    async fn known_form(&self, customer: &CustomerKey, now: i64) -> Result<Option<CustomerKey>, PortError> {
        let others = phone::variants(customer.as_str());
        if others.is_empty() || self.read.conversation(customer, now).await?.is_some() {
            return Ok(None);
        }
        for other in others {
            let Ok(other) = CustomerKey::parse(&other) else {
                continue;
            };
            if self.read.conversation(&other, now).await?.is_some() {
                return Ok(Some(other));
            }
        }
        Ok(None)
    }

    async fn put_on_queue(&self, id: MessageId, fresh: Fresh, delay: Duration) -> Result<(), SendError> {
        let body = OutboundRecord::body(id);
        let queued = if delay.is_zero() {
            self.queue.send(&body).await
        } else {
            self.queue.send_later(&body, delay).await
        };
        if let Err(e) = queued {
            if fresh == Fresh::No {
                return Err(SendError::QueueUnavailable(e));
            }
            // Not queued means never sent, and the caller retries under a new id: say so on the
            // message instead of leaving it "queued".
            let error = ErrorInfo {
                code: 0,
                title: "could not be queued".into(),
                details: Some(e.to_string()),
            };
            self.outbox.update_outbound(id, &SendChange::Failed { error }).await?;
            return Err(SendError::QueueUnavailable(e));
        }
        Ok(())
    }
}

/// What a new message keeps beyond Meta's fields: the caller's callback data, its campaign.
fn extra_of(cmd: &SendCommand) -> Option<Json> {
    let mut extra = serde_json::Map::new();
    if let Some(d) = &cmd.callback_data {
        extra.insert("biz_opaque_callback_data".into(), json!(d));
    }
    if let Some(c) = &cmd.campaign {
        extra.insert("campaign".into(), json!(c));
    }
    (!extra.is_empty()).then(|| Json::from_value(&serde_json::Value::Object(extra)))
}

/// Whether an id was made for this call (so no earlier call can have stored it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fresh {
    Yes,
    No,
}

fn outbound_message(id: MessageId, cmd: &SendCommand, pni: String, customer: CustomerKey, now: i64) -> StoredMessage {
    let (wa_id, user_id) = match &cmd.recipient {
        Recipient::WaId(_) => (Some(customer.as_str().to_owned()), None),
        Recipient::UserId(u) => (None, Some(u.clone())),
    };
    StoredMessage {
        id,
        wamid: None,
        phone_number_id: pni,
        customer,
        wa_id,
        user_id,
        direction: Direction::Outbound,
        msg_type: cmd.msg_type.clone(),
        text: cmd.text.clone(),
        content: Json::from_value(&cmd.content),
        context: cmd.context.as_ref().map(Json::from_value),
        referral: None,
        error: None,
        status: "queued".into(),
        timestamp_ms: now,
        opens_window: false,
        profile_name: None,
        extra: extra_of(cmd),
    }
}
