//! Automation of a customer's message: a flow first (a trigger word, or the answer to the step a
//! running session waits on), else keyword rules: the highest-priority enabled rule that matches
//! fires once, replying, escalating or both, and the message records what happened. Opt-out and
//! opt-in keywords are left to opt-out.
//!
//! Exactly once over at-least-once webhooks: every message sent has an id derived from the wamid
//! and its purpose (the rule, or the session step's output), so a redelivery (or a retry after a
//! crash between storing and replying) finds it queued. A flow session moves only by a write
//! conditional on the version read, so two deliveries racing apply one step once; the session
//! keeps what its last message sent, to send again on that message's redelivery. A rule's
//! cooldown mark names the message that set it, so that message may claim it again; the outcome
//! recorded on the message is the first one. Rules and flows are loaded and compiled once per
//! version of them: each message costs one read of the version.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::opt_out::Keywords;
use super::{Applied, Reaction, ReactionError, reply_body};
use crate::automation::matcher::{RuleSet, Subject};
use crate::automation::rules::Rule;
use crate::callbacks::{CONVERSATION_ESCALATED, Event, Events, FLOW_COMPLETED};
use crate::domain::{Direction, Json, MessageId, StoredMessage, Wamid};
use crate::flows::definition::Flow;
use crate::flows::session::{Decision, Incoming, Session, Status, decide};
use crate::outbound::enqueue::{Enqueuer, SendError};
use crate::outbound::request::validate;
use crate::ports::{Automation, Clock, Inbox};

/// Times a session write may lose a race before the webhook is retried.
const MAX_RACES: usize = 5;

/// The rules and flows in force, as of one version.
#[derive(Debug, Default)]
struct Compiled {
    rules: RuleSet,
    flows: Vec<Flow>,
}

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
pub struct Automate {
    rules: Arc<dyn Automation>,
    inbox: Arc<dyn Inbox>,
    enqueuer: Enqueuer,
    events: Option<Events>,
    keywords: Keywords,
    clock: Arc<dyn Clock>,
    compiled: Mutex<Option<(u64, Arc<Compiled>)>>,
}

impl std::fmt::Debug for Automate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Automate").finish_non_exhaustive()
    }
}

impl Automate {
    /// Rules, flows and sessions from `rules`, replies through `enqueuer`, outcomes and labels
    /// written to `inbox`, escalations and completed flows raised on `events`, sessions expiring
    /// by `clock`. Messages that are opt-out `keywords` are left to opt-out.
    pub fn new(
        rules: Arc<dyn Automation>,
        inbox: Arc<dyn Inbox>,
        enqueuer: Enqueuer,
        events: Option<Events>,
        keywords: Keywords,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            rules,
            inbox,
            enqueuer,
            events,
            keywords,
            clock,
            compiled: Mutex::new(None),
        }
    }

    /// The rules and flows, reloaded when the store's version moved.
    async fn compiled(&self) -> Result<Arc<Compiled>, ReactionError> {
        let version = self.rules.rules_version().await?;
        let mut compiled = self.compiled.lock().await;
        if let Some((v, set)) = compiled.as_ref()
            && *v == version
        {
            return Ok(set.clone());
        }
        let set = Arc::new(Compiled {
            rules: RuleSet::new(self.rules.rules().await?),
            flows: self.rules.flows().await?,
        });
        *compiled = Some((version, set.clone()));
        Ok(set)
    }

    /// Gives the message to the flows; whether they took it.
    async fn flow_step(&self, flows: &[Flow], m: &StoredMessage, wamid: &Wamid) -> Result<bool, ReactionError> {
        let content = m.content.value();
        let reply_id = reply_id(&content);
        let seq = m.seq();
        let incoming = Incoming {
            wamid: wamid.as_str(),
            seq: &seq,
            customer: m.customer.as_str(),
            wa_id: m.wa_id.as_deref(),
            phone_number_id: &m.phone_number_id,
            text: m.text.as_deref(),
            reply_id,
            at_ms: m.timestamp_ms,
        };
        for _ in 0..MAX_RACES {
            let stored = self.rules.session(m.customer.as_str(), &m.phone_number_id).await?;
            match decide(flows, stored.as_ref(), &incoming, self.clock.now_ms()) {
                Decision::Pass => return Ok(false),
                Decision::Ignore => return Ok(true),
                Decision::Redo(_) => {
                    if let Some(s) = &stored {
                        self.session_effects(m, wamid, s).await?;
                    }
                    return Ok(true);
                }
                Decision::Apply(next) => {
                    if self
                        .rules
                        .put_session(&next, stored.as_ref().map(|s| s.version))
                        .await?
                    {
                        tracing::info!(flow = %next.flow, step = %next.step, status = next.status.as_str(), "flow step");
                        self.session_effects(m, wamid, &next).await?;
                        return Ok(true);
                    }
                    // Another delivery moved the session first: decide again on what it wrote.
                }
            }
        }
        Err(ReactionError::Retry(
            "the flow session kept changing under this message".into(),
        ))
    }

    /// What applying a message to a session sends and records; safe to repeat.
    async fn session_effects(&self, m: &StoredMessage, wamid: &Wamid, s: &Session) -> Result<(), ReactionError> {
        for out in &s.outputs {
            if self.reply(m, wamid, &out.message, &out.purpose).await? == Some(Outcome::WindowClosed) {
                tracing::warn!(session = %s.id, "flow message not sent: the window is closed");
            }
        }
        if let (Status::Completed, Some(record)) = (s.status, &s.interaction) {
            self.rules.record_interaction(record).await?;
            if let Some(events) = &self.events {
                let event = Event::new(FLOW_COMPLETED, &[&record.id], record.completed_ms, record.view());
                events.raise(&event).await?;
            }
        }
        Ok(())
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
        let compiled = self.compiled().await?;
        if !compiled.flows.is_empty() && self.flow_step(&compiled.flows, m, wamid).await? {
            return Ok(()); // a flow's message goes to the flow, not to rules
        }
        let set = &compiled.rules;
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

/// The id of an interactive button or list reply, or a template button's payload.
fn reply_id(content: &Value) -> Option<&str> {
    ["/button_reply/id", "/list_reply/id", "/payload"]
        .iter()
        .find_map(|p| content.pointer(p).and_then(Value::as_str))
}

/// What a message offers to match: its text (body, caption, reply title) and the id or payload of
/// a button or list reply.
fn texts_of(m: &StoredMessage) -> Vec<String> {
    let mut out: Vec<String> = m.text.iter().cloned().collect();
    out.extend(reply_id(&m.content.value()).map(str::to_owned));
    out
}

#[async_trait]
impl Reaction for Automate {
    fn name(&self) -> &str {
        "automate"
    }

    async fn react(&self, applied: Applied<'_>) -> Result<(), ReactionError> {
        match applied {
            Applied::Message { message, .. } => self.on_message(message).await,
            _ => Ok(()),
        }
    }
}
