//! The store on DynamoDB. A message is stored once per id by a put guarded by
//! `attribute_not_exists(id)`; an inbound message's put and its unread count share one transaction;
//! everything that only moves forward (last message, window, contact times, statuses) is a
//! conditional update that is a no-op when repeated. So every step can be re-run after a crash or a
//! redelivery, and nothing is double-counted or goes backwards.

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

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::TableNames;
use super::expr::{Expr, get_n, get_s, n, s};
use crate::adapters::aws::sdk_err;
use crate::domain::{
    Conversation, DeliveryStatus, Direction, LastMessage, MessageId, Recorded, SendProgress, SendState, StatusRecord,
    StoredMessage, Wamid, Window, seq_key,
};
use crate::ports::{Clock, PortError, SystemClock};
use crate::read::MessageView;

type Item = HashMap<String, AttributeValue>;

/// Partitions of each list index (conversations by activity, contacts by key) by default.
///
/// Every conversation move rewrites its `by_activity` entry (the sort key changes: a delete and a
/// put, two write units), and DynamoDB throttles one partition at about 1,000 write units/s; so
/// one constant partition key caps the whole deployment at about 500 messages/s. Spread by a hash
/// of the customer over 20 partitions, the index takes 20,000 units/s: 10,000 conversation moves
/// a second. Lists read every partition and merge (see `docs/scaling.md`).
pub const LIST_SHARDS: u32 = 20;

/// The list partition of items written before the list indexes were sharded. Lists still read it,
/// and an item moves to its own partition the next time it is written.
const LEGACY_LIST: &str = "all";
/// Raw events are kept for 90 days.
const EVENT_TTL_SECS: i64 = 90 * 24 * 3600;

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    t: TableNames,
    clock: Arc<dyn Clock>,
    list_shards: u32,
    /// Business numbers this process has registered in the counters table.
    phones_seen: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("tables", &self.t)
            .finish_non_exhaustive()
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<AttributeValue, PortError> {
    serde_json::to_string(v)
        .map(s)
        .map_err(|e| PortError::invalid("encode", e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(item: &Item, k: &str) -> Result<Option<T>, PortError> {
    get_s(item, k)
        .map(|d| serde_json::from_str(&d).map_err(|e| PortError::invalid("decode stored item", e.to_string())))
        .transpose()
}

impl DynamoStore {
    /// Wraps a client and the table names.
    pub fn new(client: Client, tables: TableNames) -> Self {
        Self {
            client,
            t: tables,
            clock: Arc::new(SystemClock),
            list_shards: LIST_SHARDS,
            phones_seen: Arc::default(),
        }
    }

    /// Spreads the list indexes over `n` partitions instead of [`LIST_SHARDS`]. Only ever raise it
    /// on a live table: lists read partitions `0..n`, so items written under a larger `n` would
    /// drop out of them.
    pub fn with_list_shards(mut self, n: u32) -> Self {
        self.list_shards = n.max(1);
        self
    }

    /// The list partition of `customer`.
    fn list_key(&self, customer: &str) -> String {
        format!("list#{}", fnv1a(customer) % self.list_shards)
    }

    /// Every list partition, the pre-sharding one included.
    fn list_partitions(&self) -> Vec<String> {
        (0..self.list_shards)
            .map(|i| format!("list#{i}"))
            .chain(std::iter::once(LEGACY_LIST.to_owned()))
            .collect()
    }

    /// Reads time (idempotency expiry, event retention) from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn message_item(m: &StoredMessage) -> Result<Item, PortError> {
        let mut item = Item::new();
        item.insert("id".into(), s(m.id.to_string()));
        // Only sends are found through `by_wamid`: an inbound message's id is derived from its
        // wamid, and leaving it out of the index saves a write per message.
        if let Some(w) = m.wamid.as_ref().filter(|_| m.direction == Direction::Outbound) {
            item.insert("wamid".into(), s(w.as_str()));
        }
        item.insert("customer".into(), s(m.customer.as_str()));
        item.insert("seq".into(), s(m.seq()));
        item.insert("doc".into(), to_json(m)?);
        if m.direction == Direction::Outbound {
            let state = if m.wamid.is_some() {
                SendState::Accepted
            } else {
                SendState::Queued
            };
            item.insert("state".into(), s(state.as_str()));
            item.insert("attempts".into(), n(0));
            if state == SendState::Queued {
                item.insert("pending_shard".into(), s(pending_shard(m.id)));
                item.insert("pending_at".into(), s(pending_at(m.timestamp_ms)));
            }
        }
        Ok(item)
    }

    /// Puts an item unless one with its `id` exists: the conditional put is the de-duplication.
    async fn put_once(&self, table: &str, item: Item, op: &'static str) -> Result<Recorded, PortError> {
        let put = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(Recorded::New),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(Recorded::Duplicate)
            }
            Err(e) => Err(sdk_err(op)(e)),
        }
    }

    /// Stores a message once per id.
    async fn put_message(&self, msg: &StoredMessage, op: &'static str) -> Result<Recorded, PortError> {
        self.put_once(&self.t.messages, Self::message_item(msg)?, op).await
    }

    /// A conditional update whose condition failing means "already further along": not an error.
    async fn update(&self, table: &str, key: (&str, &str), e: Expr, op: &'static str) -> Result<(), PortError> {
        self.update_applied(table, key, e, op).await.map(drop)
    }

    /// Deletes an item if the condition of `e` holds; the condition failing is not an error.
    async fn delete_if(&self, table: &str, key: (&str, &str), e: Expr, op: &'static str) -> Result<(), PortError> {
        let (_, cond, names, values) = e.parts();
        let r = self
            .client
            .delete_item()
            .table_name(table)
            .key(key.0, s(key.1))
            .set_condition_expression(cond)
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .send()
            .await;
        match r {
            Err(e)
                if !e
                    .as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(sdk_err(op)(e))
            }
            _ => Ok(()),
        }
    }

    /// Moves the conversation's last message forward when `m` is newer than what it shows.
    /// Sets what a conversation shows of `m`, its last message (no condition: the caller adds it).
    fn last_message_expr(&self, m: &StoredMessage) -> Result<Expr, PortError> {
        let c = m.customer.as_str();
        let last = LastMessage {
            id: m.id.to_string(),
            msg_type: m.msg_type.clone(),
            text: m.text.clone(),
            direction: m.direction,
        };
        Ok(Expr::default()
            .set("list", s(self.list_key(c)))
            .set("last_message", to_json(&last)?)
            .set("last_seq", s(m.seq()))
            .set("last_message_at", n(m.timestamp_ms))
            .set("activity", s(seq_key(m.timestamp_ms, c)))
            .set("phone_number_id", s(&m.phone_number_id))
            .set_opt("name", m.profile_name.clone().map(s))
            .set_if_absent("wa_id", m.wa_id.clone().map(s))
            .set_if_absent("user_id", m.user_id.clone().map(s)))
    }

    pub(super) async fn advance_conversation(&self, m: &StoredMessage) -> Result<(), PortError> {
        let c = m.customer.as_str();
        let seq = m.seq();
        let e = self.last_message_expr(m)?.when(|e| {
            let (ls, v) = (e.name("last_seq"), e.val(s(&seq)));
            format!("attribute_not_exists({ls}) OR {ls} < {v}")
        });
        self.update(&self.t.conversations, ("customer", c), e, "advance conversation")
            .await?;
        if m.direction == Direction::Inbound && m.opens_window {
            let attr = inbound_attr(&m.phone_number_id);
            let e = Expr::default().set(&attr, n(m.timestamp_ms)).when(|e| {
                let (a, v) = (e.name(&attr), e.val(n(m.timestamp_ms)));
                format!("attribute_not_exists({a}) OR {a} < {v}")
            });
            self.update(&self.t.conversations, ("customer", c), e, "open window")
                .await?;
        }
        Ok(())
    }

    /// One request for the usual message, the newest from its customer: it creates the contact
    /// or moves its last-seen, name and number forward. Only a message older than the last seen
    /// takes a second, to move first-seen back if it is older still.
    async fn upsert_contact(&self, m: &StoredMessage) -> Result<(), PortError> {
        let (c, t) = (m.customer.as_str(), m.timestamp_ms);
        let table = &self.t.contacts;
        let newest = Expr::default()
            .set("list", s(self.list_key(c)))
            .set_if_absent("wa_id", m.wa_id.clone().map(s))
            .set_if_absent("user_id", m.user_id.clone().map(s))
            .set_if_absent("first_seen_at", Some(n(t)))
            .set("last_seen_at", n(t))
            .set("phone_number_id", s(&m.phone_number_id))
            .set_opt("name", m.profile_name.clone().map(s))
            .set_opt(
                "profile_fold",
                m.profile_name.as_deref().map(|p| s(crate::domain::fold_name(p))),
            )
            .when(|e| {
                let (a, v) = (e.name("last_seen_at"), e.val(n(t)));
                format!("attribute_not_exists({a}) OR {a} <= {v}")
            });
        if self
            .update_applied(table, ("customer", c), newest, "upsert contact")
            .await?
        {
            return Ok(());
        }
        let older = Expr::default()
            .set("first_seen_at", n(t))
            .set_if_absent("name", m.profile_name.clone().map(s))
            .set_if_absent(
                "profile_fold",
                m.profile_name.as_deref().map(|p| s(crate::domain::fold_name(p))),
            )
            .when(|e| {
                let (a, v) = (e.name("first_seen_at"), e.val(n(t)));
                format!("{a} > {v}")
            });
        self.update(table, ("customer", c), older, "contact first seen").await
    }

    /// A conditional update; `false` when the condition refused it.
    async fn update_applied(
        &self,
        table: &str,
        key: (&str, &str),
        e: Expr,
        op: &'static str,
    ) -> Result<bool, PortError> {
        let call = self.client.update_item().table_name(table).key(key.0, s(key.1));
        match e.apply(call).send().await {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
            {
                Ok(false)
            }
            Err(err) => Err(sdk_err(op)(err)),
        }
    }

    async fn get(&self, table: &str, key: (&str, &str)) -> Result<Option<Item>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key(key.0, s(key.1))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err("get item"))?;
        Ok(out.item)
    }

    async fn status(&self, wamid: &str) -> Result<Option<StatusRecord>, PortError> {
        self.get(&self.t.statuses, ("wamid", wamid))
            .await?
            .map(|item| status_of(&item))
            .transpose()
    }

    /// The status records of many wamids in as few round trips as DynamoDB allows (100 keys a call),
    /// so a page of 200 messages costs two reads, not 200.
    async fn statuses(&self, wamids: &[String]) -> Result<HashMap<String, StatusRecord>, PortError> {
        let unique: std::collections::BTreeSet<&String> = wamids.iter().collect();
        let keys = unique
            .into_iter()
            .map(|w| Item::from([("wamid".to_owned(), s(w.as_str()))]))
            .collect();
        let mut out = HashMap::new();
        for item in self.batch_get(&self.t.statuses, keys, "batch get statuses").await? {
            if let Some(w) = get_s(&item, "wamid") {
                out.insert(w, status_of(&item)?);
            }
        }
        Ok(out)
    }

    /// The items of `keys` (distinct) that exist, read consistently, 100 keys a call, asking
    /// again for any DynamoDB leaves unprocessed under load.
    async fn batch_get(&self, table: &str, keys: Vec<Item>, op: &'static str) -> Result<Vec<Item>, PortError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(100) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| PortError::invalid(op, e.to_string()))?,
            );
            while let Some(request) = pending.take() {
                let res = self
                    .client
                    .batch_get_item()
                    .request_items(table, request)
                    .send()
                    .await
                    .map_err(sdk_err(op))?;
                out.extend(res.responses.and_then(|mut r| r.remove(table)).unwrap_or_default());
                pending = res.unprocessed_keys.and_then(|mut u| u.remove(table));
            }
        }
        Ok(out)
    }
}

/// A status record from its item: `ts_<status>` attributes become the timestamps map.
fn status_of(item: &Item) -> Result<StatusRecord, PortError> {
    let timestamps = item
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("ts_")?.to_owned(), v.as_n().ok()?.parse().ok()?)))
        .collect();
    Ok(StatusRecord {
        status: get_s(item, "status").as_deref().and_then(DeliveryStatus::parse),
        timestamps,
        error: from_json(item, "error")?,
        phone_number_id: get_s(item, "phone_number_id"),
        recipient_id: get_s(item, "recipient_id"),
        recipient_user_id: get_s(item, "recipient_user_id"),
        conversation: from_json(item, "conversation")?,
        pricing: from_json(item, "pricing")?,
        biz_opaque_callback_data: get_s(item, "biz_opaque_callback_data"),
    })
}

impl DynamoStore {
    async fn view(&self, msg: Option<StoredMessage>, wamid: Option<&Wamid>) -> Result<Option<MessageView>, PortError> {
        let wamid = msg.as_ref().and_then(|m| m.wamid.clone()).or_else(|| wamid.cloned());
        let status = match (&msg, &wamid) {
            (Some(m), _) if m.direction == Direction::Inbound => None,
            (_, Some(w)) => self.status(w.as_str()).await?,
            _ => None,
        };
        Ok(MessageView::join(msg, status, wamid.as_ref()))
    }

    /// Queries an index in key order until `want` items or the end, following DynamoDB's 1 MB pages.
    async fn query(
        &self,
        table: &str,
        index: &str,
        cond: Expr,
        forward: bool,
        want: u32,
    ) -> Result<Vec<Item>, PortError> {
        self.query_filtered(table, index, cond, None, forward, want).await
    }

    /// [`Self::query`], keeping only the items `filter` (built with `cond`'s placeholders) holds
    /// for, read as it says.
    async fn query_filtered(
        &self,
        table: &str,
        index: &str,
        cond: Expr,
        filter: Option<(String, Reads)>,
        forward: bool,
        want: u32,
    ) -> Result<Vec<Item>, PortError> {
        let (_, c, names, values) = cond.parts();
        let (filter, reads) = filter.map_or((None, Reads::Wanted), |(f, r)| (Some(f), r));
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(table)
                .index_name(index)
                .set_key_condition_expression(c.clone())
                .set_filter_expression(filter.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(forward)
                .set_limit(match reads {
                    Reads::Wanted => Some(i32::try_from(want - out.len() as u32).unwrap_or(i32::MAX)),
                    Reads::WholePages => None,
                })
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err("query"))?;
            out.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() || out.len() as u32 >= want {
                out.truncate(want as usize);
                return Ok(out);
            }
        }
    }
}

/// How many items a query asks DynamoDB to read per request. DynamoDB's limit counts items read,
/// not items a filter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// As many as are still wanted: right when matches are near (a timeline's next message of
    /// ours), and the cheapest read when every item matches.
    Wanted,
    /// Whole 1 MB pages: a rare match (a tag few contacts carry) costs a request per page, not
    /// one per few items.
    WholePages,
}

/// The sender's progress kept beside an outbound message's document.
fn progress_of(item: &Item) -> Result<Option<SendProgress>, PortError> {
    let Some(state) = get_s(item, "state").as_deref().and_then(SendState::parse) else {
        return Ok(None);
    };
    Ok(Some(SendProgress {
        state,
        attempts: get_n(item, "attempts").and_then(|a| u32::try_from(a).ok()).unwrap_or(0),
        last_attempt_ms: get_n(item, "last_attempt_ms"),
        wamid: get_s(item, "wamid").and_then(|w| Wamid::parse(&w).ok()),
        error: from_json(item, "send_error")?,
        requeues: get_n(item, "requeues").and_then(|r| u32::try_from(r).ok()).unwrap_or(0),
    }))
}

/// The stored message of an item, with its send progress shown on it.
fn message_of(item: &Item) -> Result<Option<StoredMessage>, PortError> {
    let Some(mut m) = from_json::<StoredMessage>(item, "doc")? else {
        return Ok(None);
    };
    if let Some(p) = progress_of(item)? {
        p.overlay(&mut m);
    }
    if let Some(a) = get_s(item, "automation") {
        m.show_automation(&a);
    }
    Ok(Some(m))
}

/// The events-table item holding the inbound processor's latest progress mark.
const INBOUND_MARK_ID: &str = "mark#inbound";

/// Partitions of the sparse `by_pending` index: every outbound message writes it, so its key is
/// spread over this many values (a thousand sends a second stay far under one partition's limit)
/// and the sweeper reads them all.
pub(crate) const PENDING_SHARDS: u32 = 16;

/// The `by_pending` partition of message `id`.
pub(crate) fn pending_shard(id: MessageId) -> String {
    pending_partition(fnv1a(&id.to_string()) % PENDING_SHARDS)
}

/// FNV-1a: a shard hash stable across processes and releases, unlike std's hasher.
fn fnv1a(key: &str) -> u32 {
    key.bytes()
        .fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// The key of `by_pending` partition number `n`.
pub(crate) fn pending_partition(n: u32) -> String {
    format!("pending#{n}")
}

/// `pending_at` as a sortable string (the index's keys are strings).
pub(crate) fn pending_at(ms: i64) -> String {
    format!("{:015}", ms.max(0))
}

/// The conversation item's attribute for when the customer last wrote to business number `pni`.
/// Windows live on the conversation item, one pair of attributes per number the customer wrote to
/// (a handful), so opening one stays a single conditional update.
pub(super) fn inbound_attr(pni: &str) -> String {
    format!("inbound_at#{pni}")
}

/// The conversation item's attribute for when Meta said the window with `pni` is closed.
fn closed_attr(pni: &str) -> String {
    format!("closed_at#{pni}")
}

/// The window with `pni` as the conversation item records it. Items written before windows were
/// kept per number hold one `last_inbound_at`/`window_closed_at` pair; it stands in until the
/// customer writes again (a day at most, as it expires then).
fn window_of(item: &Item, pni: &str) -> Window {
    match get_n(item, &inbound_attr(pni)) {
        Some(inbound) => Window {
            last_inbound_ms: Some(inbound),
            closed_ms: get_n(item, &closed_attr(pni)),
        },
        None => Window {
            last_inbound_ms: get_n(item, "last_inbound_at"),
            closed_ms: get_n(item, &closed_attr(pni)).or_else(|| get_n(item, "window_closed_at")),
        },
    }
}

fn conversation_of(item: &Item) -> Result<Conversation, PortError> {
    let window = get_s(item, "phone_number_id").map_or_else(Window::default, |pni| window_of(item, &pni));
    Ok(Conversation {
        wa_id: get_s(item, "wa_id"),
        user_id: get_s(item, "user_id"),
        phone_number_id: get_s(item, "phone_number_id"),
        name: get_s(item, "name"),
        last_message: from_json(item, "last_message")?,
        last_message_at: get_n(item, "last_message_at"),
        unread: 0,
        unread_more: false,
        window_expires_at: None,
        window_open: false,
        last_inbound_ms: window.last_inbound_ms,
        window_closed_ms: window.closed_ms,
        labels: {
            let mut labels = item
                .get("labels")
                .and_then(|v| v.as_ss().ok())
                .cloned()
                .unwrap_or_default();
            labels.sort();
            labels
        },
        escalated_at: get_n(item, "escalated_at"),
    }
    .with_unread(unread_of(item)))
}

/// The unread count: a number; items from before it was one hold a set of unread message ids.
fn unread_of(item: &Item) -> i64 {
    get_n(item, "unread").unwrap_or_else(|| {
        item.get("unread_ids")
            .and_then(|v| v.as_ss().ok())
            .map_or(0, |ids| i64::try_from(ids.len()).unwrap_or(i64::MAX))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_from_before_the_unread_count_show_their_set_until_marked_read() {
        let mut item = Item::new();
        item.insert("unread_ids".into(), AttributeValue::Ss(vec!["a".into(), "b".into()]));
        assert_eq!(unread_of(&item), 2);
        item.insert("unread".into(), n(7));
        assert_eq!(unread_of(&item), 7, "the count wins once there is one");
        assert_eq!(unread_of(&Item::new()), 0);
    }

    #[test]
    fn list_keys_spread_customers_over_every_shard_and_stay_put() {
        let shards = 20;
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..2_000 {
            seen.insert(fnv1a(&format!("2782{i:07}")) % shards);
        }
        assert_eq!(seen.len(), shards as usize, "every shard is used");
        // Stored items carry their shard: a changed hash would hide them from every list.
        assert_eq!(fnv1a("27820000001"), 3_010_423_915);
    }

    #[tokio::test]
    async fn lists_read_every_shard_and_the_items_from_before_sharding() {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let store = DynamoStore::new(Client::new(&sdk), TableNames::prefixed("t")).with_list_shards(3);
        assert_eq!(store.list_partitions(), ["list#0", "list#1", "list#2", LEGACY_LIST]);
        assert!(store.list_partitions().contains(&store.list_key("27820000001")));
    }

    #[test]
    fn items_from_before_windows_per_number_stand_in_until_the_customer_writes_again() {
        let mut item = Item::new();
        item.insert("last_inbound_at".into(), n(1_000));
        item.insert("window_closed_at".into(), n(2_000));
        let legacy = window_of(&item, "111");
        assert_eq!((legacy.last_inbound_ms, legacy.closed_ms), (Some(1_000), Some(2_000)));
        // Once the customer writes to a number, that number's own attributes decide.
        item.insert(inbound_attr("111"), n(5_000));
        let own = window_of(&item, "111");
        assert_eq!((own.last_inbound_ms, own.closed_ms), (Some(5_000), None));
        item.insert(closed_attr("111"), n(6_000));
        assert_eq!(window_of(&item, "111").expires_at(), Some(6_000));
    }
}
