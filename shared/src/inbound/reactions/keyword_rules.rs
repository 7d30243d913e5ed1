//! Keyword rules: on each customer message the highest-priority enabled rule that matches fires
//! once, replying, escalating or both, and the message records what happened.
//!
//! Exactly once over at-least-once webhooks: the reply's id is derived from the wamid and the rule,
//! so a redelivery (or a retry after a crash between storing and replying) finds it queued; the
//! cooldown mark names the message that set it, so that message may claim it again; the outcome
//! recorded on the message is the first one. Rules are compiled once per version of the rule set:
//! each message costs one read of the version, not of the rules.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::opt_out::Keywords;
use super::{Applied, Reaction, ReactionError, reply_body};
use crate::automation::matcher::{RuleSet, Subject};
use crate::automation::rules::Rule;
use crate::callbacks::{CONVERSATION_ESCALATED, Event, Events};
use crate::domain::{Direction, Json, MessageId, StoredMessage, Wamid};
use crate::outbound::enqueue::{Enqueuer, SendError};
use crate::outbound::request::validate;
use crate::ports::{Automation, Inbox};

/// What a rule did with a message, as the message view shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its reply was queued.
    Replied,
    /// The conversation was labelled and handed to people (any reply queued too).
    Escalated,
    /// It had fired for this customer within its cooldown.
    Suppressed,
    /// Its free-form reply could not go: the customer's window with the number is closed.
    WindowClosed,
}

impl Outcome {
    /// The name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replied => "replied",
            Self::Escalated => "escalated",
            Self::Suppressed => "suppressed",
            Self::WindowClosed => "window_closed",
        }
    }
}

/// The reaction.
pub struct KeywordRules {
    rules: Arc<dyn Automation>,
    inbox: Arc<dyn Inbox>,
    enqueuer: Enqueuer,
    events: Option<Events>,
    keywords: Keywords,
    compiled: Mutex<Option<(u64, Arc<RuleSet>)>>,
}

impl std::fmt::Debug for KeywordRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeywordRules").finish_non_exhaustive()
    }
}

impl KeywordRules {
    /// Rules from `rules`, replies through `enqueuer`, outcomes and labels written to `inbox`,
    /// escalations raised on `events`. Messages that are opt-out `keywords` are left to opt-out.
    pub fn new(
        rules: Arc<dyn Automation>,
        inbox: Arc<dyn Inbox>,
        enqueuer: Enqueuer,
        events: Option<Events>,
        keywords: Keywords,
    ) -> Self {
        Self {
            rules,
            inbox,
            enqueuer,
            events,
            keywords,
            compiled: Mutex::new(None),
        }
    }

    /// The compiled rules, rebuilt when the store's version moved.
    async fn rule_set(&self) -> Result<Arc<RuleSet>, ReactionError> {
        let version = self.rules.rules_version().await?;
        let mut compiled = self.compiled.lock().await;
        if let Some((v, set)) = compiled.as_ref()
            && *v == version
        {
            return Ok(set.clone());
        }
        let set = Arc::new(RuleSet::new(self.rules.rules().await?));
        *compiled = Some((version, set.clone()));
        Ok(set)
    }

    /// Sends `message` (a rule's reply) to the customer as a reply to `m`, under an id derived
    /// from the wamid and `purpose`.
    async fn reply(
        &self,
        m: &StoredMessage,
        wamid: &Wamid,
        message: &Value,
        purpose: &str,
    ) -> Result<Option<Outcome>, ReactionError> {
        let Some(body) = reply_body(m, message) else {
            return Ok(None);
        };
        let cmd = validate(&body).map_err(|e| ReactionError::Permanent(format!("rule reply: {e:?}")))?;
        match self.enqueuer.enqueue_as(MessageId::derived(wamid, purpose), &cmd).await {
            Ok(_) => Ok(None),
            Err(SendError::WindowClosed { .. }) => Ok(Some(Outcome::WindowClosed)),
            Err(e) => Err(e.into()),
        }
    }

    async fn escalate(&self, m: &StoredMessage, wamid: &Wamid, rule: &Rule, label: &str) -> Result<(), ReactionError> {
        self.inbox
            .label_conversation(&m.customer, label, m.timestamp_ms)
            .await?;
        if let Some(events) = &self.events {
            let data = json!({"customer": m.customer.as_str(), "wa_id": m.wa_id, "user_id": m.user_id,
                "phone_number_id": m.phone_number_id, "label": label, "rule_id": rule.id,
                "message": {"id": m.id.to_string(), "wamid": wamid.as_str(), "text": m.text},
                "escalated_at": crate::timefmt::rfc3339(m.timestamp_ms)});
            let event = Event::new(
                CONVERSATION_ESCALATED,
                &[wamid.as_str(), &rule.id],
                m.timestamp_ms,
                data,
            );
            events.raise(&event).await?;
        }
        Ok(())
    }

    async fn fire(&self, m: &StoredMessage, wamid: &Wamid, rule: &Rule) -> Result<Outcome, ReactionError> {
        let cooldown_ms = i64::try_from(rule.cooldown_s.saturating_mul(1000)).unwrap_or(i64::MAX);
        if cooldown_ms > 0
            && !self
                .rules
                .claim_firing(&rule.id, &m.customer, wamid, m.timestamp_ms, cooldown_ms)
                .await?
        {
            return Ok(Outcome::Suppressed);
        }
        let mut outcome = Outcome::Replied;
        if let Some(reply) = &rule.reply
            && let Some(o) = self.reply(m, wamid, reply, &format!("rule:{}", rule.id)).await?
        {
            outcome = o;
        }
        if let Some(esc) = &rule.escalate {
            self.escalate(m, wamid, rule, &esc.label).await?;
            if let Some(reply) = &esc.reply {
                self.reply(m, wamid, reply, &format!("rule:{}:escalation", rule.id))
                    .await?;
            }
            outcome = Outcome::Escalated;
        }
        Ok(outcome)
    }

    async fn on_message(&self, m: &StoredMessage) -> Result<(), ReactionError> {
        let Some(wamid) = m.wamid.as_ref().filter(|_| m.direction == Direction::Inbound) else {
            return Ok(());
        };
        if m.text.as_deref().is_some_and(|t| self.keywords.choice(t).is_some()) {
            return Ok(()); // opt-out and opt-in keywords answer for themselves
        }
        let texts = texts_of(m);
        if texts.is_empty() {
            return Ok(());
        }
        let set = self.rule_set().await?;
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let subject = Subject {
            phone_number_id: &m.phone_number_id,
            texts: &texts,
        };
        let Some(rule) = set.best(&subject) else {
            return Ok(());
        };
        let outcome = self.fire(m, wamid, rule).await?;
        tracing::info!(rule = %rule.id, outcome = outcome.as_str(), "keyword rule");
        let record = Json::from_value(&json!({"rule_id": rule.id, "outcome": outcome.as_str()}));
        self.inbox.set_automation(m.id, &record).await?;
        Ok(())
    }
}

/// What a message offers to match: its text (body, caption, reply title) and the id or payload of
/// a button or list reply.
fn texts_of(m: &StoredMessage) -> Vec<String> {
    let mut out: Vec<String> = m.text.iter().cloned().collect();
    let content = m.content.value();
    for pointer in ["/button_reply/id", "/list_reply/id", "/payload"] {
        if let Some(id) = content.pointer(pointer).and_then(Value::as_str) {
            out.push(id.to_owned());
        }
    }
    out
}

#[async_trait]
impl Reaction for KeywordRules {
    fn name(&self) -> &str {
        "keyword-rules"
    }

    async fn react(&self, applied: Applied<'_>) -> Result<(), ReactionError> {
        match applied {
            Applied::Message { message, .. } => self.on_message(message).await,
            _ => Ok(()),
        }
    }
}
