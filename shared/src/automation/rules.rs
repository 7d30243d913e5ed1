//! Keyword rules: what a business writes to answer customers automatically, and the checks a rule
//! passes before it is kept.
//!
//! A rule is `{"id","name","enabled","priority","phone_number_id"?,"match":{"keywords","mode",
//! "case_sensitive"},"reply"?,"escalate"?:{"label","reply"?},"cooldown_s"}`. Its reply is a message
//! object as `POST /v1/messages` takes it without `to`, and is checked by the same rules a send is.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::outbound::request::{FieldError, validate};

/// How a rule's keywords are compared with a customer's text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The keyword's words appear as whole words, in order (`"agent"` matches "an agent please",
    /// not "agents").
    #[default]
    Word,
    /// The whole text is the keyword.
    Exact,
    /// The keyword appears anywhere.
    Contains,
    /// The keyword is a regular expression that finds a match.
    Regex,
}

/// What a rule matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    /// One or more keywords; any one matching is enough.
    pub keywords: Vec<String>,
    /// How they compare.
    #[serde(default)]
    pub mode: Mode,
    /// Compare as written instead of after case folding.
    #[serde(default)]
    pub case_sensitive: bool,
}

/// Hand the conversation to people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Escalate {
    /// The label the conversation gets (`"support"`, `"billing"`).
    pub label: String,
    /// What the customer is told, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Value>,
}

/// A keyword rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Its id: given, or made on create.
    pub id: String,
    /// For people.
    pub name: String,
    /// Off rules never fire.
    pub enabled: bool,
    /// The highest-priority matching rule fires; ties go to the lower id.
    pub priority: i32,
    /// Only messages to this business number; absent, any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
    /// What it matches.
    #[serde(rename = "match")]
    pub matching: Match,
    /// The reply, as `POST /v1/messages` takes a message, without `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Value>,
    /// Hand the conversation to people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate: Option<Escalate>,
    /// The same rule stays quiet for the same customer this long after it fired.
    pub cooldown_s: u64,
}

/// Keywords a rule may have.
pub const MAX_KEYWORDS: usize = 50;
/// Characters in one keyword (a regex's source included).
pub const MAX_KEYWORD_CHARS: usize = 200;
/// The compiled size one regex may take: a pattern that would build a huge automaton (`\w{1000}`)
/// is refused when the rule is written, not when a message arrives.
pub const MAX_REGEX_BYTES: usize = 256 * 1024;
/// The longest cooldown: 30 days.
pub const MAX_COOLDOWN_S: u64 = 30 * 86_400;
/// The longest label.
pub const MAX_LABEL_CHARS: usize = 64;

/// A number that passes the send checks where a reply's recipient will go: replies are checked
/// for everything but who they are to, which is the customer who wrote.
const CHECK_RECIPIENT: &str = "15550000000";

impl Rule {
    /// Reads and checks a rule from a request body; `id` is used when the body has none. Every
    /// problem is reported at once, each with its field.
    pub fn parse(body: &Value, id: &str) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut err = |field: &str, code: &'static str, reason: String| {
            errors.push(FieldError {
                field: field.to_owned(),
                code,
                reason,
            })
        };
        let Some(obj) = body.as_object() else {
            err("body", "invalid_type", "must be a JSON object".into());
            return Err(errors);
        };
        let mut with_id = obj.clone();
        with_id.entry("id").or_insert_with(|| json!(id));
        with_id.entry("enabled").or_insert(json!(true));
        with_id.entry("priority").or_insert(json!(0));
        with_id.entry("cooldown_s").or_insert(json!(0));
        if !with_id.contains_key("name") {
            with_id.insert("name".into(), with_id["id"].clone());
        }
        let rule: Rule = match serde_json::from_value(Value::Object(with_id)) {
            Ok(r) => r,
            Err(e) => {
                err("body", "invalid_rule", e.to_string());
                return Err(errors);
            }
        };
        if rule.id.is_empty()
            || rule.id.len() > 64
            || !rule
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        {
            err("id", "invalid_id", "must be 1 to 64 letters, digits, '-' or '_'".into());
        }
        let keywords = &rule.matching.keywords;
        if keywords.is_empty() || keywords.len() > MAX_KEYWORDS {
            err(
                "match.keywords",
                "invalid_keywords",
                format!("must have 1 to {MAX_KEYWORDS} keywords"),
            );
        }
        for (i, k) in keywords.iter().enumerate() {
            let field = format!("match.keywords[{i}]");
            if k.trim().is_empty() || k.chars().count() > MAX_KEYWORD_CHARS {
                err(
                    &field,
                    "invalid_keyword",
                    format!("must be 1 to {MAX_KEYWORD_CHARS} characters, not only spaces"),
                );
            } else if rule.matching.mode == Mode::Regex
                && let Err(e) = compile(k, rule.matching.case_sensitive)
            {
                err(&field, "invalid_regex", e);
            } else if rule.matching.mode == Mode::Word && super::matcher::words(k).is_empty() {
                err(
                    &field,
                    "invalid_keyword",
                    "has no letters or digits to match as a word".into(),
                );
            }
        }
        if rule.cooldown_s > MAX_COOLDOWN_S {
            err(
                "cooldown_s",
                "out_of_range",
                format!("must be at most {MAX_COOLDOWN_S} (30 days)"),
            );
        }
        if rule.reply.is_none() && rule.escalate.is_none() {
            err(
                "reply",
                "required",
                "a rule needs a reply, an escalation or both".into(),
            );
        }
        if let Some(reply) = &rule.reply {
            check_reply("reply", reply, &mut err);
        }
        if let Some(esc) = &rule.escalate {
            let n = esc.label.trim().chars().count();
            if n == 0 || n > MAX_LABEL_CHARS {
                err(
                    "escalate.label",
                    "invalid_label",
                    format!("must be 1 to {MAX_LABEL_CHARS} characters"),
                );
            }
            if let Some(reply) = &esc.reply {
                check_reply("escalate.reply", reply, &mut err);
            }
        }
        if errors.is_empty() { Ok(rule) } else { Err(errors) }
    }
}

/// A reply passes the send checks, to a placeholder recipient.
fn check_reply(field: &str, reply: &Value, err: &mut impl FnMut(&str, &'static str, String)) {
    let Some(obj) = reply.as_object() else {
        err(field, "invalid_type", "must be a message object".into());
        return;
    };
    for who in ["to", "recipient"] {
        if obj.contains_key(who) {
            err(
                &format!("{field}.{who}"),
                "not_allowed",
                "a reply goes to the customer who wrote".into(),
            );
        }
    }
    let mut body = obj.clone();
    body.insert("to".into(), json!(CHECK_RECIPIENT));
    if let Err(errors) = validate(&Value::Object(body)) {
        for e in errors {
            err(&format!("{field}.{}", e.field), e.code, e.reason);
        }
    }
}

/// Compiles a keyword as a regex with the size limit; the error says why, for people.
pub(crate) fn compile(pattern: &str, case_sensitive: bool) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(!case_sensitive)
        .size_limit(MAX_REGEX_BYTES)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => "is too large once compiled".to_owned(),
            other => format!("does not compile: {other}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(r: Result<Rule, Vec<FieldError>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_rule_gets_its_defaults_and_keeps_what_was_given() {
        let r = Rule::parse(
            &json!({"match": {"keywords": ["price"]}, "reply": {"type": "text", "text": {"body": "R99"}}}),
            "r1",
        )
        .unwrap();
        assert_eq!(
            (r.id.as_str(), r.name.as_str(), r.enabled, r.priority),
            ("r1", "r1", true, 0)
        );
        assert_eq!(
            (r.matching.mode, r.matching.case_sensitive, r.cooldown_s),
            (Mode::Word, false, 0)
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let bad = json!({"id": "bad id!", "match": {"keywords": ["ok", "", "(unclosed"], "mode": "regex"},
                         "reply": {"type": "text", "text": {"body": ""}, "to": "27820000001"},
                         "escalate": {"label": ""}, "cooldown_s": 99_999_999});
        let f = fields(Rule::parse(&bad, "x"));
        for want in [
            "id",
            "match.keywords[1]",
            "match.keywords[2]",
            "reply.to",
            "escalate.label",
            "cooldown_s",
        ] {
            assert!(f.iter().any(|x| x == want), "{want} missing from {f:?}");
        }
        assert!(
            f.iter().any(|x| x.starts_with("reply.text")),
            "the send checks ran: {f:?}"
        );
        assert_eq!(
            fields(Rule::parse(&json!({"match": {"keywords": []}}), "x")),
            ["match.keywords", "reply"]
        );
    }

    #[test]
    fn a_regex_too_large_once_compiled_is_refused_when_written() {
        let e = Rule::parse(
            &json!({"match": {"keywords": ["\\w{1000}\\w{1000}"], "mode": "regex"}, "escalate": {"label": "x"}}),
            "x",
        )
        .unwrap_err();
        assert_eq!(e[0].code, "invalid_regex");
        assert!(e[0].reason.contains("too large"), "{}", e[0].reason);
    }
}
