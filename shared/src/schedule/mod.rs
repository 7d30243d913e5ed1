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

pub mod campaign;
mod campaign_run;
pub mod jobs;
pub mod placeholders;
pub mod reminder;
pub mod send;
pub mod sequence;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use ulid::Ulid;

pub use self::campaign_run::Action;
use self::campaign_run::CampaignPorts;
use self::reminder::Reminder;
use self::sequence::Sequence;
use crate::domain::CustomerKey;
use crate::domain::{MessageId, Recorded};
use crate::outbound::enqueue::{Enqueuer, SendError};
use crate::outbound::request::{FieldError, SendCommand, one_line};
use crate::ports::{Clock, ContactBook, Counters, PortError, ReadModel, Recipients, Schedule, Schedules};
use crate::read::{Page, PageRequest};
use crate::templates::catalog::{Catalog, SendCheck};

/// The kind of a reminder's schedule.
pub const REMINDER: &str = "reminder";
/// The kind of a follow-up sequence's schedule.
pub const SEQUENCE: &str = "sequence";
/// The reason of a free-form send skipped because the customer's window was closed.
pub const WINDOW_CLOSED: &str = "window_closed";
/// Times a change re-reads a schedule after losing a race before giving up for this tick.
const MAX_RACES: u32 = 10;

/// How the scheduler works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickConfig {
    /// Schedules one tick takes at most; the next tick continues with the rest.
    pub batch: u32,
    /// How long a claim holds before another tick may take the send over.
    pub lease: Duration,
    /// How often the local stack ticks (on AWS, the EventBridge rate): how far ahead a tick
    /// queues a campaign's share.
    pub every: Duration,
    /// Recipients of a campaign one claim covers at most; a tick claims chunk after chunk while
    /// the pace allows, so a minute's share of a fast campaign never outlives one claim's lease.
    pub campaign_chunk: u32,
}

impl Default for TickConfig {
    fn default() -> Self {
        Self {
            batch: 200,
            campaign_chunk: 2_000,
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
    /// Sends passed over (a free-form step outside the window).
    pub skipped: u32,
    /// Sends left claimed for a later tick (the queue or store was down).
    pub retry: u32,
}

/// Why a reminder request failed.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The request's fields are wrong.
    #[error("the schedule is not valid")]
    Invalid(Vec<FieldError>),
    /// No such reminder or sequence.
    #[error("not found")]
    NotFound,
    /// A template the templates copy refuses (unknown, not approved, wrong parameters).
    #[error(transparent)]
    Template(SendCheck),
    /// The change does not apply to the schedule as it stands (pausing a completed campaign).
    #[error("{0}")]
    Conflict(String),
    /// Too many concurrent changes to one schedule.
    #[error("the schedule is being changed by others; retry")]
    Busy,
    /// The store failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// The id of the message a schedule's send goes out as: the same for every tick that handles it.
pub fn send_id(schedule: &str, send: &str) -> MessageId {
    MessageId::scheduled(&format!("{schedule}:{send}"))
}

/// How a claimed send went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Queued as this message.
    Queued(MessageId),
    /// Not sent, and never will be: why.
    Failed(String),
    /// Passed over (a free-form step outside the customer's window): why.
    Skipped(String),
}

/// A kind of schedule the tick runs: a reminder, a sequence. Each keeps its sends in its own
/// document; the tick claims, queues and settles them the same way for every kind.
pub trait Plan: Serialize + serde::de::DeserializeOwned + Send {
    /// The schedule kind (`reminder`, `sequence`).
    const KIND: &'static str;

    /// Claims every send due at `now` (and every claim older than `lease_ms`), returning their
    /// keys.
    fn claim(&mut self, now: i64, lease_ms: i64) -> Vec<String>;

    /// The send `key` stands for.
    fn command(&self, key: &str) -> Result<SendCommand, String>;

    /// Records how the claimed send `key` went, at `now`; nothing if it is no longer claimed.
    fn settle(&mut self, key: &str, outcome: &Outcome, now: i64);

    /// The earliest time the tick has work here.
    fn next_due(&self, lease_ms: i64) -> Option<i64>;

    /// Its status, as lists filter on it.
    fn status(&self) -> &'static str;

    /// The customer whose message stops what is left (a sequence with `stop_on_reply`), and
    /// since when a message counts.
    fn stops_on_reply(&self) -> Option<(&str, Option<&str>, i64)> {
        None
    }

    /// Stops what is left: the customer wrote.
    fn stop(&mut self, _now: i64) {}

    /// Cancels every send not yet claimed (a claimed one is on its way and goes).
    fn cancel(&mut self, now: i64);

    /// How the API shows it.
    fn view(&self, id: &str, created_at_ms: i64) -> Value;
}

/// The id of a schedule of `kind` created with `external_id`: the same every time, so creating
/// it twice finds the first.
fn id_for_external(kind: &str, prefix: &str, external_id: &str) -> String {
    let id = MessageId::scheduled(&format!("{kind}-external:{external_id}"));
    format!("{prefix}_{id}")
}

fn plan_of<P: Plan>(s: &Schedule) -> Result<P, PortError> {
    serde_json::from_value(s.doc.clone()).map_err(|e| PortError::invalid("read schedule", e.to_string()))
}

/// The reminders API and the scheduler's tick over the schedules store.
#[derive(Clone)]
pub struct Scheduler {
    store: Arc<dyn Schedules>,
    enqueuer: Option<Enqueuer>,
    /// Reads whether a customer wrote (sequences that stop on a reply).
    read: Option<Arc<dyn ReadModel>>,
    /// The contacts whose attributes fill `{{attr.<name>}}` parameters.
    contacts: Option<Arc<dyn ContactBook>>,
    /// The templates copy a new schedule's templates are checked against.
    templates: Option<Catalog>,
    default_phone_number_id: Option<String>,
    /// Recipients and counts, for campaigns.
    campaigns: Option<CampaignPorts>,
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
    /// Reminders and sequences over `store`; with an [`Enqueuer`] it also ticks.
    pub fn new(
        store: Arc<dyn Schedules>,
        enqueuer: Option<Enqueuer>,
        clock: Arc<dyn Clock>,
        config: TickConfig,
    ) -> Self {
        Self {
            store,
            enqueuer,
            read: None,
            contacts: None,
            templates: None,
            default_phone_number_id: None,
            campaigns: None,
            clock,
            config,
        }
    }

    /// Reads customers' windows through `read` (from the default number when a schedule names
    /// none), so a sequence stops when its customer writes.
    pub fn reading(mut self, read: Arc<dyn ReadModel>, default_phone_number_id: Option<String>) -> Self {
        self.read = Some(read);
        self.default_phone_number_id = default_phone_number_id;
        self
    }

    /// Checks the templates of a new reminder or sequence against the templates copy, so an
    /// unknown or unapproved template is refused when it is scheduled, not days later.
    pub fn checking_templates(mut self, catalog: Catalog) -> Self {
        self.templates = Some(catalog);
        self
    }

    /// Refuses a template send the templates copy would refuse.
    async fn check_template(&self, cmd: &SendCommand) -> Result<(), ScheduleError> {
        match (&self.templates, cmd.msg_type.as_str()) {
            (Some(catalog), "template") => catalog.check_send(&cmd.content).await.map(drop).map_err(|e| match e {
                SendCheck::Port(p) => ScheduleError::Port(p),
                other => ScheduleError::Template(other),
            }),
            _ => Ok(()),
        }
    }

    /// Runs campaigns: audiences in `recipients`, counts from `counters`, never faster than
    /// `number_mps` (the number's limit), by default at `default_share` of it so conversation
    /// replies keep the rest.
    pub fn running_campaigns(
        mut self,
        recipients: Arc<dyn Recipients>,
        counters: Arc<dyn Counters>,
        number_mps: f64,
        default_share: f64,
    ) -> Self {
        self.campaigns = Some(CampaignPorts {
            recipients,
            counters,
            number_mps,
            default_share,
        });
        self
    }

    /// Fills `{{attr.<name>}}` in a send's template parameters from the contact's attributes.
    pub fn personalising(mut self, contacts: Arc<dyn ContactBook>) -> Self {
        self.contacts = Some(contacts);
        self
    }

    /// `cmd` with the contact's attributes written into its `{{attr.<name>}}` placeholders, or
    /// why it cannot be sent.
    async fn personalise(&self, mut cmd: SendCommand) -> Result<Result<SendCommand, String>, PortError> {
        if !cmd.content.to_string().contains("{{attr.") {
            return Ok(Ok(cmd));
        }
        let attributes = match (&self.contacts, CustomerKey::parse(cmd.recipient.key())) {
            (Some(book), Ok(key)) => book.contact(&key).await?.map(|c| c.attributes).unwrap_or_default(),
            _ => Default::default(),
        };
        Ok(placeholders::fill_attributes(&mut cmd.content, &attributes).map(|()| cmd))
    }

    /// How often the local stack ticks.
    pub fn every(&self) -> Duration {
        self.config.every
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.config.lease.as_millis()).unwrap_or(i64::MAX)
    }

    fn stored<P: Plan>(&self, id: String, p: &P, created_at_ms: i64, rev: i64) -> Result<Schedule, PortError> {
        Ok(Schedule {
            id,
            kind: P::KIND.into(),
            rev,
            status: p.status().into(),
            next_due_ms: p.next_due(self.lease_ms()),
            created_at_ms,
            doc: serde_json::to_value(p).map_err(|e| PortError::invalid("encode schedule", e.to_string()))?,
        })
    }

    /// Stores a new plan: its view and whether it was created (false: the same external id was
    /// created before, and that one is returned).
    async fn create<P: Plan>(
        &self,
        p: &P,
        external_id: Option<&str>,
        prefix: &str,
    ) -> Result<(Value, bool), ScheduleError> {
        let now = self.clock.now_ms();
        let id = match external_id {
            Some(e) => id_for_external(P::KIND, prefix, e),
            None => format!("{prefix}_{}", Ulid::new()),
        };
        let s = self.stored(id.clone(), p, now, 1)?;
        match self.store.insert_schedule(&s).await? {
            Recorded::New => Ok((p.view(&id, now), true)),
            Recorded::Duplicate => Ok((self.get::<P>(&id).await?.ok_or(ScheduleError::NotFound)?, false)),
        }
    }

    /// One plan's view.
    async fn get<P: Plan>(&self, id: &str) -> Result<Option<Value>, PortError> {
        let Some(s) = self.store.schedule(id).await?.filter(|s| s.kind == P::KIND) else {
            return Ok(None);
        };
        Ok(Some(plan_of::<P>(&s)?.view(&s.id, s.created_at_ms)))
    }

    /// `POST /v1/reminders`: the reminder's view and whether it was created (false: the same
    /// `external_id` was created before, and that one is returned).
    pub async fn create_reminder(&self, body: &Value) -> Result<(Value, bool), ScheduleError> {
        let r = reminder::parse(body, self.clock.now_ms()).map_err(ScheduleError::Invalid)?;
        if let Ok(cmd) = r.command() {
            self.check_template(&cmd).await?;
        }
        self.create(&r, r.external_id.as_deref(), "rem").await
    }

    /// `POST /v1/sequences`, as [`Self::create_reminder`].
    pub async fn create_sequence(&self, body: &Value) -> Result<(Value, bool), ScheduleError> {
        let q = sequence::parse(body, self.clock.now_ms()).map_err(ScheduleError::Invalid)?;
        for i in 0..q.steps.len() {
            if let Ok(cmd) = Plan::command(&q, &i.to_string()) {
                self.check_template(&cmd).await?;
            }
        }
        self.create(&q, q.external_id.as_deref(), "seq").await
    }

    /// One reminder's view.
    pub async fn reminder(&self, id: &str) -> Result<Option<Value>, PortError> {
        self.get::<Reminder>(id).await
    }

    /// One sequence's view.
    pub async fn sequence(&self, id: &str) -> Result<Option<Value>, PortError> {
        self.get::<Sequence>(id).await
    }

    /// The reminder created with `external_id`, if any.
    pub async fn reminder_by_external_id(&self, external_id: &str) -> Result<Option<Value>, PortError> {
        self.reminder(&id_for_external(REMINDER, "rem", external_id)).await
    }

    /// Reminders, oldest first, of one status if given.
    pub async fn reminders(&self, status: Option<&str>, page: &PageRequest) -> Result<Page<Value>, PortError> {
        let p = self.store.list_schedules(REMINDER, status, page).await?;
        let data = p
            .data
            .iter()
            .map(|s| Ok(plan_of::<Reminder>(s)?.view(&s.id, s.created_at_ms)))
            .collect::<Result<_, PortError>>()?;
        Ok(Page {
            data,
            next_cursor: p.next_cursor,
        })
    }

    /// Changes a plan by `f`, retrying on a race; its view after.
    async fn change<P: Plan>(
        &self,
        id: &str,
        f: impl Fn(&mut P, i64) -> Result<(), Vec<FieldError>>,
    ) -> Result<Value, ScheduleError> {
        for _ in 0..MAX_RACES {
            let s = self
                .store
                .schedule(id)
                .await?
                .filter(|s| s.kind == P::KIND)
                .ok_or(ScheduleError::NotFound)?;
            let mut p: P = plan_of(&s)?;
            f(&mut p, self.clock.now_ms()).map_err(ScheduleError::Invalid)?;
            if self.save(&s, &p).await?.is_some() {
                return Ok(p.view(&s.id, s.created_at_ms));
            }
        }
        Err(ScheduleError::Busy)
    }

    /// `DELETE /v1/sequences/{id}`: every step not yet claimed is cancelled.
    pub async fn cancel_sequence(&self, id: &str) -> Result<Value, ScheduleError> {
        self.cancel::<Sequence>(id).await
    }

    /// `DELETE /v1/reminders/{id}`: every send still scheduled is cancelled. A send a scheduler
    /// has claimed is already on its way and goes.
    pub async fn cancel_reminder(&self, id: &str) -> Result<Value, ScheduleError> {
        self.cancel::<Reminder>(id).await
    }

    async fn cancel<P: Plan>(&self, id: &str) -> Result<Value, ScheduleError> {
        self.change(id, |p: &mut P, now| {
            p.cancel(now);
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
        self.change(id, |r: &mut Reminder, now| {
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
        if report.queued + report.failed + report.skipped + report.retry > 0 {
            tracing::info!(
                due = report.due,
                queued = report.queued,
                failed = report.failed,
                skipped = report.skipped,
                retry = report.retry,
                "scheduler tick"
            );
        }
        Ok(report)
    }

    /// Runs the due sends of one schedule, whatever its kind.
    async fn run(&self, id: &str, enqueuer: &Enqueuer, report: &mut TickReport) -> Result<(), PortError> {
        let Some(s) = self.store.schedule(id).await? else {
            return Ok(());
        };
        match s.kind.as_str() {
            REMINDER => self.run_plan::<Reminder>(s, enqueuer, report).await,
            SEQUENCE => self.run_plan::<Sequence>(s, enqueuer, report).await,
            campaign::CAMPAIGN => self.run_campaign(s, enqueuer, report).await,
            other => Err(PortError::invalid("tick", format!("unknown schedule kind {other}"))),
        }
    }

    /// Saves `p` over `s` if `s` is still the stored revision; the schedule as now stored, or
    /// `None` when another write came first.
    async fn save<P: Plan>(&self, s: &Schedule, p: &P) -> Result<Option<Schedule>, PortError> {
        let next = self.stored(s.id.clone(), p, s.created_at_ms, s.rev)?;
        Ok(self.store.save_schedule(&next).await?.then(|| Schedule {
            rev: next.rev + 1,
            ..next
        }))
    }

    /// Claims the due sends of schedule `s` (as just read), queues them, and records how each
    /// went. Reads the schedule again only after losing a race.
    async fn run_plan<P: Plan>(
        &self,
        s: Schedule,
        enqueuer: &Enqueuer,
        report: &mut TickReport,
    ) -> Result<(), PortError> {
        let lease = self.lease_ms();
        let id = s.id.clone();
        // Claim: mark every due send (and every claim past its lease) as ours, in one save.
        let mut current = Some(s);
        let mut claimed = None;
        for _ in 0..MAX_RACES {
            let Some(s) = current.take() else {
                return Ok(());
            };
            let now = self.clock.now_ms();
            let mut p: P = plan_of(&s)?;
            if self.replied(&p).await? {
                p.stop(now);
            }
            let keys = p.claim(now, lease);
            if keys.is_empty() {
                // Nothing due after all (stopped, or an old index entry): put the index right.
                if p.next_due(lease) != s.next_due_ms || p.status() != s.status {
                    self.save(&s, &p).await?;
                }
                return Ok(());
            }
            match self.save(&s, &p).await? {
                Some(saved) => {
                    claimed = Some((saved, p, keys));
                    break;
                }
                None => current = self.store.schedule(&id).await?,
            }
        }
        let Some((saved, plan, keys)) = claimed else {
            return Err(PortError::unavailable(
                "tick",
                "a schedule kept changing under the claim",
            ));
        };
        // Queue each claimed send under its derived id.
        let mut outcomes = Vec::new();
        for key in &keys {
            let cmd = match plan.command(key) {
                Ok(cmd) => self.personalise(cmd).await?,
                Err(reason) => Err(reason),
            };
            let outcome = match cmd {
                Err(reason) => Outcome::Failed(reason),
                Ok(cmd) => match enqueuer.enqueue_as(send_id(&id, key), &cmd).await {
                    Ok(m) => Outcome::Queued(m),
                    Err(SendError::QueueUnavailable(_) | SendError::Port(_)) => {
                        report.retry += 1;
                        continue;
                    }
                    Err(SendError::WindowClosed { .. }) => Outcome::Skipped(WINDOW_CLOSED.into()),
                    Err(e) => Outcome::Failed(refusal(e)),
                },
            };
            outcomes.push((key.clone(), outcome));
        }
        // Record the outcomes on the sends still claimed, starting from the claim as saved.
        let mut current = Some(saved);
        for _ in 0..MAX_RACES {
            let Some(s) = current.take() else {
                return Ok(());
            };
            let now = self.clock.now_ms();
            let mut p: P = plan_of(&s)?;
            for (key, outcome) in &outcomes {
                p.settle(key, outcome, now);
            }
            if self.save(&s, &p).await?.is_some() {
                for (_, outcome) in &outcomes {
                    match outcome {
                        Outcome::Queued(_) => report.queued += 1,
                        Outcome::Failed(_) => report.failed += 1,
                        Outcome::Skipped(_) => report.skipped += 1,
                    }
                }
                return Ok(());
            }
            current = self.store.schedule(&id).await?;
        }
        Err(PortError::unavailable(
            "tick",
            "a schedule kept changing under the tick",
        ))
    }

    /// Whether the customer of a plan that stops on a reply has written since it started.
    async fn replied<P: Plan>(&self, p: &P) -> Result<bool, PortError> {
        let (Some((to, pni, since)), Some(read)) = (p.stops_on_reply(), &self.read) else {
            return Ok(false);
        };
        let Some(pni) = pni.map(str::to_owned).or_else(|| self.default_phone_number_id.clone()) else {
            return Ok(false);
        };
        let Ok(customer) = CustomerKey::parse(to) else {
            return Ok(false);
        };
        let window = read.window(&pni, &customer).await?;
        Ok(window.last_inbound_ms.is_some_and(|t| t > since))
    }
}

/// Why a send was refused for good, as a send's `reason`.
fn refusal(e: SendError) -> String {
    match e {
        SendError::Invalid { message, details, .. } if !details.is_empty() => {
            format!("{message}: {}", one_line(&details))
        }
        other => other.to_string(),
    }
}
