//! A flow: a declarative menu bot. Trigger words start a session at `start`; each step sends a
//! message and branches on the reply, asks a question and saves the validated answer, or ends with
//! a closing message (and records the interaction under a kind).
//!
//! A definition is checked whole when it is written: every step reachable from `start`, every
//! branch to a step that exists, every message a valid send, every regex compiled. Problems are
//! reported all at once, each under its JSON path (`steps.menu.on.reject`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::outbound::request::{FieldError, validate};

/// Steps a flow may have.
pub const MAX_STEPS: usize = 100;
/// Trigger words a flow may have.
pub const MAX_TRIGGERS: usize = 20;
/// The longest session inactivity: 30 days.
pub const MAX_TTL_S: u64 = 30 * 86_400;
/// The default inactivity after which a session expires: 24 hours.
pub const DEFAULT_TTL_S: u64 = 86_400;

/// How an answer is checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Validate {
    /// A regular expression the whole answer must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Fewest characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<usize>,
    /// Most characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// A number within bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<NumberRange>,
    /// One of these (compared case folded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<String>>,
}

/// Bounds of a number answer, both inclusive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NumberRange {
    /// Least.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl Validate {
    /// Whether `answer` passes.
    pub fn accepts(&self, answer: &str) -> bool {
        let a = answer.trim();
        let len = a.chars().count();
        if self.min_length.is_some_and(|m| len < m) || self.max_length.is_some_and(|m| len > m) {
            return false;
        }
        if let Some(p) = &self.pattern {
            let anchored = format!("^(?:{p})$");
            if !regex::Regex::new(&anchored).is_ok_and(|r| r.is_match(a)) {
                return false;
            }
        }
        if let Some(range) = &self.number {
            let Ok(n) = a.replace(',', ".").parse::<f64>() else {
                return false;
            };
            if !n.is_finite() || range.min.is_some_and(|m| n < m) || range.max.is_some_and(|m| n > m) {
                return false;
            }
        }
        if let Some(options) = &self.one_of {
            let folded = a.to_lowercase();
            if !options.iter().any(|o| o.trim().to_lowercase() == folded) {
                return false;
            }
        }
        true
    }
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Step {
    /// Send a message and branch on the reply.
    Send {
        /// The message, as `POST /v1/messages` takes it without `to`.
        send: Value,
        /// Reply id (a button's or list row's id) to the next step.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        on: BTreeMap<String, String>,
        /// Where any other reply goes; without it the message is sent again.
        #[serde(default, rename = "else", skip_serializing_if = "Option::is_none")]
        otherwise: Option<String>,
    },
    /// Ask a question and save the answer.
    Ask {
        /// The question, as text.
        ask: String,
        /// The field the answer is saved under.
        save: String,
        /// How the answer is checked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        validate: Option<Validate>,
        /// What a wrong answer is told before the question comes again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        invalid: Option<String>,
        /// Wrong answers before the session ends (abandoned).
        #[serde(default = "default_attempts")]
        max_attempts: u32,
        /// The step after a valid answer.
        next: String,
    },
    /// End with a closing message.
    End {
        /// The message, as `POST /v1/messages` takes it without `to`; `{{field}}` and
        /// `{{session.id}}` are filled in.
        end: Value,
        /// The kind the interaction is recorded under (`reject`, `return`, …).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record: Option<String>,
    },
}

fn default_attempts() -> u32 {
    3
}

fn default_ttl() -> u64 {
    DEFAULT_TTL_S
}

/// A flow definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// Its id (from the path it was written to).
    #[serde(default)]
    pub id: String,
    /// Whole messages (case folded) that start or restart a session.
    pub triggers: Vec<String>,
    /// Inactivity after which a session expires.
    #[serde(default = "default_ttl")]
    pub session_ttl_s: u64,
    /// The first step.
    pub start: String,
    /// The steps by name.
    pub steps: BTreeMap<String, Step>,
}

/// A placeholder recipient for checking a message as a send: everything but who it goes to.
const CHECK_RECIPIENT: &str = "15550000000";

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

/// Trimmed, a trailing full stop or exclamation mark dropped, and case folded: how a message is
/// compared with trigger words.
pub fn fold_trigger(s: &str) -> String {
    s.trim().trim_end_matches(['.', '!', '?']).trim().to_lowercase()
}

struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, code: &'static str, reason: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            code,
            reason: reason.into(),
        });
    }

    /// A message object passes the send checks (placeholders left as they are).
    fn message(&mut self, field: &str, message: &Value) {
        let Some(obj) = message.as_object() else {
            self.add(field, "invalid_type", "must be a message object");
            return;
        };
        if obj.contains_key("to") || obj.contains_key("recipient") {
            self.add(
                format!("{field}.to"),
                "not_allowed",
                "a flow's messages go to the customer in the session",
            );
        }
        let mut body: Map<String, Value> = obj.clone();
        body.insert("to".into(), json!(CHECK_RECIPIENT));
        if let Err(errors) = validate(&Value::Object(body)) {
            for e in errors {
                self.add(format!("{field}.{}", e.field), e.code, e.reason);
            }
        }
    }
}

/// The ids of a message's reply buttons or list rows (empty for other messages).
pub fn reply_ids(message: &Value) -> BTreeSet<String> {
    let action = &message["interactive"]["action"];
    let buttons = action["buttons"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| &b["reply"]["id"]);
    let rows = action["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["rows"].as_array().into_iter().flatten())
        .map(|r| &r["id"]);
    buttons
        .chain(rows)
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

impl Step {
    /// The steps this one may go to.
    pub fn targets(&self) -> Vec<&str> {
        match self {
            Self::Send { on, otherwise, .. } => on.values().map(String::as_str).chain(otherwise.as_deref()).collect(),
            Self::Ask { next, .. } => vec![next.as_str()],
            Self::End { .. } => Vec::new(),
        }
    }
}

impl Flow {
    /// Reads and checks a definition written to `id`; every problem is reported at once.
    pub fn parse(body: &Value, id: &str) -> Result<Self, Vec<FieldError>> {
        let mut p = Problems(Vec::new());
        if !is_name(id) {
            p.add("id", "invalid_id", "must be 1 to 64 letters, digits, '-' or '_'");
        }
        let Some(obj) = body.as_object() else {
            p.add("body", "invalid_type", "must be a JSON object");
            return Err(p.0);
        };
        // Each step on its own, so one malformed step does not hide the others' problems.
        let mut steps = BTreeMap::new();
        match obj.get("steps").and_then(Value::as_object) {
            None => p.add("steps", "required", "must be an object of named steps"),
            Some(raw) => {
                for (name, step) in raw {
                    let field = format!("steps.{name}");
                    if !is_name(name) {
                        p.add(
                            &field,
                            "invalid_name",
                            "step names are 1 to 64 letters, digits, '-' or '_'",
                        );
                    }
                    let kinds = ["send", "ask", "end"]
                        .iter()
                        .filter(|k| step.get(**k).is_some())
                        .count();
                    if kinds != 1 {
                        p.add(&field, "invalid_step", "must have exactly one of send, ask or end");
                        continue;
                    }
                    match serde_json::from_value::<Step>(step.clone()) {
                        Ok(s) => {
                            steps.insert(name.clone(), s);
                        }
                        Err(e) => p.add(&field, "invalid_step", e.to_string()),
                    }
                }
            }
        }
        let mut head = obj.clone();
        head.insert("steps".into(), json!({}));
        head.insert("id".into(), json!(id));
        let flow = match serde_json::from_value::<Flow>(Value::Object(head)) {
            Ok(mut f) => {
                f.steps = steps;
                f
            }
            Err(e) => {
                p.add("body", "invalid_flow", e.to_string());
                return Err(p.0);
            }
        };
        flow.check(&mut p);
        if p.0.is_empty() { Ok(flow) } else { Err(p.0) }
    }

    fn check(&self, p: &mut Problems) {
        if self.triggers.is_empty() || self.triggers.len() > MAX_TRIGGERS {
            p.add(
                "triggers",
                "invalid_triggers",
                format!("must have 1 to {MAX_TRIGGERS} words"),
            );
        }
        for (i, t) in self.triggers.iter().enumerate() {
            if fold_trigger(t).is_empty() || t.chars().count() > 64 {
                p.add(
                    format!("triggers[{i}]"),
                    "invalid_trigger",
                    "must be 1 to 64 characters",
                );
            }
        }
        if !(60..=MAX_TTL_S).contains(&self.session_ttl_s) {
            p.add(
                "session_ttl_s",
                "out_of_range",
                format!("must be from 60 to {MAX_TTL_S}"),
            );
        }
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            p.add("steps", "invalid_steps", format!("must have 1 to {MAX_STEPS} steps"));
        }
        if !self.steps.contains_key(&self.start) {
            p.add("start", "unknown_step", format!("no step named {:?}", self.start));
        }
        for (name, step) in &self.steps {
            let field = format!("steps.{name}");
            self.check_step(p, &field, step);
        }
        // Every step reachable from the start.
        let mut seen = BTreeSet::new();
        let mut todo = VecDeque::from([self.start.as_str()]);
        while let Some(name) = todo.pop_front() {
            if !seen.insert(name) {
                continue;
            }
            if let Some(step) = self.steps.get(name) {
                todo.extend(step.targets());
            }
        }
        for name in self.steps.keys() {
            if !seen.contains(name.as_str()) && self.steps.contains_key(&self.start) {
                p.add(
                    format!("steps.{name}"),
                    "unreachable",
                    format!("no path from {:?} reaches it", self.start),
                );
            }
        }
    }

    fn check_step(&self, p: &mut Problems, field: &str, step: &Step) {
        let target = |p: &mut Problems, f: String, to: &str| {
            if !self.steps.contains_key(to) {
                p.add(f, "unknown_step", format!("branches to {to:?}, which is not a step"));
            }
        };
        match step {
            Step::Send { send, on, otherwise } => {
                p.message(&format!("{field}.send"), send);
                if on.is_empty() && otherwise.is_none() {
                    p.add(
                        field,
                        "no_branch",
                        "a send step needs `on` or `else`: the reply must go somewhere",
                    );
                }
                let ids = reply_ids(send);
                for (id, to) in on {
                    let f = format!("{field}.on.{id}");
                    if !ids.is_empty() && !ids.contains(id) {
                        p.add(
                            &f,
                            "unknown_reply",
                            format!("the message has no button or row with id {id:?}"),
                        );
                    }
                    target(p, f, to);
                }
                if let Some(to) = otherwise {
                    target(p, format!("{field}.else"), to);
                }
            }
            Step::Ask {
                ask,
                save,
                validate,
                invalid,
                max_attempts,
                next,
            } => {
                p.message(&format!("{field}.ask"), &json!({"type": "text", "text": {"body": ask}}));
                if let Some(text) = invalid {
                    p.message(
                        &format!("{field}.invalid"),
                        &json!({"type": "text", "text": {"body": text}}),
                    );
                }
                if !is_name(save) {
                    p.add(
                        format!("{field}.save"),
                        "invalid_name",
                        "a field name is 1 to 64 letters, digits, '-' or '_'",
                    );
                }
                if !(1..=10).contains(max_attempts) {
                    p.add(format!("{field}.max_attempts"), "out_of_range", "must be from 1 to 10");
                }
                if let Some(pattern) = validate.as_ref().and_then(|v| v.pattern.as_ref())
                    && let Err(e) = crate::automation::rules::compile(pattern, true)
                {
                    p.add(format!("{field}.validate.pattern"), "invalid_regex", e);
                }
                target(p, format!("{field}.next"), next);
            }
            Step::End { end, record } => {
                p.message(&format!("{field}.end"), end);
                if record.as_deref().is_some_and(|k| !is_name(k)) {
                    p.add(
                        format!("{field}.record"),
                        "invalid_name",
                        "a kind is 1 to 64 letters, digits, '-' or '_'",
                    );
                }
            }
        }
    }

    /// Whether `text` is one of this flow's triggers.
    pub fn triggered_by(&self, text: &str) -> bool {
        let t = fold_trigger(text);
        self.triggers.iter().any(|k| fold_trigger(k) == t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menu() -> Value {
        json!({"type": "interactive", "interactive": {"type": "button", "body": {"text": "Pick one"},
               "action": {"buttons": [{"type": "reply", "reply": {"id": "reject", "title": "Reject"}},
                                      {"type": "reply", "reply": {"id": "track", "title": "Track"}}]}}})
    }

    fn text(s: &str) -> Value {
        json!({"type": "text", "text": {"body": s}})
    }

    #[test]
    fn a_good_flow_reads_with_its_defaults() {
        let f = Flow::parse(
            &json!({"triggers": ["hi"], "start": "menu", "steps": {
                "menu": {"send": menu(), "on": {"reject": "qty", "track": "done"}},
                "qty": {"ask": "How many?", "save": "qty", "validate": {"number": {"min": 1}}, "next": "done"},
                "done": {"end": text("Thanks, {{qty}} noted ({{session.id}})"), "record": "reject"}}}),
            "pms",
        )
        .unwrap();
        assert_eq!((f.id.as_str(), f.session_ttl_s), ("pms", DEFAULT_TTL_S));
        assert!(matches!(f.steps["qty"], Step::Ask { max_attempts: 3, .. }));
        assert!(f.triggered_by("  Hi! "));
        assert!(!f.triggered_by("hi there"));
    }

    #[test]
    fn every_problem_is_named_at_its_path() {
        let errors = Flow::parse(
            &json!({"triggers": [], "start": "nowhere", "session_ttl_s": 5, "steps": {
                "menu": {"send": menu(), "on": {"reject": "ghost", "refund": "menu"}},
                "lonely": {"end": text("unreachable")},
                "both": {"send": text("x"), "end": text("y")},
                "q": {"ask": "", "save": "bad name", "validate": {"pattern": "("}, "max_attempts": 0, "next": "menu"},
                "bare": {"send": text("no branch")}}}),
            "pms",
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for want in [
            "triggers",
            "session_ttl_s",
            "start",
            "steps.menu.on.reject",
            "steps.menu.on.refund",
            "steps.both",
            "steps.q.save",
            "steps.q.max_attempts",
            "steps.q.validate.pattern",
            "steps.bare",
        ] {
            assert!(fields.contains(&want), "{want} missing from {fields:?}");
        }
        assert!(fields.iter().any(|f| f.starts_with("steps.q.ask")), "{fields:?}");
    }

    #[test]
    fn unreachable_steps_are_refused_and_interactive_limits_come_from_the_send_rules() {
        let errors = Flow::parse(
            &json!({"triggers": ["hi"], "start": "a", "steps": {
                "a": {"end": text("bye")},
                "b": {"end": text("never")}}}),
            "f",
        )
        .unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].field.as_str(), errors[0].code), ("steps.b", "unreachable"));
        let four = json!({"type": "interactive", "interactive": {"type": "button", "body": {"text": "?"},
            "action": {"buttons": (0..4).map(|i| json!({"type": "reply", "reply": {"id": format!("b{i}"), "title": format!("B{i}")}})).collect::<Vec<_>>()}}});
        let errors = Flow::parse(
            &json!({"triggers": ["hi"], "start": "a", "steps": {"a": {"send": four, "else": "z"}, "z": {"end": text("ok")}}}),
            "f",
        )
        .unwrap_err();
        assert!(errors.iter().all(|e| e.field.starts_with("steps.a.send")), "{errors:?}");
    }

    #[test]
    fn answers_are_checked_as_the_step_says() {
        let v = Validate {
            number: Some(NumberRange {
                min: Some(1.0),
                max: Some(500.0),
            }),
            ..Validate::default()
        };
        assert!(v.accepts(" 12 "));
        assert!(!v.accepts("twelve"));
        assert!(!v.accepts("0"));
        assert!(!v.accepts("501"));
        let v = Validate {
            pattern: Some(r"PO-\d{4}".into()),
            ..Validate::default()
        };
        assert!(v.accepts("PO-1234"));
        assert!(!v.accepts("my PO-1234"), "the whole answer");
        let v = Validate {
            one_of: Some(vec!["Yes".into(), "No".into()]),
            min_length: Some(2),
            ..Validate::default()
        };
        assert!(v.accepts("yes"));
        assert!(!v.accepts("maybe"));
    }
}

#[cfg(test)]
mod example {
    use super::*;

    #[test]
    fn the_shipped_pms_example_is_a_valid_flow() {
        let body: Value = serde_json::from_str(include_str!("../../../examples/flows/pms.json")).unwrap();
        let flow = Flow::parse(&body, "pms").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(flow.steps.len(), 17);
        assert!(flow.triggered_by("Hello"));
    }
}
