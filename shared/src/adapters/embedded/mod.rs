//! The embedded backend: everything in one data folder, durable across restarts.

mod blobs;
mod group;
mod limiter;
mod queue;
mod sqlite;

pub use blobs::FolderBlobs;
pub use limiter::MemoryRateLimiter;
pub use queue::SqliteQueue;
pub use sqlite::SqliteStore;

use crate::ports::PortError;

/// rusqlite errors: a busy or locked database may pass; anything else will not.
pub(crate) fn sql_err(op: &'static str) -> impl Fn(rusqlite::Error) -> PortError {
    move |e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => PortError::unavailable(op, e),
        _ => PortError::invalid(op, e.to_string()),
    }
}

/// Opens a SQLite file with the settings every embedded adapter uses: WAL so readers do not block the
/// writer, a busy timeout instead of immediate lock errors, and an fsync per commit, so a webhook
/// acknowledged to Meta survives a power cut as well as a crash. Writes are grouped into commits
/// ([`group`]), so the fsyncs are shared rather than skipped.
pub(crate) fn open(path: &std::path::Path) -> Result<rusqlite::Connection, PortError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| PortError::unavailable("create data dir", e))?;
    }
    let conn = rusqlite::Connection::open(path).map_err(sql_err("open sqlite"))?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;")
        .map_err(sql_err("configure sqlite"))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Runs one statement through the connection's statement cache: the hot writes are the same few
/// statements over and over, and preparing each anew costs more than running it.
pub(crate) fn exec<P: rusqlite::Params>(conn: &rusqlite::Connection, sql: &str, params: P) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// Write transactions take the write lock up front: a deferred transaction that upgrades from read
/// to write can fail with SQLITE_BUSY at once (the busy timeout cannot help it), while an immediate
/// one waits its turn. Several connections share a file (the inbound and outbound queues do).
pub(crate) const IMMEDIATE: rusqlite::TransactionBehavior = rusqlite::TransactionBehavior::Immediate;

/// Runs blocking SQLite work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    op: &'static str,
    f: impl FnOnce() -> Result<T, PortError> + Send + 'static,
) -> Result<T, PortError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PortError::unavailable(op, e))?
}

/// One numbered schema change of an embedded database. Migrations run in order, each in its own
/// transaction together with the `PRAGMA user_version` that records it, so a data dir made by any
/// earlier release opens and upgrades in place, and a crash mid-upgrade leaves a version to resume
/// from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Migration {
    /// Statements to run.
    Sql(&'static str),
    /// Columns as (table, column, type), each added only if missing: releases before numbered
    /// migrations added them this way, so a file from one of those may already have some.
    AddColumns(&'static [(&'static str, &'static str, &'static str)]),
    /// A change SQL alone cannot make (re-encoding stored data), run in the migration's transaction.
    Rust(fn(&rusqlite::Transaction<'_>) -> Result<(), PortError>),
}

/// Brings `conn` up to `migrations.len()`; a file newer than this code is refused.
pub(crate) fn migrate(conn: &mut rusqlite::Connection, migrations: &[Migration]) -> Result<(), PortError> {
    let op = sql_err("migrate");
    let target = u32::try_from(migrations.len()).map_err(|_| PortError::invalid("migrate", "too many"))?;
    loop {
        let tx = conn.transaction_with_behavior(IMMEDIATE).map_err(&op)?;
        let version: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(&op)?;
        if version > target {
            return Err(PortError::invalid(
                "migrate",
                format!("data was written by a newer wabridge (schema {version}, this one knows {target})"),
            ));
        }
        let Some(step) = migrations.get(version as usize) else {
            return Ok(());
        };
        match step {
            Migration::Sql(sql) => tx.execute_batch(sql).map_err(&op)?,
            Migration::Rust(change) => change(&tx)?,
            Migration::AddColumns(columns) => {
                for (table, column, kind) in *columns {
                    let present: bool = tx
                        .prepare(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"))
                        .and_then(|mut s| s.exists([column]))
                        .map_err(&op)?;
                    if !present {
                        tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))
                            .map_err(&op)?;
                    }
                }
            }
        }
        tx.execute_batch(&format!("PRAGMA user_version = {}", version + 1))
            .map_err(&op)?;
        tx.commit().map_err(&op)?;
    }
}
