//! Sessions and how a customer's message moves one: a pure function from (flows, the session as
//! stored, the message, now) to what to store and what to send, so the store's conditional write
//! is the only place concurrency is decided.
//!
//! Exactly once: the messages a step sends get ids derived from the customer's wamid and their
//! place in the step's output; the session keeps the output of the last message it applied, so
//! a redelivery of that message (after a crash between the session write and the sends) sends
//! the same messages again under the same ids, which the store refuses to double. A message older
//! than the last one applied is ignored by the flow.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::definition::{Flow, Step};

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for the customer.
    Active,
    /// Reached an end step.
    Completed,
    /// No message within the flow's `session_ttl_s` (shown when read; the next message starts
    /// afresh).
    Expired,
    /// Too many wrong answers.
    Abandoned,
}

impl Status {
    /// The name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Completed => "completed",
            Self::Expired => "expired",
            Self::Abandoned => "abandoned",
        }
    }
}

/// One question and its answer, for the audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answered {
    /// The step.
    pub step: String,
    /// What was asked (or the message a branch answered).
    pub question: String,
    /// What the customer answered.
    pub answer: String,
    /// When (RFC 3339).
    pub at: String,
}

/// The audit record of a completed session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// Its id: the session's.
    pub id: String,
    /// The flow.
    pub flow: String,
    /// The end step's `record`, if it had one.
    pub kind: Option<String>,
    /// The customer's number.
    pub wa_id: Option<String>,
    /// The session.
    pub session_id: String,
    /// What was saved.
    pub fields: BTreeMap<String, String>,
    /// Every answer, in order.
    pub steps: Vec<Answered>,
    /// When the end step was reached (RFC 3339).
    pub completed_at: String,
    /// The same, in Unix ms, for ordering (stored, not shown).
    #[serde(default)]
    pub completed_ms: i64,
}

impl Interaction {
    /// The record as the API and the `flow.completed` callback show it.
    pub fn view(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(m) = v.as_object_mut() {
            m.remove("completed_ms");
        }
        v
    }
}

/// A message the step sends: its place in the step's output names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    /// `flow:{session}:{n}`: with the customer's wamid, the message's id.
    pub purpose: String,
    /// The message, as `POST /v1/messages` takes it without `to`, placeholders filled in.
    pub message: Value,
}

/// A session per customer and business number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Derived from the wamid of the message that started it.
    pub id: String,
    /// The flow.
    pub flow: String,
    /// The customer (wa_id or user id).
    pub customer: String,
    /// The customer's number, when Meta gave it.
    pub wa_id: Option<String>,
    /// The business number.
    pub phone_number_id: String,
    /// The step waiting for the customer (or the end reached).
    pub step: String,
    /// Saved answers.
    pub fields: BTreeMap<String, String>,
    /// Unix ms.
    pub started_ms: i64,
    /// Unix ms of the last message applied.
    pub updated_ms: i64,
    /// When it expires without another message, Unix ms.
    pub expires_ms: i64,
    /// As stored.
    pub status: Status,
    /// Wrong answers to the current question.
    pub attempts: u32,
    /// Every answer, for the audit record.
    pub log: Vec<Answered>,
    /// The sequence key of the last message applied: older ones are ignored.
    pub last_seq: String,
    /// The last message applied.
    pub last_wamid: String,
    /// What applying it sent, sent again on its redelivery.
    pub outputs: Vec<Outgoing>,
    /// The audit record, once completed.
    pub interaction: Option<Interaction>,
    /// Bumped by every write; writes are conditional on it.
    pub version: u64,
}

impl Session {
    /// The status as of `now_ms`: an active session past its expiry shows as expired.
    pub fn status_at(&self, now_ms: i64) -> Status {
        match self.status {
            Status::Active if now_ms > self.expires_ms => Status::Expired,
            s => s,
        }
    }

    /// The session as the API shows it.
    pub fn view(&self, now_ms: i64) -> Value {
        let t = |ms: i64| crate::timefmt::rfc3339(ms);
        json!({"id": self.id, "flow": self.flow, "wa_id": self.wa_id, "customer": self.customer,
               "phone_number_id": self.phone_number_id, "step": self.step, "fields": self.fields,
               "started_at": t(self.started_ms), "updated_at": t(self.updated_ms),
               "expires_at": t(self.expires_ms), "status": self.status_at(now_ms).as_str()})
    }
}

/// A customer's message as the flow reads it.
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    /// Meta's id.
    pub wamid: &'a str,
    /// Its sequence key (time, then id).
    pub seq: &'a str,
    /// The customer.
    pub customer: &'a str,
    /// The customer's number.
    pub wa_id: Option<&'a str>,
    /// The business number.
    pub phone_number_id: &'a str,
    /// Body, caption or reply title.
    pub text: Option<&'a str>,
    /// A button's or list row's id.
    pub reply_id: Option<&'a str>,
    /// Meta's time, Unix ms.
    pub at_ms: i64,
}

/// What to do with a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Not the flows' business: no session, not a trigger.
    Pass,
    /// The flows' business, but nothing to do: older than the last message the session applied.
    Ignore,
    /// The last message applied, again: send its output again.
    Redo(Vec<Outgoing>),
    /// Store this session (conditional on the version read) and send its output.
    Apply(Box<Session>),
}

/// `ses_` and 128 bits of SHA-256 over the wamid that started the session: the same on every
/// redelivery of that message.
fn session_id(wamid: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"flow-session\0")
        .chain_update(wamid.as_bytes())
        .finalize();
    format!("ses_{}", hex::encode(&digest[..16]))
}

/// Fills `{{field}}` and `{{session.id}}` in every string of a message.
fn fill(message: &Value, fields: &BTreeMap<String, String>, session_id: &str) -> Value {
    match message {
        Value::String(s) if s.contains("{{") => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(start) = rest.find("{{") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let Some(end) = after.find("}}") else {
                    out.push_str(&rest[start..]);
                    rest = "";
                    break;
                };
                let name = after[..end].trim();
                let value = if name == "session.id" {
                    session_id
                } else {
                    fields.get(name).map_or("", String::as_str)
                };
                out.push_str(value);
                rest = &after[end + 2..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| fill(v, fields, session_id)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill(v, fields, session_id)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn text(body: &str) -> Value {
    json!({"type": "text", "text": {"body": body}})
}

/// What a wrong answer is told when the step says nothing.
pub const DEFAULT_INVALID: &str = "Sorry, that is not a valid answer.";
/// What the customer is told when the answers ran out.
pub const ABANDONED: &str = "Let's stop here. Send the menu word to start again.";

/// A session moving through its flow, collecting what it sends.
struct Run<'f> {
    flow: &'f Flow,
    s: Session,
    out: Vec<Value>,
}

impl Run<'_> {
    /// Goes to `name` and does what it does on arrival.
    fn enter(&mut self, name: &str, at_ms: i64) {
        self.s.step = name.to_owned();
        self.s.attempts = 0;
        match self.flow.steps.get(name) {
            Some(Step::Send { send, .. }) => self.out.push(fill(send, &self.s.fields, &self.s.id)),
            Some(Step::Ask { ask, .. }) => self.out.push(text(ask)),
            Some(Step::End { end, record }) => {
                self.out.push(fill(end, &self.s.fields, &self.s.id));
                self.s.status = Status::Completed;
                self.s.interaction = Some(Interaction {
                    id: self.s.id.clone(),
                    flow: self.flow.id.clone(),
                    kind: record.clone(),
                    wa_id: self.s.wa_id.clone(),
                    session_id: self.s.id.clone(),
                    fields: self.s.fields.clone(),
                    steps: self.s.log.clone(),
                    completed_at: crate::timefmt::rfc3339(at_ms).unwrap_or_default(),
                    completed_ms: at_ms,
                });
            }
            // A definition changed under a running session: end it rather than guess.
            None => self.s.status = Status::Abandoned,
        }
    }

    /// The customer's answer to the step waiting for it.
    fn answer(&mut self, m: &Incoming<'_>) {
        let at = crate::timefmt::rfc3339(m.at_ms).unwrap_or_default();
        let said = m.text.unwrap_or_default().trim().to_owned();
        match self.flow.steps.get(&self.s.step).cloned() {
            Some(Step::Send { send, on, otherwise }) => {
                let folded = said.to_lowercase();
                let chosen = m
                    .reply_id
                    .and_then(|id| on.get(id))
                    .or_else(|| on.iter().find(|(id, _)| id.to_lowercase() == folded).map(|(_, to)| to))
                    .or(otherwise.as_ref())
                    .cloned();
                match chosen {
                    Some(to) => {
                        let question = send["interactive"]["body"]["text"]
                            .as_str()
                            .or_else(|| send["text"]["body"].as_str())
                            .unwrap_or_default()
                            .to_owned();
                        self.s.log.push(Answered {
                            step: self.s.step.clone(),
                            question,
                            answer: m.reply_id.map_or(said, str::to_owned),
                            at,
                        });
                        self.enter(&to, m.at_ms);
                    }
                    // No branch takes it: the menu again.
                    None => self.out.push(fill(&send, &self.s.fields, &self.s.id)),
                }
            }
            Some(Step::Ask {
                ask,
                save,
                validate,
                invalid,
                max_attempts,
                next,
            }) => {
                if validate.as_ref().is_none_or(|v| v.accepts(&said)) && !said.is_empty() {
                    self.s.fields.insert(save, said.clone());
                    self.s.log.push(Answered {
                        step: self.s.step.clone(),
                        question: ask,
                        answer: said,
                        at,
                    });
                    self.enter(&next, m.at_ms);
                } else {
                    self.s.attempts += 1;
                    self.out.push(text(invalid.as_deref().unwrap_or(DEFAULT_INVALID)));
                    if self.s.attempts >= max_attempts {
                        self.out.push(text(ABANDONED));
                        self.s.status = Status::Abandoned;
                    } else {
                        self.out.push(text(&ask));
                    }
                }
            }
            Some(Step::End { .. }) | None => self.s.status = Status::Abandoned,
        }
    }
}

/// Decides what `m` does, given the flows and the customer's session as stored. Triggers start
/// (or restart) a session; otherwise an active, unexpired session takes the message as the
/// answer to its current step.
pub fn decide(flows: &[Flow], stored: Option<&Session>, m: &Incoming<'_>, now_ms: i64) -> Decision {
    if let Some(s) = stored {
        if s.last_wamid == m.wamid {
            return Decision::Redo(s.outputs.clone());
        }
        if m.seq <= s.last_seq.as_str() {
            return if s.status_at(now_ms) == Status::Active {
                Decision::Ignore
            } else {
                Decision::Pass
            };
        }
    }
    let triggered = m.text.and_then(|t| flows.iter().find(|f| f.triggered_by(t)));
    let mut run = if let Some(flow) = triggered {
        let id = session_id(m.wamid);
        let mut run = Run {
            flow,
            s: Session {
                id,
                flow: flow.id.clone(),
                customer: m.customer.to_owned(),
                wa_id: m.wa_id.map(str::to_owned),
                phone_number_id: m.phone_number_id.to_owned(),
                step: flow.start.clone(),
                fields: BTreeMap::new(),
                started_ms: now_ms,
                updated_ms: now_ms,
                expires_ms: now_ms,
                status: Status::Active,
                attempts: 0,
                log: Vec::new(),
                last_seq: String::new(),
                last_wamid: String::new(),
                outputs: Vec::new(),
                interaction: None,
                version: stored.map_or(0, |s| s.version),
            },
            out: Vec::new(),
        };
        let start = flow.start.clone();
        run.enter(&start, m.at_ms);
        run
    } else {
        let Some(s) = stored.filter(|s| s.status_at(now_ms) == Status::Active) else {
            return Decision::Pass;
        };
        let Some(flow) = flows.iter().find(|f| f.id == s.flow) else {
            return Decision::Pass; // its flow was deleted: the session is over
        };
        let mut run = Run {
            flow,
            s: s.clone(),
            out: Vec::new(),
        };
        run.answer(m);
        run
    };
    let ttl_ms = i64::try_from(run.flow.session_ttl_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let s = &mut run.s;
    s.updated_ms = now_ms;
    s.expires_ms = now_ms.saturating_add(ttl_ms);
    s.last_seq = m.seq.to_owned();
    s.last_wamid = m.wamid.to_owned();
    s.outputs = run
        .out
        .into_iter()
        .enumerate()
        .map(|(n, message)| Outgoing {
            purpose: format!("flow:{}:{n}", s.id),
            message,
        })
        .collect();
    Decision::Apply(Box::new(run.s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> Flow {
        Flow::parse(
            &json!({"triggers": ["hi", "menu"], "session_ttl_s": 3600, "start": "menu", "steps": {
                "menu": {"send": {"type": "interactive", "interactive": {"type": "button", "body": {"text": "Pick"},
                    "action": {"buttons": [{"type": "reply", "reply": {"id": "reject", "title": "Reject"}}]}}},
                         "on": {"reject": "qty"}},
                "qty": {"ask": "How many?", "save": "qty", "validate": {"number": {"min": 1}},
                        "invalid": "A number, please.", "max_attempts": 2, "next": "done"},
                "done": {"end": {"type": "text", "text": {"body": "{{qty}} noted as {{session.id}}"}}, "record": "reject"}}}),
            "pms",
        )
        .unwrap()
    }

    fn msg<'a>(wamid: &'a str, seq: &'a str, text: Option<&'a str>, reply: Option<&'a str>) -> Incoming<'a> {
        Incoming {
            wamid,
            seq,
            customer: "27820000001",
            wa_id: Some("27820000001"),
            phone_number_id: "100",
            text,
            reply_id: reply,
            at_ms: 1_000,
        }
    }

    fn apply(d: Decision) -> Session {
        match d {
            Decision::Apply(s) => *s,
            other => panic!("expected a session, got {other:?}"),
        }
    }

    fn bodies(s: &Session) -> Vec<String> {
        s.outputs
            .iter()
            .map(|o| {
                o.message["text"]["body"]
                    .as_str()
                    .or_else(|| o.message["interactive"]["body"]["text"].as_str())
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn a_session_runs_from_trigger_to_end_with_a_wrong_answer_asked_again() {
        let flows = [flow()];
        let s1 = apply(decide(&flows, None, &msg("w1", "1", Some("Hi!"), None), 10));
        assert_eq!((s1.step.as_str(), bodies(&s1)), ("menu", vec!["Pick".to_owned()]));
        let s2 = apply(decide(
            &flows,
            Some(&s1),
            &msg("w2", "2", Some("Reject"), Some("reject")),
            20,
        ));
        assert_eq!(bodies(&s2), ["How many?"]);
        let s3 = apply(decide(&flows, Some(&s2), &msg("w3", "3", Some("lots"), None), 30));
        assert_eq!((s3.step.as_str(), s3.attempts), ("qty", 1));
        assert_eq!(bodies(&s3), ["A number, please.", "How many?"]);
        let s4 = apply(decide(&flows, Some(&s3), &msg("w4", "4", Some("12"), None), 40));
        assert_eq!(s4.status, Status::Completed);
        assert_eq!(bodies(&s4), [format!("12 noted as {}", s1.id)]);
        let i = s4.interaction.as_ref().unwrap();
        assert_eq!((i.kind.as_deref(), i.fields["qty"].as_str()), (Some("reject"), "12"));
        assert_eq!(i.steps.len(), 2, "the menu choice and the valid answer: {:?}", i.steps);
        assert_eq!(s4.outputs[0].purpose, format!("flow:{}:0", s1.id));
        // After the end, an ordinary message is not the flow's.
        assert_eq!(
            decide(&flows, Some(&s4), &msg("w5", "5", Some("thanks"), None), 50),
            Decision::Pass
        );
    }

    #[test]
    fn redeliveries_redo_older_messages_are_ignored_and_triggers_restart() {
        let flows = [flow()];
        let s1 = apply(decide(&flows, None, &msg("w1", "1", Some("hi"), None), 10));
        let s2 = apply(decide(&flows, Some(&s1), &msg("w2", "2", None, Some("reject")), 20));
        assert_eq!(
            decide(&flows, Some(&s2), &msg("w2", "2", None, Some("reject")), 25),
            Decision::Redo(s2.outputs.clone())
        );
        assert_eq!(
            decide(&flows, Some(&s2), &msg("w1", "1", Some("hi"), None), 25),
            Decision::Ignore
        );
        let restarted = apply(decide(&flows, Some(&s2), &msg("w3", "3", Some("MENU"), None), 30));
        assert_eq!(restarted.step, "menu");
        assert_ne!(restarted.id, s1.id, "a new session");
        assert_eq!(restarted.version, s2.version, "written over the one read");
    }

    #[test]
    fn too_many_wrong_answers_abandon_and_inactivity_expires() {
        let flows = [flow()];
        let s1 = apply(decide(&flows, None, &msg("w1", "1", Some("hi"), None), 10));
        let s2 = apply(decide(&flows, Some(&s1), &msg("w2", "2", None, Some("reject")), 20));
        let s3 = apply(decide(&flows, Some(&s2), &msg("w3", "3", Some("x"), None), 30));
        let s4 = apply(decide(&flows, Some(&s3), &msg("w4", "4", Some("y"), None), 40));
        assert_eq!(s4.status, Status::Abandoned);
        assert_eq!(bodies(&s4), ["A number, please.", ABANDONED]);
        let fresh = apply(decide(&flows, None, &msg("w1", "1", Some("hi"), None), 0));
        let hour = 3_600_000;
        assert_eq!(fresh.status_at(hour), Status::Active);
        assert_eq!(fresh.status_at(hour + 1), Status::Expired);
        assert_eq!(
            decide(&flows, Some(&fresh), &msg("w2", "2", None, Some("reject")), hour + 1),
            Decision::Pass,
            "an expired session does not take the message"
        );
    }
}
