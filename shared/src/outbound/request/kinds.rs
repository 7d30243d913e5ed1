//! The checks of each message type against Meta's limits, one function per type.

use serde_json::Value;

use super::{Check, chars, limits};

pub(super) fn text<'a>(c: &mut Check, v: &'a Value) -> Option<&'a str> {
    if v.get("preview_url").is_some_and(|p| !p.is_boolean()) {
        c.err("text.preview_url", "invalid_type", "must be true or false");
    }
    c.text(v, "text.body", limits::TEXT_BODY)
}

pub(super) fn media<'a>(c: &mut Check, t: &str, v: &'a Value) -> Option<&'a str> {
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

pub(super) fn location<'a>(c: &mut Check, v: &'a Value) -> Option<&'a str> {
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

pub(super) fn contacts<'a>(c: &mut Check, v: &'a Value) -> Option<&'a str> {
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

pub(super) fn interactive<'a>(c: &mut Check, v: &'a Value) -> Option<&'a str> {
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

pub(super) fn buttons(c: &mut Check, action: &Value) {
    let Some(list) = c.items(action, "interactive.action.buttons", limits::BUTTONS, "buttons") else {
        return;
    };
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

pub(super) fn list(c: &mut Check, action: &Value) {
    c.text(action, "interactive.action.button", limits::LIST_BUTTON);
    let Some(sections) = c.items(action, "interactive.action.sections", limits::SECTIONS, "sections") else {
        return;
    };
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

pub(super) fn template<'a>(c: &mut Check, v: &'a Value) -> Option<&'a str> {
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

pub(super) fn reaction<'a>(c: &mut Check, v: &'a Value) -> Option<&'a str> {
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
