//! Raises `message.received` for each customer message and `message.status` for each status of
//! our sends, for the integration behind `WABRIDGE_CALLBACK_URL`.
//!
//! Both are built from the update alone (no read back), and their ids from its wamid (and the
//! status), so the copies a redelivered webhook raises are the same event.

use async_trait::async_trait;
use serde_json::json;

use super::{Applied, Reaction, ReactionError};
use crate::callbacks::{Event, Events, MESSAGE_RECEIVED, MESSAGE_STATUS};
use crate::domain::{Direction, StatusUpdate, StoredMessage};
use crate::outbound::callback_data;
use crate::read::MessageView;

/// The reaction.
#[derive(Debug, Clone)]
pub struct RaiseEvents {
    events: Events,
}

impl RaiseEvents {
    /// Raises onto `events`.
    pub fn new(events: Events) -> Self {
        Self { events }
    }
}

/// `message.received`: the message as `GET /v1/messages/{id}` shows it.
pub fn received(m: &StoredMessage) -> Option<Event> {
    let wamid = m.wamid.as_ref()?;
    let view = MessageView::join(Some(m.clone()), None, None)?;
    let data = json!({ "message": view });
    Some(Event::new(MESSAGE_RECEIVED, &[wamid.as_str()], m.timestamp_ms, data))
}

/// `message.status`: the status as Meta gave it, with our id when the send was ours.
pub fn status(s: &StatusUpdate) -> Event {
    let decoded = s.biz_opaque_callback_data.as_deref().map(callback_data::decode);
    let (ours, callers) = decoded.map_or((None, None), |(id, rest)| (id, rest));
    let data = json!({
        "id": ours.map(|id| id.to_string()),
        "wamid": s.wamid.as_str(),
        "status": s.status.as_str(),
        "timestamp": crate::timefmt::rfc3339(s.timestamp_ms),
        "phone_number_id": s.phone_number_id,
        "wa_id": s.recipient_id,
        "user_id": s.recipient_user_id,
        "error": s.error,
        "pricing": s.pricing,
        "biz_opaque_callback_data": callers,
    });
    Event::new(
        MESSAGE_STATUS,
        &[s.wamid.as_str(), s.status.as_str()],
        s.timestamp_ms,
        data,
    )
}

#[async_trait]
impl Reaction for RaiseEvents {
    fn name(&self) -> &str {
        "raise-events"
    }

    async fn react(&self, applied: Applied<'_>) -> Result<(), ReactionError> {
        let event = match applied {
            Applied::Message { message, .. } if message.direction == Direction::Inbound => received(message),
            Applied::Status(s) => Some(status(s)),
            _ => None,
        };
        if let Some(e) = event {
            self.events.raise(&e).await?;
        }
        Ok(())
    }
}
