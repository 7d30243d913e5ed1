//! The message object the HTTP API returns: a stored message joined with its status record.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::outbound::callback_data;
use crate::timefmt;

use crate::domain::{DeliveryStatus, Direction, ErrorInfo, Json, StatusRecord, StoredMessage, Wamid};
use crate::media::{MediaRecord, MediaView};

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
    pub content: Json,
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
    pub context: Option<Json>,
    /// Click-to-WhatsApp ad referral.
    pub referral: Option<Json>,
    /// Meta's pricing object from the latest status.
    pub pricing: Option<Json>,
    /// The caller's own `biz_opaque_callback_data` given with the send (our id, which travels with
    /// it to Meta, is not part of it).
    pub biz_opaque_callback_data: Option<String>,
    /// The media an image, video, audio, document or sticker message carries, and where our copy
    /// of it stands (absent for other types).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaView>,
    /// A template send's template: `{"name","language","category"}` (absent for other messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<serde_json::Value>,
    /// The campaign an outbound message was sent for (absent for other messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// What a keyword rule did with a customer's message: `{"rule_id","outcome"}` (`replied`,
    /// `escalated`, `suppressed`, `window_closed`), or null.
    pub automation: Option<serde_json::Value>,
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
                let media = MediaRecord::of_message(&m).map(MediaView::from);
                let extra = m.extra.as_ref().map(Json::value);
                let kept = |k: &str| extra.as_ref().and_then(|e| e.get(k)).cloned();
                let template = kept("template");
                let campaign = kept("campaign").and_then(|c| c.as_str().map(str::to_owned));
                Some(Self {
                    automation: kept("automation"),
                    media,
                    template,
                    campaign,
                    // Our sends keep the caller's value; the status echoes the same.
                    biz_opaque_callback_data: callback_data::callers(&m),
                    id: Some(m.id.to_string()),
                    wamid: m.wamid.map(|w| w.as_str().to_owned()),
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
                automation: None,
                media: None,
                template: None,
                campaign: None,
                biz_opaque_callback_data: st
                    .biz_opaque_callback_data
                    .as_deref()
                    .and_then(|d| callback_data::decode(d).1)
                    .map(str::to_owned),
                id: None,
                wamid: wamid.map(|w| w.as_str().to_owned()),
                phone_number_id: st.phone_number_id,
                wa_id: st.recipient_id,
                user_id: st.recipient_user_id,
                direction: Direction::Outbound,
                msg_type: None,
                text: None,
                content: Json::null(),
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
