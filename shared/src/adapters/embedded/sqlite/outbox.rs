//! Outbox on SqliteStore: the send state machine of outbound messages.

use crate::adapters::embedded::{exec, sql_err};
use crate::adapters::{Refiled, refile};
use crate::domain::{CustomerKey, InboundMark, MessageId, Recorded, SendChange, SendProgress, StoredMessage, Stranded};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, advance_conversation, by_id, insert_message, json, newest_of, reset_conversation, stored};
use crate::ports::{Outbox, PortError};

#[async_trait]
impl Outbox for SqliteStore {
    async fn record_outbound(&self, msg: &StoredMessage) -> Result<Recorded, PortError> {
        let m = msg.clone();
        self.write("record outbound", move |tx| {
            let rec = insert_message(tx, &m)?;
            advance_conversation(tx, &m, false)?;
            Ok(rec)
        })
        .await
    }

    async fn outbound(&self, id: MessageId) -> Result<Option<(StoredMessage, SendProgress)>, PortError> {
        self.with("read outbound", move |conn| {
            let Some(row) = by_id(conn, id)? else { return Ok(None) };
            let progress = row.1.clone();
            progress.map(|p| stored(&row).map(|m| (m, p))).transpose()
        })
        .await
    }

    async fn update_outbound(&self, id: MessageId, change: &SendChange) -> Result<Option<SendProgress>, PortError> {
        let change = change.clone();
        self.write("update outbound", move |tx| {
            let op = sql_err("update outbound");
            let not_final = "id = ?1 AND state IN ('queued', 'sending')";
            match &change {
                SendChange::Attempt { at_ms, after_attempts } => exec(
                    tx,
                    &format!(
                        "UPDATE messages SET state = 'sending', attempts = attempts + 1, last_attempt = ?2,
                                pending_at = ?2
                         WHERE {not_final} AND attempts = ?3"
                    ),
                    params![id.to_string(), at_ms, after_attempts],
                ),
                SendChange::Accepted { wamid, resolved } => {
                    let n = exec(
                        tx,
                        &format!("UPDATE messages SET state = 'accepted', wamid = ?2 WHERE {not_final}"),
                        params![id.to_string(), wamid.as_str()],
                    )
                    .map_err(&op)?;
                    if let Some(to) = resolved.as_ref().filter(|_| n == 1) {
                        rehome(tx, id, to)?;
                    }
                    Ok(n)
                }
                SendChange::Confirmed { wamid } => exec(
                    tx,
                    "UPDATE messages SET state = 'accepted', wamid = ?2, error = NULL
                     WHERE id = ?1 AND state IN ('queued', 'sending', 'failed')",
                    params![id.to_string(), wamid.as_str()],
                ),
                SendChange::Requeued { at_ms } => exec(
                    tx,
                    &format!("UPDATE messages SET pending_at = ?2, requeues = requeues + 1 WHERE {not_final}"),
                    params![id.to_string(), at_ms],
                ),
                SendChange::Deferred { error } => exec(
                    tx,
                    &format!("UPDATE messages SET state = 'queued', error = ?2 WHERE {not_final}"),
                    params![id.to_string(), json(error)?],
                ),
                SendChange::Failed { error } => exec(
                    tx,
                    &format!("UPDATE messages SET state = 'failed', error = ?2 WHERE {not_final}"),
                    params![id.to_string(), json(error)?],
                ),
            }
            .map_err(&op)?;
            Ok(by_id(tx, id)?.and_then(|r| r.1))
        })
        .await
    }

    async fn stranded(&self, before_ms: i64, limit: u32) -> Result<Vec<Stranded>, PortError> {
        self.with("find stranded", move |conn| {
            let op = sql_err("find stranded");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, requeues FROM messages WHERE state IN ('queued', 'sending') AND pending_at < ?1
                     ORDER BY pending_at LIMIT ?2",
                )
                .map_err(&op)?;
            let rows: Vec<(String, u32)> = stmt
                .query_map(params![before_ms, limit], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(&op)?
                .collect::<Result<_, _>>()
                .map_err(&op)?;
            Ok(rows
                .into_iter()
                .filter_map(|(id, requeues)| {
                    Some(Stranded {
                        id: MessageId::parse(&id).ok()?,
                        requeues,
                    })
                })
                .collect())
        })
        .await
    }

    async fn close_window(&self, phone_number_id: &str, customer: &CustomerKey, at_ms: i64) -> Result<(), PortError> {
        let (pni, c) = (phone_number_id.to_owned(), customer.clone());
        self.write("close window", move |tx| {
            exec(
                tx,
                "INSERT INTO windows (phone_number_id, customer, closed_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(phone_number_id, customer) DO UPDATE SET
                    closed_at = MAX(COALESCE(closed_at, 0), excluded.closed_at)",
                params![pni, c.as_str(), at_ms],
            )
            .map_err(sql_err("close window"))
            .map(drop)
        })
        .await
    }

    async fn inbound_mark(&self) -> Result<Option<InboundMark>, PortError> {
        self.with("read inbound mark", move |conn| {
            conn.query_row(
                "SELECT at_ms, oldest_sent_ms FROM marks WHERE name = 'inbound'",
                [],
                |r| {
                    Ok(InboundMark {
                        at_ms: r.get(0)?,
                        oldest_sent_ms: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(sql_err("read inbound mark"))
        })
        .await
    }
}

/// Files an outbound message under the customer WhatsApp resolved its number to: the message and
/// its document move, that conversation advances, and the one it leaves shows its own newest
/// message again, or goes when nothing is left in it.
fn rehome(tx: &rusqlite::Transaction<'_>, id: MessageId, to: &CustomerKey) -> Result<(), PortError> {
    let op = sql_err("move message");
    let Some(row) = by_id(tx, id)? else { return Ok(()) };
    let Some(Refiled { message, doc, left }) = refile(&row.0, to)? else {
        return Ok(());
    };
    exec(
        tx,
        "UPDATE messages SET customer = ?2, doc = ?3 WHERE id = ?1",
        params![id.to_string(), to.as_str(), doc],
    )
    .map_err(&op)?;
    advance_conversation(tx, &message, false)?;
    match newest_of(tx, &left)? {
        Some(newest) => reset_conversation(tx, &left, &newest),
        None => exec(tx, "DELETE FROM conversations WHERE customer = ?1", [left.as_str()])
            .map(drop)
            .map_err(op),
    }
}
