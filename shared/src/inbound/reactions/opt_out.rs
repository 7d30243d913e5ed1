//! Opt-out by keyword and by Meta's `user_preferences` webhook: a customer who writes `STOP` (or
//! another configured keyword) is marked opted out of marketing, `START` opts them back in, and
//! each keyword message gets a one-line confirmation. Meta's marketing stop/resume does the same,
//! without a reply (Meta told the customer).
//!
//! Ordered by the customer's own timestamps: a change applies only if it is newer than the last
//! one applied to the contact, so a `STOP` redelivered after a `START` does not undo it. The
//! confirmation's id is derived from the keyword message, so it goes once however often the
//! webhook comes.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Applied, Reaction, ReactionError, reply_body};
use crate::callbacks::{CONTACT_OPTED_OUT, Event, Events};
use crate::contacts::ContactChange;
use crate::domain::{CustomerKey, Direction, MessageId, StoredMessage};
use crate::outbound::enqueue::Enqueuer;
use crate::outbound::request::validate;
use crate::ports::ContactBook;

/// The opt-out keywords when `WABRIDGE_OPT_OUT_KEYWORDS` is not set.
pub const DEFAULT_OPT_OUT: &[&str] = &["STOP", "UNSUBSCRIBE"];
/// The opt-in keywords when `WABRIDGE_OPT_IN_KEYWORDS` is not set.
pub const DEFAULT_OPT_IN: &[&str] = &["START"];
/// What a customer who opted out is told.
pub const OPTED_OUT_REPLY: &str = "You will no longer receive marketing messages from us. Reply START to opt back in.";
/// What a customer who opted back in is told.
pub const OPTED_IN_REPLY: &str = "You will receive our marketing messages again. Reply STOP to opt out.";

/// The keywords, as customers write them (compared after trimming and case folding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keywords {
    /// Opt out.
    pub opt_out: Vec<String>,
    /// Opt back in.
    pub opt_in: Vec<String>,
}

impl Default for Keywords {
    fn default() -> Self {
        Self {
            opt_out: DEFAULT_OPT_OUT.iter().map(|k| fold(k)).collect(),
            opt_in: DEFAULT_OPT_IN.iter().map(|k| fold(k)).collect(),
        }
    }
}

impl Keywords {
    /// Keywords from comma-separated lists; a list not given keeps its default.
    pub fn from_lists(opt_out: Option<&str>, opt_in: Option<&str>) -> Self {
        let list = |s: &str| -> Vec<String> { s.split(',').map(fold).filter(|k| !k.is_empty()).collect() };
        let d = Self::default();
        Self {
            opt_out: opt_out.map_or(d.opt_out, list),
            opt_in: opt_in.map_or(d.opt_in, list),
        }
    }

    /// `Some(true)` for an opt-out keyword, `Some(false)` for an opt-in one.
    pub fn choice(&self, text: &str) -> Option<bool> {
        let t = fold(text);
        if self.opt_out.contains(&t) {
            Some(true)
        } else if self.opt_in.contains(&t) {
            Some(false)
        } else {
            None
        }
    }
}

/// Trimmed (with a trailing full stop or exclamation mark dropped) and case folded.
fn fold(s: &str) -> String {
    s.trim().trim_end_matches(['.', '!']).trim().to_lowercase()
}

/// The reaction.
#[derive(Clone)]
pub struct OptOut {
    contacts: Arc<dyn ContactBook>,
    keywords: Keywords,
    /// Sends the confirmation; without it (a processor with no outbound queue) none is sent.
    confirm: Option<Enqueuer>,
    /// Raises `contact.opted_out`, when callbacks are configured.
    events: Option<Events>,
}

impl std::fmt::Debug for OptOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OptOut")
            .field("keywords", &self.keywords)
            .finish_non_exhaustive()
    }
}

impl OptOut {
    /// Marks contacts in `contacts`, confirming through `confirm` when given.
    pub fn new(contacts: Arc<dyn ContactBook>, keywords: Keywords, confirm: Option<Enqueuer>) -> Self {
        Self {
            contacts,
            keywords,
            confirm,
            events: None,
        }
    }

    /// Raises `contact.opted_out` on `events` for every change applied.
    pub fn raising(mut self, events: Option<Events>) -> Self {
        self.events = events;
        self
    }

    /// Marks the contact, then tells the integration. `source` names what asked (`keyword`,
    /// `user_preferences`) and `key` the request, so every copy of the event has one id.
    async fn set(
        &self,
        customer: &CustomerKey,
        out: bool,
        at_ms: i64,
        source: &str,
        key: &str,
    ) -> Result<(), ReactionError> {
        let change = ContactChange {
            opted_out: Some(out),
            opt_as_of: Some(at_ms),
            ..ContactChange::default()
        };
        self.contacts.change_contact(customer, &change, true, at_ms).await?;
        if let Some(events) = &self.events {
            let data = json!({"customer": customer.as_str(), "opted_out": out, "source": source,
                              "at": crate::timefmt::rfc3339(at_ms)});
            let state = if out { "out" } else { "in" };
            let event = Event::new(CONTACT_OPTED_OUT, &[source, key, state], at_ms, data);
            events.raise(&event).await?;
        }
        Ok(())
    }

    async fn keyword(&self, m: &StoredMessage) -> Result<(), ReactionError> {
        if m.direction != Direction::Inbound {
            return Ok(());
        }
        let Some(out) = m
            .text
            .as_deref()
            .filter(|_| m.msg_type == "text")
            .and_then(|t| self.keywords.choice(t))
        else {
            return Ok(());
        };
        let Some(wamid) = &m.wamid else {
            return Ok(());
        };
        self.set(&m.customer, out, m.timestamp_ms, "keyword", wamid.as_str())
            .await?;
        tracing::info!(opted_out = out, "opt-out keyword");
        let Some(enqueuer) = &self.confirm else {
            return Ok(());
        };
        let text = if out { OPTED_OUT_REPLY } else { OPTED_IN_REPLY };
        let Some(body) = reply_body(m, &json!({"type": "text", "text": {"body": text}})) else {
            return Ok(());
        };
        let cmd = validate(&body).map_err(|e| ReactionError::Permanent(format!("confirmation: {e:?}")))?;
        enqueuer
            .enqueue_as(MessageId::derived(wamid, "opt-out-confirmation"), &cmd)
            .await?;
        Ok(())
    }

    /// Meta's `user_preferences` change: marketing stop or resume, per customer.
    async fn preferences(&self, payload: &Value) -> Result<(), ReactionError> {
        let Some(items) = payload.get("user_preferences").and_then(Value::as_array) else {
            return Ok(());
        };
        for p in items {
            let category = p.get("category").and_then(Value::as_str);
            let out = match p.get("value").and_then(Value::as_str) {
                Some("stop") => true,
                // A signup (through a marketing signup link) is consent, as a resume is.
                Some("resume" | "signup") => false,
                _ => continue,
            };
            if category.is_some_and(|c| c != "marketing_messages") {
                continue;
            }
            let (Some(who), Some(ts)) = (
                p.get("wa_id").or_else(|| p.get("user_id")).and_then(Value::as_str),
                p.get("timestamp")
                    .and_then(|t| t.as_i64().or_else(|| t.as_str()?.parse().ok())),
            ) else {
                continue;
            };
            let Ok(customer) = CustomerKey::parse(who) else {
                continue;
            };
            let key = format!("{}:{ts}", customer.as_str());
            self.set(&customer, out, ts.saturating_mul(1000), "user_preferences", &key)
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Reaction for OptOut {
    fn name(&self) -> &str {
        "opt-out"
    }

    async fn react(&self, applied: Applied<'_>) -> Result<(), ReactionError> {
        match applied {
            Applied::Message { message, .. } => self.keyword(message).await,
            Applied::Event(e) if e.field == "user_preferences" => self.preferences(&e.payload).await,
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_match_whole_messages_in_any_case() {
        let k = Keywords::default();
        assert_eq!(k.choice(" stop "), Some(true));
        assert_eq!(k.choice("Unsubscribe."), Some(true));
        assert_eq!(k.choice("START!"), Some(false));
        assert_eq!(k.choice("please stop"), None, "a whole message, not a word in one");
        let custom = Keywords::from_lists(Some("BAJA, Parar"), None);
        assert_eq!(custom.choice("parar"), Some(true));
        assert_eq!(custom.choice("stop"), None, "the list replaces the default");
        assert_eq!(custom.choice("start"), Some(false));
    }
}
