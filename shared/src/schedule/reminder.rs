//! Appointment reminders: one template to one customer at each of several offsets before an
//! appointment (seed 003's `reminder_intervals: [24, 2, 0.5]` hours). A reminder is a schedule
//! document holding its sends; each send is claimed by the scheduler, queued under an id derived
//! from the reminder and its offset, and never sent twice.

use chrono::{DateTime, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::placeholders::fill;
use super::send::{Common, Progress, SendStatus, common, send_body};
use crate::outbound::request::{Check, FieldError, SendCommand, one_line, validate};
use crate::timefmt;

/// Offsets one reminder takes at most.
pub const MAX_OFFSETS: usize = 10;
/// Longest offset: a year before the appointment.
pub const MAX_OFFSET_S: i64 = 366 * 24 * 3600;

/// One send of a reminder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderSend {
    /// Seconds before the appointment.
    pub offset_s: i64,
    /// When it is due (Unix ms).
    pub due_at_ms: i64,
    /// Where it stands.
    #[serde(flatten)]
    pub progress: Progress,
}

/// A reminder: its request and its sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reminder {
    /// The customer (wa_id).
    pub to: String,
    /// The business number, if not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
    /// The appointment (Unix ms).
    pub at_ms: i64,
    /// The zone `{{appointment.time}}` and `{{appointment.date}}` are written in.
    pub tz: String,
    /// The template object, as a send takes it, placeholders unrendered.
    pub template: Value,
    /// The caller's id for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// One per offset, soonest due first.
    pub sends: Vec<ReminderSend>,
    /// When it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at_ms: Option<i64>,
}

impl Reminder {
    /// `scheduled` while a send is still to go, else `cancelled` or `completed`.
    pub fn status(&self) -> &'static str {
        if self.sends.iter().any(|s| s.progress.status.pending()) {
            "scheduled"
        } else if self.cancelled_at_ms.is_some() {
            "cancelled"
        } else {
            "completed"
        }
    }

    /// The earliest time the scheduler has work here: a send's due time, or when a claim on one
    /// runs out (`lease_ms` after it was taken).
    pub fn next_due(&self, lease_ms: i64) -> Option<i64> {
        self.sends
            .iter()
            .filter_map(|s| s.progress.next_due(Some(s.due_at_ms), lease_ms))
            .min()
    }

    /// Sets each send still scheduled to `at_ms - offset`, skipping those whose time is past.
    pub fn schedule_at(&mut self, at_ms: i64, now_ms: i64) {
        self.at_ms = at_ms;
        for s in self.sends.iter_mut().filter(|s| {
            let p = &s.progress;
            p.status == SendStatus::Scheduled || p.status == SendStatus::Skipped && p.reason.as_deref() == Some(PAST)
        }) {
            s.due_at_ms = at_ms - s.offset_s * 1000;
            s.progress = if s.due_at_ms < now_ms {
                Progress {
                    status: SendStatus::Skipped,
                    reason: Some(PAST.into()),
                    ..Progress::scheduled()
                }
            } else {
                Progress::scheduled()
            };
        }
        self.sends.sort_by_key(|s| s.due_at_ms);
    }

    /// The send for the offset of `send`, with `{{appointment.time}}` and `{{appointment.date}}`
    /// written in the reminder's zone.
    pub fn command(&self) -> Result<SendCommand, Vec<FieldError>> {
        let mut template = self.template.clone();
        let (time, date) = local(self.at_ms, &self.tz);
        let known = |name: &str| match name {
            "time" => Some(time.clone()),
            "date" => Some(date.clone()),
            _ => None,
        };
        fill(&mut template, "appointment", &known).map_err(|name| {
            vec![FieldError {
                field: "template".into(),
                code: "unknown_placeholder",
                reason: format!(
                    "{{{{appointment.{name}}}}} is not known: use {{{{appointment.time}}}} or {{{{appointment.date}}}}"
                ),
            }]
        })?;
        let message = json!({"type": "template", "template": template});
        validate(&send_body(&self.to, self.phone_number_id.as_deref(), message))
    }

    /// The reminder as the API shows it.
    pub fn view(&self, id: &str, created_at_ms: i64) -> Value {
        let sends: Vec<Value> = self
            .sends
            .iter()
            .map(|s| {
                json!({"offset_s": s.offset_s, "due_at": timefmt::rfc3339(s.due_at_ms), "status": s.progress.status.shown(),
                       "message_id": s.progress.message_id, "reason": s.progress.reason})
            })
            .collect();
        json!({"id": id, "status": self.status(), "to": self.to, "at": timefmt::rfc3339(self.at_ms), "tz": self.tz,
               "template": self.template, "external_id": self.external_id, "phone_number_id": self.phone_number_id,
               "sends": sends, "created_at": timefmt::rfc3339(created_at_ms),
               "cancelled_at": self.cancelled_at_ms.and_then(timefmt::rfc3339)})
    }
}

/// The reason of a send whose time had passed.
pub const PAST: &str = "its time had passed when the reminder was scheduled";

/// The appointment's local time (`14:30`) and date (`2026-11-24`) in `tz`.
fn local(at_ms: i64, tz: &str) -> (String, String) {
    let utc = DateTime::<Utc>::from_timestamp_millis(at_ms).unwrap_or_default();
    match tz.parse::<chrono_tz::Tz>() {
        Ok(zone) => {
            let t = zone.from_utc_datetime(&utc.naive_utc());
            (t.format("%H:%M").to_string(), t.format("%Y-%m-%d").to_string())
        }
        Err(_) => (utc.format("%H:%M").to_string(), utc.format("%Y-%m-%d").to_string()),
    }
}

/// Reads a `POST /v1/reminders` body into a reminder with its sends scheduled from `now_ms`.
pub fn parse(body: &Value, now_ms: i64) -> Result<Reminder, Vec<FieldError>> {
    let mut c = Check::default();
    let Some(o) = body.as_object() else {
        c.err("body", "invalid_type", "must be a JSON object");
        return Err(c.errors);
    };
    let known = [
        "to",
        "at",
        "offsets_s",
        "template",
        "tz",
        "external_id",
        "phone_number_id",
    ];
    let Common {
        to,
        phone_number_id,
        external_id,
    } = common(&mut c, o, "reminder", &known);
    let at_ms = match o.get("at").and_then(Value::as_str) {
        Some(a) => DateTime::parse_from_rfc3339(a)
            .map(|t| t.timestamp_millis())
            .map_err(|_| {
                c.err(
                    "at",
                    "invalid_time",
                    "must be an RFC 3339 time with its offset (2026-11-24T14:30:00+02:00)",
                )
            })
            .ok(),
        None => {
            c.err("at", "required", "the appointment time is required");
            None
        }
    };
    let mut offsets = Vec::new();
    match o.get("offsets_s").and_then(Value::as_array) {
        Some(list) if !list.is_empty() && list.len() <= MAX_OFFSETS => {
            for (i, v) in list.iter().enumerate() {
                match v.as_f64() {
                    Some(f) if (0.0..=MAX_OFFSET_S as f64).contains(&f) => offsets.push(f.round() as i64),
                    _ => c.err(
                        format!("offsets_s[{i}]"),
                        "out_of_range",
                        format!("an offset is 0 to {MAX_OFFSET_S} seconds before the appointment"),
                    ),
                }
            }
        }
        _ => c.err(
            "offsets_s",
            "required",
            format!("give 1 to {MAX_OFFSETS} offsets in seconds before the appointment"),
        ),
    }
    offsets.sort_unstable();
    offsets.dedup();
    let tz = match o.get("tz") {
        None | Some(Value::Null) => "UTC".to_owned(),
        Some(Value::String(z)) if z.parse::<chrono_tz::Tz>().is_ok() => z.clone(),
        Some(_) => {
            c.err(
                "tz",
                "invalid_time_zone",
                "must be an IANA zone such as Africa/Johannesburg",
            );
            "UTC".to_owned()
        }
    };
    let template = o.get("template").cloned().unwrap_or(Value::Null);
    let (Some(to), Some(at_ms)) = (to, at_ms) else {
        return Err(c.errors);
    };
    let mut r = Reminder {
        to,
        phone_number_id,
        at_ms,
        tz,
        template,
        external_id,
        sends: offsets
            .into_iter()
            .map(|offset_s| ReminderSend {
                offset_s,
                due_at_ms: 0,
                progress: Progress::scheduled(),
            })
            .collect(),
        cancelled_at_ms: None,
    };
    // The template is checked as a send of it would be, placeholders filled in.
    if let Err(errors) = r.command() {
        for e in errors.into_iter().filter(|e| e.field != "to") {
            c.errors.push(e);
        }
    }
    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    r.schedule_at(at_ms, now_ms);
    Ok(r)
}

impl super::Plan for Reminder {
    const KIND: &'static str = super::REMINDER;

    fn claim(&mut self, now: i64, lease_ms: i64) -> Vec<String> {
        self.sends
            .iter_mut()
            .filter_map(|s| {
                s.progress
                    .claim(Some(s.due_at_ms), now, lease_ms)
                    .then(|| s.offset_s.to_string())
            })
            .collect()
    }

    fn command(&self, _key: &str) -> Result<SendCommand, String> {
        Reminder::command(self).map_err(|e| one_line(&e))
    }

    fn settle(&mut self, key: &str, outcome: &super::Outcome, _now: i64) {
        // Sends are known by their offset: a move may reorder them meanwhile.
        if let Some(send) = self.sends.iter_mut().find(|s| s.offset_s.to_string() == key) {
            send.progress.settle(outcome);
        }
    }

    fn cancel(&mut self, now: i64) {
        for s in &mut self.sends {
            s.progress.cancel(None);
        }
        self.cancelled_at_ms.get_or_insert(now);
    }

    fn next_due(&self, lease_ms: i64) -> Option<i64> {
        Reminder::next_due(self, lease_ms)
    }

    fn status(&self) -> &'static str {
        Reminder::status(self)
    }

    fn view(&self, id: &str, created_at_ms: i64) -> Value {
        Reminder::view(self, id, created_at_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_763_800_000_000;

    fn body(at: &str) -> Value {
        json!({"to": "+27 82 000 0001", "at": at, "offsets_s": [1800, 86400, 7200], "tz": "Africa/Johannesburg",
               "template": {"name": "appointment", "language": {"code": "en"}, "components": [
                   {"type": "body", "parameters": [{"type": "text", "text": "{{appointment.date}} at {{appointment.time}}"}]}]}})
    }

    #[test]
    fn sends_are_due_at_each_offset_and_past_ones_are_skipped() {
        // The appointment is 3 hours after T0: the 24-hour reminder's time has passed.
        let at = timefmt::rfc3339(T0 + 3 * 3600 * 1000).unwrap();
        let r = parse(&body(&at), T0).unwrap();
        let got: Vec<(i64, SendStatus)> = r.sends.iter().map(|s| (s.offset_s, s.progress.status)).collect();
        assert_eq!(
            got,
            [
                (86400, SendStatus::Skipped),
                (7200, SendStatus::Scheduled),
                (1800, SendStatus::Scheduled)
            ]
        );
        assert_eq!(r.next_due(60_000), Some(T0 + 3600 * 1000));
        assert_eq!(r.status(), "scheduled");
    }

    #[test]
    fn the_placeholders_are_written_in_the_reminders_zone() {
        let r = parse(&body("2026-11-24T12:30:00Z"), T0).unwrap();
        let cmd = r.command().unwrap();
        let text = cmd.content["components"][0]["parameters"][0]["text"].as_str().unwrap();
        assert_eq!(text, "2026-11-24 at 14:30");
    }

    #[test]
    fn an_unknown_appointment_placeholder_is_refused_rather_than_sent() {
        let mut b = body("2026-11-24T12:30:00Z");
        b["template"]["components"][0]["parameters"][0]["text"] = json!("at {{appointment.place}}");
        let e = parse(&b, T0).unwrap_err();
        assert_eq!(
            (e[0].field.as_str(), e[0].code),
            ("template", "unknown_placeholder"),
            "{e:?}"
        );
    }

    #[test]
    fn a_bad_reminder_names_every_wrong_field() {
        let e = parse(
            &json!({"to": "1", "at": "tomorrow", "offsets_s": [-5], "tz": "Mars/Base", "x": 1}),
            T0,
        )
        .unwrap_err();
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        for f in ["x", "to", "at", "offsets_s[0]", "tz"] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }
}
