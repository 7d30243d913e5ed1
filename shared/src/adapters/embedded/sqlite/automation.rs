//! Automation on SqliteStore: rules as JSON documents, one version row bumped in the same
//! transaction as every rule write, and one cooldown row per (rule, customer).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, json, parse};
use crate::adapters::embedded::sql_err;
use crate::automation::rules::Rule;
use crate::domain::{CustomerKey, Wamid};
use crate::flows::definition::Flow;
use crate::flows::session::{Interaction, Session};
use crate::ports::{Automation, InteractionFilter, PortError, RuleWrite, SessionFilter, interaction_key, session_key};
use crate::read::{Page, PageRequest};

/// Migration 18.
pub(super) const FLOWS_SCHEMA: &str = "CREATE TABLE flows (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);
CREATE TABLE flow_sessions (
    customer TEXT NOT NULL,
    phone_number_id TEXT NOT NULL,
    sort_key TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (customer, phone_number_id)
);
CREATE INDEX flow_sessions_by_key ON flow_sessions(sort_key);
CREATE TABLE interactions (
    id TEXT PRIMARY KEY,
    sort_key TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX interactions_by_key ON interactions(sort_key);";

/// Rows read past the cursor per round while filling a filtered page.
const SCAN: u32 = 500;

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

/// The two tables of configuration documents, which every write versions.
#[derive(Debug, Clone, Copy)]
enum Config {
    Rules,
    Flows,
}

impl Config {
    fn table(self) -> &'static str {
        match self {
            Self::Rules => "rules",
            Self::Flows => "flows",
        }
    }
}

impl SqliteStore {
    /// Writes a document and bumps the version in one transaction. With `only_new`, nothing is
    /// written over an existing id (`None`); otherwise whether it created or replaced.
    async fn put_config(
        &self,
        c: Config,
        id: &str,
        doc: String,
        only_new: bool,
    ) -> Result<Option<RuleWrite>, PortError> {
        let id = id.to_owned();
        self.write("put rule or flow", move |tx| {
            let op = sql_err("put rule or flow");
            let table = c.table();
            let existed = tx
                .query_row(&format!("SELECT 1 FROM {table} WHERE id = ?1"), [&id], |_| Ok(()))
                .optional()
                .map_err(&op)?
                .is_some();
            if existed && only_new {
                return Ok(None);
            }
            tx.execute(
                &format!(
                    "INSERT INTO {table} (id, doc) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc"
                ),
                params![id, doc],
            )
            .map_err(&op)?;
            bump(tx, "put rule or flow")?;
            Ok(Some(if existed {
                RuleWrite::Replaced
            } else {
                RuleWrite::Created
            }))
        })
        .await
    }

    /// Deletes a document (bumping the version); false when there was none.
    async fn delete_config(&self, c: Config, id: &str) -> Result<bool, PortError> {
        let id = id.to_owned();
        self.write("delete rule or flow", move |tx| {
            let n = tx
                .execute(&format!("DELETE FROM {} WHERE id = ?1", c.table()), [&id])
                .map_err(sql_err("delete rule or flow"))?;
            if n == 1 {
                bump(tx, "delete rule or flow")?;
            }
            Ok(n == 1)
        })
        .await
    }

    async fn config<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        c: Config,
        id: &str,
    ) -> Result<Option<T>, PortError> {
        let id = id.to_owned();
        self.with("read rule or flow", move |conn| {
            let doc: Option<String> = conn
                .query_row(&format!("SELECT doc FROM {} WHERE id = ?1", c.table()), [&id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(sql_err("read rule or flow"))?;
            doc.map(|d| parse(&d)).transpose()
        })
        .await
    }

    async fn configs<T: serde::de::DeserializeOwned + Send + 'static>(&self, c: Config) -> Result<Vec<T>, PortError> {
        self.with("list rules or flows", move |conn| {
            let op = sql_err("list rules or flows");
            let mut stmt = conn
                .prepare_cached(&format!("SELECT doc FROM {} ORDER BY id", c.table()))
                .map_err(&op)?;
            let docs: Vec<String> = stmt
                .query_map([], |r| r.get(0))
                .map_err(&op)?
                .collect::<Result<_, _>>()
                .map_err(&op)?;
            docs.iter().map(|d| parse(d)).collect()
        })
        .await
    }
}

#[async_trait]
impl Automation for SqliteStore {
    async fn create_rule(&self, rule: &Rule) -> Result<bool, PortError> {
        self.put_config(Config::Rules, &rule.id, json(rule)?, true)
            .await
            .map(|w| w == Some(RuleWrite::Created))
    }

    async fn put_rule(&self, rule: &Rule) -> Result<RuleWrite, PortError> {
        let written = self.put_config(Config::Rules, &rule.id, json(rule)?, false).await?;
        Ok(written.unwrap_or(RuleWrite::Replaced))
    }

    async fn delete_rule(&self, id: &str) -> Result<bool, PortError> {
        self.delete_config(Config::Rules, id).await
    }

    async fn rule(&self, id: &str) -> Result<Option<Rule>, PortError> {
        self.config(Config::Rules, id).await
    }

    async fn rules(&self) -> Result<Vec<Rule>, PortError> {
        self.configs(Config::Rules).await
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

    async fn put_flow(&self, flow: &Flow) -> Result<RuleWrite, PortError> {
        let written = self.put_config(Config::Flows, &flow.id, json(flow)?, false).await?;
        Ok(written.unwrap_or(RuleWrite::Replaced))
    }

    async fn delete_flow(&self, id: &str) -> Result<bool, PortError> {
        self.delete_config(Config::Flows, id).await
    }

    async fn flow(&self, id: &str) -> Result<Option<Flow>, PortError> {
        self.config(Config::Flows, id).await
    }

    async fn flows(&self) -> Result<Vec<Flow>, PortError> {
        self.configs(Config::Flows).await
    }

    async fn session(&self, customer: &str, phone_number_id: &str) -> Result<Option<Session>, PortError> {
        let (c, p) = (customer.to_owned(), phone_number_id.to_owned());
        self.with("read session", move |conn| {
            let doc: Option<String> = conn
                .query_row(
                    "SELECT doc FROM flow_sessions WHERE customer = ?1 AND phone_number_id = ?2",
                    params![c, p],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql_err("read session"))?;
            doc.map(|d| parse(&d)).transpose()
        })
        .await
    }

    async fn sessions_of(&self, customer: &str) -> Result<Vec<Session>, PortError> {
        let c = customer.to_owned();
        self.with("read sessions", move |conn| {
            let op = sql_err("read sessions");
            let mut stmt = conn
                .prepare_cached("SELECT doc FROM flow_sessions WHERE customer = ?1 ORDER BY updated_ms DESC")
                .map_err(&op)?;
            let docs: Vec<String> = stmt
                .query_map([&c], |r| r.get(0))
                .map_err(&op)?
                .collect::<Result<_, _>>()
                .map_err(&op)?;
            docs.iter().map(|d| parse(d)).collect()
        })
        .await
    }

    async fn put_session(&self, session: &Session, read: Option<u64>) -> Result<bool, PortError> {
        let mut s = session.clone();
        s.version = read.map_or(1, |v| v + 1);
        let (key, doc) = (session_key(&s), json(&s)?);
        self.write("put session", move |tx| {
            let op = sql_err("put session");
            let version = i64::try_from(s.version).unwrap_or(i64::MAX);
            let n = match read {
                None => tx.execute(
                    "INSERT INTO flow_sessions (customer, phone_number_id, sort_key, version, updated_ms, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(customer, phone_number_id) DO NOTHING",
                    params![s.customer, s.phone_number_id, key, version, s.updated_ms, doc],
                ),
                Some(v) => tx.execute(
                    "UPDATE flow_sessions SET version = ?4, updated_ms = ?5, doc = ?6
                     WHERE customer = ?1 AND phone_number_id = ?2 AND version = ?3",
                    params![
                        s.customer,
                        s.phone_number_id,
                        i64::try_from(v).unwrap_or(i64::MAX),
                        version,
                        s.updated_ms,
                        doc
                    ],
                ),
            }
            .map_err(&op)?;
            Ok(n == 1)
        })
        .await
    }

    async fn sessions(&self, filter: &SessionFilter, page: &PageRequest) -> Result<Page<Session>, PortError> {
        let (filter, page) = (filter.clone(), page.clone());
        self.with("list sessions", move |conn| {
            let op = sql_err("list sessions");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT doc, sort_key FROM flow_sessions WHERE sort_key > ?1 ORDER BY sort_key LIMIT ?2",
                )
                .map_err(&op)?;
            let mut rows: Vec<(Session, String)> = Vec::new();
            let mut after = page.after.clone().unwrap_or_default();
            loop {
                let batch: Vec<(String, String)> = stmt
                    .query_map(params![after, SCAN], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(&op)?
                    .collect::<Result<_, _>>()
                    .map_err(&op)?;
                let done = (batch.len() as u32) < SCAN;
                for (doc, key) in batch {
                    after.clone_from(&key);
                    let s: Session = parse(&doc)?;
                    if filter.admits(&s) {
                        rows.push((s, key));
                    }
                }
                if done || rows.len() > page.limit as usize {
                    return Ok(Page::from_rows(rows, page.limit, "sessions"));
                }
            }
        })
        .await
    }

    async fn record_interaction(&self, interaction: &Interaction) -> Result<(), PortError> {
        let (id, key, doc) = (interaction.id.clone(), interaction_key(interaction), json(interaction)?);
        self.write("put interaction", move |tx| {
            tx.execute(
                "INSERT INTO interactions (id, sort_key, doc) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO NOTHING",
                params![id, key, doc],
            )
            .map_err(sql_err("put interaction"))
            .map(drop)
        })
        .await
    }

    async fn interactions(
        &self,
        filter: &InteractionFilter,
        page: &PageRequest,
    ) -> Result<Page<Interaction>, PortError> {
        let (filter, page) = (filter.clone(), page.clone());
        self.with("list interactions", move |conn| {
            let op = sql_err("list interactions");
            let hi = match (&page.after, filter.to_ms) {
                (Some(a), _) => a.clone(),
                (None, Some(to)) => format!("{:015}", to.max(0)),
                (None, None) => crate::read::AFTER_ALL_KEYS.to_owned(),
            };
            let lo = filter.from_ms.map_or(String::new(), |f| format!("{:015}", f.max(0)));
            let mut stmt = conn
                .prepare_cached(
                    "SELECT doc, sort_key FROM interactions WHERE sort_key < ?1 AND sort_key >= ?2
                     ORDER BY sort_key DESC LIMIT ?3",
                )
                .map_err(&op)?;
            let mut rows: Vec<(Interaction, String)> = Vec::new();
            let mut before = hi;
            loop {
                let batch: Vec<(String, String)> = stmt
                    .query_map(params![before, lo, SCAN], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(&op)?
                    .collect::<Result<_, _>>()
                    .map_err(&op)?;
                let done = (batch.len() as u32) < SCAN;
                for (doc, key) in batch {
                    before.clone_from(&key);
                    let i: Interaction = parse(&doc)?;
                    if filter.admits(&i) {
                        rows.push((i, key));
                    }
                }
                if done || rows.len() > page.limit as usize {
                    return Ok(Page::from_rows(rows, page.limit, "interactions"));
                }
            }
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
