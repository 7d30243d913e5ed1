//! Scheduled work: appointment reminders (and, as they land, campaigns and sequences), run by
//! one scheduler that ticks every minute on AWS (EventBridge Scheduler) and every second locally.
//!
//! A schedule is one document changed only by revision-checked writes. A tick takes the
//! schedules with work due, **claims** each due send in the document (a save that fails if
//! anything else wrote first: a second scheduler, an overlapping tick, a cancel), queues it
//! through [`Enqueuer::enqueue_as`] under an id derived from the schedule and the send, and
//! records the outcome. A crash after the claim leaves the send claimed; once the claim's lease
//! runs out the next tick takes it over and queues it again under the same id, which the outbox
//! refuses to store twice. So each send goes out exactly once, whatever the overlaps and crashes.

pub mod reminder;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use ulid::Ulid;

use self::reminder::{Reminder, SendStatus};
use crate::domain::{MessageId, Recorded};
use crate::outbound::enqueue::{Enqueuer, SendError};
use crate::outbound::request::FieldError;
use crate::ports::{Clock, PortError, Schedule, Schedules};
use crate::read::{Page, PageRequest};

/// The kind of a reminder's schedule.
pub const REMINDER: &str = "reminder";
/// Times a change re-reads a schedule after losing a race before giving up for this tick.
const MAX_RACES: u32 = 10;

/// How the scheduler works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickConfig {
    /// Schedules one tick takes at most; the next tick continues with the rest.
    pub batch: u32,
    /// How long a claim holds before another tick may take the send over.
    pub lease: Duration,
    /// How often the local stack ticks (on AWS, the EventBridge rate).
    pub every: Duration,
}

impl Default for TickConfig {
    fn default() -> Self {
        Self {
            batch: 200,
            lease: Duration::from_secs(120),
            every: Duration::from_secs(1),
        }
    }
}

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Schedules with work due.
    pub due: u32,
    /// Sends queued.
    pub queued: u32,
    /// Sends refused for good.
    pub failed: u32,
    /// Sends left claimed for a later tick (the queue or store was down).
    pub retry: u32,
}

/// Why a reminder request failed.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The request's fields are wrong.
    #[error("the reminder is not valid")]
    Invalid(Vec<FieldError>),
    /// No such reminder.
    #[error("reminder not found")]
    NotFound,
    /// Too many concurrent changes to one schedule.
    #[error("the reminder is being changed by others; retry")]
    Busy,
    /// The store failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// The id of the message a schedule's send goes out as: the same for every tick that handles it.
pub fn send_id(schedule: &str, send: &str) -> MessageId {
    MessageId::scheduled(&format!("{schedule}:{send}"))
}

/// The id of a reminder created with `external_id`: the same every time, so creating it twice
/// finds the first.
fn id_for_external(external_id: &str) -> String {
    let id = MessageId::scheduled(&format!("reminder-external:{external_id}"));
    format!("rem_{id}")
}

fn reminder_of(s: &Schedule) -> Result<Reminder, PortError> {
    serde_json::from_value(s.doc.clone()).map_err(|e| PortError::invalid("read reminder", e.to_string()))
}

/// The reminders API and the scheduler's tick over the schedules store.
#[derive(Clone)]
pub struct Scheduler {
    store: Arc<dyn Schedules>,
    enqueuer: Option<Enqueuer>,
    clock: Arc<dyn Clock>,
    config: TickConfig,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// Reminders over `store`; with an [`Enqueuer`] it also ticks.
    pub fn new(
        store: Arc<dyn Schedules>,
        enqueuer: Option<Enqueuer>,
        clock: Arc<dyn Clock>,
        config: TickConfig,
    ) -> Self {
        Self {
            store,
            enqueuer,
            clock,
            config,
        }
    }

    /// How often the local stack ticks.
    pub fn every(&self) -> Duration {
        self.config.every
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.config.lease.as_millis()).unwrap_or(i64::MAX)
    }

    fn stored(&self, id: String, r: &Reminder, created_at_ms: i64, rev: i64) -> Result<Schedule, PortError> {
        Ok(Schedule {
            id,
            kind: REMINDER.into(),
            rev,
            status: r.status().into(),
            next_due_ms: r.next_due(self.lease_ms()),
            created_at_ms,
            doc: serde_json::to_value(r).map_err(|e| PortError::invalid("encode reminder", e.to_string()))?,
        })
    }

    /// `POST /v1/reminders`: the reminder's view and whether it was created (false: the same
    /// `external_id` was created before, and that one is returned).
    pub async fn create_reminder(&self, body: &Value) -> Result<(Value, bool), ScheduleError> {
        let now = self.clock.now_ms();
        let r = reminder::parse(body, now).map_err(ScheduleError::Invalid)?;
        let id = match &r.external_id {
            Some(e) => id_for_external(e),
            None => format!("rem_{}", Ulid::new()),
        };
        let s = self.stored(id.clone(), &r, now, 1)?;
        match self.store.insert_schedule(&s).await? {
            Recorded::New => Ok((r.view(&id, now), true)),
            Recorded::Duplicate => Ok((self.reminder(&id).await?.ok_or(ScheduleError::NotFound)?, false)),
        }
    }

    /// One reminder's view.
    pub async fn reminder(&self, id: &str) -> Result<Option<Value>, PortError> {
        let Some(s) = self.store.schedule(id).await?.filter(|s| s.kind == REMINDER) else {
            return Ok(None);
        };
        Ok(Some(reminder_of(&s)?.view(&s.id, s.created_at_ms)))
    }

    /// The reminder created with `external_id`, if any.
    pub async fn reminder_by_external_id(&self, external_id: &str) -> Result<Option<Value>, PortError> {
        self.reminder(&id_for_external(external_id)).await
    }

    /// Reminders, oldest first, of one status if given.
    pub async fn reminders(&self, status: Option<&str>, page: &PageRequest) -> Result<Page<Value>, PortError> {
        let p = self.store.list_schedules(REMINDER, status, page).await?;
        let data = p
            .data
            .iter()
            .map(|s| Ok(reminder_of(s)?.view(&s.id, s.created_at_ms)))
            .collect::<Result<_, PortError>>()?;
        Ok(Page {
            data,
            next_cursor: p.next_cursor,
        })
    }

    /// Changes a reminder by `f`, retrying on a race; its view after.
    async fn change(
        &self,
        id: &str,
        f: impl Fn(&mut Reminder, i64) -> Result<(), Vec<FieldError>>,
    ) -> Result<Value, ScheduleError> {
        for _ in 0..MAX_RACES {
            let s = self
                .store
                .schedule(id)
                .await?
                .filter(|s| s.kind == REMINDER)
                .ok_or(ScheduleError::NotFound)?;
            let mut r = reminder_of(&s)?;
            f(&mut r, self.clock.now_ms()).map_err(ScheduleError::Invalid)?;
            let next = self.stored(s.id.clone(), &r, s.created_at_ms, s.rev)?;
            if self.store.save_schedule(&next).await? {
                return Ok(r.view(&s.id, s.created_at_ms));
            }
        }
        Err(ScheduleError::Busy)
    }

    /// `DELETE /v1/reminders/{id}`: every send still scheduled is cancelled. A send a scheduler
    /// has claimed is already on its way and goes.
    pub async fn cancel_reminder(&self, id: &str) -> Result<Value, ScheduleError> {
        self.change(id, |r, now| {
            for s in r.sends.iter_mut().filter(|s| s.status == SendStatus::Scheduled) {
                s.status = SendStatus::Cancelled;
            }
            r.cancelled_at_ms.get_or_insert(now);
            Ok(())
        })
        .await
    }

    /// `PATCH /v1/reminders/{id}` with `{"at"}`: the sends still scheduled move with the
    /// appointment (those whose new time has passed are skipped).
    pub async fn reschedule_reminder(&self, id: &str, body: &Value) -> Result<Value, ScheduleError> {
        let at = body
            .get("at")
            .and_then(Value::as_str)
            .and_then(|a| chrono::DateTime::parse_from_rfc3339(a).ok())
            .map(|t| t.timestamp_millis())
            .ok_or_else(|| {
                ScheduleError::Invalid(vec![FieldError {
                    field: "at".into(),
                    code: "invalid_time",
                    reason: "give the new appointment time as RFC 3339 with its offset".into(),
                }])
            })?;
        self.change(id, |r, now| {
            if r.cancelled_at_ms.is_some() {
                return Err(vec![FieldError {
                    field: "at".into(),
                    code: "cancelled",
                    reason: "a cancelled reminder cannot be moved".into(),
                }]);
            }
            r.schedule_at(at, now);
            Ok(())
        })
        .await
    }

    /// One tick: takes the schedules with work due (at most [`TickConfig::batch`]) and sends
    /// what is due in each. Fails only if the due schedules cannot be read.
    pub async fn tick(&self) -> Result<TickReport, PortError> {
        let mut report = TickReport::default();
        let Some(enqueuer) = &self.enqueuer else {
            return Ok(report);
        };
        let now = self.clock.now_ms();
        let due = self.store.due_schedules(now, self.config.batch).await?;
        report.due = u32::try_from(due.len()).unwrap_or(u32::MAX);
        for id in due {
            if let Err(e) = self.run(&id, enqueuer, &mut report).await {
                tracing::warn!(schedule = %id, error = %e, "schedule left for the next tick");
                report.retry += 1;
            }
        }
        if report.queued + report.failed + report.retry > 0 {
            tracing::info!(
                due = report.due,
                queued = report.queued,
                failed = report.failed,
                retry = report.retry,
                "scheduler tick"
            );
        }
        Ok(report)
    }

    /// Claims the due sends of one schedule, queues them, and records how each went.
    async fn run(&self, id: &str, enqueuer: &Enqueuer, report: &mut TickReport) -> Result<(), PortError> {
        let lease = self.lease_ms();
        // Claim: mark every due send (and every claim past its lease) as ours, in one save.
        let mut claimed = Vec::new();
        for _ in 0..MAX_RACES {
            let Some(s) = self.store.schedule(id).await? else {
                return Ok(());
            };
            let now = self.clock.now_ms();
            let mut r = reminder_of(&s)?;
            claimed.clear();
            for send in &mut r.sends {
                let takeover = send.status == SendStatus::Claimed && send.claimed_at_ms.unwrap_or(0) + lease <= now;
                if send.status == SendStatus::Scheduled && send.due_at_ms <= now || takeover {
                    send.status = SendStatus::Claimed;
                    send.claimed_at_ms = Some(now);
                    claimed.push(send.offset_s);
                }
            }
            let next = self.stored(s.id.clone(), &r, s.created_at_ms, s.rev)?;
            if claimed.is_empty() {
                // Nothing due after all (an old index entry): put the index right.
                if next.next_due_ms != s.next_due_ms {
                    self.store.save_schedule(&next).await?;
                }
                return Ok(());
            }
            if self.store.save_schedule(&next).await? {
                break;
            }
            claimed.clear();
        }
        // Queue each claimed send under its derived id.
        let mut outcomes = Vec::new();
        let s = self
            .store
            .schedule(id)
            .await?
            .ok_or_else(|| PortError::invalid("tick", "schedule vanished"))?;
        let r = reminder_of(&s)?;
        for offset in &claimed {
            let msg_id = send_id(id, &offset.to_string());
            let outcome = match r.command() {
                Err(errors) => Err(crate::contacts::import::reason(&errors)),
                Ok(cmd) => match enqueuer.enqueue_as(msg_id, &cmd).await {
                    Ok(m) => Ok(m),
                    Err(SendError::QueueUnavailable(_) | SendError::Port(_)) => {
                        report.retry += 1;
                        continue;
                    }
                    Err(e) => Err(refusal(e)),
                },
            };
            outcomes.push((*offset, outcome));
        }
        // Record the outcomes on the sends still claimed.
        for _ in 0..MAX_RACES {
            let Some(s) = self.store.schedule(id).await? else {
                return Ok(());
            };
            let mut r = reminder_of(&s)?;
            let (mut queued, mut failed) = (0, 0);
            for (offset, outcome) in &outcomes {
                // Sends are known by their offset: a reschedule may reorder them meanwhile.
                let Some(send) = r
                    .sends
                    .iter_mut()
                    .find(|s| s.offset_s == *offset && s.status == SendStatus::Claimed)
                else {
                    continue;
                };
                match outcome {
                    Ok(m) => {
                        send.status = SendStatus::Queued;
                        send.message_id = Some(m.to_string());
                        queued += 1;
                    }
                    Err(reason) => {
                        send.status = SendStatus::Failed;
                        send.reason = Some(reason.clone());
                        failed += 1;
                    }
                }
            }
            let next = self.stored(s.id.clone(), &r, s.created_at_ms, s.rev)?;
            if self.store.save_schedule(&next).await? {
                report.queued += queued;
                report.failed += failed;
                return Ok(());
            }
        }
        Err(PortError::unavailable(
            "tick",
            "a schedule kept changing under the tick",
        ))
    }
}

/// Why a send was refused for good, as a send's `reason`.
fn refusal(e: SendError) -> String {
    match e {
        SendError::Invalid { message, details, .. } if !details.is_empty() => {
            format!("{message}: {}", crate::contacts::import::reason(&details))
        }
        other => other.to_string(),
    }
}
