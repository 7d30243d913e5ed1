//! Splits a webhook body into updates: every `entry[] × changes[] × messages[] / statuses[] /
//! errors[]`, never just the first. Parsing is lenient per item: a message of a type we have never
//! seen, or a change for a field we do not model, becomes a [`RawEvent`] kept whole rather than an
//! error, so nothing Meta sends is dropped.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::domain::{
    CustomerKey, DeliveryStatus, Direction, ErrorInfo, MessageId, RawEvent, StatusUpdate, StoredMessage, Wamid,
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
    /// JSON, but not Meta's envelope.
    #[error("webhook body has no entry[] array")]
    NotAWebhook,
}

/// Parses a raw webhook body into updates. `received_ms` stands in for a missing or unreadable
/// timestamp.
pub fn split(body: &[u8], received_ms: i64) -> Result<Vec<Update>, ParseError> {
    let mut root: Value = serde_json::from_slice(body)?;
    // The tree is taken apart, not copied: each piece moves into the update that keeps it.
    let entries = match root.get_mut("entry") {
        Some(Value::Array(entries)) => std::mem::take(entries),
        _ => return Err(ParseError::NotAWebhook),
    };
    let mut out = Vec::new();
    for mut entry in entries {
        let entry_id = entry.get("id").and_then(id_text);
        let changes = match entry.get_mut("changes") {
            Some(Value::Array(changes)) => std::mem::take(changes),
            _ => Vec::new(),
        };
        for mut change in changes {
            let value = change.get_mut("value").map_or(Value::Null, Value::take);
            let field = change.get("field").and_then(Value::as_str).unwrap_or("unknown");
            if field == "messages" {
                split_messages(value, entry_id.as_deref(), received_ms, &mut out);
            } else {
                let pni = phone_number_id(&value);
                out.push(Update::Event(RawEvent::new(
                    field,
                    "change",
                    entry_id.clone(),
                    pni,
                    value,
                )));
            }
        }
    }
    Ok(out)
}

/// Meta writes ids as strings, and now and then as numbers.
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn phone_number_id(value: &Value) -> Option<String> {
    value.pointer("/metadata/phone_number_id").and_then(id_text)
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

fn split_messages(mut value: Value, entry_id: Option<&str>, received_ms: i64, out: &mut Vec<Update>) {
    let pni = phone_number_id(&value);
    let contacts: Vec<WireContact> = value
        .get("contacts")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|c| WireContact::deserialize(c).ok()).collect())
        .unwrap_or_default();
    let mut items = |key: &str| match value.get_mut(key) {
        Some(Value::Array(items)) => std::mem::take(items),
        _ => Vec::new(),
    };
    let (messages, statuses, errors) = (items("messages"), items("statuses"), items("errors"));
    let raw = |kind: &str, payload: Value| {
        Update::Event(RawEvent::new(
            "messages",
            kind,
            entry_id.map(str::to_owned),
            pni.clone(),
            payload,
        ))
    };

    for m in messages {
        match parse_message(m, pni.as_deref(), &contacts, received_ms) {
            Ok(msg) => out.push(Update::Message(Box::new(msg))),
            Err(m) => out.push(raw("message", m)),
        }
    }
    for s in statuses {
        match parse_status(&s, pni.as_deref(), received_ms) {
            Some(st) => out.push(Update::Status(st)),
            None => out.push(raw("status", s)),
        }
    }
    if !errors.is_empty() {
        out.push(raw("errors", Value::Array(errors)));
    }
}

/// Reads `timestamp`, which Meta sends as a string of seconds in most payloads and a number in some.
fn timestamp_ms(v: Option<&Value>) -> Option<i64> {
    let secs = match v? {
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    secs.checked_mul(1000)
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

/// A message, or the item back unchanged (to keep raw) when it has no usable id or sender.
fn parse_message(
    m: Value,
    pni: Option<&str>,
    contacts: &[WireContact],
    received_ms: i64,
) -> Result<StoredMessage, Value> {
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
    let Value::Object(mut obj) = m else { return Err(m) };
    let msg_type = obj.get("type").and_then(Value::as_str).unwrap_or("unknown").to_owned();
    let content = obj.remove(&msg_type).unwrap_or(Value::Null);
    let text = text_of(&msg_type, &content);
    let timestamp_ms = timestamp_ms(obj.get("timestamp")).unwrap_or(received_ms);
    let error = first_error(obj.get("errors"));
    let context = obj.remove("context");
    let referral = obj.remove("referral");
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
        extra: leftover(obj),
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
fn identify<'c>(m: &Value, contacts: &'c [WireContact]) -> Option<Sender<'c>> {
    let obj = m.as_object()?;
    let wamid = Wamid::parse(obj.get("id")?.as_str()?).ok()?;
    let wa_id = str_field(m, "from").filter(|s| !s.is_empty());
    let from_user_id = str_field(m, "from_user_id").filter(|s| !s.is_empty());
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

/// Top-level message fields we do not model, kept so nothing is lost. The type's content, context
/// and referral have already been taken out.
fn leftover(mut obj: Map<String, Value>) -> Option<Value> {
    for known in ["id", "from", "from_user_id", "timestamp", "type", "errors"] {
        obj.remove(known);
    }
    (!obj.is_empty()).then_some(Value::Object(obj))
}

/// The human-readable text of a message: body, caption, or the title of a reply.
fn text_of(msg_type: &str, content: &Value) -> Option<String> {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    match msg_type {
        "text" => s(content.get("body")),
        "image" | "video" | "document" => s(content.get("caption")),
        "button" => s(content.get("text")),
        "interactive" => {
            let kind = content.get("type").and_then(Value::as_str)?;
            match kind {
                "button_reply" | "list_reply" => s(content.get(kind).and_then(|r| r.get("title"))),
                _ => None,
            }
        }
        _ => None,
    }
}

fn parse_status(s: &Value, pni: Option<&str>, received_ms: i64) -> Option<StatusUpdate> {
    if s.get("type").and_then(Value::as_str).is_some_and(|t| t != "message") {
        return None; // call statuses and future kinds are kept raw
    }
    let wamid = Wamid::parse(s.get("id")?.as_str()?).ok()?;
    let status = DeliveryStatus::parse(s.get("status")?.as_str()?)?;
    Some(StatusUpdate {
        wamid,
        status,
        timestamp_ms: timestamp_ms(s.get("timestamp")).unwrap_or(received_ms),
        phone_number_id: pni.unwrap_or_default().to_owned(),
        recipient_id: s.get("recipient_id").and_then(id_text),
        recipient_user_id: str_field(s, "recipient_user_id"),
        error: first_error(s.get("errors")),
        conversation: s.get("conversation").cloned(),
        pricing: s.get("pricing").cloned(),
        biz_opaque_callback_data: str_field(s, "biz_opaque_callback_data"),
    })
}
