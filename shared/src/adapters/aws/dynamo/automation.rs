//! Automation on DynamoStore: table `rules`, key (`pk`, `sk`):
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | a rule | `rule` | its id | `doc` |
//! | the rules' version | `version` | `rules` | `n` |
//! | a cooldown | `fired#{rule id}` | the customer | `at_ms`, `wamid` |
//!
//! Every rule write is a transaction with `ADD n 1` on the version, so a processor that read the
//! version sees every rule written before it. Rules are one partition, read with one query.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};

use super::{DynamoStore, Item, from_json, to_json};
use crate::adapters::aws::expr::{get_n, n, s};
use crate::adapters::aws::sdk_err;
use crate::automation::rules::Rule;
use crate::domain::{CustomerKey, Wamid};
use crate::ports::{Automation, PortError, RuleWrite};

const RULE: &str = "rule";

fn key(pk: &str, sk: &str) -> Item {
    Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// What a rule write is, besides the version bump it shares a transaction with.
enum Write {
    Put { item: Item, only_new: bool },
    Delete { id: String },
}

impl DynamoStore {
    /// Writes one rule and bumps the version, both or neither; `false` when the write's
    /// condition refused it.
    async fn write_rule(&self, write: Write, op: &'static str) -> Result<bool, PortError> {
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| PortError::invalid(op, e.to_string());
        let table = &self.t.rules;
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
            Write::Delete { id } => TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(table)
                        .set_key(Some(key(RULE, &id)))
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

    fn rule_item(rule: &Rule) -> Result<Item, PortError> {
        let mut item = key(RULE, &rule.id);
        item.insert("doc".into(), to_json(rule)?);
        Ok(item)
    }

    async fn get_rule_item(&self, pk: &str, sk: &str, op: &'static str) -> Result<Option<Item>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.t.rules)
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
        let item = Self::rule_item(rule)?;
        self.write_rule(Write::Put { item, only_new: true }, "create rule")
            .await
    }

    async fn put_rule(&self, rule: &Rule) -> Result<RuleWrite, PortError> {
        let existed = self.get_rule_item(RULE, &rule.id, "put rule").await?.is_some();
        let item = Self::rule_item(rule)?;
        self.write_rule(Write::Put { item, only_new: false }, "put rule")
            .await?;
        Ok(if existed {
            RuleWrite::Replaced
        } else {
            RuleWrite::Created
        })
    }

    async fn delete_rule(&self, id: &str) -> Result<bool, PortError> {
        self.write_rule(Write::Delete { id: id.to_owned() }, "delete rule")
            .await
    }

    async fn rule(&self, id: &str) -> Result<Option<Rule>, PortError> {
        match self.get_rule_item(RULE, id, "read rule").await? {
            Some(item) => from_json(&item, "doc"),
            None => Ok(None),
        }
    }

    async fn rules(&self) -> Result<Vec<Rule>, PortError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.t.rules)
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s(RULE))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err("list rules"))?;
            for item in page.items.unwrap_or_default() {
                if let Some(rule) = from_json::<Rule>(&item, "doc")? {
                    out.push(rule);
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    async fn rules_version(&self) -> Result<u64, PortError> {
        let item = self.get_rule_item("version", "rules", "read rules version").await?;
        Ok(item
            .and_then(|i| get_n(&i, "n"))
            .map_or(0, |v| u64::try_from(v).unwrap_or(0)))
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
            .table_name(&self.t.rules)
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
