//! `POST /v1/messages` bodies, validated against WhatsApp's rules before anything is stored, with one
//! `details` entry per wrong field. The body mirrors Meta's message object, so what passes here is
//! what the Graph client sends (plus `messaging_product`, the recipient and our callback data).

use serde_json::{Map, Value, json};

use super::phone;

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
    /// `biz_opaque_callback_data`.
    pub const CALLBACK_DATA: usize = 512;
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
}

impl SendCommand {
    /// Templates are the only messages allowed outside the 24-hour window.
    pub fn needs_open_window(&self) -> bool {
        self.msg_type != "template"
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

#[derive(Default)]
struct Check {
    errors: Vec<FieldError>,
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

impl Check {
    fn err(&mut self, field: impl Into<String>, code: &'static str, reason: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            code,
            reason: reason.into(),
        });
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
                if chars(s) > max {
                    self.err(
                        field,
                        "too_long",
                        format!("must be at most {max} characters, is {}", chars(s)),
                    );
                }
                Some(s)
            }
            Some(_) => {
                self.err(field, "invalid_type", "must be a string");
                None
            }
        }
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
        (None | Some(Value::Null), Some(Value::String(u))) if !u.trim().is_empty() && u.len() <= 128 => {
            Some(Recipient::UserId(u.trim().to_owned()))
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
            text,
        }),
        _ => Err(c.errors),
    }
}

fn text<'a>(c: &mut Check, v: &'a Value) -> Option<&'a str> {
    if v.get("preview_url").is_some_and(|p| !p.is_boolean()) {
        c.err("text.preview_url", "invalid_type", "must be true or false");
    }
    c.text(v, "text.body", limits::TEXT_BODY)
}

fn media<'a>(c: &mut Check, t: &str, v: &'a Value) -> Option<&'a str> {
    let id = v.get("id").and_then(Value::as_str).filter(|s| !s.is_empty());
    let link = v.get("link").and_then(Value::as_str);
    match (id, link) {
        (Some(_), Some(_)) => c.err(t, "ambiguous_media", "give either `id` or `link`, not both"),
        (None, None) => c.err(format!("{t}.id"), "required", "give the media `id` or an https `link`"),
        (None, Some(l)) => c.https(l, &format!("{t}.link")),
        (Some(_), None) => {}
    }
    let caption = if matches!(t, "image" | "video" | "document") {
        c.opt_text(v, "caption", &format!("{t}.caption"), limits::CAPTION)
    } else {
        if v.get("caption").is_some() {
            c.err(
                format!("{t}.caption"),
                "not_allowed",
                format!("{t} messages take no caption"),
            );
        }
        None
    };
    if t == "document" {
        c.opt_text(v, "filename", "document.filename", 240);
    } else if v.get("filename").is_some() {
        c.err(format!("{t}.filename"), "not_allowed", "only documents take a filename");
    }
    caption
}

fn location<'a>(c: &mut Check, v: &'a Value) -> Option<&'a str> {
    for (key, bound) in [("latitude", 90.0), ("longitude", 180.0)] {
        match v.get(key).and_then(Value::as_f64) {
            Some(x) if (-bound..=bound).contains(&x) => {}
            Some(_) => c.err(
                format!("location.{key}"),
                "out_of_range",
                format!("must be between -{bound} and {bound}"),
            ),
            None => c.err(format!("location.{key}"), "required", "is required as a number"),
        }
    }
    c.opt_text(v, "name", "location.name", 1000);
    c.opt_text(v, "address", "location.address", 1000)
}

fn contacts<'a>(c: &mut Check, v: &'a Value) -> Option<&'a str> {
    match v.as_array() {
        Some(list) if !list.is_empty() => {
            for (i, card) in list.iter().enumerate() {
                if card
                    .pointer("/name/formatted_name")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    c.err(format!("contacts[{i}].name.formatted_name"), "required", "is required");
                }
            }
        }
        _ => c.err("contacts", "required", "must be a non-empty array of contact cards"),
    }
    None
}

fn interactive<'a>(c: &mut Check, v: &'a Value) -> Option<&'a str> {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    let body = match v.get("body") {
        Some(b) => c.text(b, "interactive.body.text", limits::INTERACTIVE_BODY),
        None => {
            c.err("interactive.body.text", "required", "is required");
            None
        }
    };
    if let Some(h) = v.get("header")
        && h.get("type").and_then(Value::as_str) == Some("text")
    {
        c.text(h, "interactive.header.text", limits::HEADER_FOOTER);
    }
    if let Some(f) = v.get("footer") {
        c.text(f, "interactive.footer.text", limits::HEADER_FOOTER);
    }
    let Some(action) = c.object(v, "action", "interactive.action") else {
        return body;
    };
    let action = Value::Object(action.clone());
    match kind {
        "button" => buttons(c, &action),
        "list" => list(c, &action),
        "cta_url" => {
            if action.get("name").and_then(Value::as_str) != Some("cta_url") {
                c.err("interactive.action.name", "invalid_value", "must be \"cta_url\"");
            }
            match action.get("parameters") {
                Some(p) => {
                    c.text(p, "interactive.action.parameters.display_text", limits::CTA_DISPLAY);
                    if let Some(url) = c.text(p, "interactive.action.parameters.url", 2000) {
                        c.https(url, "interactive.action.parameters.url");
                    }
                }
                None => c.err("interactive.action.parameters", "required", "is required"),
            }
        }
        "location_request_message" => {
            if action.get("name").and_then(Value::as_str) != Some("send_location") {
                c.err("interactive.action.name", "invalid_value", "must be \"send_location\"");
            }
        }
        other => c.err(
            "interactive.type",
            "unsupported_type",
            format!("{other:?} is not one of button, list, cta_url, location_request_message"),
        ),
    }
    body
}

fn buttons(c: &mut Check, action: &Value) {
    let Some(list) = action.get("buttons").and_then(Value::as_array) else {
        c.err("interactive.action.buttons", "required", "is required");
        return;
    };
    if list.is_empty() || list.len() > limits::BUTTONS {
        c.err(
            "interactive.action.buttons",
            "out_of_range",
            format!("must have 1 to {} buttons", limits::BUTTONS),
        );
    }
    let mut ids = std::collections::HashSet::new();
    for (i, b) in list.iter().enumerate() {
        let path = format!("interactive.action.buttons[{i}]");
        if b.get("type").and_then(Value::as_str) != Some("reply") {
            c.err(format!("{path}.type"), "invalid_value", "must be \"reply\"");
        }
        let Some(reply) = b.get("reply") else {
            c.err(format!("{path}.reply"), "required", "is required");
            continue;
        };
        if let Some(id) = c.text(reply, &format!("{path}.reply.id"), limits::BUTTON_ID)
            && !ids.insert(id)
        {
            c.err(format!("{path}.reply.id"), "duplicate", "button ids must be unique");
        }
        c.text(reply, &format!("{path}.reply.title"), limits::BUTTON_TITLE);
    }
}

fn list(c: &mut Check, action: &Value) {
    c.text(action, "interactive.action.button", limits::LIST_BUTTON);
    let Some(sections) = action.get("sections").and_then(Value::as_array) else {
        c.err("interactive.action.sections", "required", "is required");
        return;
    };
    if sections.is_empty() || sections.len() > limits::SECTIONS {
        c.err(
            "interactive.action.sections",
            "out_of_range",
            format!("must have 1 to {} sections", limits::SECTIONS),
        );
    }
    let mut rows = 0;
    for (i, s) in sections.iter().enumerate() {
        let path = format!("interactive.action.sections[{i}]");
        if sections.len() > 1 {
            c.text(s, &format!("{path}.title"), limits::SECTION_TITLE);
        } else {
            c.opt_text(s, "title", &format!("{path}.title"), limits::SECTION_TITLE);
        }
        let list = s
            .get("rows")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if list.is_empty() {
            c.err(
                format!("{path}.rows"),
                "required",
                "each section needs at least one row",
            );
        }
        for (j, r) in list.iter().enumerate() {
            let rp = format!("{path}.rows[{j}]");
            c.text(r, &format!("{rp}.id"), limits::ROW_ID);
            c.text(r, &format!("{rp}.title"), limits::ROW_TITLE);
            c.opt_text(r, "description", &format!("{rp}.description"), limits::ROW_DESCRIPTION);
        }
        rows += list.len();
    }
    if rows > limits::ROWS {
        c.err(
            "interactive.action.sections",
            "too_many_rows",
            format!("at most {} rows in all, got {rows}", limits::ROWS),
        );
    }
}

const PARAMETER_TYPES: &[&str] = &["text", "currency", "date_time", "image", "video", "document", "payload"];

fn template<'a>(c: &mut Check, v: &'a Value) -> Option<&'a str> {
    if let Some(name) = c.text(v, "template.name", 512)
        && !name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
    {
        c.err(
            "template.name",
            "invalid_value",
            "template names are lowercase letters, digits and '_'",
        );
    }
    match v.get("language") {
        Some(l) => {
            c.text(l, "template.language.code", 16);
        }
        None => c.err("template.language.code", "required", "is required (e.g. en_US)"),
    }
    let components = v
        .get("components")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (i, comp) in components.iter().enumerate() {
        let path = format!("template.components[{i}]");
        match comp.get("type").and_then(Value::as_str) {
            Some("header" | "body") => {}
            Some("button") => {
                if comp.get("index").is_none() || comp.get("sub_type").is_none() {
                    c.err(&path, "required", "button components need sub_type and index");
                }
            }
            _ => c.err(
                format!("{path}.type"),
                "invalid_value",
                "must be header, body or button",
            ),
        }
        let params = comp
            .get("parameters")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for (j, p) in params.iter().enumerate() {
            let pp = format!("{path}.parameters[{j}]");
            match p.get("type").and_then(Value::as_str) {
                Some(t) if PARAMETER_TYPES.contains(&t) => {
                    if p.get(t).is_none() {
                        c.err(format!("{pp}.{t}"), "required", format!("a {t} parameter needs `{t}`"));
                    }
                    if let Some(link) = p.get(t).and_then(|m| m.get("link")).and_then(Value::as_str) {
                        c.https(link, &format!("{pp}.{t}.link"));
                    }
                }
                _ => c.err(
                    format!("{pp}.type"),
                    "invalid_value",
                    format!("must be one of {}", PARAMETER_TYPES.join(", ")),
                ),
            }
        }
    }
    None
}

fn reaction<'a>(c: &mut Check, v: &'a Value) -> Option<&'a str> {
    match v.get("message_id").and_then(Value::as_str) {
        Some(id) if crate::domain::Wamid::parse(id).is_ok() => {}
        _ => c.err(
            "reaction.message_id",
            "required",
            "must be the wamid of the message reacted to",
        ),
    }
    match v.get("emoji") {
        Some(Value::String(e)) if chars(e) <= 10 => {}
        None => c.err(
            "reaction.emoji",
            "required",
            "is required: an emoji, or \"\" to remove the reaction",
        ),
        Some(_) => c.err(
            "reaction.emoji",
            "invalid_value",
            "must be one emoji, or \"\" to remove",
        ),
    }
    None
}

/// The body the Graph client posts for a stored outbound message: Meta's message object with our
/// message id as `biz_opaque_callback_data`, so every status webhook links back to it.
pub fn graph_body(to: &Recipient, msg_type: &str, content: &Value, context: Option<&Value>, our_id: &str) -> Value {
    let mut body = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "type": msg_type});
    match to {
        Recipient::WaId(w) => body["to"] = json!(w),
        Recipient::UserId(u) => body["recipient"] = json!(u),
    }
    body[msg_type] = content.clone();
    if let Some(ctx) = context {
        body["context"] = ctx.clone();
    }
    body["biz_opaque_callback_data"] = json!(our_id);
    body
}
