//! `POST /v1/messages` bodies, validated against WhatsApp's rules before anything is stored, with one
//! `details` entry per wrong field. The body mirrors Meta's message object, so what passes here is
//! what the Graph client sends (plus `messaging_product`, the recipient and our callback data).

use serde_json::{Map, Value, json};

use super::phone;

mod kinds;

use kinds::{contacts, interactive, location, media, reaction, template, text};

/// Meta's limits (characters, not bytes).
pub mod limits {
    /// Text message body.
    pub const TEXT_BODY: usize = 4096;
    /// Media caption.
    pub const CAPTION: usize = 1024;
    /// Interactive body text.
    pub const INTERACTIVE_BODY: usize = 1024;
    /// Interactive header and footer text.
    pub const HEADER_FOOTER: usize = 60;
    /// Reply buttons per message.
    pub const BUTTONS: usize = 3;
    /// Reply button title.
    pub const BUTTON_TITLE: usize = 20;
    /// Reply button id.
    pub const BUTTON_ID: usize = 256;
    /// List button text.
    pub const LIST_BUTTON: usize = 20;
    /// List sections.
    pub const SECTIONS: usize = 10;
    /// List rows across all sections.
    pub const ROWS: usize = 10;
    /// List row title.
    pub const ROW_TITLE: usize = 24;
    /// List row description.
    pub const ROW_DESCRIPTION: usize = 72;
    /// List row id.
    pub const ROW_ID: usize = 200;
    /// Section title.
    pub const SECTION_TITLE: usize = 24;
    /// CTA URL button display text.
    pub const CTA_DISPLAY: usize = 20;
    /// `biz_opaque_callback_data` a caller may set: Meta's 512 less the room our id takes.
    pub const CALLBACK_DATA: usize = crate::outbound::callback_data::MAX_CALLER_LEN;
}

/// Who a message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A number, normalised to the wa_id form.
    WaId(String),
    /// A business-scoped user id.
    UserId(String),
}

impl Recipient {
    /// The conversation key.
    pub fn key(&self) -> &str {
        match self {
            Self::WaId(s) | Self::UserId(s) => s,
        }
    }
}

/// A validated send.
#[derive(Debug, Clone, PartialEq)]
pub struct SendCommand {
    /// Who.
    pub recipient: Recipient,
    /// Through which business number (the configured default when absent).
    pub phone_number_id: Option<String>,
    /// Meta's type.
    pub msg_type: String,
    /// Meta's type-specific object.
    pub content: Value,
    /// `{"message_id": wamid}` when replying.
    pub context: Option<Value>,
    /// The caller's own `biz_opaque_callback_data`, kept on the message.
    pub callback_data: Option<String>,
    /// Body, caption or interactive body text, for previews.
    pub text: Option<String>,
    /// The campaign it is part of (set by the scheduler, never by a request): kept on the message
    /// so its statuses and replies count for the campaign.
    pub campaign: Option<String>,
}

impl SendCommand {
    /// Templates are the only messages allowed outside the 24-hour window.
    pub fn needs_open_window(&self) -> bool {
        self.msg_type != "template"
    }

    /// Every media id the message names: a media message's own, and a template's media
    /// parameters' (`{"type": "image", "image": {"id": ...}}`).
    pub fn media_ids_mut(&mut self) -> Vec<&mut String> {
        fn id_of(media: Option<&mut Value>) -> Option<&mut String> {
            match media?.get_mut("id")? {
                Value::String(id) => Some(id),
                _ => None,
            }
        }
        if crate::media::MediaKind::of_type(&self.msg_type).is_some() {
            return id_of(Some(&mut self.content)).into_iter().collect();
        }
        if self.msg_type != "template" {
            return Vec::new();
        }
        let Some(Value::Array(components)) = self.content.get_mut("components") else {
            return Vec::new();
        };
        components
            .iter_mut()
            .filter_map(|c| match c.get_mut("parameters") {
                Some(Value::Array(ps)) => Some(ps),
                _ => None,
            })
            .flatten()
            .filter_map(|p| {
                let kind = p.get("type").and_then(Value::as_str)?.to_owned();
                id_of(p.get_mut(kind.as_str()))
            })
            .collect()
    }
}

/// One wrong field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field (`interactive.action.buttons[3]`).
    pub field: String,
    /// Stable code (`too_long`, `required`, `invalid_phone_number`, …).
    pub code: &'static str,
    /// What is wrong, for people.
    pub reason: String,
}

/// Field errors as one line (`to: …; tags[1]: …`), where there is room for a sentence and not
/// a list: an import row's reason, a scheduled send's.
pub fn one_line(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Collects every wrong field of a request (the send API's, and a template's create body).
#[derive(Default)]
pub(crate) struct Check {
    pub(crate) errors: Vec<FieldError>,
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

impl Check {
    pub(crate) fn err(&mut self, field: impl Into<String>, code: &'static str, reason: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            code,
            reason: reason.into(),
        });
    }

    /// `too_long` when `s` has more than `max` characters.
    pub(crate) fn max_chars(&mut self, field: &str, s: &str, max: usize) {
        if chars(s) > max {
            self.err(
                field,
                "too_long",
                format!("must be at most {max} characters, is {}", chars(s)),
            );
        }
    }

    /// A required non-empty string of at most `max` characters; `field` is its path, whose last
    /// segment is its key in `v`.
    fn text<'a>(&mut self, v: &'a Value, field: &str, max: usize) -> Option<&'a str> {
        let key = field.rsplit('.').next().unwrap_or(field);
        match v.get(key) {
            None | Some(Value::Null) => {
                self.err(field, "required", "is required");
                None
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.err(field, "required", "must not be empty");
                None
            }
            _ => self.opt_text(v, key, field, max),
        }
    }

    /// An optional string of at most `max` characters.
    fn opt_text<'a>(&mut self, v: &'a Value, key: &str, field: &str, max: usize) -> Option<&'a str> {
        match v.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                self.max_chars(field, s, max);
                Some(s)
            }
            Some(_) => {
                self.err(field, "invalid_type", "must be a string");
                None
            }
        }
    }

    /// A required array of 1 to `max` items (`what` names them in the error); `field`'s last
    /// segment is its key in `v`. Out of range still returns the items, so each is checked too.
    fn items<'a>(&mut self, v: &'a Value, field: &str, max: usize, what: &str) -> Option<&'a [Value]> {
        let key = field.rsplit('.').next().unwrap_or(field);
        let Some(list) = v.get(key).and_then(Value::as_array) else {
            self.err(field, "required", "is required");
            return None;
        };
        if list.is_empty() || list.len() > max {
            self.err(field, "out_of_range", format!("must have 1 to {max} {what}"));
        }
        Some(list)
    }

    fn object<'a>(&mut self, v: &'a Value, key: &str, field: &str) -> Option<&'a Map<String, Value>> {
        match v.get(key) {
            Some(Value::Object(o)) => Some(o),
            None | Some(Value::Null) => {
                self.err(field, "required", "is required");
                None
            }
            Some(_) => {
                self.err(field, "invalid_type", "must be an object");
                None
            }
        }
    }

    fn https(&mut self, url: &str, field: &str) {
        if !url.starts_with("https://") || url.len() <= "https://".len() {
            self.err(field, "invalid_url", "must be an https:// URL");
        }
    }
}

const MEDIA: &[&str] = &["image", "video", "audio", "document", "sticker"];
const TYPES: &[&str] = &[
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "template",
    "reaction",
];

/// Validates a `POST /v1/messages` body.
pub fn validate(body: &Value) -> Result<SendCommand, Vec<FieldError>> {
    let mut c = Check::default();
    if !body.is_object() {
        c.err("body", "invalid_type", "must be a JSON object");
        return Err(c.errors);
    }
    let recipient = match (body.get("to"), body.get("recipient")) {
        (Some(Value::String(to)), _) => match phone::normalize(to) {
            Ok(w) => Some(Recipient::WaId(w)),
            Err(e) => {
                c.err("to", "invalid_phone_number", e.0);
                None
            }
        },
        // A business-scoped user id becomes a storage key and a path segment: checked here, so
        // nothing malformed reaches a store.
        (None | Some(Value::Null), Some(Value::String(u))) => match crate::domain::CustomerKey::parse_user_id(u.trim())
        {
            Ok(key) => Some(Recipient::UserId(key.as_str().to_owned())),
            Err(e) => {
                c.err("recipient", "invalid_user_id", e.reason);
                None
            }
        },
        (None | Some(Value::Null), Some(_)) => {
            c.err("recipient", "invalid_type", "must be a string");
            None
        }
        (Some(_), _) => {
            c.err("to", "invalid_type", "must be a string");
            None
        }
        _ => {
            c.err(
                "to",
                "required",
                "give `to` (a phone number) or `recipient` (a business-scoped user id)",
            );
            None
        }
    };
    let phone_number_id = c
        .opt_text(body, "phone_number_id", "phone_number_id", 64)
        .map(str::to_owned);
    if phone_number_id
        .as_deref()
        .is_some_and(|p| !p.chars().all(|ch| ch.is_ascii_digit()))
    {
        c.err("phone_number_id", "invalid_id", "must be digits");
    }
    let msg_type = match body.get("type").and_then(Value::as_str) {
        Some(t) if TYPES.contains(&t) => t.to_owned(),
        Some(t) => {
            c.err(
                "type",
                "unsupported_type",
                format!("{t:?} is not one of {}", TYPES.join(", ")),
            );
            return Err(c.errors);
        }
        None => {
            c.err("type", "required", format!("is required: one of {}", TYPES.join(", ")));
            return Err(c.errors);
        }
    };
    let content = body.get(&msg_type).cloned().unwrap_or(Value::Null);
    if !content.is_object() && msg_type != "contacts" {
        c.err(
            &msg_type,
            "required",
            format!("an object `{msg_type}` is required for type {msg_type}"),
        );
        return Err(c.errors);
    }
    let text = match msg_type.as_str() {
        "text" => text(&mut c, &content),
        t if MEDIA.contains(&t) => media(&mut c, t, &content),
        "location" => location(&mut c, &content),
        "contacts" => contacts(&mut c, &content),
        "interactive" => interactive(&mut c, &content),
        "template" => template(&mut c, &content),
        _ => reaction(&mut c, &content),
    }
    .map(str::to_owned);
    let context = match body.get("context") {
        None | Some(Value::Null) => None,
        Some(ctx) => match ctx.get("message_id").and_then(Value::as_str) {
            Some(id) if crate::domain::Wamid::parse(id).is_ok() => Some(json!({"message_id": id})),
            _ => {
                c.err(
                    "context.message_id",
                    "required",
                    "must be the wamid of the message replied to",
                );
                None
            }
        },
    };
    let callback_data = c.opt_text(
        body,
        "biz_opaque_callback_data",
        "biz_opaque_callback_data",
        limits::CALLBACK_DATA,
    );
    let callback_data = callback_data.map(str::to_owned);
    match recipient {
        Some(recipient) if c.errors.is_empty() => Ok(SendCommand {
            recipient,
            phone_number_id,
            msg_type,
            content,
            context,
            callback_data,
            campaign: None,
            text,
        }),
        _ => Err(c.errors),
    }
}

/// The body the Graph client posts for a stored outbound message: Meta's message object with
/// `callback_data` (our id, and the caller's value: [`crate::outbound::callback_data`]) as
/// `biz_opaque_callback_data`, so every status webhook links back to it.
pub fn graph_body(
    to: &Recipient,
    msg_type: &str,
    content: Value,
    context: Option<Value>,
    callback_data: &str,
) -> Value {
    let mut body = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "type": msg_type});
    match to {
        Recipient::WaId(w) => body["to"] = json!(w),
        Recipient::UserId(u) => body["recipient"] = json!(u),
    }
    body[msg_type] = content;
    if let Some(ctx) = context {
        body["context"] = ctx;
    }
    body["biz_opaque_callback_data"] = json!(callback_data);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(body: Value) -> Vec<String> {
        let mut cmd = validate(&body).unwrap_or_else(|e| panic!("{e:?}"));
        cmd.media_ids_mut().into_iter().map(|s| s.clone()).collect()
    }

    #[test]
    fn media_ids_are_found_in_media_messages_and_template_parameters() {
        assert_eq!(
            ids(json!({"to": "27820001111", "type": "image", "image": {"id": "m1"}})),
            ["m1"]
        );
        assert!(
            ids(json!({"to": "27820001111", "type": "image", "image": {"link": "https://x.test/a.png"}})).is_empty()
        );
        assert!(ids(json!({"to": "27820001111", "type": "text", "text": {"body": "hi"}})).is_empty());
        let template = json!({"to": "27820001111", "type": "template", "template": {
        "name": "invoice", "language": {"code": "en"},
        "components": [
            {"type": "header", "parameters": [{"type": "document", "document": {"id": "m2"}}]},
            {"type": "body", "parameters": [{"type": "text", "text": "m3"}]}
        ]}});
        assert_eq!(ids(template), ["m2"]);
    }
}
