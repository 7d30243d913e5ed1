//! Splits a webhook body into updates: every `entry[] × changes[] × messages[] / statuses[] /
//! errors[]`, never just the first. Parsing is lenient per item: a message of a type we have never
//! seen, or a change for a field we do not model, becomes a [`RawEvent`] kept whole rather than an
//! error, so nothing Meta sends is dropped.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::wire::{ChangeValue, Item, Obj, Root, Scalar, raw_value};
use crate::domain::{
    CustomerKey, DeliveryStatus, Direction, ErrorInfo, Json, MessageId, RawEvent, StatusUpdate, StoredMessage, Wamid,
};

/// One thing a webhook told us.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// A customer's message.
    Message(Box<StoredMessage>),
    /// A status for a message the business sent.
    Status(StatusUpdate),
    /// Anything else, kept raw.
    Event(RawEvent),
}

/// The body is not a JSON object with `entry[]`: the whole webhook is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON.
    #[error("webhook body is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Not UTF-8, so not JSON.
    #[error("webhook body is not UTF-8 text")]
    NotUtf8,
    /// JSON, but not Meta's envelope.
    #[error("webhook body has no entry[] array")]
    NotAWebhook,
}

/// Parses a raw webhook body into updates. `received_ms` stands in for a missing or unreadable
/// timestamp.
///
/// The body is read once: the fields the pipeline interprets are decoded, everything else (content,
/// context, pricing, unknown keys) is copied once as JSON text into the update that keeps it.
pub fn split(body: &[u8], received_ms: i64) -> Result<Vec<Update>, ParseError> {
    // One UTF-8 check of the whole body up front lets the parser skip it for every string and kept
    // piece it borrows.
    let text = std::str::from_utf8(body).map_err(|_| ParseError::NotUtf8)?;
    let Obj(root) = serde_json::from_str::<Obj<Root<'_>>>(text)?;
    let entries = root.entry.ok_or(ParseError::NotAWebhook)?;
    let mut out = Vec::new();
    for Obj(entry) in entries {
        let entry_id = entry.id.as_ref().and_then(Scalar::id_text);
        let entry_time = entry.time.as_ref().and_then(Scalar::timestamp_ms);
        for Obj(change) in entry.changes {
            let field = change.field.as_ref().and_then(Scalar::as_str).unwrap_or("unknown");
            let Obj(value) = change.value;
            if field == "messages" {
                split_messages(value, entry_id.as_deref(), received_ms, &mut out);
            } else {
                let pni = phone_number_id(&value);
                out.push(Update::Event(
                    RawEvent::new(field, "change", entry_id.clone(), pni, value.to_value()).at(entry_time),
                ));
            }
        }
    }
    Ok(out)
}

/// `metadata.phone_number_id`, a string or (now and then) a number.
fn phone_number_id(value: &ChangeValue<'_>) -> Option<String> {
    #[derive(Deserialize)]
    struct Metadata<'a> {
        #[serde(borrow)]
        phone_number_id: Option<Scalar<'a>>,
    }
    let raw = value.raw("metadata")?;
    let meta: Metadata<'_> = serde_json::from_str(raw.get()).ok()?;
    meta.phone_number_id.as_ref().and_then(Scalar::id_text)
}

#[derive(Deserialize)]
struct WireContact {
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    profile: Option<WireProfile>,
}

#[derive(Deserialize)]
struct WireProfile {
    #[serde(default)]
    name: Option<String>,
}

/// The change's `contacts[]`, each read on its own so one odd contact does not hide the others.
fn contacts(value: &ChangeValue<'_>) -> Vec<WireContact> {
    let Some(raw) = value.raw("contacts") else {
        return Vec::new();
    };
    let items: Vec<&RawValue> = serde_json::from_str(raw.get()).unwrap_or_default();
    items
        .iter()
        .filter_map(|c| serde_json::from_str(c.get()).ok())
        .collect()
}

fn split_messages(mut value: ChangeValue<'_>, entry_id: Option<&str>, received_ms: i64, out: &mut Vec<Update>) {
    let pni = phone_number_id(&value);
    let contacts = contacts(&value);
    let raw = |kind: &str, payload: Value| {
        Update::Event(RawEvent::new(
            "messages",
            kind,
            entry_id.map(str::to_owned),
            pni.clone(),
            payload,
        ))
    };

    let (messages, statuses) = (value.take_items("messages"), value.take_items("statuses"));
    out.reserve(messages.len() + statuses.len());
    for Obj(m) in messages {
        match parse_message(m, pni.as_deref(), &contacts, received_ms) {
            Ok(msg) => out.push(Update::Message(Box::new(msg))),
            Err(m) => out.push(raw("message", m.to_value())),
        }
    }
    for Obj(s) in statuses {
        match parse_status(&s, pni.as_deref(), received_ms) {
            Some(st) => out.push(Update::Status(st)),
            None => out.push(raw("status", s.to_value())),
        }
    }
    if let Some(Value::Array(errors)) = value.raw("errors").map(raw_value)
        && !errors.is_empty()
    {
        out.push(raw("errors", Value::Array(errors)));
    }
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The first of Meta's `errors[]`, as `{"code","title","details"}`.
pub(crate) fn first_error(v: Option<&Value>) -> Option<ErrorInfo> {
    let e = v?.as_array()?.first()?;
    let code = match e.get("code")? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    let title = str_field(e, "title")
        .or_else(|| str_field(e, "message"))
        .unwrap_or_default();
    let details = e
        .pointer("/error_data/details")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| str_field(e, "message").filter(|m| *m != title));
    Some(ErrorInfo { code, title, details })
}

/// `first_error` of an `errors` array kept as text: errors are rare, so they are parsed only when
/// present.
fn first_raw_error(raw: Option<&RawValue>) -> Option<ErrorInfo> {
    first_error(Some(&raw_value(raw?)))
}

/// A message, or the item back unchanged (to keep raw) when it has no usable id or sender.
fn parse_message<'a>(
    mut m: Item<'a>,
    pni: Option<&str>,
    contacts: &[WireContact],
    received_ms: i64,
) -> Result<StoredMessage, Item<'a>> {
    if m.other.is_some() {
        return Err(m);
    }
    let Some(Sender {
        wamid,
        customer,
        wa_id,
        user_id,
        contact,
    }) = identify(&m, contacts)
    else {
        return Err(m);
    };
    let msg_type = m.str("type").map_or_else(|| "unknown".to_owned(), Cow::into_owned);
    let content = m.take(&msg_type).map_or_else(Json::null, Json::from_raw);
    let text = text_of(&msg_type, &content);
    let timestamp_ms = m
        .scalar("timestamp")
        .and_then(|t| t.timestamp_ms())
        .unwrap_or(received_ms);
    let error = first_raw_error(m.take("errors"));
    let context = m.take("context").map(Json::from_raw);
    let referral = m.take("referral").map(Json::from_raw);
    Ok(StoredMessage {
        id: MessageId::for_wamid(&wamid),
        wamid: Some(wamid),
        phone_number_id: pni.unwrap_or_default().to_owned(),
        customer,
        wa_id,
        user_id,
        direction: Direction::Inbound,
        opens_window: msg_type != "system",
        text,
        content,
        context,
        referral,
        error,
        status: "received".to_owned(),
        timestamp_ms,
        profile_name: contact.and_then(|c| c.profile.as_ref()).and_then(|p| p.name.clone()),
        msg_type,
        extra: leftover(&m),
    })
}

/// Who sent a message, as the webhook tells it.
struct Sender<'c> {
    wamid: Wamid,
    customer: CustomerKey,
    wa_id: Option<String>,
    user_id: Option<String>,
    contact: Option<&'c WireContact>,
}

/// The message's wamid and its sender.
fn identify<'c>(m: &Item<'_>, contacts: &'c [WireContact]) -> Option<Sender<'c>> {
    let wamid = Wamid::parse(&m.str("id")?).ok()?;
    let wa_id = m.str("from").filter(|s| !s.is_empty()).map(Cow::into_owned);
    let from_user_id = m.str("from_user_id").filter(|s| !s.is_empty()).map(Cow::into_owned);
    let contact = match (&wa_id, &from_user_id) {
        // Customers who adopted a username may reach us with neither `from` nor `from_user_id`:
        // the change's only contact is then the sender.
        (None, None) if contacts.len() == 1 => contacts.first(),
        _ => contacts.iter().find(|c| match (&wa_id, &from_user_id) {
            (Some(w), _) if c.wa_id.as_ref() == Some(w) => true,
            (_, Some(u)) => c.user_id.as_ref() == Some(u),
            _ => false,
        }),
    };
    let wa_id = wa_id.or_else(|| {
        contact
            .and_then(|c| c.wa_id.clone())
            .filter(|w| !w.is_empty() && from_user_id.is_none())
    });
    let user_id = from_user_id.or_else(|| contact.and_then(|c| c.user_id.clone()));
    let customer = CustomerKey::parse(wa_id.as_deref().or(user_id.as_deref())?).ok()?;
    Some(Sender {
        wamid,
        customer,
        wa_id,
        user_id,
        contact,
    })
}

/// Top-level message fields we do not model, kept so nothing is lost. The type's content, context,
/// referral and errors have already been taken out.
fn leftover(m: &Item<'_>) -> Option<Json> {
    const MODELLED: [&str; 5] = ["id", "from", "from_user_id", "timestamp", "type"];
    if m.fields.iter().all(|(k, _)| MODELLED.contains(&&**k)) {
        return None;
    }
    Some(Json::from_value(&m.to_value_without(&MODELLED)))
}

/// The human-readable text of a message: body, caption, or the title of a reply.
fn text_of(msg_type: &str, content: &Json) -> Option<String> {
    /// The few keys of a content object that carry its text; anything else is skipped unread.
    #[derive(Deserialize)]
    struct Readable<'a> {
        #[serde(borrow)]
        body: Option<Scalar<'a>>,
        #[serde(borrow)]
        caption: Option<Scalar<'a>>,
        #[serde(borrow)]
        text: Option<Scalar<'a>>,
        #[serde(borrow, rename = "type")]
        kind: Option<Scalar<'a>>,
        #[serde(borrow)]
        button_reply: Option<Scalar<'a>>,
        #[serde(borrow)]
        list_reply: Option<Scalar<'a>>,
    }
    if !matches!(
        msg_type,
        "text" | "image" | "video" | "document" | "button" | "interactive"
    ) {
        return None;
    }
    let r: Readable<'_> = serde_json::from_str(content.text()).ok()?;
    let s = |v: Option<Scalar<'_>>| v.as_ref().and_then(Scalar::as_str).map(str::to_owned);
    match msg_type {
        "text" => s(r.body),
        "image" | "video" | "document" => s(r.caption),
        "button" => s(r.text),
        _ => {
            let reply = match r.kind.as_ref().and_then(Scalar::as_str)? {
                "button_reply" => r.button_reply,
                "list_reply" => r.list_reply,
                _ => None,
            };
            match reply? {
                Scalar::Other(v) => str_field(&v, "title"),
                _ => None,
            }
        }
    }
}

fn parse_status(s: &Item<'_>, pni: Option<&str>, received_ms: i64) -> Option<StatusUpdate> {
    if s.other.is_some() || s.str("type").is_some_and(|t| t != "message") {
        return None; // call statuses and future kinds are kept raw
    }
    let wamid = Wamid::parse(&s.str("id")?).ok()?;
    let status = DeliveryStatus::parse(&s.str("status")?)?;
    Some(StatusUpdate {
        wamid,
        status,
        timestamp_ms: s
            .scalar("timestamp")
            .and_then(|t| t.timestamp_ms())
            .unwrap_or(received_ms),
        phone_number_id: pni.unwrap_or_default().to_owned(),
        recipient_id: s.scalar("recipient_id").and_then(|r| r.id_text()),
        recipient_user_id: s.str("recipient_user_id").map(Cow::into_owned),
        error: first_raw_error(s.raw("errors")),
        conversation: s.raw("conversation").map(Json::from_raw),
        pricing: s.raw("pricing").map(Json::from_raw),
        biz_opaque_callback_data: s.str("biz_opaque_callback_data").map(Cow::into_owned),
    })
}
