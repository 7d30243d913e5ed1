//! Automation on SqliteStore: rules as JSON documents, one version row bumped in the same
//! transaction as every rule write, and one cooldown row per (rule, customer).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, json, parse};
use crate::adapters::embedded::sql_err;
use crate::automation::rules::Rule;
use crate::domain::{CustomerKey, Wamid};
use crate::ports::{Automation, PortError, RuleWrite};

/// Migration 17.
pub(super) const SCHEMA: &str = "CREATE TABLE rules (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);
CREATE TABLE rule_version (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    version INTEGER NOT NULL
);
INSERT INTO rule_version (one, version) VALUES (1, 0);
CREATE TABLE rule_firings (
    rule_id TEXT NOT NULL,
    customer TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    wamid TEXT NOT NULL,
    PRIMARY KEY (rule_id, customer)
) WITHOUT ROWID;
ALTER TABLE messages ADD COLUMN automation TEXT;
ALTER TABLE conversations ADD COLUMN labels TEXT;
ALTER TABLE conversations ADD COLUMN escalated_at INTEGER;";

fn bump(tx: &rusqlite::Transaction<'_>, op: &'static str) -> Result<(), PortError> {
    tx.execute("UPDATE rule_version SET version = version + 1 WHERE one = 1", [])
        .map_err(sql_err(op))
        .map(drop)
}

#[async_trait]
impl Automation for SqliteStore {
    async fn create_rule(&self, rule: &Rule) -> Result<bool, PortError> {
        let (id, doc) = (rule.id.clone(), json(rule)?);
        self.write("create rule", move |tx| {
            let n = tx
                .execute(
                    "INSERT INTO rules (id, doc) VALUES (?1, ?2) ON CONFLICT(id) DO NOTHING",
                    params![id, doc],
                )
                .map_err(sql_err("create rule"))?;
            if n == 1 {
                bump(tx, "create rule")?;
            }
            Ok(n == 1)
        })
        .await
    }

    async fn put_rule(&self, rule: &Rule) -> Result<RuleWrite, PortError> {
        let (id, doc) = (rule.id.clone(), json(rule)?);
        self.write("put rule", move |tx| {
            let op = sql_err("put rule");
            let existed = tx
                .query_row("SELECT 1 FROM rules WHERE id = ?1", [&id], |_| Ok(()))
                .optional()
                .map_err(&op)?
                .is_some();
            tx.execute(
                "INSERT INTO rules (id, doc) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                params![id, doc],
            )
            .map_err(&op)?;
            bump(tx, "put rule")?;
            Ok(if existed {
                RuleWrite::Replaced
            } else {
                RuleWrite::Created
            })
        })
        .await
    }

    async fn delete_rule(&self, id: &str) -> Result<bool, PortError> {
        let id = id.to_owned();
        self.write("delete rule", move |tx| {
            let n = tx
                .execute("DELETE FROM rules WHERE id = ?1", [&id])
                .map_err(sql_err("delete rule"))?;
            if n == 1 {
                bump(tx, "delete rule")?;
            }
            Ok(n == 1)
        })
        .await
    }

    async fn rule(&self, id: &str) -> Result<Option<Rule>, PortError> {
        let id = id.to_owned();
        self.with("read rule", move |conn| {
            let doc: Option<String> = conn
                .query_row("SELECT doc FROM rules WHERE id = ?1", [&id], |r| r.get(0))
                .optional()
                .map_err(sql_err("read rule"))?;
            doc.map(|d| parse(&d)).transpose()
        })
        .await
    }

    async fn rules(&self) -> Result<Vec<Rule>, PortError> {
        self.with("list rules", move |conn| {
            let op = sql_err("list rules");
            let mut stmt = conn.prepare_cached("SELECT doc FROM rules ORDER BY id").map_err(&op)?;
            let docs: Vec<String> = stmt
                .query_map([], |r| r.get(0))
                .map_err(&op)?
                .collect::<Result<_, _>>()
                .map_err(&op)?;
            docs.iter().map(|d| parse(d)).collect()
        })
        .await
    }

    async fn rules_version(&self) -> Result<u64, PortError> {
        self.with("read rules version", move |conn| {
            conn.query_row("SELECT version FROM rule_version WHERE one = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .map_err(sql_err("read rules version"))
            .map(|v| v.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
        })
        .await
    }

    async fn claim_firing(
        &self,
        rule_id: &str,
        customer: &CustomerKey,
        wamid: &Wamid,
        at_ms: i64,
        cooldown_ms: i64,
    ) -> Result<bool, PortError> {
        let (rule, customer, wamid) = (
            rule_id.to_owned(),
            customer.as_str().to_owned(),
            wamid.as_str().to_owned(),
        );
        self.write("claim rule firing", move |tx| {
            // Written when there is no firing, when it is this message's own, or when the last one
            // is a cooldown or more before this message.
            let n = tx
                .execute(
                    "INSERT INTO rule_firings (rule_id, customer, at_ms, wamid) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(rule_id, customer) DO UPDATE SET at_ms = excluded.at_ms, wamid = excluded.wamid
                     WHERE rule_firings.wamid = excluded.wamid OR rule_firings.at_ms + ?5 <= excluded.at_ms",
                    params![rule, customer, at_ms, wamid, cooldown_ms],
                )
                .map_err(sql_err("claim rule firing"))?;
            Ok(n == 1)
        })
        .await
    }
}
