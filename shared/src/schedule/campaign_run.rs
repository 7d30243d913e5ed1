//! The scheduler's campaign operations: create, read with counts, pause, resume, cancel, list
//! recipients, and the tick's step (start: resolve the audience; then release the next share).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::Value;
use ulid::Ulid;

use super::campaign::{self, CAMPAIGN, Campaign, Claim, Counts, MAX_RECIPIENTS, OPTED_OUT, State};
use super::{MAX_RACES, ScheduleError, Scheduler, TickReport, refusal, send_id};
use crate::analytics::campaign_slot;
use crate::analytics::facts::campaign_state;
use crate::domain::{CustomerKey, MessageRef, Recorded};
use crate::outbound::enqueue::{Enqueuer, SendError};
use crate::outbound::request::one_line;
use crate::ports::{CampaignRecipient, ContactFilter, Counters, PortError, Recipients, Schedule};
use crate::read::{Cursor, Page, PageRequest};

/// Recipients queued at once within a tick.
const PARALLEL: usize = 32;
/// Contacts read per page while resolving an audience.
const RESOLVE_PAGE: u32 = 1_000;
/// Recipients read per step while listing with a status filter.
const LIST_STEP: u32 = 200;

/// What campaigns need beyond the schedules.
#[derive(Clone)]
pub(crate) struct CampaignPorts {
    pub recipients: Arc<dyn Recipients>,
    pub counters: Arc<dyn Counters>,
    /// The number's limit (messages a second): a campaign never goes faster.
    pub number_mps: f64,
    /// The share of the limit a campaign takes by default, leaving the rest for conversations.
    pub default_share: f64,
}

/// A change the caller asks of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop queueing new recipients.
    Pause,
    /// Queue again, at the pace from now on.
    Resume,
    /// Never queue the recipients not yet queued.
    Cancel,
}

fn read(s: &Schedule) -> Result<Campaign, PortError> {
    serde_json::from_value(s.doc.clone()).map_err(|e| PortError::invalid("read campaign", e.to_string()))
}

fn conflict(reason: String) -> ScheduleError {
    ScheduleError::Conflict(reason)
}

impl Scheduler {
    fn ports(&self) -> Result<&CampaignPorts, PortError> {
        self.campaigns
            .as_ref()
            .ok_or_else(|| PortError::unavailable("campaigns", "campaigns are not wired here"))
    }

    fn pace(&self, c: &Campaign) -> f64 {
        self.campaigns
            .as_ref()
            .map_or(1.0, |p| c.pace(p.number_mps * p.default_share, p.number_mps))
    }

    fn horizon_ms(&self) -> i64 {
        i64::try_from(self.config.every.as_millis()).unwrap_or(60_000)
    }

    fn campaign_schedule(&self, s: &Schedule, c: &Campaign) -> Result<Schedule, PortError> {
        Ok(Schedule {
            status: c.shown(self.clock.now_ms()).into(),
            next_due_ms: c.next_due(self.lease_ms(), self.horizon_ms(), self.pace(c)),
            doc: serde_json::to_value(c).map_err(|e| PortError::invalid("encode campaign", e.to_string()))?,
            ..s.clone()
        })
    }

    /// Saves `c` over `s` if `s` is still the stored revision; the schedule as now stored.
    async fn save_campaign(&self, s: &Schedule, c: &Campaign) -> Result<Option<Schedule>, PortError> {
        let next = self.campaign_schedule(s, c)?;
        Ok(self.store.save_schedule(&next).await?.then(|| Schedule {
            rev: next.rev + 1,
            ..next
        }))
    }

    /// `POST /v1/campaigns`: checks the request and its template, and stores the campaign; the
    /// tick starts it at `start_at`.
    pub async fn create_campaign(&self, body: &Value) -> Result<Value, ScheduleError> {
        self.ports()?;
        let now = self.clock.now_ms();
        let c = campaign::parse(body, now).map_err(ScheduleError::Invalid)?;
        if let Ok(cmd) = c.command(campaign::CHECK_NUMBER, "check") {
            self.check_template(&cmd).await?;
        }
        let id = format!("cmp_{}", Ulid::new());
        let draft = Schedule {
            id: id.clone(),
            kind: CAMPAIGN.into(),
            rev: 1,
            status: String::new(),
            next_due_ms: None,
            created_at_ms: now,
            doc: Value::Null,
        };
        let s = self.campaign_schedule(&draft, &c)?;
        if self.store.insert_schedule(&s).await? == Recorded::Duplicate {
            return Err(PortError::invalid("create campaign", "a fresh id was taken").into());
        }
        self.campaign_view(&s, &c).await.map_err(Into::into)
    }

    /// `GET /v1/campaigns/{id}`: the campaign with its counts.
    pub async fn campaign(&self, id: &str) -> Result<Option<Value>, PortError> {
        let Some(s) = self.store.schedule(id).await?.filter(|s| s.kind == CAMPAIGN) else {
            return Ok(None);
        };
        let c = read(&s)?;
        self.campaign_view(&s, &c).await.map(Some)
    }

    async fn campaign_view(&self, s: &Schedule, c: &Campaign) -> Result<Value, PortError> {
        let counts = self.counts(&s.id, c).await?;
        Ok(c.view(&s.id, s.created_at_ms, self.clock.now_ms(), self.pace(c), counts))
    }

    /// The counts: the campaign's own progress, and the counters its messages keep in the
    /// campaign's hour (one read, whatever the audience's size).
    async fn counts(&self, id: &str, c: &Campaign) -> Result<Counts, PortError> {
        let pni = c
            .phone_number_id
            .clone()
            .or_else(|| self.default_phone_number_id.clone());
        let metrics = match (pni, c.started_at_ms) {
            (Some(pni), Some(_)) => {
                let slot = campaign_slot(id);
                let sums = self.ports()?.counters.sums(Some(&pni), &[slot, slot + 1]).await?;
                sums.buckets.into_iter().next().map(|b| b.metrics).unwrap_or_default()
            }
            _ => Vec::new(),
        };
        Ok(c.counts(id, &campaign::own_metrics(id, metrics)))
    }

    /// `POST /v1/campaigns/{id}/pause|resume|cancel`: the campaign after it. A pause or cancel
    /// stops new sends from the next tick; what a tick already queued goes out.
    pub async fn campaign_action(&self, id: &str, action: Action) -> Result<Value, ScheduleError> {
        for _ in 0..MAX_RACES {
            let s = self
                .store
                .schedule(id)
                .await?
                .filter(|s| s.kind == CAMPAIGN)
                .ok_or(ScheduleError::NotFound)?;
            let mut c = read(&s)?;
            let now = self.clock.now_ms();
            match (action, c.state) {
                (Action::Pause, State::Running | State::Scheduled) => {
                    c.state = State::Paused;
                    c.paused_at_ms = Some(now);
                }
                (Action::Resume, State::Paused) => {
                    // Started before the pause: the pace runs on from now. Not started yet: the
                    // next tick starts it.
                    c.state = if c.started_at_ms.is_some() {
                        State::Running
                    } else {
                        State::Scheduled
                    };
                    c.pace_from_ms = now;
                    c.pace_from = c.released;
                }
                (Action::Cancel, State::Scheduled | State::Running | State::Paused) => {
                    c.state = State::Cancelled;
                    c.cancelled_at_ms = Some(now);
                }
                (_, state) => {
                    let verb = match action {
                        Action::Pause => "paused",
                        Action::Resume => "resumed",
                        Action::Cancel => "cancelled",
                    };
                    return Err(conflict(format!(
                        "a {} campaign cannot be {verb}",
                        Campaign { state, ..c }.shown(now)
                    )));
                }
            }
            if let Some(saved) = self.save_campaign(&s, &c).await? {
                return Ok(self.campaign_view(&saved, &c).await?);
            }
        }
        Err(ScheduleError::Busy)
    }

    /// `GET /v1/campaigns/{id}/recipients`: every recipient once, in wa_id order, with where it
    /// stands (`status` filters). `None` when there is no such campaign.
    pub async fn campaign_recipients(
        &self,
        id: &str,
        status: Option<&str>,
        page: &PageRequest,
    ) -> Result<Option<Page<Value>>, PortError> {
        let Some(s) = self.store.schedule(id).await?.filter(|s| s.kind == CAMPAIGN) else {
            return Ok(None);
        };
        let c = read(&s)?;
        let ports = self.ports()?;
        let mut after = page.after.clone();
        let mut data = Vec::new();
        loop {
            let want = if status.is_some() { LIST_STEP } else { page.limit + 1 };
            let batch = ports.recipients.recipients(id, after.as_deref(), want).await?;
            let end = (batch.len() as u32) < want;
            let mut reads = Vec::with_capacity(batch.len());
            for r in &batch {
                reads.push(self.recipient_view(id, &c, r));
            }
            let views = futures::stream::iter(reads)
                .buffered(PARALLEL)
                .collect::<Vec<_>>()
                .await;
            for (r, v) in batch.iter().zip(views) {
                let v = v?;
                if status.is_none_or(|st| v["status"] == st) {
                    if data.len() as u32 == page.limit {
                        let last = data
                            .last()
                            .and_then(|v: &Value| v["wa_id"].as_str())
                            .unwrap_or_default();
                        let next = Cursor::encode("recipients", last);
                        return Ok(Some(Page {
                            data,
                            next_cursor: Some(next),
                        }));
                    }
                    data.push(v);
                }
                after = Some(r.wa_id.clone());
            }
            if end {
                return Ok(Some(Page {
                    data,
                    next_cursor: None,
                }));
            }
        }
    }

    /// One recipient as the API shows it: its message's status once queued.
    async fn recipient_view(&self, id: &str, c: &Campaign, r: &CampaignRecipient) -> Result<Value, PortError> {
        let handled = c.cursor.as_deref().is_some_and(|cur| r.wa_id.as_str() <= cur);
        let view = |status: &str, message_id: Option<String>, error: Value, reason: Option<&str>| {
            serde_json::json!({"wa_id": r.wa_id, "status": status, "message_id": message_id,
                               "error": error, "reason": reason})
        };
        if let Some(why) = &r.skipped {
            return Ok(view("skipped", None, Value::Null, Some(why)));
        }
        if let Some(why) = &r.failed {
            return Ok(view("failed", None, Value::Null, Some(why)));
        }
        if !handled {
            let status = if c.state == State::Cancelled {
                "cancelled"
            } else {
                "pending"
            };
            return Ok(view(status, None, Value::Null, None));
        }
        let message_id = send_id(id, &r.wa_id);
        let found = match &self.read {
            Some(read) => read.message(&MessageRef::Id(message_id)).await?,
            None => None,
        };
        Ok(match found {
            Some(m) => {
                let error = m
                    .error
                    .as_ref()
                    .map_or(Value::Null, |e| serde_json::json!({"code": e.code, "title": e.title}));
                view(campaign_state(&m), Some(message_id.to_string()), error, None)
            }
            None => view("queued", Some(message_id.to_string()), Value::Null, None),
        })
    }

    /// The tick's step for one due campaign.
    pub(super) async fn run_campaign(
        &self,
        s: Schedule,
        enqueuer: &Enqueuer,
        report: &mut TickReport,
    ) -> Result<(), PortError> {
        let c = read(&s)?;
        match c.state {
            State::Scheduled => self.start_campaign(s, c).await,
            State::Running => {
                // Chunk by chunk, each claimed and settled on its own, so a tick a minute ahead
                // of a fast campaign never holds one claim longer than its lease.
                let id = s.id.clone();
                let mut next = Some((s, c));
                while let Some((s, c)) = next.take() {
                    if self.release(s, c, enqueuer, report).await? {
                        next = self.reread(&id).await?;
                    }
                }
                Ok(())
            }
            // Paused, completed, cancelled: nothing due; put the index right.
            _ => self.save_campaign(&s, &c).await.map(drop),
        }
    }

    /// Starts a campaign whose time has come: checks its template, resolves its audience into
    /// recipients, and sets it running. A template that is not sendable blocks it (retried every
    /// minute) with the reason shown.
    async fn start_campaign(&self, s: Schedule, mut c: Campaign) -> Result<(), PortError> {
        let now = self.clock.now_ms();
        if c.start_at_ms > now {
            return self.save_campaign(&s, &c).await.map(drop);
        }
        let blocked = match c.command(campaign::CHECK_NUMBER, &s.id) {
            Err(e) => Some(one_line(&e)),
            Ok(cmd) => match self.check_template(&cmd).await {
                Ok(()) => None,
                Err(ScheduleError::Port(p)) => return Err(p),
                Err(e) => Some(template_reason(e)),
            },
        };
        let resolved = match blocked {
            Some(why) => Err(why),
            None => self.resolve(&c).await?,
        };
        let recipients = match resolved {
            Ok(r) => r,
            Err(why) => {
                c.blocked = Some(why);
                c.blocked_at_ms = Some(now);
                return self.save_campaign(&s, &c).await.map(drop);
            }
        };
        // Written before the campaign says it started: a crash in between resolves again and
        // rewrites the same entries.
        self.ports()?.recipients.put_recipients(&s.id, &recipients).await?;
        c.total = recipients.len() as u64;
        c.skipped = recipients.iter().filter(|r| r.skipped.is_some()).count() as u64;
        c.state = State::Running;
        c.blocked = None;
        c.blocked_at_ms = None;
        c.started_at_ms = Some(now);
        c.pace_from_ms = now;
        c.pace_from = 0;
        if self.save_campaign(&s, &c).await?.is_some() {
            tracing::info!(campaign = %s.id, total = c.total, skipped = c.skipped, "campaign started");
        }
        Ok(())
    }

    /// The campaign's audience, once per customer in wa_id order: its tagged contacts and its
    /// listed numbers, opted-out contacts skipped. `Err` says why it cannot start.
    async fn resolve(&self, c: &Campaign) -> Result<Result<Vec<CampaignRecipient>, String>, PortError> {
        let Some(book) = &self.contacts else {
            return Ok(Err("the contacts are not available to resolve the audience".into()));
        };
        let mut found: BTreeMap<String, bool> = BTreeMap::new();
        let a = &c.audience;
        // Walk the contacts carrying the first all-of tag, else each any-of tag.
        let walks: Vec<String> = match a.tags.first() {
            Some(t) => vec![t.clone()],
            None => a.any_tags.clone(),
        };
        for t in walks {
            let filter = ContactFilter {
                tag: Some(t),
                ..ContactFilter::default()
            };
            let mut after = None;
            loop {
                let page = book
                    .find_contacts(
                        &filter,
                        &PageRequest {
                            limit: RESOLVE_PAGE,
                            after: after.take(),
                        },
                    )
                    .await?;
                for contact in &page.data {
                    if let Some(wa) = &contact.wa_id
                        && a.matches_tags(&contact.tags)
                    {
                        found.insert(wa.clone(), contact.opted_out);
                    }
                }
                if found.len() > MAX_RECIPIENTS {
                    return Ok(Err(too_many()));
                }
                match (page.next_cursor, page.data.last()) {
                    (Some(_), Some(last)) => {
                        after = Some(last.wa_id.clone().or(last.user_id.clone()).unwrap_or_default())
                    }
                    _ => break,
                }
            }
        }
        for wa in &a.wa_ids {
            if found.contains_key(wa) {
                continue;
            }
            let opted_out = match CustomerKey::parse(wa) {
                Ok(key) => book.contact(&key).await?.is_some_and(|k| k.opted_out),
                Err(_) => false,
            };
            found.insert(wa.clone(), opted_out);
        }
        if found.len() > MAX_RECIPIENTS {
            return Ok(Err(too_many()));
        }
        Ok(Ok(found
            .into_iter()
            .map(|(wa_id, opted_out)| CampaignRecipient {
                wa_id,
                skipped: opted_out.then(|| OPTED_OUT.to_owned()),
                failed: None,
            })
            .collect()))
    }

    /// Claims the next share of a running campaign's recipients (what its pace allows up to one
    /// tick ahead, at most [`TickConfig::campaign_chunk`]), queues them, each hidden until its turn, and moves the
    /// cursor past them. `true` when a whole chunk went and the pace may allow more.
    async fn release(
        &self,
        s: Schedule,
        c: Campaign,
        enqueuer: &Enqueuer,
        report: &mut TickReport,
    ) -> Result<bool, PortError> {
        let ports = self.ports()?.clone();
        let (lease, pace) = (self.lease_ms(), self.pace(&c));
        let chunk = u64::from(self.config.campaign_chunk.max(1));
        let mut current = Some((s, c));
        let mut claimed = None;
        for _ in 0..MAX_RACES {
            let Some((s, mut c)) = current.take() else {
                return Ok(false);
            };
            let now = self.clock.now_ms();
            if c.state != State::Running || c.claim.as_ref().is_some_and(|cl| cl.at_ms + lease > now) {
                return Ok(false);
            }
            let want = c
                .allowed_by(now + self.horizon_ms(), pace)
                .saturating_sub(c.released)
                .min(c.left());
            let share = self.share(&ports, &s.id, c.cursor.as_deref(), want).await?;
            let Some(last) = share.last() else {
                if c.left() == 0 || want > 0 {
                    // Every recipient handled (or the store has fewer than counted): done.
                    c.state = State::Completed;
                    c.completed_at_ms.get_or_insert(now);
                    c.claim = None;
                }
                match self.save_campaign(&s, &c).await? {
                    Some(_) => return Ok(false),
                    None => {
                        current = self.reread(&s.id).await?;
                        continue;
                    }
                }
            };
            c.claim = Some(Claim {
                at_ms: now,
                upto: last.wa_id.clone(),
            });
            match self.save_campaign(&s, &c).await? {
                Some(saved) => {
                    claimed = Some((saved, c, share));
                    break;
                }
                None => current = self.reread(&s.id).await?,
            }
        }
        let Some((saved, c, share)) = claimed else {
            return Err(PortError::unavailable(
                "tick",
                "a campaign kept changing under the claim",
            ));
        };
        let first_index = c.released;
        let claim_at = c.claim.as_ref().map_or(i64::MIN, |cl| cl.at_ms);
        let mut sends = Vec::with_capacity(share.len());
        let mut index = first_index;
        for r in &share {
            let due = c.due_of(index, pace);
            if sendable(r) {
                index += 1;
            }
            sends.push(self.send_one(&saved.id, &c, r, enqueuer, due));
        }
        let outcomes: Vec<Sent> = futures::stream::iter(sends)
            .buffered(PARALLEL)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        // The cursor moves past the share up to the first send the queue or store turned away;
        // those are queued again (same ids) by the next tick.
        let done = outcomes.iter().take_while(|o| !matches!(o, Sent::Retry)).count();
        let refused: Vec<CampaignRecipient> = share
            .iter()
            .zip(&outcomes)
            .take(done)
            .filter_map(|(r, o)| match o {
                Sent::Refused(why) => Some(CampaignRecipient {
                    failed: Some(why.clone()),
                    ..r.clone()
                }),
                _ => None,
            })
            .collect();
        if !refused.is_empty() {
            ports.recipients.put_recipients(&saved.id, &refused).await?;
        }
        let queued = outcomes.iter().take(done).filter(|o| matches!(o, Sent::Queued)).count();
        let released = share.iter().take(done).filter(|r| sendable(r)).count() as u64;
        let cursor = done.checked_sub(1).map(|i| share[i].wa_id.clone());
        let mut current = Some((saved.clone(), c));
        for _ in 0..MAX_RACES {
            let Some((s, mut c)) = current.take() else {
                return Ok(false);
            };
            // Settle only our own claim: a lease taken over means another tick settles it.
            if c.claim.as_ref().is_none_or(|cl| cl.at_ms != claim_at) {
                return Ok(false);
            }
            c.claim = None;
            if let Some(cursor) = &cursor {
                c.cursor = Some(cursor.clone());
                c.handled += done as u64;
                c.released += released;
                c.refused += refused.len() as u64;
            }
            if c.left() == 0 && c.state == State::Running {
                c.state = State::Completed;
                c.completed_at_ms = Some(self.clock.now_ms());
            }
            if self.save_campaign(&s, &c).await?.is_some() {
                report.queued += u32::try_from(queued).unwrap_or(u32::MAX);
                report.failed += u32::try_from(refused.len()).unwrap_or(u32::MAX);
                report.retry += u32::try_from(share.len() - done).unwrap_or(u32::MAX);
                return Ok(done == share.len() && released == chunk);
            }
            current = self.reread(&s.id).await?;
        }
        Err(PortError::unavailable(
            "tick",
            "a campaign kept changing under the tick",
        ))
    }

    /// The next recipients after `cursor` up to and including the `want`th one to send to (the
    /// skipped ones between come along: they take no turn).
    async fn share(
        &self,
        ports: &CampaignPorts,
        id: &str,
        cursor: Option<&str>,
        want: u64,
    ) -> Result<Vec<CampaignRecipient>, PortError> {
        let mut share: Vec<CampaignRecipient> = Vec::new();
        let mut found = 0;
        while found < want {
            let after = share.last().map(|r| r.wa_id.as_str()).or(cursor);
            let ask = u32::try_from(want - found).unwrap_or(u32::MAX);
            let page = ports.recipients.recipients(id, after, ask).await?;
            let end = (page.len() as u32) < ask;
            for r in page {
                found += u64::from(sendable(&r));
                share.push(r);
                if found == want {
                    break;
                }
            }
            if end {
                break;
            }
        }
        Ok(share)
    }

    async fn reread(&self, id: &str) -> Result<Option<(Schedule, Campaign)>, PortError> {
        match self.store.schedule(id).await? {
            Some(s) => {
                let c = read(&s)?;
                Ok(Some((s, c)))
            }
            None => Ok(None),
        }
    }

    /// Queues one recipient's message, hidden on the queue until `due_ms` (nothing for one
    /// skipped when resolved).
    async fn send_one(
        &self,
        id: &str,
        c: &Campaign,
        r: &CampaignRecipient,
        enqueuer: &Enqueuer,
        due_ms: i64,
    ) -> Result<Sent, PortError> {
        if r.skipped.is_some() || r.failed.is_some() {
            return Ok(Sent::Passed);
        }
        let cmd = match c.command(&r.wa_id, id) {
            Ok(cmd) => self.personalise(cmd).await?,
            Err(e) => Err(one_line(&e)),
        };
        let cmd = match cmd {
            Ok(cmd) => cmd,
            Err(why) => return Ok(Sent::Refused(why)),
        };
        // Hidden until its turn, counted from now: queueing a large share takes a while.
        let delay = Duration::from_millis(u64::try_from(due_ms - self.clock.now_ms()).unwrap_or(0));
        Ok(match enqueuer.enqueue_as_in(send_id(id, &r.wa_id), &cmd, delay).await {
            Ok(_) => Sent::Queued,
            Err(SendError::QueueUnavailable(_) | SendError::Port(_)) => Sent::Retry,
            Err(e) => Sent::Refused(refusal(e)),
        })
    }
}

/// How one recipient's turn went.
enum Sent {
    /// Queued.
    Queued,
    /// Skipped when resolved, or refused by an earlier tick: nothing to send.
    Passed,
    /// Refused for good: why.
    Refused(String),
    /// The queue or store turned it away: the next tick tries again.
    Retry,
}

/// Whether a recipient takes a turn: not skipped when resolved, not refused before.
fn sendable(r: &CampaignRecipient) -> bool {
    r.skipped.is_none() && r.failed.is_none()
}

fn too_many() -> String {
    format!("the audience has more than {MAX_RECIPIENTS} recipients")
}

/// Why a template keeps a campaign from starting.
fn template_reason(e: ScheduleError) -> String {
    match e {
        ScheduleError::Invalid(details) => one_line(&details),
        other => other.to_string(),
    }
}
