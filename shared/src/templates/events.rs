//! Meta's template webhooks (`message_template_status_update`, `template_category_update`,
//! `message_template_quality_update`, `message_template_components_update`) as changes to our
//! copy, each applied only if it is not older than what the copy already shows.

use serde_json::{Value, json};

use super::{Template, id_text};
use crate::domain::RawEvent;

/// What one template webhook says.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new status, with Meta's reason (REJECTED's, say) and category when given.
    Status {
        /// APPROVED, REJECTED, PAUSED, … as Meta spells it.
        status: String,
        /// Meta's `reason`; `NONE` and null read as none.
        reason: Option<String>,
        /// `message_template_category`, when given.
        category: Option<String>,
    },
    /// Meta moved the template to another category.
    Category {
        /// The category now.
        new: String,
        /// The category before, when Meta says.
        previous: Option<String>,
    },
    /// A new quality score.
    Quality(String),
    /// The template's text and buttons changed; the new components.
    Components(Value),
}

/// One template webhook: which template, when (the entry's `time`), and what changed.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateEvent {
    /// Meta's template id.
    pub id: Option<String>,
    /// The template's name.
    pub name: String,
    /// Its language.
    pub language: String,
    /// The entry's `time` (Unix ms); events without one order by arrival.
    pub at_ms: Option<i64>,
    /// What changed.
    pub change: Change,
}

/// The webhook fields that carry template news.
pub const FIELDS: [&str; 4] = [
    "message_template_status_update",
    "template_category_update",
    "message_template_quality_update",
    "message_template_components_update",
];

impl TemplateEvent {
    /// Reads a raw webhook change as template news; `None` for other fields, and for template
    /// changes that do not say which template (nothing could be updated).
    pub fn of(event: &RawEvent) -> Option<Self> {
        if !FIELDS.contains(&event.field.as_str()) {
            return None;
        }
        let v = &event.payload;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let name = s("message_template_name")?;
        let language = s("message_template_language")?;
        // Meta's own example of a quality update is labelled a status update: read what it
        // carries, not its label.
        let change = if let Some(q) = s("new_quality_score") {
            Change::Quality(q)
        } else if let Some(new) = s("new_category") {
            Change::Category {
                new,
                previous: s("previous_category"),
            }
        } else if let Some(status) = s("event") {
            Change::Status {
                status,
                reason: s("reason").filter(|r| r != "NONE" && !r.is_empty()),
                category: s("message_template_category"),
            }
        } else if event.field == "message_template_components_update" {
            Change::Components(components_of(v))
        } else {
            return None;
        };
        Some(Self {
            id: v.get("message_template_id").and_then(id_text),
            name,
            language,
            at_ms: event.entry_time_ms,
            change,
        })
    }

    /// Applies the news to `t` (stamped `at`, the entry's time or else the arrival) where it is not
    /// older than what `t` shows; `true` if anything changed.
    pub fn apply(&self, t: &mut Template, at: i64) -> bool {
        if t.id.is_none() {
            t.id.clone_from(&self.id);
        }
        let before = t.clone();
        match &self.change {
            Change::Status {
                status,
                reason,
                category,
            } => {
                if at >= t.stamps.status {
                    t.stamps.status = at;
                    t.status.clone_from(status);
                    t.rejected_reason = match status.as_str() {
                        "REJECTED" => Some(reason.clone().unwrap_or_else(|| "UNKNOWN".into())),
                        super::APPROVED => None,
                        _ => t.rejected_reason.take(),
                    };
                }
                if let Some(c) = category
                    && t.category.is_none()
                {
                    t.category = Some(c.clone());
                }
            }
            Change::Category { new, previous } if at >= t.stamps.category => {
                t.stamps.category = at;
                let was = t.category.replace(new.clone());
                t.previous_category = previous.clone().or(was).filter(|p| p != new);
            }
            Change::Quality(q) if at >= t.stamps.quality => {
                t.stamps.quality = at;
                t.quality.clone_from(q);
            }
            Change::Components(c) if at >= t.stamps.components => {
                t.stamps.components = at;
                t.components = c.clone();
            }
            _ => {}
        }
        *t != before
    }
}

/// Components from the flat fields of a components update (title, element, footer, buttons).
fn components_of(v: &Value) -> Value {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    let mut out = Vec::new();
    if let Some(title) = s("message_template_title") {
        out.push(json!({"type": "HEADER", "format": "TEXT", "text": title}));
    }
    if let Some(body) = s("message_template_element") {
        out.push(json!({"type": "BODY", "text": body}));
    }
    if let Some(footer) = s("message_template_footer") {
        out.push(json!({"type": "FOOTER", "text": footer}));
    }
    if let Some(buttons) = v.get("message_template_buttons").and_then(Value::as_array) {
        let buttons: Vec<Value> = buttons
            .iter()
            .map(|b| {
                let f = |k: &str| b.get(k).cloned().unwrap_or(Value::Null);
                let mut button =
                    json!({"type": f("message_template_button_type"), "text": f("message_template_button_text")});
                if let Some(url) = b.get("message_template_button_url") {
                    button["url"] = url.clone();
                }
                if let Some(phone) = b.get("message_template_button_phone_number") {
                    button["phone_number"] = phone.clone();
                }
                button
            })
            .collect();
        out.push(json!({"type": "BUTTONS", "buttons": buttons}));
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(field: &str, time: i64, value: Value) -> RawEvent {
        let mut e = RawEvent::new(field, "change", Some("waba".into()), None, value);
        e.entry_time_ms = Some(time * 1000);
        e
    }

    fn status(s: &str, time: i64) -> TemplateEvent {
        TemplateEvent::of(&event(
            "message_template_status_update",
            time,
            json!({"event": s, "message_template_id": 7, "message_template_name": "t",
                   "message_template_language": "en", "reason": "NONE"}),
        ))
        .unwrap()
    }

    #[test]
    fn an_older_status_never_overwrites_a_newer_one() {
        let mut t = Template::new("t", "en");
        let (approved, paused) = (status("APPROVED", 10), status("PAUSED", 20));
        assert!(paused.apply(&mut t, 20_000));
        assert!(!approved.apply(&mut t, 10_000), "older: ignored");
        assert!(!paused.apply(&mut t, 20_000), "again: nothing changes");
        assert_eq!((t.status.as_str(), t.id.as_deref()), ("PAUSED", Some("7")));
    }

    #[test]
    fn a_quality_update_labelled_a_status_update_is_read_as_quality() {
        let e = TemplateEvent::of(&event(
            "message_template_status_update",
            1,
            json!({"previous_quality_score": "GREEN", "new_quality_score": "YELLOW",
                   "message_template_id": 1, "message_template_name": "t", "message_template_language": "en"}),
        ))
        .unwrap();
        assert_eq!(e.change, Change::Quality("YELLOW".into()));
    }
}
