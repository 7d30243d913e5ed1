//! Automation on DynamoStore: table `rules`, key (`pk`, `sk`):
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | a rule | `rule` | its id | `doc` |
//! | the rules' version | `version` | `rules` | `n` |
//! | a cooldown | `fired#{rule id}` | the customer | `at_ms`, `wamid` |
//! | a flow | `flow` | its id | `doc` |
//! | a session | `session#{shard}` | customer `#` business number | `doc`, `version`, `updated_ms` |
//! | an interaction | `interaction#{shard}` | completion time `#` id | `doc` |
//!
//! Every rule or flow write is a transaction with `ADD n 1` on the version, so a processor that
//! read the version sees every rule written before it. Rules and flows are one partition each,
//! read with one query. Sessions and interactions are written by every flow message, so they are
//! spread over [`SHARDS`] partitions (by customer, and by id), and lists read every partition and
//! merge by key.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};

use super::{DynamoStore, Item, fnv1a, from_json, to_json};
use crate::adapters::aws::expr::{get_n, get_s, n, s};
use crate::adapters::aws::sdk_err;
use crate::automation::rules::Rule;
use crate::domain::{CustomerKey, Wamid};
use crate::flows::definition::Flow;
use crate::flows::session::{Interaction, Session};
use crate::ports::{
    Automation, InteractionFilter, PortError, RuleWrite, SessionFilter, interaction_key, session_key, session_sort_key,
};
use crate::read::{AFTER_ALL_KEYS, Page, PageRequest};

const RULE: &str = "rule";
const FLOW: &str = "flow";
/// Partitions of sessions and of interactions.
pub(crate) const SHARDS: u32 = 8;

fn session_pk(customer: &str) -> String {
    format!("session#{}", fnv1a(customer) % SHARDS)
}

fn interaction_pk(id: &str) -> String {
    format!("interaction#{}", fnv1a(id) % SHARDS)
}

/// Sorts before every key we write (ids, customers and times start with a letter or digit);
/// DynamoDB refuses an empty string as a key condition's value.
const BEFORE_ALL_KEYS: &str = " ";

/// How far a partition is read: sort keys strictly between `lo` and `hi`.
struct Range<'a> {
    lo: &'a str,
    hi: &'a str,
    newest_first: bool,
}

fn key(pk: &str, sk: &str) -> Item {
    Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// A rule's or flow's item: its document under its id.
fn config_item<T: serde::Serialize>(pk: &str, id: &str, doc: &T) -> Result<Item, PortError> {
    let mut item = key(pk, id);
    item.insert("doc".into(), to_json(doc)?);
    Ok(item)
}

/// What a rule write is, besides the version bump it shares a transaction with.
enum Write {
    Put { item: Item, only_new: bool },
    Delete { pk: &'static str, id: String },
}

impl DynamoStore {
    /// Writes one rule and bumps the version, both or neither; `false` when the write's
    /// condition refused it.
    async fn write_rule(&self, write: Write, op: &'static str) -> Result<bool, PortError> {
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| PortError::invalid(op, e.to_string());
        let table = &self.t.automation;
        let first = match write {
            Write::Put { item, only_new } => {
                let put = Put::builder().table_name(table).set_item(Some(item));
                let put = if only_new {
                    put.condition_expression("attribute_not_exists(pk)")
                } else {
                    put
                };
                TransactWriteItem::builder().put(put.build().map_err(invalid)?).build()
            }
            Write::Delete { pk, id } => TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(table)
                        .set_key(Some(key(pk, &id)))
                        .condition_expression("attribute_exists(pk)")
                        .build()
                        .map_err(invalid)?,
                )
                .build(),
        };
        let bump = Update::builder()
            .table_name(table)
            .set_key(Some(key("version", "rules")))
            .update_expression("ADD #n :one")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(invalid)?;
        let tx = self
            .client
            .transact_write_items()
            .transact_items(first)
            .transact_items(TransactWriteItem::builder().update(bump).build())
            .send()
            .await;
        match tx {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c))
                    if c.cancellation_reasons()
                        .first()
                        .and_then(|r| r.code())
                        .is_some_and(|code| code == "ConditionalCheckFailed") =>
                {
                    Ok(false)
                }
                _ => Err(sdk_err(op)(e)),
            },
        }
    }

    /// Items of one partition within `range`, in its order, until `want` of them pass `keep`.
    async fn partition<T>(
        &self,
        pk: String,
        range: &Range<'_>,
        want: usize,
        keep: impl Fn(&Item) -> Result<Option<T>, PortError>,
        op: &'static str,
    ) -> Result<Vec<(T, String)>, PortError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.t.automation)
                .key_condition_expression("pk = :p AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":p", s(&pk))
                .expression_attribute_values(":lo", s(range.lo))
                .expression_attribute_values(":hi", s(range.hi))
                .scan_index_forward(!range.newest_first)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err(op))?;
            for item in page.items.unwrap_or_default() {
                let key = get_s(&item, "sk").unwrap_or_default();
                // BETWEEN is inclusive; the bounds are exclusive.
                if key.as_str() == range.lo || key.as_str() == range.hi {
                    continue;
                }
                if let Some(t) = keep(&item)? {
                    out.push((t, key));
                    if out.len() >= want {
                        return Ok(out);
                    }
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// `want` items over every partition named `{prefix}#{n}`, merged in key order.
    async fn merged_partitions<T>(
        &self,
        prefix: &str,
        range: &Range<'_>,
        want: usize,
        keep: impl Fn(&Item) -> Result<Option<T>, PortError> + Copy,
        op: &'static str,
    ) -> Result<Vec<(T, String)>, PortError> {
        let parts = (0..SHARDS).map(|n| self.partition(format!("{prefix}#{n}"), range, want, keep, op));
        let mut all: Vec<(T, String)> = futures::future::try_join_all(parts)
            .await?
            .into_iter()
            .flatten()
            .collect();
        all.sort_by(|a, b| {
            if range.newest_first {
                b.1.cmp(&a.1)
            } else {
                a.1.cmp(&b.1)
            }
        });
        all.truncate(want);
        Ok(all)
    }

    /// Writes a rule or flow over any of its id (bumping the version); whether it created it.
    async fn put_config<T: serde::Serialize>(
        &self,
        pk: &str,
        id: &str,
        doc: &T,
        op: &'static str,
    ) -> Result<RuleWrite, PortError> {
        let existed = self.get_rule_item(pk, id, op).await?.is_some();
        let item = config_item(pk, id, doc)?;
        self.write_rule(Write::Put { item, only_new: false }, op).await?;
        Ok(if existed {
            RuleWrite::Replaced
        } else {
            RuleWrite::Created
        })
    }

    async fn config<T: serde::de::DeserializeOwned>(
        &self,
        pk: &str,
        id: &str,
        op: &'static str,
    ) -> Result<Option<T>, PortError> {
        match self.get_rule_item(pk, id, op).await? {
            Some(item) => from_json(&item, "doc"),
            None => Ok(None),
        }
    }

    /// Every rule or every flow: one partition, in id order.
    async fn configs<T: serde::de::DeserializeOwned>(&self, pk: &str, op: &'static str) -> Result<Vec<T>, PortError> {
        let range = Range {
            lo: BEFORE_ALL_KEYS,
            hi: AFTER_ALL_KEYS,
            newest_first: false,
        };
        let all = self
            .partition(pk.to_owned(), &range, usize::MAX, |i| from_json::<T>(i, "doc"), op)
            .await?;
        Ok(all.into_iter().map(|(t, _)| t).collect())
    }

    async fn get_rule_item(&self, pk: &str, sk: &str, op: &'static str) -> Result<Option<Item>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.t.automation)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err(op))?;
        Ok(out.item)
    }
}

#[async_trait]
impl Automation for DynamoStore {
    async fn create_rule(&self, rule: &Rule) -> Result<bool, PortError> {
        let item = config_item(RULE, &rule.id, rule)?;
        self.write_rule(Write::Put { item, only_new: true }, "create rule")
            .await
    }

    async fn put_rule(&self, rule: &Rule) -> Result<RuleWrite, PortError> {
        self.put_config(RULE, &rule.id, rule, "put rule").await
    }

    async fn delete_rule(&self, id: &str) -> Result<bool, PortError> {
        let delete = Write::Delete {
            pk: RULE,
            id: id.to_owned(),
        };
        self.write_rule(delete, "delete rule").await
    }

    async fn rule(&self, id: &str) -> Result<Option<Rule>, PortError> {
        self.config(RULE, id, "read rule").await
    }

    async fn rules(&self) -> Result<Vec<Rule>, PortError> {
        self.configs(RULE, "list rules").await
    }

    async fn rules_version(&self) -> Result<u64, PortError> {
        let item = self.get_rule_item("version", "rules", "read rules version").await?;
        Ok(item
            .and_then(|i| get_n(&i, "n"))
            .map_or(0, |v| u64::try_from(v).unwrap_or(0)))
    }

    async fn put_flow(&self, flow: &Flow) -> Result<RuleWrite, PortError> {
        self.put_config(FLOW, &flow.id, flow, "put flow").await
    }

    async fn delete_flow(&self, id: &str) -> Result<bool, PortError> {
        let delete = Write::Delete {
            pk: FLOW,
            id: id.to_owned(),
        };
        self.write_rule(delete, "delete flow").await
    }

    async fn flow(&self, id: &str) -> Result<Option<Flow>, PortError> {
        self.config(FLOW, id, "read flow").await
    }

    async fn flows(&self) -> Result<Vec<Flow>, PortError> {
        self.configs(FLOW, "list flows").await
    }

    async fn session(&self, customer: &str, phone_number_id: &str) -> Result<Option<Session>, PortError> {
        let sk = session_sort_key(customer, phone_number_id);
        match self.get_rule_item(&session_pk(customer), &sk, "read session").await? {
            Some(item) => from_json(&item, "doc"),
            None => Ok(None),
        }
    }

    async fn sessions_of(&self, customer: &str) -> Result<Vec<Session>, PortError> {
        // `#` then `$` bound exactly the keys that start with the customer and `#`.
        let (lo, hi) = (format!("{customer}#"), format!("{customer}$"));
        let range = Range {
            lo: &lo,
            hi: &hi,
            newest_first: false,
        };
        let mut all: Vec<Session> = self
            .partition(
                session_pk(customer),
                &range,
                usize::MAX,
                |i| from_json::<Session>(i, "doc"),
                "read sessions",
            )
            .await?
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        all.sort_by_key(|s| std::cmp::Reverse(s.updated_ms));
        Ok(all)
    }

    async fn put_session(&self, session: &Session, read: Option<u64>) -> Result<bool, PortError> {
        let mut next = session.clone();
        next.version = read.map_or(1, |v| v + 1);
        let mut item = key(&session_pk(&next.customer), &session_key(&next));
        item.insert("doc".into(), to_json(&next)?);
        item.insert("version".into(), n(i64::try_from(next.version).unwrap_or(i64::MAX)));
        item.insert("updated_ms".into(), n(next.updated_ms));
        let put = self
            .client
            .put_item()
            .table_name(&self.t.automation)
            .set_item(Some(item));
        let put = match read {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(i64::try_from(v).unwrap_or(i64::MAX))),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_err("put session")(e)),
        }
    }

    async fn sessions(&self, filter: &SessionFilter, page: &PageRequest) -> Result<Page<Session>, PortError> {
        let after = page.after.clone().unwrap_or_else(|| BEFORE_ALL_KEYS.to_owned());
        let range = Range {
            lo: &after,
            hi: AFTER_ALL_KEYS,
            newest_first: false,
        };
        let keep = |i: &Item| Ok(from_json::<Session>(i, "doc")?.filter(|s| filter.admits(s)));
        let rows = self
            .merged_partitions("session", &range, page.limit as usize + 1, keep, "list sessions")
            .await?;
        Ok(Page::from_rows(rows, page.limit, "sessions"))
    }

    async fn record_interaction(&self, interaction: &Interaction) -> Result<(), PortError> {
        let mut item = key(&interaction_pk(&interaction.id), &interaction_key(interaction));
        item.insert("doc".into(), to_json(interaction)?);
        let put = self
            .client
            .put_item()
            .table_name(&self.t.automation)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_err("put interaction")(e)),
        }
    }

    async fn interactions(
        &self,
        filter: &InteractionFilter,
        page: &PageRequest,
    ) -> Result<Page<Interaction>, PortError> {
        let hi = match (&page.after, filter.to_ms) {
            (Some(a), _) => a.clone(),
            (None, Some(to)) => format!("{:015}", to.max(0)),
            (None, None) => AFTER_ALL_KEYS.to_owned(),
        };
        // The lower bound is exclusive: one below the first key of `from`.
        let lo = filter
            .from_ms
            .filter(|f| *f > 0)
            .map_or_else(|| BEFORE_ALL_KEYS.to_owned(), |f| format!("{:015}~", f - 1));
        let range = Range {
            lo: &lo,
            hi: &hi,
            newest_first: true,
        };
        let keep = |i: &Item| Ok(from_json::<Interaction>(i, "doc")?.filter(|x| filter.admits(x)));
        let rows = self
            .merged_partitions(
                "interaction",
                &range,
                page.limit as usize + 1,
                keep,
                "list interactions",
            )
            .await?;
        Ok(Page::from_rows(rows, page.limit, "interactions"))
    }

    async fn claim_firing(
        &self,
        rule_id: &str,
        customer: &CustomerKey,
        wamid: &Wamid,
        at_ms: i64,
        cooldown_ms: i64,
    ) -> Result<bool, PortError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.t.automation)
            .set_item(Some(
                key(&format!("fired#{rule_id}"), customer.as_str())
                    .into_iter()
                    .chain([("at_ms".to_owned(), n(at_ms)), ("wamid".to_owned(), s(wamid.as_str()))])
                    .collect(),
            ))
            // No firing yet, this message's own, or the last one a cooldown or more before it.
            .condition_expression("attribute_not_exists(pk) OR wamid = :w OR at_ms <= :due")
            .expression_attribute_values(":w", s(wamid.as_str()))
            .expression_attribute_values(":due", n(at_ms.saturating_sub(cooldown_ms)))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_err("claim rule firing")(e)),
        }
    }
}
