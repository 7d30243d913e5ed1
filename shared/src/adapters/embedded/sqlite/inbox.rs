//! Inbox on SqliteStore: what the inbound processor writes: messages, statuses and raw events.

use crate::adapters::embedded::{exec, sql_err};
use crate::domain::{
    CustomerKey, InboundMark, Json, MessageId, RawEvent, Recorded, StatusUpdate, StoredMessage, UNREAD_SHOWN, Wamid,
};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, advance_conversation, insert_message, json, parse, status_of, upsert_contact};
use crate::ports::{Inbox, PortError};

#[async_trait]
impl Inbox for SqliteStore {
    async fn record_inbound(&self, msg: &StoredMessage) -> Result<Recorded, PortError> {
        let m = msg.clone();
        self.write("record inbound", move |tx| {
            let rec = insert_message(tx, &m)?;
            advance_conversation(tx, &m, rec == Recorded::New)?;
            upsert_contact(tx, &m)?;
            Ok(rec)
        })
        .await
    }

    async fn mark_read(&self, wamid: &Wamid) -> Result<bool, PortError> {
        let w = wamid.clone();
        self.write("mark read", move |tx| {
            let op = sql_err("mark read");
            let Some((customer, seq)) = tx
                .query_row(
                    "SELECT customer, seq FROM messages
                     WHERE wamid = ?1 AND json_extract(doc, '$.direction') = 'inbound'",
                    [w.as_str()],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()
                .map_err(&op)?
            else {
                return Ok(false);
            };
            exec(
                tx,
                "UPDATE conversations SET read_seq = ?2, unread = (
                    SELECT COUNT(*) FROM (
                        SELECT 1 FROM messages
                        WHERE customer = ?1 AND seq > ?2 AND json_extract(doc, '$.direction') = 'inbound'
                        LIMIT ?3))
                 WHERE customer = ?1 AND (read_seq IS NULL OR read_seq < ?2)",
                params![customer, seq, UNREAD_SHOWN + 1],
            )
            .map_err(&op)?;
            Ok(true)
        })
        .await
    }

    async fn set_automation(&self, id: MessageId, outcome: &Json) -> Result<(), PortError> {
        let (id, outcome) = (id.to_string(), outcome.text().to_owned());
        self.write("set automation", move |tx| {
            exec(
                tx,
                "UPDATE messages SET automation = ?2 WHERE id = ?1 AND automation IS NULL",
                params![id, outcome],
            )
            .map_err(sql_err("set automation"))
            .map(drop)
        })
        .await
    }

    async fn label_conversation(&self, customer: &CustomerKey, label: &str, at_ms: i64) -> Result<(), PortError> {
        let (customer, label) = (customer.as_str().to_owned(), label.to_owned());
        self.write("label conversation", move |tx| {
            let op = sql_err("label conversation");
            let Some(labels) = tx
                .query_row(
                    "SELECT labels FROM conversations WHERE customer = ?1",
                    [&customer],
                    |r| r.get::<_, Option<String>>(0),
                )
                .optional()
                .map_err(&op)?
            else {
                return Ok(());
            };
            let mut labels: Vec<String> = labels.and_then(|l| serde_json::from_str(&l).ok()).unwrap_or_default();
            if !labels.contains(&label) {
                labels.push(label);
                labels.sort();
            }
            exec(
                tx,
                "UPDATE conversations SET labels = ?2, escalated_at = MAX(COALESCE(escalated_at, ?3), ?3)
                 WHERE customer = ?1",
                params![customer, json(&labels)?, at_ms],
            )
            .map_err(&op)
            .map(drop)
        })
        .await
    }

    async fn apply_status(&self, status: &StatusUpdate) -> Result<(), PortError> {
        let u = status.clone();
        self.write("apply status", move |tx| {
            let mut rec = status_of(tx, u.wamid.as_str())?.unwrap_or_default();
            rec.apply(&u);
            exec(
                tx,
                "INSERT INTO statuses (wamid, doc) VALUES (?1, ?2) ON CONFLICT(wamid) DO UPDATE SET doc = excluded.doc",
                params![u.wamid.as_str(), json(&rec)?],
            )
            .map_err(sql_err("apply status"))
            .map(drop)
        })
        .await
    }

    async fn record_event(&self, event: &RawEvent) -> Result<Recorded, PortError> {
        let e = event.clone();
        self.write("record event", move |tx| {
            let n = exec(
                tx,
                "INSERT OR IGNORE INTO events (id, field, doc) VALUES (?1, ?2, ?3)",
                params![e.id, e.field, json(&e)?],
            )
            .map_err(sql_err("record event"))?;
            Ok(if n == 1 { Recorded::New } else { Recorded::Duplicate })
        })
        .await
    }

    async fn events(&self, field: &str, limit: u32) -> Result<Vec<RawEvent>, PortError> {
        let field = field.to_owned();
        self.with("read events", move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT doc FROM events WHERE field = ?1 ORDER BY seq LIMIT ?2")
                .map_err(sql_err("read events"))?;
            let docs: Vec<String> = stmt
                .query_map(params![field, limit], |r| r.get(0))
                .map_err(sql_err("read events"))?
                .collect::<Result<_, _>>()
                .map_err(sql_err("read events"))?;
            docs.iter().map(|d| parse(d)).collect()
        })
        .await
    }

    async fn mark_inbound(&self, mark: InboundMark) -> Result<(), PortError> {
        self.write("mark inbound", move |tx| {
            exec(
                tx,
                "INSERT INTO marks (name, at_ms, oldest_sent_ms) VALUES ('inbound', ?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET at_ms = excluded.at_ms, oldest_sent_ms = excluded.oldest_sent_ms
                 WHERE excluded.at_ms >= marks.at_ms",
                params![mark.at_ms, mark.oldest_sent_ms],
            )
            .map_err(sql_err("mark inbound"))
            .map(drop)
        })
        .await
    }
}
