//! The embedded backend: everything in one data folder, durable across restarts.

mod blobs;
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
/// acknowledged to Meta survives a power cut as well as a crash.
pub(crate) fn open(path: &std::path::Path) -> Result<rusqlite::Connection, PortError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| PortError::unavailable("create data dir", e))?;
    }
    let conn = rusqlite::Connection::open(path).map_err(sql_err("open sqlite"))?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;")
        .map_err(sql_err("configure sqlite"))?;
    Ok(conn)
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
