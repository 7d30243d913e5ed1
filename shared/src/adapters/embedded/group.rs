//! Group commit: concurrent writes to one SQLite file share one transaction and one fsync, the way
//! databases commit a log. Each write runs inside its own savepoint, so one that fails rolls back
//! alone; every caller is answered only after the shared COMMIT is durable, so an acknowledged
//! webhook still survives a power cut. Under load, a commit carries as many writes as arrived while
//! the previous one was syncing; alone, a write commits at once.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction};

use super::{IMMEDIATE, exec, sql_err};
use crate::ports::PortError;

/// Most writes in one transaction, so a burst cannot hold the file for long.
const MAX_BATCH: usize = 256;

/// What a job hands back after running: the answer to send once the commit's outcome is known.
type Reply = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;
/// One write, run inside the shared transaction.
type Job = Box<dyn FnOnce(&Transaction<'_>) -> Reply + Send>;

/// A writer thread that commits queued writes in groups.
#[derive(Debug, Clone)]
pub(crate) struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the writer for `conn`; it stops when the last handle is dropped.
    pub(crate) fn start(conn: Arc<Mutex<Connection>>, name: &str) -> Result<Self, PortError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(format!("wabridge-commit-{name}"))
            .spawn(move || writer(&conn, &rx))
            .map_err(|e| PortError::unavailable("start writer", e))?;
        Ok(Self { jobs })
    }

    /// Runs `f` in the next group transaction and answers once that transaction has committed.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, PortError> + Send + 'static,
    ) -> Result<T, PortError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |tx| {
            let result = in_savepoint(tx, op, f);
            Box::new(move |commit_error| {
                let result = match commit_error {
                    None => result,
                    Some(e) => Err(sql_err(op)(clone_error(e))),
                };
                let _ = answer.send(result);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| PortError::unavailable(op, std::io::Error::other("writer stopped")))?;
        answered
            .await
            .map_err(|_| PortError::unavailable(op, std::io::Error::other("writer dropped the write")))?
    }
}

fn in_savepoint<T>(
    tx: &Transaction<'_>,
    op: &'static str,
    f: impl FnOnce(&Transaction<'_>) -> Result<T, PortError>,
) -> Result<T, PortError> {
    exec(tx, "SAVEPOINT w", []).map_err(sql_err(op))?;
    let result = f(tx);
    if result.is_err() {
        exec(tx, "ROLLBACK TO w", []).map_err(sql_err(op))?;
    }
    exec(tx, "RELEASE w", []).map_err(sql_err(op))?;
    result
}

/// rusqlite errors are not `Clone`; each caller of a failed commit gets its own copy.
fn clone_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => rusqlite::Error::SqliteFailure(*code, msg.clone()),
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

fn writer(conn: &Mutex<Connection>, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // A job dropped without running drops its answer channel: its caller gets a retryable
        // "writer dropped the write" error and nothing was written.
        let Ok(mut guard) = conn.lock() else {
            tracing::error!("writer: connection lock poisoned; stopping");
            return;
        };
        let tx = match guard.transaction_with_behavior(IMMEDIATE) {
            Ok(tx) => tx,
            Err(e) => {
                tracing::warn!(error = %e, writes = batch.len(), "writer: could not begin a transaction");
                continue;
            }
        };
        let replies: Vec<Reply> = batch.into_iter().map(|job| job(&tx)).collect();
        let committed = tx.commit();
        for reply in replies {
            reply(committed.as_ref().err());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_rolls_back_alone_and_the_others_in_its_commit_stay() {
        let dir = tempfile::tempdir().unwrap();
        let conn = super::super::open(&dir.path().join("group.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER NOT NULL)").unwrap();
        let conn = Arc::new(Mutex::new(conn));
        let writer = GroupCommit::start(conn.clone(), "test").unwrap();
        // Fifty concurrent writes share commits; every fifth inserts its row and then fails.
        let writes = (0..50i64).map(|n| {
            let writer = writer.clone();
            async move {
                writer
                    .write("insert", move |tx| {
                        exec(tx, "INSERT INTO t (n) VALUES (?1)", [n]).map_err(sql_err("insert"))?;
                        if n % 5 == 0 {
                            return Err(PortError::invalid("insert", "refused"));
                        }
                        Ok(n)
                    })
                    .await
            }
        });
        let results = futures::future::join_all(writes).await;
        for (n, r) in (0..50i64).zip(&results) {
            assert_eq!(r.is_ok(), n % 5 != 0, "write {n}: {r:?}");
        }
        let guard = conn.lock().unwrap();
        let mut stmt = guard.prepare("SELECT n FROM t ORDER BY n").unwrap();
        let stored: Vec<i64> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored, (0..50).filter(|n| n % 5 != 0).collect::<Vec<i64>>());
    }
}
