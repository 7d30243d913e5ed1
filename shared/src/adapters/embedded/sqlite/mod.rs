//! The store in SQLite. Each write is atomic (its own savepoint), so the de-duplication of a message
//! and the counters it bumps commit together or not at all; concurrent writes share one commit
//! ([`super::group`]).

mod automation;
mod contacts;
mod counters;
mod idempotency;
mod inbox;
mod media;
mod outbox;
mod read_model;
mod recipients;
mod schedules;
mod templates;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::group::GroupCommit;
use super::{Migration, blocking, exec, migrate, open, sql_err};
use crate::domain::{
    Conversation, CustomerKey, Direction, LastMessage, MessageId, Recorded, SendProgress, SendState, StatusRecord,
    StoredMessage, Wamid, seq_key,
};
use crate::ports::{Clock, PortError, SystemClock};
use crate::read::MessageView;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    wamid TEXT,
    customer TEXT NOT NULL,
    seq TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_wamid ON messages(wamid);
CREATE INDEX IF NOT EXISTS messages_by_customer ON messages(customer, seq);
CREATE TABLE IF NOT EXISTS statuses (
    wamid TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS conversations (
    customer TEXT PRIMARY KEY,
    wa_id TEXT,
    user_id TEXT,
    phone_number_id TEXT,
    name TEXT,
    last_message TEXT,
    last_seq TEXT,
    last_message_at INTEGER,
    activity TEXT,
    unread INTEGER NOT NULL DEFAULT 0,
    last_inbound_at INTEGER
);
CREATE INDEX IF NOT EXISTS conversations_by_activity ON conversations(activity);
CREATE TABLE IF NOT EXISTS contacts (
    customer TEXT PRIMARY KEY,
    wa_id TEXT,
    user_id TEXT,
    name TEXT,
    phone_number_id TEXT,
    first_seen_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    field TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_field ON events(field, seq);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER,
    body TEXT,
    expires_at INTEGER NOT NULL
);
";

/// The store's schema history. Append, never edit: a data dir records how many it has applied.
pub(crate) const MIGRATIONS: &[Migration] = &[
    // 1: the first release's tables (IF NOT EXISTS: files from before numbered migrations have them).
    Migration::Sql(SCHEMA),
    // 2: the sender's progress on outbound messages, and windows Meta told us are closed.
    Migration::AddColumns(&[
        ("messages", "state", "TEXT"),
        ("messages", "attempts", "INTEGER NOT NULL DEFAULT 0"),
        ("messages", "last_attempt", "INTEGER"),
        ("messages", "error", "TEXT"),
        ("conversations", "window_closed_at", "INTEGER"),
    ]),
    // 3: a lease on unanswered idempotency claims. Claims from before it read as lapsed, which frees
    // keys a crashed request left in progress.
    Migration::AddColumns(&[("idempotency", "lease_until", "INTEGER NOT NULL DEFAULT 0")]),
    // 4: windows per (business number, customer). The per-customer columns of `conversations`
    // become unused; their values carry over to the conversation's latest number, the best
    // knowledge there is of which number the customer wrote to.
    Migration::Sql(
        "CREATE TABLE windows (
            phone_number_id TEXT NOT NULL,
            customer TEXT NOT NULL,
            last_inbound_at INTEGER,
            closed_at INTEGER,
            PRIMARY KEY (phone_number_id, customer)
        );
        INSERT INTO windows (phone_number_id, customer, last_inbound_at, closed_at)
            SELECT phone_number_id, customer, last_inbound_at, window_closed_at FROM conversations
            WHERE phone_number_id IS NOT NULL
              AND (last_inbound_at IS NOT NULL OR window_closed_at IS NOT NULL);",
    ),
    // 5: when each unfinished outbound message was last active, so the sweeper finds the stranded
    // ones without reading the rest. Rows from before start at their attempt or creation time.
    Migration::Sql(
        "ALTER TABLE messages ADD COLUMN pending_at INTEGER;
        UPDATE messages SET pending_at = COALESCE(last_attempt, json_extract(doc, '$.timestamp_ms'))
            WHERE state IN ('queued', 'sending');
        CREATE INDEX messages_pending ON messages(pending_at) WHERE state IN ('queued', 'sending');",
    ),
    // 6: how many times the sweep has re-queued each outbound message, so one whose queue record
    // keeps dying ends failed instead of cycling between the queue and its dead-letter queue.
    Migration::Sql("ALTER TABLE messages ADD COLUMN requeues INTEGER NOT NULL DEFAULT 0;"),
    // 7: the inbound processor's latest progress mark, read by the sender before a resend.
    Migration::Sql(
        "CREATE TABLE marks (
            name TEXT PRIMARY KEY,
            at_ms INTEGER NOT NULL,
            oldest_sent_ms INTEGER NOT NULL
        );",
    ),
    // 8: a conversation's read position: `unread` counts inbound messages after it.
    Migration::AddColumns(&[("conversations", "read_seq", "TEXT")]),
    // 9: media records, one per media id, and the lease of the download in progress.
    Migration::Sql(
        "CREATE TABLE media (
            id TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            lease_until INTEGER NOT NULL DEFAULT 0,
            doc TEXT NOT NULL
        );",
    ),
    // 10: the templates copy, one row per name and language, with the revision writes check.
    Migration::Sql(
        "CREATE TABLE templates (
            name TEXT NOT NULL,
            language TEXT NOT NULL,
            rev INTEGER NOT NULL,
            status TEXT NOT NULL,
            category TEXT,
            doc TEXT NOT NULL,
            PRIMARY KEY (name, language)
        );",
    ),
    // 11: analytics. Counters per (hour, business number) as one JSON map of metric totals, so a
    // year of hours is 8,760 rows; the facts counted, each with what it added; activity points
    // for the distinct-customer figures.
    Migration::Sql(
        "CREATE TABLE counters (
            slot INTEGER NOT NULL,
            phone TEXT NOT NULL,
            metrics TEXT NOT NULL,
            PRIMARY KEY (slot, phone)
        ) WITHOUT ROWID;
        CREATE TABLE counted (
            key TEXT PRIMARY KEY,
            rank INTEGER NOT NULL,
            phone TEXT NOT NULL,
            slot INTEGER NOT NULL,
            metrics TEXT NOT NULL
        );
        CREATE TABLE activity (
            slot INTEGER NOT NULL,
            customer TEXT NOT NULL,
            phone TEXT NOT NULL,
            kinds INTEGER NOT NULL,
            PRIMARY KEY (slot, customer, phone)
        ) WITHOUT ROWID;",
    ),
    // 12: our messages by customer and time, so analytics finds our previous and next message
    // to a customer without reading every customer message between.
    Migration::Sql("CREATE INDEX messages_ours ON messages(customer, seq) WHERE state IS NOT NULL;"),
    // 13: analytics in binary, so a report over a year of a busy number reads 8,760 small hour rows
    // and packed activity instead of a million: metric names and customers become numbers, an
    // hour's metrics one blob of (name, total) pairs, its activity appended points.
    Migration::Rust(counters::pack_counters),
    // 14: contacts the business keeps (name, tags, attributes, opt-out), which may exist before
    // the customer's first message.
    Migration::Rust(contacts::contacts_kept_by_the_business),
    // 15: scheduled work (reminders), found by when its next piece is due.
    Migration::Sql(schedules::SCHEMA),
    // 16: campaign audiences, one row per recipient, resolved when the campaign starts.
    Migration::Sql(recipients::SCHEMA),
    // 17: keyword rules, their version and cooldowns; what automation did with each message;
    // conversations' escalation labels.
    Migration::Sql(automation::SCHEMA),
    // 18: flow definitions, sessions (one per customer and business number, written over the
    // version read) and the audit records of completed flows.
    Migration::Sql(automation::FLOWS_SCHEMA),
];

/// A conversation row with the window of its latest business number.
const CONVERSATION_SELECT: &str = "SELECT c.*, w.last_inbound_at AS win_inbound, w.closed_at AS win_closed
     FROM conversations c
     LEFT JOIN windows w ON w.phone_number_id = c.phone_number_id AND w.customer = c.customer";

/// The SQLite store: one connection that the group-commit writer owns, and one for reads, so a
/// read (a query, the timeline analytics walks while processing) never waits behind a commit's
/// fsync. WAL lets the reader see every committed write and nothing uncommitted.
#[derive(Clone)]
pub struct SqliteStore {
    reader: Arc<Mutex<Connection>>,
    writer: GroupCommit,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, PortError> {
    serde_json::to_string(v).map_err(|e| PortError::invalid("encode", e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, PortError> {
    serde_json::from_str(s).map_err(|e| PortError::invalid("decode stored row", e.to_string()))
}

impl SqliteStore {
    /// Opens (creating) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, PortError> {
        let mut conn = open(path)?;
        migrate(&mut conn, MIGRATIONS)?;
        Ok(Self {
            writer: GroupCommit::start(Arc::new(Mutex::new(conn)), "store")?,
            reader: Arc::new(Mutex::new(open(path)?)),
            clock: Arc::new(SystemClock),
        })
    }

    /// Reads time (idempotency expiry) from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Runs a read on the reader connection.
    async fn with<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut Connection) -> Result<T, PortError> + Send + 'static,
    ) -> Result<T, PortError> {
        let conn = self.reader.clone();
        blocking(op, move || {
            let mut guard = conn
                .lock()
                .map_err(|_| PortError::invalid(op, "connection lock poisoned"))?;
            f(&mut guard)
        })
        .await
    }

    async fn write<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, PortError> + Send + 'static,
    ) -> Result<T, PortError> {
        self.writer.write(op, f).await
    }
}

fn insert_message(tx: &Transaction<'_>, m: &StoredMessage) -> Result<Recorded, PortError> {
    let state = match m.direction {
        Direction::Inbound => None,
        Direction::Outbound if m.wamid.is_some() => Some(SendState::Accepted.as_str()),
        Direction::Outbound => Some(SendState::Queued.as_str()),
    };
    let n = exec(
        tx,
        "INSERT OR IGNORE INTO messages (id, wamid, customer, seq, doc, state, pending_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            m.id.to_string(),
            m.wamid.as_ref().map(Wamid::as_str),
            m.customer.as_str(),
            m.seq(),
            json(m)?,
            state,
            state.map(|_| m.timestamp_ms)
        ],
    )
    .map_err(sql_err("insert message"))?;
    Ok(if n == 1 { Recorded::New } else { Recorded::Duplicate })
}

/// Creates the conversation row if needed and moves its "last message" forward when `m` is newer.
fn advance_conversation(tx: &Transaction<'_>, m: &StoredMessage, new_inbound: bool) -> Result<(), PortError> {
    let op = sql_err("update conversation");
    let c = m.customer.as_str();
    exec(
        tx,
        "INSERT INTO conversations (customer, wa_id, user_id, phone_number_id) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(customer) DO UPDATE SET wa_id = COALESCE(wa_id, excluded.wa_id),
                                             user_id = COALESCE(user_id, excluded.user_id)",
        params![c, m.wa_id, m.user_id, m.phone_number_id],
    )
    .map_err(&op)?;
    if new_inbound {
        exec(
            tx,
            "UPDATE conversations SET unread = unread + 1
             WHERE customer = ?1 AND (read_seq IS NULL OR read_seq < ?2)",
            params![c, m.seq()],
        )
        .map_err(&op)?;
    }
    let last = LastMessage {
        id: m.id.to_string(),
        msg_type: m.msg_type.clone(),
        text: m.text.clone(),
        direction: m.direction,
    };
    exec(
        tx,
        "UPDATE conversations SET last_message = ?2, last_seq = ?3, last_message_at = ?4, activity = ?5,
                phone_number_id = ?6, name = COALESCE(?7, name)
         WHERE customer = ?1 AND (last_seq IS NULL OR last_seq < ?3)",
        params![
            c,
            json(&last)?,
            m.seq(),
            m.timestamp_ms,
            seq_key(m.timestamp_ms, c),
            m.phone_number_id,
            m.profile_name
        ],
    )
    .map_err(&op)?;
    if m.direction == Direction::Inbound && m.opens_window {
        exec(
            tx,
            "INSERT INTO windows (phone_number_id, customer, last_inbound_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(phone_number_id, customer) DO UPDATE SET
                last_inbound_at = MAX(COALESCE(last_inbound_at, 0), excluded.last_inbound_at)",
            params![m.phone_number_id, c, m.timestamp_ms],
        )
        .map_err(&op)?;
    }
    Ok(())
}

/// The newest message filed under `customer`, if any.
fn newest_of(tx: &Transaction<'_>, customer: &CustomerKey) -> Result<Option<StoredMessage>, PortError> {
    tx.query_row(
        &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE customer = ?1 ORDER BY seq DESC LIMIT 1"),
        [customer.as_str()],
        message_row,
    )
    .optional()
    .map_err(sql_err("read newest message"))?
    .as_ref()
    .map(stored)
    .transpose()
}

/// Makes a conversation show `m` as its last message, even when what it showed was newer (that
/// message has left it).
fn reset_conversation(tx: &Transaction<'_>, customer: &CustomerKey, m: &StoredMessage) -> Result<(), PortError> {
    let c = customer.as_str();
    exec(tx, "UPDATE conversations SET last_seq = NULL WHERE customer = ?1", [c])
        .map_err(sql_err("update conversation"))?;
    advance_conversation(tx, m, false)
}

fn upsert_contact(tx: &Transaction<'_>, m: &StoredMessage) -> Result<(), PortError> {
    exec(
        tx,
        // A contact the API created has no first or last seen yet: the first message sets both.
        "INSERT INTO contacts (customer, wa_id, user_id, name, phone_number_id, first_seen_at, last_seen_at, profile_fold)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)
         ON CONFLICT(customer) DO UPDATE SET
            wa_id = COALESCE(contacts.wa_id, excluded.wa_id),
            user_id = COALESCE(contacts.user_id, excluded.user_id),
            name = CASE WHEN contacts.last_seen_at IS NULL OR excluded.last_seen_at >= contacts.last_seen_at
                        THEN COALESCE(excluded.name, contacts.name) ELSE COALESCE(contacts.name, excluded.name) END,
            profile_fold = CASE WHEN contacts.last_seen_at IS NULL OR excluded.last_seen_at >= contacts.last_seen_at
                        THEN COALESCE(excluded.profile_fold, contacts.profile_fold)
                        ELSE COALESCE(contacts.profile_fold, excluded.profile_fold) END,
            phone_number_id = CASE WHEN contacts.last_seen_at IS NULL OR excluded.last_seen_at >= contacts.last_seen_at
                        THEN excluded.phone_number_id ELSE contacts.phone_number_id END,
            first_seen_at = COALESCE(MIN(contacts.first_seen_at, excluded.first_seen_at), excluded.first_seen_at),
            last_seen_at = COALESCE(MAX(contacts.last_seen_at, excluded.last_seen_at), excluded.last_seen_at)",
        params![
            m.customer.as_str(),
            m.wa_id,
            m.user_id,
            m.profile_name,
            m.phone_number_id,
            m.timestamp_ms,
            m.profile_name.as_deref().map(crate::domain::fold_name)
        ],
    )
    .map_err(sql_err("upsert contact"))
    .map(drop)
}

fn status_of(conn: &Connection, wamid: &str) -> Result<Option<StatusRecord>, PortError> {
    conn.query_row("SELECT doc FROM statuses WHERE wamid = ?1", [wamid], |r| {
        r.get::<_, String>(0)
    })
    .optional()
    .map_err(sql_err("read status"))?
    .map(|d| parse(&d))
    .transpose()
}

/// The columns every message read selects: the document plus the sender's progress.
const MESSAGE_COLUMNS: &str = "doc, state, attempts, last_attempt, wamid, error, requeues, automation";

/// A message row as read: the document, for outbound messages the send progress, and what
/// automation did with it.
type MessageRow = (String, Option<SendProgress>, Option<String>);

/// Reads [`MESSAGE_COLUMNS`] by name, so queries may select more columns around them.
fn message_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
    let state: Option<String> = r.get("state")?;
    let progress = state.as_deref().and_then(SendState::parse).map(|state| {
        let wamid: Option<String> = r.get("wamid").ok().flatten();
        let error: Option<String> = r.get("error").ok().flatten();
        SendProgress {
            state,
            attempts: r.get("attempts").unwrap_or(0),
            last_attempt_ms: r.get("last_attempt").ok().flatten(),
            wamid: wamid.and_then(|w| Wamid::parse(&w).ok()),
            error: error.and_then(|e| serde_json::from_str(&e).ok()),
            requeues: r.get("requeues").unwrap_or(0),
        }
    });
    Ok((r.get("doc")?, progress, r.get("automation").ok().flatten()))
}

pub(super) fn stored(row: &MessageRow) -> Result<StoredMessage, PortError> {
    let mut m: StoredMessage = parse(&row.0)?;
    if let Some(p) = &row.1 {
        p.overlay(&mut m);
    }
    if let Some(a) = &row.2 {
        m.show_automation(a);
    }
    Ok(m)
}

fn view(conn: &Connection, row: Option<MessageRow>, wamid: Option<&Wamid>) -> Result<Option<MessageView>, PortError> {
    let msg: Option<StoredMessage> = row.as_ref().map(stored).transpose()?;
    let wamid = msg.as_ref().and_then(|m| m.wamid.clone()).or_else(|| wamid.cloned());
    let status = match (&msg, &wamid) {
        (Some(m), _) if m.direction == Direction::Inbound => None,
        (_, Some(w)) => status_of(conn, w.as_str())?,
        _ => None,
    };
    Ok(MessageView::join(msg, status, wamid.as_ref()))
}

fn by_id(conn: &Connection, id: MessageId) -> Result<Option<MessageRow>, PortError> {
    conn.query_row(
        &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"),
        [id.to_string()],
        message_row,
    )
    .optional()
    .map_err(sql_err("read message"))
}

fn conversation_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Conversation, String)> {
    let last: Option<String> = r.get("last_message")?;
    Ok((
        Conversation {
            wa_id: r.get("wa_id")?,
            user_id: r.get("user_id")?,
            phone_number_id: r.get("phone_number_id")?,
            name: r.get("name")?,
            last_message: last.and_then(|l| serde_json::from_str(&l).ok()),
            last_message_at: r.get("last_message_at")?,
            unread: 0,
            unread_more: false,
            window_expires_at: None,
            window_open: false,
            last_inbound_ms: r.get("win_inbound")?,
            window_closed_ms: r.get("win_closed")?,
            labels: r
                .get::<_, Option<String>>("labels")?
                .and_then(|l| serde_json::from_str(&l).ok())
                .unwrap_or_default(),
            escalated_at: r.get("escalated_at")?,
        },
        r.get::<_, Option<String>>("activity")?.unwrap_or_default(),
    ))
    .and_then(|(c, k)| Ok((c.with_unread(r.get("unread")?), k)))
}
