//! A durable queue in SQLite with SQS's semantics: a received message is hidden for a visibility
//! timeout and comes back if it is not acked (so a crash mid-batch loses nothing), every receive is
//! counted, and dead letters keep their reason. Receipts are per receive, so a consumer whose
//! visibility ran out cannot ack a message someone else has since received.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::Notify;

use super::group::GroupCommit;
use super::{Migration, blocking, exec, migrate, open, sql_err};
use crate::ports::{Clock, DeadLetter, Delivery, MAX_SEND_DELAY, PortError, Queue, SystemClock, later};

/// The queue file's schema history. Append, never edit: a file records how many it has applied.
const MIGRATIONS: &[Migration] = &[
    // 1: queues and their dead letters (IF NOT EXISTS: files from before numbered migrations).
    Migration::Sql(
        "CREATE TABLE IF NOT EXISTS queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        body TEXT NOT NULL,
        visible_at INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        receipt TEXT
    );
    CREATE INDEX IF NOT EXISTS queue_visible ON queue(queue, visible_at, id);
    CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        body TEXT NOT NULL,
        reason TEXT NOT NULL,
        receive_count INTEGER NOT NULL,
        failed_at INTEGER NOT NULL
    );",
    ),
    // 2: when each message was sent, as SQS's `SentTimestamp` (unknown for older rows).
    Migration::Sql("ALTER TABLE queue ADD COLUMN sent_at INTEGER;"),
];

/// One named queue in a SQLite file (several queues may share the file).
#[derive(Clone)]
pub struct SqliteQueue {
    conn: Arc<Mutex<Connection>>,
    name: Arc<str>,
    visibility: Duration,
    notify: Arc<Notify>,
    writer: GroupCommit,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("name", &self.name)
            .field("visibility", &self.visibility)
            .finish()
    }
}

fn lock(conn: &Mutex<Connection>) -> Result<std::sync::MutexGuard<'_, Connection>, PortError> {
    conn.lock()
        .map_err(|_| PortError::invalid("queue", "connection lock poisoned"))
}

impl SqliteQueue {
    /// Opens (creating) queue `name` in the SQLite file at `path`.
    pub fn open(path: &Path, name: &str, visibility: Duration) -> Result<Self, PortError> {
        let mut conn = open(path)?;
        migrate(&mut conn, MIGRATIONS)?;
        let conn = Arc::new(Mutex::new(conn));
        Ok(Self {
            writer: GroupCommit::start(conn.clone(), name)?,
            conn,
            name: name.into(),
            visibility,
            notify: Arc::new(Notify::new()),
            clock: Arc::new(SystemClock),
        })
    }

    /// Reads time (visibility, back-off) from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn row_of(receipt: &str) -> Result<i64, PortError> {
        receipt
            .split_once(':')
            .and_then(|(id, _)| id.parse().ok())
            .ok_or_else(|| PortError::invalid("queue receipt", "malformed receipt"))
    }

    /// How many messages are waiting or in flight (for tests and the load report).
    pub async fn depth(&self) -> Result<i64, PortError> {
        let (conn, name) = (self.conn.clone(), self.name.clone());
        blocking("queue depth", move || {
            lock(&conn)?
                .query_row("SELECT COUNT(*) FROM queue WHERE queue = ?1", [&*name], |r| r.get(0))
                .map_err(sql_err("queue depth"))
        })
        .await
    }
}

/// Takes up to `max` visible messages of queue `name`, hiding them until `hidden_until`.
fn take(tx: &Transaction<'_>, name: &str, now: i64, hidden_until: i64, max: u32) -> Result<Vec<Delivery>, PortError> {
    let rows: Vec<(i64, String, u32, Option<i64>)> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT id, body, receive_count, sent_at FROM queue WHERE queue = ?1 AND visible_at <= ?2
                 ORDER BY id LIMIT ?3",
            )
            .map_err(sql_err("receive"))?;
        stmt.query_map(params![name, now, max], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .map_err(sql_err("receive"))?
        .collect::<Result<_, _>>()
        .map_err(sql_err("receive"))?
    };
    let mut out = Vec::with_capacity(rows.len());
    for (id, body, count, sent_ms) in rows {
        let receipt = format!("{id}:{}", ulid::Ulid::new());
        exec(
            tx,
            "UPDATE queue SET visible_at = ?1, receive_count = receive_count + 1, receipt = ?2 WHERE id = ?3",
            params![hidden_until, receipt, id],
        )
        .map_err(sql_err("receive"))?;
        out.push(Delivery {
            id: id.to_string(),
            body,
            receive_count: count + 1,
            receipt,
            sent_ms,
        });
    }
    Ok(out)
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, body: &str) -> Result<(), PortError> {
        self.send_later(body, Duration::ZERO).await
    }

    async fn send_later(&self, body: &str, delay: Duration) -> Result<(), PortError> {
        let (name, body) = (self.name.clone(), body.to_owned());
        let sent = self.clock.now_ms();
        let visible = later(sent, delay.min(MAX_SEND_DELAY));
        self.writer
            .write("send", move |tx| {
                exec(
                    tx,
                    "INSERT INTO queue (queue, body, visible_at, sent_at) VALUES (?1, ?2, ?3, ?4)",
                    params![&*name, body, visible, sent],
                )
                .map_err(sql_err("send"))
            })
            .await?;
        self.notify.notify_waiters();
        Ok(())
    }

    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<Delivery>, PortError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.notify.notified();
            let (name, now) = (self.name.clone(), self.clock.now_ms());
            let hidden_until = later(now, self.visibility);
            let batch = self
                .writer
                .write("receive", move |tx| take(tx, &name, now, hidden_until, max))
                .await?;
            let now = tokio::time::Instant::now();
            if !batch.is_empty() || now >= deadline {
                return Ok(batch);
            }
            // A send wakes us at once; the short tick catches messages whose visibility ran out.
            let tick = (deadline - now).min(Duration::from_millis(100));
            let _ = tokio::time::timeout(tick, notified).await;
        }
    }

    async fn ack(&self, receipt: &str) -> Result<(), PortError> {
        let (id, receipt) = (Self::row_of(receipt)?, receipt.to_owned());
        self.writer
            .write("ack", move |tx| {
                exec(
                    tx,
                    "DELETE FROM queue WHERE id = ?1 AND receipt = ?2",
                    params![id, receipt],
                )
                .map_err(sql_err("ack"))
                .map(drop)
            })
            .await
    }

    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), PortError> {
        let (id, receipt) = (Self::row_of(receipt)?, receipt.to_owned());
        let at = later(self.clock.now_ms(), delay);
        self.writer
            .write("retry later", move |tx| {
                exec(
                    tx,
                    "UPDATE queue SET visible_at = ?1 WHERE id = ?2 AND receipt = ?3",
                    params![at, id, receipt],
                )
                .map_err(sql_err("retry later"))
                .map(drop)
            })
            .await
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<(), PortError> {
        let name = self.name.clone();
        let now = self.clock.now_ms();
        let (id, receipt, reason) = (
            Self::row_of(&delivery.receipt)?,
            delivery.receipt.clone(),
            reason.to_owned(),
        );
        self.writer.write("dead letter", move |tx| {
            let row: Option<(String, u32)> = tx
                .query_row(
                    "SELECT body, receive_count FROM queue WHERE id = ?1 AND receipt = ?2",
                    params![id, receipt],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(sql_err("dead letter"))?;
            if let Some((body, count)) = row {
                exec(
                    tx,
                    "INSERT INTO dead_letters (queue, body, reason, receive_count, failed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![&*name, body, reason, count, now],
                )
                .map_err(sql_err("dead letter"))?;
                exec(tx, "DELETE FROM queue WHERE id = ?1", [id]).map_err(sql_err("dead letter"))?;
            }
            Ok(())
        })
        .await
    }

    async fn backlog(&self) -> Result<u64, PortError> {
        Ok(u64::try_from(self.depth().await?).unwrap_or(0))
    }

    async fn dead_letters(&self, max: u32) -> Result<Vec<DeadLetter>, PortError> {
        let (conn, name) = (self.conn.clone(), self.name.clone());
        blocking("read dead letters", move || {
            let conn = lock(&conn)?;
            let mut stmt = conn
                .prepare_cached("SELECT body, reason FROM dead_letters WHERE queue = ?1 ORDER BY id LIMIT ?2")
                .map_err(sql_err("read dead letters"))?;
            stmt.query_map(params![&*name, max], |r| {
                Ok(DeadLetter {
                    body: r.get(0)?,
                    reason: r.get(1)?,
                })
            })
            .map_err(sql_err("read dead letters"))?
            .collect::<Result<_, _>>()
            .map_err(sql_err("read dead letters"))
        })
        .await
    }
}
