//! The schedules role of the store: scheduled work (a reminder's sends; later campaigns and
//! sequences) as one document per schedule, found by when its next piece is due.

use async_trait::async_trait;
use serde_json::Value;

use super::PortError;
use crate::domain::Recorded;
use crate::read::{Page, PageRequest};

/// One schedule as stored. Its `doc` belongs to its kind (`schedule::reminder`); the store only
/// reads the fields it indexes.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Its id (a ULID, or one derived from the caller's external id).
    pub id: String,
    /// `reminder`, …
    pub kind: String,
    /// Revision: 1 once inserted, one more per save. A save names the revision it read.
    pub rev: i64,
    /// Its status, as lists filter on it.
    pub status: String,
    /// The earliest time the scheduler has work in it; `None` when it has none left.
    pub next_due_ms: Option<i64>,
    /// When it was created.
    pub created_at_ms: i64,
    /// What the kind keeps.
    pub doc: Value,
}

/// Scheduled work, changed only by revision-checked writes, so a tick, a second scheduler and a
/// caller's cancel never overwrite one another.
#[async_trait]
pub trait Schedules: Send + Sync + 'static {
    /// Stores a new schedule at revision 1, once per id: [`Recorded::Duplicate`] when the id exists.
    async fn insert_schedule(&self, s: &Schedule) -> Result<Recorded, PortError>;

    /// One schedule.
    async fn schedule(&self, id: &str) -> Result<Option<Schedule>, PortError>;

    /// Schedules of a kind (and status, if given), oldest first.
    async fn list_schedules(
        &self,
        kind: &str,
        status: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Schedule>, PortError>;

    /// Up to `limit` ids of schedules with work due at or before `now_ms`, soonest first.
    async fn due_schedules(&self, now_ms: i64, limit: u32) -> Result<Vec<String>, PortError>;

    /// Writes `s` as revision `s.rev + 1` if the stored one is still `s.rev`; `false` when
    /// another write came first (read again and redo).
    async fn save_schedule(&self, s: &Schedule) -> Result<bool, PortError>;
}
