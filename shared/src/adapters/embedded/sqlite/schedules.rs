//! Schedules on SqliteStore: one row per schedule, its document as JSON, indexed by when its
//! next work is due. A save is an `UPDATE … WHERE rev = ?`, so the revision check is the same
//! as DynamoDB's conditional write.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, json, parse, sql_err};
use crate::domain::Recorded;
use crate::ports::{PortError, Schedule, Schedules};
use crate::read::{Page, PageRequest};

/// The schedules table (migration 15).
pub(super) const SCHEMA: &str = "CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    rev INTEGER NOT NULL,
    status TEXT NOT NULL,
    next_due INTEGER,
    created_at INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX schedules_due ON schedules(next_due) WHERE next_due IS NOT NULL;
CREATE INDEX schedules_by_kind ON schedules(kind, id);";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Schedule, String)> {
    let doc: String = r.get("doc")?;
    Ok((
        Schedule {
            id: r.get("id")?,
            kind: r.get("kind")?,
            rev: r.get("rev")?,
            status: r.get("status")?,
            next_due_ms: r.get("next_due")?,
            created_at_ms: r.get("created_at")?,
            doc: serde_json::from_str(&doc).unwrap_or_default(),
        },
        r.get("id")?,
    ))
}

#[async_trait]
impl Schedules for SqliteStore {
    async fn insert_schedule(&self, s: &Schedule) -> Result<Recorded, PortError> {
        let s = s.clone();
        self.write("insert schedule", move |tx| {
            let n = tx
                .execute(
                    "INSERT INTO schedules (id, kind, rev, status, next_due, created_at, doc)
                     VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6) ON CONFLICT(id) DO NOTHING",
                    params![s.id, s.kind, s.status, s.next_due_ms, s.created_at_ms, json(&s.doc)?],
                )
                .map_err(sql_err("insert schedule"))?;
            Ok(if n == 1 { Recorded::New } else { Recorded::Duplicate })
        })
        .await
    }

    async fn schedule(&self, id: &str) -> Result<Option<Schedule>, PortError> {
        let id = id.to_owned();
        self.with("read schedule", move |conn| {
            let found = conn
                .query_row("SELECT * FROM schedules WHERE id = ?1", [&id], |r| {
                    Ok((row(r)?.0, r.get::<_, String>("doc")?))
                })
                .optional()
                .map_err(sql_err("read schedule"))?;
            // A document that does not parse is an error, not an empty schedule.
            found
                .map(|(mut s, doc)| {
                    s.doc = parse(&doc)?;
                    Ok(s)
                })
                .transpose()
        })
        .await
    }

    async fn list_schedules(
        &self,
        kind: &str,
        status: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Schedule>, PortError> {
        let (kind, status, p) = (kind.to_owned(), status.map(str::to_owned), page.clone());
        self.with("list schedules", move |conn| {
            let op = sql_err("list schedules");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT * FROM schedules WHERE kind = ?1 AND id > ?2 AND (?3 IS NULL OR status = ?3)
                     ORDER BY id LIMIT ?4",
                )
                .map_err(&op)?;
            let rows: Vec<(Schedule, String)> = stmt
                .query_map(
                    params![kind, p.after.clone().unwrap_or_default(), status, p.limit + 1],
                    row,
                )
                .map_err(&op)?
                .collect::<Result<_, _>>()
                .map_err(&op)?;
            Ok(Page::from_rows(rows, p.limit, "schedules"))
        })
        .await
    }

    async fn due_schedules(&self, now_ms: i64, limit: u32) -> Result<Vec<String>, PortError> {
        self.with("due schedules", move |conn| {
            let op = sql_err("due schedules");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id FROM schedules WHERE next_due IS NOT NULL AND next_due <= ?1 ORDER BY next_due LIMIT ?2",
                )
                .map_err(&op)?;
            stmt.query_map(params![now_ms, limit], |r| r.get(0))
                .map_err(&op)?
                .collect::<Result<_, _>>()
                .map_err(&op)
        })
        .await
    }

    async fn save_schedule(&self, s: &Schedule) -> Result<bool, PortError> {
        let s = s.clone();
        self.write("save schedule", move |tx| {
            let n = tx
                .execute(
                    "UPDATE schedules SET rev = rev + 1, status = ?3, next_due = ?4, doc = ?5
                     WHERE id = ?1 AND rev = ?2",
                    params![s.id, s.rev, s.status, s.next_due_ms, json(&s.doc)?],
                )
                .map_err(sql_err("save schedule"))?;
            Ok(n == 1)
        })
        .await
    }
}
