//! Follow-up sequences: messages to one customer, each `delay_s` after the previous one went out
//! (the first after creation), stopped by the customer's reply when `stop_on_reply`. A free-form
//! step due while the customer's window is closed is skipped (`window_closed`); a template step
//! always goes.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::reminder::MAX_OFFSET_S;
use super::send::{Common, Progress, SendStatus, common, send_body};
use super::{Outcome, Plan, SEQUENCE};
use crate::outbound::request::{Check, FieldError, SendCommand, one_line, validate};
use crate::timefmt;

/// Steps one sequence takes at most.
pub const MAX_STEPS: usize = 20;
/// The reason on the steps a reply stopped.
pub const REPLIED: &str = "the customer replied";

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Seconds after the previous step went out (the first: after creation).
    pub delay_s: i64,
    /// The message object as `POST /v1/messages` takes it, without `to`.
    pub message: Value,
    /// When it is due; unknown until the step before it has gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at_ms: Option<i64>,
    /// Where it stands.
    #[serde(flatten)]
    pub progress: Progress,
}

/// A sequence: its request and its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    /// The customer (wa_id).
    pub to: String,
    /// The business number, if not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
    /// A message from the customer cancels the steps not yet gone.
    pub stop_on_reply: bool,
    /// The caller's id for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// When it started (Unix ms).
    pub started_at_ms: i64,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// When it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at_ms: Option<i64>,
    /// When the customer's reply stopped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at_ms: Option<i64>,
}

impl Sequence {
    /// The first step still to go.
    fn current(&self) -> Option<usize> {
        self.steps.iter().position(|s| s.progress.status.pending())
    }

    /// Cancels every step not yet claimed, for `reason`.
    fn cancel_pending(&mut self, reason: &str) {
        for s in &mut self.steps {
            s.progress.cancel(Some(reason));
        }
    }

    /// The sequence as the API shows it.
    fn shown(&self, id: &str, created_at_ms: i64) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                json!({"delay_s": s.delay_s, "message": s.message, "status": s.progress.status.shown(),
                       "due_at": s.due_at_ms.and_then(timefmt::rfc3339), "message_id": s.progress.message_id,
                       "reason": s.progress.reason})
            })
            .collect();
        json!({"id": id, "status": Plan::status(self), "to": self.to, "stop_on_reply": self.stop_on_reply,
               "external_id": self.external_id, "phone_number_id": self.phone_number_id, "steps": steps,
               "created_at": timefmt::rfc3339(created_at_ms),
               "stopped_at": self.stopped_at_ms.and_then(timefmt::rfc3339),
               "cancelled_at": self.cancelled_at_ms.and_then(timefmt::rfc3339)})
    }

    fn body(&self, message: &Value) -> Value {
        send_body(&self.to, self.phone_number_id.as_deref(), message.clone())
    }
}

impl Plan for Sequence {
    const KIND: &'static str = SEQUENCE;

    fn claim(&mut self, now: i64, lease_ms: i64) -> Vec<String> {
        // One step at a time: the next one's time is known only once this one has gone.
        let Some(i) = self.current() else {
            return Vec::new();
        };
        let step = &mut self.steps[i];
        if step.progress.claim(step.due_at_ms, now, lease_ms) {
            vec![i.to_string()]
        } else {
            Vec::new()
        }
    }

    fn command(&self, key: &str) -> Result<SendCommand, String> {
        let step = key
            .parse::<usize>()
            .ok()
            .and_then(|i| self.steps.get(i))
            .ok_or_else(|| format!("no step {key}"))?;
        validate(&self.body(&step.message)).map_err(|e| one_line(&e))
    }

    fn settle(&mut self, key: &str, outcome: &Outcome, now: i64) {
        let Some(i) = key.parse::<usize>().ok() else {
            return;
        };
        if !self.steps.get_mut(i).is_some_and(|s| s.progress.settle(outcome)) {
            return;
        }
        if let Some(next) = self
            .steps
            .get_mut(i + 1)
            .filter(|s| s.progress.status == SendStatus::Scheduled)
        {
            next.due_at_ms = Some(now.saturating_add(next.delay_s.saturating_mul(1000)));
        }
    }

    fn next_due(&self, lease_ms: i64) -> Option<i64> {
        let step = &self.steps[self.current()?];
        step.progress.next_due(step.due_at_ms, lease_ms)
    }

    fn cancel(&mut self, now: i64) {
        self.cancel_pending("cancelled");
        self.cancelled_at_ms.get_or_insert(now);
    }

    fn status(&self) -> &'static str {
        if self.current().is_some() {
            "running"
        } else if self.stopped_at_ms.is_some() {
            "stopped"
        } else if self.cancelled_at_ms.is_some() {
            "cancelled"
        } else {
            "completed"
        }
    }

    fn stops_on_reply(&self) -> Option<(&str, Option<&str>, i64)> {
        (self.stop_on_reply && self.current().is_some()).then_some((
            self.to.as_str(),
            self.phone_number_id.as_deref(),
            self.started_at_ms,
        ))
    }

    fn stop(&mut self, now: i64) {
        self.cancel_pending(REPLIED);
        self.stopped_at_ms.get_or_insert(now);
    }

    fn view(&self, id: &str, created_at_ms: i64) -> Value {
        self.shown(id, created_at_ms)
    }
}

/// Reads a `POST /v1/sequences` body into a sequence started at `now_ms`.
pub fn parse(body: &Value, now_ms: i64) -> Result<Sequence, Vec<FieldError>> {
    let mut c = Check::default();
    let Some(o) = body.as_object() else {
        c.err("body", "invalid_type", "must be a JSON object");
        return Err(c.errors);
    };
    let known = ["to", "steps", "stop_on_reply", "external_id", "phone_number_id"];
    let Common {
        to,
        phone_number_id,
        external_id,
    } = common(&mut c, o, "sequence", &known);
    let stop_on_reply = match o.get("stop_on_reply") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            c.err("stop_on_reply", "invalid_type", "must be true or false");
            true
        }
    };
    let mut steps = Vec::new();
    match o.get("steps").and_then(Value::as_array) {
        Some(list) if !list.is_empty() && list.len() <= MAX_STEPS => {
            for (i, v) in list.iter().enumerate() {
                let delay = v
                    .get("delay_s")
                    .and_then(Value::as_i64)
                    .filter(|d| (0..=MAX_OFFSET_S).contains(d));
                if delay.is_none() {
                    c.err(
                        format!("steps[{i}].delay_s"),
                        "out_of_range",
                        format!("0 to {MAX_OFFSET_S} seconds"),
                    );
                }
                let message = v.get("message").cloned().unwrap_or(Value::Null);
                if message.get("to").is_some() || !message.is_object() {
                    c.err(
                        format!("steps[{i}].message"),
                        "invalid",
                        "a message object as POST /v1/messages takes it, without \"to\"",
                    );
                }
                steps.push(Step {
                    delay_s: delay.unwrap_or(0),
                    message,
                    due_at_ms: None,
                    progress: Progress::scheduled(),
                });
            }
        }
        _ => c.err("steps", "required", format!("give 1 to {MAX_STEPS} steps")),
    }
    let Some(to) = to else {
        return Err(c.errors);
    };
    let mut seq = Sequence {
        to,
        phone_number_id,
        stop_on_reply,
        external_id,
        started_at_ms: now_ms,
        steps,
        cancelled_at_ms: None,
        stopped_at_ms: None,
    };
    // Each step is checked as the send it will be.
    if c.errors.is_empty() {
        for (i, step) in seq.steps.iter().enumerate() {
            if let Err(errors) = validate(&seq.body(&step.message)) {
                for e in errors {
                    c.err(format!("steps[{i}].message.{}", e.field), e.code, e.reason);
                }
            }
        }
    }
    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    if let Some(first) = seq.steps.first_mut() {
        first.due_at_ms = Some(now_ms.saturating_add(first.delay_s.saturating_mul(1000)));
    }
    Ok(seq)
}
