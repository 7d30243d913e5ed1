//! The automation role of the store: keyword rules, the version that tells a compiled set it is
//! stale, and the per-customer cooldown of each rule.

use async_trait::async_trait;

use super::PortError;
use crate::automation::rules::Rule;
use crate::domain::{CustomerKey, Wamid};

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

    /// A number that changes with every rule written or deleted (in the same write), so a
    /// processor holding a compiled set reads one small record per message and recompiles only
    /// when it moved.
    async fn rules_version(&self) -> Result<u64, PortError>;

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
