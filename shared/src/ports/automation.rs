//! The automation role of the store: keyword rules and flow definitions, the version that tells a
//! compiled set it is stale, the per-customer cooldown of each rule, flow sessions (written only
//! over the version read) and the audit records of completed flows.

use async_trait::async_trait;

use super::PortError;
use crate::automation::rules::Rule;
use crate::domain::{CustomerKey, Wamid};
use crate::flows::definition::Flow;
use crate::flows::session::{Interaction, Session, Status};
use crate::read::{Page, PageRequest};

/// The most flows a store keeps.
pub const MAX_FLOWS: usize = 100;

/// Which sessions a list holds; every filter given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// In this status as of `now_ms` (an active session past its expiry is expired).
    pub status: Option<Status>,
    /// Of this flow.
    pub flow: Option<String>,
    /// The time statuses are judged at.
    pub now_ms: i64,
}

impl SessionFilter {
    /// Whether `s` belongs in the list.
    pub fn admits(&self, s: &Session) -> bool {
        self.status.is_none_or(|st| s.status_at(self.now_ms) == st) && self.flow.as_ref().is_none_or(|f| *f == s.flow)
    }
}

/// Which interactions a list holds: completed in `[from_ms, to_ms)`, of `kind` when given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InteractionFilter {
    /// Recorded under this kind.
    pub kind: Option<String>,
    /// Completed at or after (Unix ms).
    pub from_ms: Option<i64>,
    /// Completed before (Unix ms).
    pub to_ms: Option<i64>,
}

impl InteractionFilter {
    /// Whether `i` belongs in the list.
    pub fn admits(&self, i: &Interaction) -> bool {
        self.kind.as_ref().is_none_or(|k| i.kind.as_ref() == Some(k))
            && self.from_ms.is_none_or(|f| i.completed_ms >= f)
            && self.to_ms.is_none_or(|t| i.completed_ms < t)
    }
}

/// The sort key of a session in lists: the customer, then the business number. `#` sorts below
/// every character of a customer key, so a customer's sessions come before a longer key's.
pub fn session_key(s: &Session) -> String {
    session_sort_key(&s.customer, &s.phone_number_id)
}

/// [`session_key`] from its parts.
pub fn session_sort_key(customer: &str, phone_number_id: &str) -> String {
    format!("{customer}#{phone_number_id}")
}

/// The sort key of an interaction in lists (newest first): completion time, then id.
pub fn interaction_key(i: &Interaction) -> String {
    format!("{:015}#{}", i.completed_ms.max(0), i.id)
}

/// The most rules a store keeps: the matching benchmark's size, well inside its time budget.
pub const MAX_RULES: usize = 1000;

/// What [`Automation::put_rule`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleWrite {
    /// There was no rule with the id.
    Created,
    /// It replaced the rule with the id.
    Replaced,
}

/// Keyword rules and their cooldowns.
#[async_trait]
pub trait Automation: Send + Sync + 'static {
    /// Creates `rule`; false (and nothing written) when a rule with its id exists.
    async fn create_rule(&self, rule: &Rule) -> Result<bool, PortError>;

    /// Writes `rule`, replacing any rule with its id.
    async fn put_rule(&self, rule: &Rule) -> Result<RuleWrite, PortError>;

    /// Deletes a rule; false when there was none.
    async fn delete_rule(&self, id: &str) -> Result<bool, PortError>;

    /// One rule.
    async fn rule(&self, id: &str) -> Result<Option<Rule>, PortError>;

    /// Every rule, in id order.
    async fn rules(&self) -> Result<Vec<Rule>, PortError>;

    /// A number that changes with every rule or flow written or deleted (in the same write), so a
    /// processor holding compiled rules and flows reads one small record per message and reloads
    /// only when it moved.
    async fn rules_version(&self) -> Result<u64, PortError>;

    /// Writes `flow`, replacing any flow with its id.
    async fn put_flow(&self, flow: &Flow) -> Result<RuleWrite, PortError>;

    /// Deletes a flow; false when there was none. Its sessions stay, as history.
    async fn delete_flow(&self, id: &str) -> Result<bool, PortError>;

    /// One flow.
    async fn flow(&self, id: &str) -> Result<Option<Flow>, PortError>;

    /// Every flow, in id order.
    async fn flows(&self) -> Result<Vec<Flow>, PortError>;

    /// The customer's session with business number `phone_number_id`.
    async fn session(&self, customer: &str, phone_number_id: &str) -> Result<Option<Session>, PortError>;

    /// Every session of the customer (one per business number), most recently updated first.
    async fn sessions_of(&self, customer: &str) -> Result<Vec<Session>, PortError>;

    /// Writes `session` if the stored one is still at version `read` (`None`: there was none),
    /// storing it at the next version; false, and nothing written, when another write came first.
    async fn put_session(&self, session: &Session, read: Option<u64>) -> Result<bool, PortError>;

    /// Sessions that pass `filter`, by customer then business number.
    async fn sessions(&self, filter: &SessionFilter, page: &PageRequest) -> Result<Page<Session>, PortError>;

    /// Keeps the audit record of a completed session, once (it is immutable: a second write of
    /// the same id changes nothing).
    async fn record_interaction(&self, interaction: &Interaction) -> Result<(), PortError>;

    /// Interactions that pass `filter`, newest first.
    async fn interactions(
        &self,
        filter: &InteractionFilter,
        page: &PageRequest,
    ) -> Result<Page<Interaction>, PortError>;

    /// Whether rule `rule_id` may fire for `customer` on message `wamid` sent at `at_ms`, given
    /// its cooldown; if so, it is marked as fired at `at_ms` by `wamid`. The same message asking
    /// again is allowed again (a redelivery after a crash must still reply); another message is
    /// allowed only `cooldown_ms` after the last firing.
    async fn claim_firing(
        &self,
        rule_id: &str,
        customer: &CustomerKey,
        wamid: &Wamid,
        at_ms: i64,
        cooldown_ms: i64,
    ) -> Result<bool, PortError>;
}
