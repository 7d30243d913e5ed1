//! Fault injection: a store whose writes fail at chosen calls, a queue that is down for a while.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use wabridge::contacts::ContactChange;
use wabridge::domain::{
    Contact, Conversation, CustomerKey, IdempotencyClaim, MessageId, MessageRef, RawEvent, Recorded, SendChange,
    SendProgress, StatusUpdate, StoredMessage, Window,
};
use wabridge::media::{MediaOutcome, MediaRecord};
use wabridge::ports::{
    CampaignRecipient, Changed, ContactBook, ContactFilter, Counters, Delivery, Idempotency, Inbox, MediaStore, Outbox,
    PortError, Queue, ReadModel, Recipients, Schedule, Schedules, Store, Sums, Tally, TemplateStore, Walk,
};
use wabridge::read::{MessageView, Page, PageRequest};
use wabridge::templates::{Template, TemplateQuery};

/// A store whose writes fail at chosen call numbers, as DynamoDB throttling or a locked file would.
#[allow(missing_debug_implementations)]
pub struct FlakyStore {
    inner: Arc<dyn Store>,
    /// Writes attempted so far.
    pub calls: std::sync::atomic::AtomicUsize,
    fail_at: Vec<usize>,
    refused: std::sync::Mutex<Option<String>>,
}

impl FlakyStore {
    /// Fails the writes numbered in `fail_at` (1-based), passes everything else to `inner`.
    pub fn new(inner: Arc<dyn Store>, fail_at: Vec<usize>) -> Self {
        Self {
            inner,
            calls: std::sync::atomic::AtomicUsize::new(0),
            fail_at,
            refused: std::sync::Mutex::new(None),
        }
    }

    /// Refuses every write of the message or status with `wamid` as invalid data (a write the
    /// store can never take), until called again with `None`.
    pub fn refuse(&self, wamid: Option<&str>) {
        *self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = wamid.map(str::to_owned);
    }

    fn check(&self, wamid: Option<&str>) -> Result<(), PortError> {
        let refused = self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if wamid.is_some() && refused.as_deref() == wamid {
            return Err(PortError::invalid("injected", "the store refuses this item"));
        }
        Ok(())
    }

    fn tick(&self) -> Result<(), PortError> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if self.fail_at.contains(&n) {
            return Err(PortError::unavailable("injected", std::io::Error::other("throttled")));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Inbox for FlakyStore {
    async fn mark_read(&self, wamid: &wabridge::domain::Wamid) -> Result<bool, PortError> {
        self.tick()?;
        self.inner.mark_read(wamid).await
    }
    async fn record_inbound(&self, m: &StoredMessage) -> Result<Recorded, PortError> {
        self.tick()?;
        self.check(m.wamid.as_ref().map(|w| w.as_str()))?;
        self.inner.record_inbound(m).await
    }
    async fn apply_status(&self, s: &StatusUpdate) -> Result<(), PortError> {
        self.tick()?;
        self.check(Some(s.wamid.as_str()))?;
        self.inner.apply_status(s).await
    }
    async fn record_event(&self, e: &RawEvent) -> Result<Recorded, PortError> {
        self.tick()?;
        self.inner.record_event(e).await
    }
    async fn events(&self, f: &str, l: u32) -> Result<Vec<RawEvent>, PortError> {
        self.inner.events(f, l).await
    }
    async fn mark_inbound(&self, m: wabridge::domain::InboundMark) -> Result<(), PortError> {
        self.inner.mark_inbound(m).await
    }
    async fn set_automation(
        &self,
        id: wabridge::domain::MessageId,
        o: &wabridge::domain::Json,
    ) -> Result<(), PortError> {
        self.tick()?;
        self.inner.set_automation(id, o).await
    }
    async fn label_conversation(&self, c: &CustomerKey, label: &str, at_ms: i64) -> Result<(), PortError> {
        self.tick()?;
        self.inner.label_conversation(c, label, at_ms).await
    }
}

/// Rule writes and cooldown claims count as writes (and fail as injected) like the others.
#[async_trait::async_trait]
impl wabridge::ports::Automation for FlakyStore {
    async fn create_rule(&self, r: &wabridge::automation::rules::Rule) -> Result<bool, PortError> {
        self.tick()?;
        self.inner.create_rule(r).await
    }
    async fn put_rule(&self, r: &wabridge::automation::rules::Rule) -> Result<wabridge::ports::RuleWrite, PortError> {
        self.tick()?;
        self.inner.put_rule(r).await
    }
    async fn delete_rule(&self, id: &str) -> Result<bool, PortError> {
        self.tick()?;
        self.inner.delete_rule(id).await
    }
    async fn rule(&self, id: &str) -> Result<Option<wabridge::automation::rules::Rule>, PortError> {
        self.inner.rule(id).await
    }
    async fn rules(&self) -> Result<Vec<wabridge::automation::rules::Rule>, PortError> {
        self.inner.rules().await
    }
    async fn rules_version(&self) -> Result<u64, PortError> {
        self.inner.rules_version().await
    }
    async fn put_flow(&self, f: &wabridge::flows::definition::Flow) -> Result<wabridge::ports::RuleWrite, PortError> {
        self.tick()?;
        self.inner.put_flow(f).await
    }
    async fn delete_flow(&self, id: &str) -> Result<bool, PortError> {
        self.tick()?;
        self.inner.delete_flow(id).await
    }
    async fn flow(&self, id: &str) -> Result<Option<wabridge::flows::definition::Flow>, PortError> {
        self.inner.flow(id).await
    }
    async fn flows(&self) -> Result<Vec<wabridge::flows::definition::Flow>, PortError> {
        self.inner.flows().await
    }
    async fn session(&self, c: &str, pni: &str) -> Result<Option<wabridge::flows::session::Session>, PortError> {
        self.inner.session(c, pni).await
    }
    async fn sessions_of(&self, c: &str) -> Result<Vec<wabridge::flows::session::Session>, PortError> {
        self.inner.sessions_of(c).await
    }
    async fn put_session(&self, s: &wabridge::flows::session::Session, read: Option<u64>) -> Result<bool, PortError> {
        self.tick()?;
        self.inner.put_session(s, read).await
    }
    async fn sessions(
        &self,
        f: &wabridge::ports::SessionFilter,
        p: &PageRequest,
    ) -> Result<Page<wabridge::flows::session::Session>, PortError> {
        self.inner.sessions(f, p).await
    }
    async fn record_interaction(&self, i: &wabridge::flows::session::Interaction) -> Result<(), PortError> {
        self.tick()?;
        self.inner.record_interaction(i).await
    }
    async fn interactions(
        &self,
        f: &wabridge::ports::InteractionFilter,
        p: &PageRequest,
    ) -> Result<Page<wabridge::flows::session::Interaction>, PortError> {
        self.inner.interactions(f, p).await
    }
    async fn claim_firing(
        &self,
        rule: &str,
        c: &CustomerKey,
        w: &wabridge::domain::Wamid,
        at_ms: i64,
        cooldown_ms: i64,
    ) -> Result<bool, PortError> {
        self.tick()?;
        self.inner.claim_firing(rule, c, w, at_ms, cooldown_ms).await
    }
}

#[async_trait::async_trait]
impl Outbox for FlakyStore {
    async fn record_outbound(&self, m: &StoredMessage) -> Result<Recorded, PortError> {
        self.tick()?;
        self.inner.record_outbound(m).await
    }
    async fn outbound(&self, id: MessageId) -> Result<Option<(StoredMessage, SendProgress)>, PortError> {
        self.inner.outbound(id).await
    }
    async fn update_outbound(&self, id: MessageId, c: &SendChange) -> Result<Option<SendProgress>, PortError> {
        self.tick()?;
        self.inner.update_outbound(id, c).await
    }
    async fn stranded(&self, before: i64, limit: u32) -> Result<Vec<wabridge::domain::Stranded>, PortError> {
        self.inner.stranded(before, limit).await
    }
    async fn close_window(&self, pni: &str, c: &CustomerKey, at: i64) -> Result<(), PortError> {
        self.tick()?;
        self.inner.close_window(pni, c, at).await
    }
    async fn inbound_mark(&self) -> Result<Option<wabridge::domain::InboundMark>, PortError> {
        self.inner.inbound_mark().await
    }
}

#[async_trait::async_trait]
impl Idempotency for FlakyStore {
    async fn claim_idempotency(&self, k: &str, f: &str, l: i64, e: i64) -> Result<IdempotencyClaim, PortError> {
        self.tick()?;
        self.inner.claim_idempotency(k, f, l, e).await
    }
    async fn finish_idempotency(&self, k: &str, l: i64, s: u16, b: &Value) -> Result<(), PortError> {
        self.tick()?;
        self.inner.finish_idempotency(k, l, s, b).await
    }
    async fn release_idempotency(&self, k: &str, l: i64) -> Result<(), PortError> {
        self.inner.release_idempotency(k, l).await
    }
}

#[async_trait::async_trait]
impl ReadModel for FlakyStore {
    async fn message(&self, r: &MessageRef) -> Result<Option<MessageView>, PortError> {
        self.inner.message(r).await
    }
    async fn conversation_messages(&self, c: &CustomerKey, p: &PageRequest) -> Result<Page<MessageView>, PortError> {
        self.inner.conversation_messages(c, p).await
    }
    async fn timeline(&self, c: &CustomerKey, walk: Walk<'_>) -> Result<Vec<StoredMessage>, PortError> {
        self.inner.timeline(c, walk).await
    }
    async fn conversations(&self, p: &PageRequest, now: i64) -> Result<Page<Conversation>, PortError> {
        self.inner.conversations(p, now).await
    }
    async fn conversation(&self, c: &CustomerKey, now: i64) -> Result<Option<Conversation>, PortError> {
        self.inner.conversation(c, now).await
    }
    async fn window(&self, pni: &str, c: &CustomerKey) -> Result<Window, PortError> {
        self.inner.window(pni, c).await
    }
    async fn ping(&self) -> Result<(), PortError> {
        self.inner.ping().await
    }
}

/// Schedule writes count as writes (and fail as injected) like the others.
#[async_trait::async_trait]
impl Schedules for FlakyStore {
    async fn insert_schedule(&self, s: &Schedule) -> Result<Recorded, PortError> {
        self.tick()?;
        self.inner.insert_schedule(s).await
    }
    async fn schedule(&self, id: &str) -> Result<Option<Schedule>, PortError> {
        self.inner.schedule(id).await
    }
    async fn list_schedules(
        &self,
        kind: &str,
        status: Option<&str>,
        p: &PageRequest,
    ) -> Result<Page<Schedule>, PortError> {
        self.inner.list_schedules(kind, status, p).await
    }
    async fn due_schedules(&self, now_ms: i64, limit: u32) -> Result<Vec<String>, PortError> {
        self.inner.due_schedules(now_ms, limit).await
    }
    async fn save_schedule(&self, s: &Schedule) -> Result<bool, PortError> {
        self.tick()?;
        self.inner.save_schedule(s).await
    }
}

/// Writing recipients counts as a write (and fails as injected) like the others.
#[async_trait::async_trait]
impl Recipients for FlakyStore {
    async fn put_recipients(&self, campaign: &str, r: &[CampaignRecipient]) -> Result<(), PortError> {
        self.tick()?;
        self.inner.put_recipients(campaign, r).await
    }
    async fn recipients(
        &self,
        campaign: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CampaignRecipient>, PortError> {
        self.inner.recipients(campaign, after, limit).await
    }
}

/// Contact changes count as writes (and fail as injected) like the others.
#[async_trait::async_trait]
impl ContactBook for FlakyStore {
    async fn contact(&self, c: &CustomerKey) -> Result<Option<Contact>, PortError> {
        self.inner.contact(c).await
    }
    async fn find_contacts(&self, f: &ContactFilter, p: &PageRequest) -> Result<Page<Contact>, PortError> {
        self.inner.find_contacts(f, p).await
    }
    async fn change_contact(
        &self,
        c: &CustomerKey,
        change: &ContactChange,
        create: bool,
        now_ms: i64,
    ) -> Result<Changed, PortError> {
        self.tick()?;
        self.inner.change_contact(c, change, create, now_ms).await
    }
}

/// Media writes count as writes (and fail as injected) like the others.
#[async_trait::async_trait]
impl MediaStore for FlakyStore {
    async fn register_media(&self, r: &MediaRecord) -> Result<Recorded, PortError> {
        self.tick()?;
        self.inner.register_media(r).await
    }
    async fn media(&self, id: &str) -> Result<Option<MediaRecord>, PortError> {
        self.inner.media(id).await
    }
    async fn claim_media(&self, id: &str, now_ms: i64, until_ms: i64) -> Result<bool, PortError> {
        self.tick()?;
        self.inner.claim_media(id, now_ms, until_ms).await
    }
    async fn release_media(&self, id: &str) -> Result<(), PortError> {
        self.tick()?;
        self.inner.release_media(id).await
    }
    async fn renew_upload(&self, id: &str, meta_id: &str, uploaded_at: i64) -> Result<(), PortError> {
        self.tick()?;
        self.inner.renew_upload(id, meta_id, uploaded_at).await
    }
    async fn finish_media(&self, id: &str, outcome: &MediaOutcome) -> Result<(), PortError> {
        self.tick()?;
        self.inner.finish_media(id, outcome).await
    }
}

/// Template writes count as writes (and fail as injected) like the others.
#[async_trait::async_trait]
impl TemplateStore for FlakyStore {
    async fn template(&self, name: &str, language: &str) -> Result<Option<Template>, PortError> {
        self.inner.template(name, language).await
    }
    async fn templates_named(&self, name: &str) -> Result<Vec<Template>, PortError> {
        self.inner.templates_named(name).await
    }
    async fn save_template(&self, t: &Template) -> Result<bool, PortError> {
        self.tick()?;
        self.inner.save_template(t).await
    }
    async fn list_templates(&self, q: &TemplateQuery) -> Result<Vec<Template>, PortError> {
        self.inner.list_templates(q).await
    }
}

/// Counter writes pass through uncounted: the write numbers the fault tests pick stay those of the
/// messages and statuses themselves.
#[async_trait::async_trait]
impl Counters for FlakyStore {
    async fn tally(&self, t: &Tally) -> Result<(), PortError> {
        self.inner.tally(t).await
    }
    async fn sums(&self, phone: Option<&str>, edges: &[i64]) -> Result<Sums, PortError> {
        self.inner.sums(phone, edges).await
    }
    async fn clear_counters(&self) -> Result<(), PortError> {
        self.inner.clear_counters().await
    }
}

/// A queue whose first `fail_sends` sends fail, as SQS does in an outage.
#[allow(missing_debug_implementations)]
pub struct FlakyQueue {
    inner: Arc<dyn Queue>,
    fail_sends: std::sync::atomic::AtomicUsize,
    lose_sends: bool,
    backlog: std::sync::Mutex<Option<u64>>,
}

impl FlakyQueue {
    /// Fails the next `n` sends, then passes everything to `inner`.
    pub fn new(inner: Arc<dyn Queue>, n: usize) -> Self {
        Self {
            inner,
            fail_sends: std::sync::atomic::AtomicUsize::new(n),
            lose_sends: false,
            backlog: std::sync::Mutex::new(None),
        }
    }

    /// Reports `n` messages on the queue (records of other messages on their way), or, with
    /// `None`, what the queue itself holds.
    pub fn report_backlog(&self, n: Option<u64>) {
        *self.backlog.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = n;
    }

    /// Accepts every send and loses it: a record SQS dead-letters before any consumer finishes
    /// it (one that crashes or times out the function every time).
    pub fn losing(inner: Arc<dyn Queue>) -> Self {
        Self {
            lose_sends: true,
            ..Self::new(inner, 0)
        }
    }
}

#[async_trait::async_trait]
impl Queue for FlakyQueue {
    async fn send(&self, body: &str) -> Result<(), PortError> {
        let down = self
            .fail_sends
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |left| left.checked_sub(1),
            )
            .is_ok();
        if down {
            return Err(PortError::unavailable("injected", std::io::Error::other("queue down")));
        }
        if self.lose_sends {
            return Ok(());
        }
        self.inner.send(body).await
    }
    async fn send_later(&self, body: &str, delay: Duration) -> Result<(), PortError> {
        self.inner.send_later(body, delay).await
    }
    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<Delivery>, PortError> {
        self.inner.receive(max, wait).await
    }
    async fn ack(&self, receipt: &str) -> Result<(), PortError> {
        self.inner.ack(receipt).await
    }
    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), PortError> {
        self.inner.retry_later(receipt, delay).await
    }
    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<(), PortError> {
        self.inner.dead_letter(delivery, reason).await
    }
    async fn backlog(&self) -> Result<u64, PortError> {
        let set = *self.backlog.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match set {
            Some(n) => Ok(n),
            None => self.inner.backlog().await,
        }
    }
    async fn dead_letters(&self, max: u32) -> Result<Vec<wabridge::ports::DeadLetter>, PortError> {
        self.inner.dead_letters(max).await
    }
}
