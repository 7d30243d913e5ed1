//! The store on DynamoDB. A message is stored once per id by a put guarded by
//! `attribute_not_exists(id)`; the unread count is a set of message ids (adding one twice is a no-op);
//! everything that only moves forward (last message, window, contact times, statuses) is a
//! conditional update that is a no-op when repeated. So every step can be re-run after a crash or a
//! redelivery, none needs a transaction, and nothing is double-counted or goes backwards.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::TableNames;
use super::expr::{Expr, get_n, get_s, n, s};
use crate::domain::{
    AFTER_ALL_KEYS, Contact, Conversation, CustomerKey, DeliveryStatus, Direction, IdempotencyClaim, LastMessage,
    MessageId, MessageRef, MessageView, Page, PageRequest, RawEvent, Recorded, SendChange, SendProgress, SendState,
    StatusRecord, StatusUpdate, StoredMessage, Wamid, messages_list, seq_key,
};
use crate::ports::{PortError, Store, unavailable};

type Item = HashMap<String, AttributeValue>;

/// Partition value of the list indexes (conversations by activity, contacts by key).
const LIST: &str = "all";
/// Raw events are kept for 90 days.
const EVENT_TTL_SECS: i64 = 90 * 24 * 3600;

/// The DynamoDB store.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    t: TableNames,
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

/// A conditional update whose condition failing means "already further along": not an error.
fn ignore_condition(r: Result<(), SdkError<UpdateItemError>>, op: &'static str) -> Result<(), PortError> {
    match r {
        Err(e)
            if e.as_service_error()
                .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
        {
            Ok(())
        }
        Err(e) => Err(PortError::unavailable(op, e)),
        Ok(()) => Ok(()),
    }
}

impl DynamoStore {
    /// Wraps a client and the table names.
    pub fn new(client: Client, tables: TableNames) -> Self {
        Self { client, t: tables }
    }

    fn message_item(m: &StoredMessage) -> Result<Item, PortError> {
        let mut item = Item::new();
        item.insert("id".into(), s(m.id.to_string()));
        if let Some(w) = &m.wamid {
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
            Err(e) => Err(PortError::unavailable(op, e)),
        }
    }

    /// Stores a message once per id.
    async fn put_message(&self, msg: &StoredMessage, op: &'static str) -> Result<Recorded, PortError> {
        self.put_once(&self.t.messages, Self::message_item(msg)?, op).await
    }

    async fn update(&self, table: &str, key: (&str, &str), e: Expr, op: &'static str) -> Result<(), PortError> {
        let call = self.client.update_item().table_name(table).key(key.0, s(key.1));
        ignore_condition(e.apply(call).send().await.map(drop), op)
    }

    /// Moves the conversation's last message forward when `m` is newer than what it shows.
    async fn advance_conversation(&self, m: &StoredMessage) -> Result<(), PortError> {
        let c = m.customer.as_str();
        let last = LastMessage {
            id: m.id.to_string(),
            msg_type: m.msg_type.clone(),
            text: m.text.clone(),
            direction: m.direction,
        };
        let seq = m.seq();
        let e = Expr::default()
            .set("list", s(LIST))
            .set("last_message", to_json(&last)?)
            .set("last_seq", s(&seq))
            .set("last_message_at", n(m.timestamp_ms))
            .set("activity", s(seq_key(m.timestamp_ms, c)))
            .set("phone_number_id", s(&m.phone_number_id))
            .set_opt("name", m.profile_name.clone().map(s))
            .set_if_absent("wa_id", m.wa_id.clone().map(s))
            .set_if_absent("user_id", m.user_id.clone().map(s))
            .when(|e| {
                let (ls, v) = (e.name("last_seq"), e.val(s(&seq)));
                format!("attribute_not_exists({ls}) OR {ls} < {v}")
            });
        self.update(&self.t.conversations, ("customer", c), e, "advance conversation")
            .await?;
        if m.direction == Direction::Inbound && m.opens_window {
            let e = Expr::default().set("last_inbound_at", n(m.timestamp_ms)).when(|e| {
                let (a, v) = (e.name("last_inbound_at"), e.val(n(m.timestamp_ms)));
                format!("attribute_not_exists({a}) OR {a} < {v}")
            });
            self.update(&self.t.conversations, ("customer", c), e, "open window")
                .await?;
        }
        Ok(())
    }

    async fn upsert_contact(&self, m: &StoredMessage) -> Result<(), PortError> {
        let (c, t) = (m.customer.as_str(), m.timestamp_ms);
        let table = &self.t.contacts;
        let seed = Expr::default()
            .set("list", s(LIST))
            .set_if_absent("wa_id", m.wa_id.clone().map(s))
            .set_if_absent("user_id", m.user_id.clone().map(s))
            .set_if_absent("name", m.profile_name.clone().map(s))
            .set_if_absent("phone_number_id", Some(s(&m.phone_number_id)))
            .set_if_absent("first_seen_at", Some(n(t)))
            .set_if_absent("last_seen_at", Some(n(t)));
        self.update(table, ("customer", c), seed, "upsert contact").await?;
        let earlier = Expr::default().set("first_seen_at", n(t)).when(|e| {
            let (a, v) = (e.name("first_seen_at"), e.val(n(t)));
            format!("{a} > {v}")
        });
        self.update(table, ("customer", c), earlier, "contact first seen")
            .await?;
        let later = Expr::default()
            .set("last_seen_at", n(t))
            .set("phone_number_id", s(&m.phone_number_id))
            .set_opt("name", m.profile_name.clone().map(s))
            .when(|e| {
                let (a, v) = (e.name("last_seen_at"), e.val(n(t)));
                format!("{a} <= {v}")
            });
        self.update(table, ("customer", c), later, "contact last seen").await
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
            .map_err(unavailable("get item"))?;
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
        let mut out = HashMap::new();
        let unique: std::collections::BTreeSet<&String> = wamids.iter().collect();
        let unique: Vec<&String> = unique.into_iter().collect();
        for chunk in unique.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|w| Item::from([("wamid".to_owned(), s(w.as_str()))]))
                .collect();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| PortError::invalid("batch get statuses", e.to_string()))?,
            );
            while let Some(request) = pending.take() {
                let res = self
                    .client
                    .batch_get_item()
                    .request_items(&self.t.statuses, request)
                    .send()
                    .await
                    .map_err(unavailable("batch get statuses"))?;
                for item in res
                    .responses
                    .and_then(|mut r| r.remove(&self.t.statuses))
                    .unwrap_or_default()
                {
                    if let Some(w) = get_s(&item, "wamid") {
                        out.insert(w, status_of(&item)?);
                    }
                }
                // DynamoDB may leave keys unprocessed under load: ask again for those.
                pending = res.unprocessed_keys.and_then(|mut u| u.remove(&self.t.statuses));
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
        let (_, c, names, values) = cond.parts();
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(table)
                .index_name(index)
                .set_key_condition_expression(c.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(forward)
                .limit(i32::try_from(want - out.len() as u32).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable("query"))?;
            out.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() || out.len() as u32 >= want {
                return Ok(out);
            }
        }
    }
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
    Ok(Some(m))
}

fn conversation_of(item: &Item) -> Result<Conversation, PortError> {
    Ok(Conversation {
        wa_id: get_s(item, "wa_id"),
        user_id: get_s(item, "user_id"),
        phone_number_id: get_s(item, "phone_number_id"),
        name: get_s(item, "name"),
        last_message: from_json(item, "last_message")?,
        last_message_at: get_n(item, "last_message_at"),
        unread: item
            .get("unread_ids")
            .and_then(|v| v.as_ss().ok())
            .map_or(0, |ids| ids.len() as i64),
        window_expires_at: None,
        window_open: false,
        last_inbound_ms: get_n(item, "last_inbound_at"),
        window_closed_ms: get_n(item, "window_closed_at"),
    })
}

fn contact_of(item: &Item) -> Contact {
    Contact {
        wa_id: get_s(item, "wa_id"),
        user_id: get_s(item, "user_id"),
        name: get_s(item, "name"),
        phone_number_id: get_s(item, "phone_number_id"),
        first_seen_at: get_n(item, "first_seen_at"),
        last_seen_at: get_n(item, "last_seen_at"),
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn record_inbound(&self, msg: &StoredMessage) -> Result<Recorded, PortError> {
        let recorded = self.put_message(msg, "record inbound").await?;
        // The unread count is the size of a set of message ids: adding an id twice is a no-op, so
        // this step runs on every delivery (healing a crash right after the put) and still counts
        // each message once, without a transaction.
        let unread = AttributeValue::Ss(vec![msg.id.to_string()]);
        let e = Expr::default().set("list", s(LIST)).add("unread_ids", unread);
        self.update(
            &self.t.conversations,
            ("customer", msg.customer.as_str()),
            e,
            "count unread",
        )
        .await?;
        self.advance_conversation(msg).await?;
        self.upsert_contact(msg).await?;
        Ok(recorded)
    }

    async fn record_outbound(&self, msg: &StoredMessage) -> Result<Recorded, PortError> {
        let recorded = self.put_message(msg, "record outbound").await?;
        self.advance_conversation(msg).await?;
        Ok(recorded)
    }

    async fn outbound(&self, id: MessageId) -> Result<Option<(StoredMessage, SendProgress)>, PortError> {
        let Some(item) = self.get(&self.t.messages, ("id", &id.to_string())).await? else {
            return Ok(None);
        };
        match (message_of(&item)?, progress_of(&item)?) {
            (Some(m), Some(p)) => Ok(Some((m, p))),
            _ => Ok(None),
        }
    }

    async fn update_outbound(&self, id: MessageId, change: &SendChange) -> Result<Option<SendProgress>, PortError> {
        let e = match change {
            SendChange::Attempt { at_ms, .. } => Expr::default()
                .set("state", s(SendState::Sending.as_str()))
                .set("last_attempt_ms", n(*at_ms))
                .add("attempts", n(1)),
            SendChange::Accepted { wamid } => Expr::default()
                .set("state", s(SendState::Accepted.as_str()))
                .set("wamid", s(wamid.as_str())),
            SendChange::Deferred { error } => Expr::default()
                .set("state", s(SendState::Queued.as_str()))
                .set("send_error", to_json(error)?),
            SendChange::Failed { error } => Expr::default()
                .set("state", s(SendState::Failed.as_str()))
                .set("send_error", to_json(error)?),
        }
        .when(|e| {
            let (st, q, sd) = (
                e.name("state"),
                e.val(s(SendState::Queued.as_str())),
                e.val(s(SendState::Sending.as_str())),
            );
            match change {
                SendChange::Attempt { after_attempts, .. } => {
                    let (a, v) = (e.name("attempts"), e.val(n(i64::from(*after_attempts))));
                    format!("{st} IN ({q}, {sd}) AND {a} = {v}")
                }
                _ => format!("{st} IN ({q}, {sd})"),
            }
        });
        // One round trip: the item after the change, or as it was when the condition refused it
        // (final already, or another worker's attempt); no item at all for an unknown id.
        let call = self
            .client
            .update_item()
            .table_name(&self.t.messages)
            .key("id", s(id.to_string()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let item = match e.apply(call).send().await {
            Ok(out) => out.attributes,
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item().cloned(),
                _ => return Err(PortError::unavailable("update outbound", err)),
            },
        };
        Ok(item.as_ref().map(progress_of).transpose()?.flatten())
    }

    async fn close_window(&self, customer: &CustomerKey, at_ms: i64) -> Result<(), PortError> {
        let e = Expr::default().set("window_closed_at", n(at_ms)).when(|e| {
            let (c, w, v) = (e.name("customer"), e.name("window_closed_at"), e.val(n(at_ms)));
            format!("attribute_exists({c}) AND (attribute_not_exists({w}) OR {w} < {v})")
        });
        self.update(
            &self.t.conversations,
            ("customer", customer.as_str()),
            e,
            "close window",
        )
        .await
    }

    async fn claim_idempotency(
        &self,
        key: &str,
        fingerprint: &str,
        expires_ms: i64,
    ) -> Result<IdempotencyClaim, PortError> {
        let now = chrono::Utc::now().timestamp_millis();
        let mut item = Item::new();
        item.insert("key".into(), s(key));
        item.insert("fingerprint".into(), s(fingerprint));
        item.insert("expires_ms".into(), n(expires_ms));
        item.insert("expires_at".into(), n(expires_ms / 1000));
        let mut values = HashMap::new();
        values.insert(":now".to_owned(), n(now));
        let put = self
            .client
            .put_item()
            .table_name(&self.t.idempotency)
            .set_item(Some(item))
            // DynamoDB's TTL deletes late: an expired record counts as absent.
            .condition_expression("attribute_not_exists(#k) OR expires_ms < :now")
            .expression_attribute_names("#k", "key")
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match put {
            Ok(_) => return Ok(IdempotencyClaim::New),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(PortError::unavailable("claim idempotency key", e)),
        }
        let item = self.get(&self.t.idempotency, ("key", key)).await?.unwrap_or_default();
        let fingerprint = get_s(&item, "fingerprint").unwrap_or_default();
        Ok(match (get_n(&item, "status"), from_json(&item, "body")?) {
            (Some(status), Some(body)) => IdempotencyClaim::Answered {
                fingerprint,
                status: u16::try_from(status).unwrap_or(500),
                body,
            },
            _ => IdempotencyClaim::InProgress { fingerprint },
        })
    }

    async fn finish_idempotency(&self, key: &str, status: u16, body: &serde_json::Value) -> Result<(), PortError> {
        let e = Expr::default()
            .set("status", n(i64::from(status)))
            .set("body", to_json(body)?);
        self.update(&self.t.idempotency, ("key", key), e, "finish idempotency key")
            .await
    }

    async fn release_idempotency(&self, key: &str) -> Result<(), PortError> {
        let mut names = HashMap::new();
        names.insert("#s".to_owned(), "status".to_owned());
        let r = self
            .client
            .delete_item()
            .table_name(&self.t.idempotency)
            .key("key", s(key))
            .condition_expression("attribute_not_exists(#s)")
            .set_expression_attribute_names(Some(names))
            .send()
            .await;
        match r {
            Err(e)
                if !e
                    .as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(PortError::unavailable("release idempotency key", e))
            }
            _ => Ok(()),
        }
    }

    async fn apply_status(&self, u: &StatusUpdate) -> Result<(), PortError> {
        let w = u.wamid.as_str();
        let facts = Expr::default()
            .set_if_absent(&format!("ts_{}", u.status.as_str()), Some(n(u.timestamp_ms)))
            .set_if_absent(
                "phone_number_id",
                Some(&u.phone_number_id).filter(|p| !p.is_empty()).map(s),
            )
            .set_if_absent("recipient_id", u.recipient_id.clone().map(s))
            .set_if_absent("recipient_user_id", u.recipient_user_id.clone().map(s))
            .set_if_absent("biz_opaque_callback_data", u.biz_opaque_callback_data.clone().map(s))
            .set_if_absent("conversation", u.conversation.as_ref().map(to_json).transpose()?)
            .set_if_absent("pricing", u.pricing.as_ref().map(to_json).transpose()?);
        self.update(&self.t.statuses, ("wamid", w), facts, "status facts")
            .await?;
        let error = match (u.status, &u.error) {
            (DeliveryStatus::Failed, Some(e)) => Some(to_json(e)?),
            _ => None,
        };
        let advance = Expr::default()
            .set("status", s(u.status.as_str()))
            .set("rank", n(u.status.rank()))
            .set_opt("error", error)
            .when(|e| {
                let (r, v) = (e.name("rank"), e.val(n(u.status.rank())));
                format!("attribute_not_exists({r}) OR {r} < {v}")
            });
        self.update(&self.t.statuses, ("wamid", w), advance, "advance status")
            .await
    }

    async fn record_event(&self, event: &RawEvent) -> Result<Recorded, PortError> {
        let now = chrono::Utc::now();
        let mut item = Item::new();
        item.insert("id".into(), s(&event.id));
        item.insert("field".into(), s(&event.field));
        item.insert("seq".into(), s(seq_key(now.timestamp_millis(), &event.id)));
        item.insert("doc".into(), to_json(event)?);
        item.insert("expires_at".into(), n(now.timestamp() + EVENT_TTL_SECS));
        self.put_once(&self.t.events, item, "record event").await
    }

    async fn events(&self, field: &str, limit: u32) -> Result<Vec<RawEvent>, PortError> {
        let cond = Expr::default().when(|e| {
            let (f, v) = (e.name("field"), e.val(s(field)));
            format!("{f} = {v}")
        });
        let items = self.query(&self.t.events, "by_field", cond, true, limit).await?;
        items
            .iter()
            .map(|i| from_json(i, "doc").map(Option::unwrap_or_default))
            .filter_map(|r| r.transpose())
            .collect()
    }

    async fn message(&self, r: &MessageRef) -> Result<Option<MessageView>, PortError> {
        let (item, wamid) = match r {
            MessageRef::Id(id) => (self.get(&self.t.messages, ("id", &id.to_string())).await?, None),
            MessageRef::Wamid(w) => {
                let direct = self
                    .get(&self.t.messages, ("id", &MessageId::for_wamid(w).to_string()))
                    .await?;
                let item = match direct {
                    Some(i) => Some(i),
                    None => {
                        let cond = Expr::default().when(|e| {
                            let (k, v) = (e.name("wamid"), e.val(s(w.as_str())));
                            format!("{k} = {v}")
                        });
                        self.query(&self.t.messages, "by_wamid", cond, true, 1)
                            .await?
                            .into_iter()
                            .next()
                    }
                };
                (item, Some(w.clone()))
            }
        };
        let msg = item.as_ref().map(message_of).transpose()?.flatten();
        self.view(msg, wamid.as_ref()).await
    }

    async fn conversation_messages(
        &self,
        customer: &CustomerKey,
        page: &PageRequest,
    ) -> Result<Page<MessageView>, PortError> {
        let before = page.after.clone().unwrap_or_else(|| AFTER_ALL_KEYS.to_owned());
        let cond = Expr::default().when(|e| {
            let (c, cv, sq, sv) = (
                e.name("customer"),
                e.val(s(customer.as_str())),
                e.name("seq"),
                e.val(s(before)),
            );
            format!("{c} = {cv} AND {sq} < {sv}")
        });
        let items = self
            .query(&self.t.messages, "by_customer", cond, false, page.limit + 1)
            .await?;
        let mut messages = Vec::with_capacity(items.len());
        for item in &items {
            if let Some(m) = message_of(item)? {
                messages.push((m, get_s(item, "seq").unwrap_or_default()));
            }
        }
        let outbound: Vec<String> = messages
            .iter()
            .filter(|(m, _)| m.direction == Direction::Outbound)
            .filter_map(|(m, _)| m.wamid.as_ref().map(|w| w.as_str().to_owned()))
            .collect();
        let mut statuses = self.statuses(&outbound).await?;
        let rows = messages
            .into_iter()
            .filter_map(|(m, seq)| {
                let status = match (&m.direction, &m.wamid) {
                    (Direction::Outbound, Some(w)) => statuses.remove(w.as_str()),
                    _ => None,
                };
                MessageView::join(Some(m), status, None).map(|v| (v, seq))
            })
            .collect();
        let mut out = Page::from_rows(rows, page.limit, &messages_list(customer));
        out.data.reverse();
        Ok(out)
    }

    async fn conversations(&self, page: &PageRequest, now_ms: i64) -> Result<Page<Conversation>, PortError> {
        let before = page.after.clone().unwrap_or_else(|| AFTER_ALL_KEYS.to_owned());
        let cond = Expr::default().when(|e| {
            let (l, lv, a, av) = (e.name("list"), e.val(s(LIST)), e.name("activity"), e.val(s(before)));
            format!("{l} = {lv} AND {a} < {av}")
        });
        let items = self
            .query(&self.t.conversations, "by_activity", cond, false, page.limit + 1)
            .await?;
        let rows = items
            .iter()
            .map(|i| {
                Ok((
                    conversation_of(i)?.with_window(now_ms),
                    get_s(i, "activity").unwrap_or_default(),
                ))
            })
            .collect::<Result<Vec<_>, PortError>>()?;
        Ok(Page::from_rows(rows, page.limit, "conversations"))
    }

    async fn conversation(&self, customer: &CustomerKey, now_ms: i64) -> Result<Option<Conversation>, PortError> {
        let item = self.get(&self.t.conversations, ("customer", customer.as_str())).await?;
        // A bare counter row (transaction committed, last message not yet advanced) is not a conversation.
        item.filter(|i| i.contains_key("activity"))
            .map(|i| Ok(conversation_of(&i)?.with_window(now_ms)))
            .transpose()
    }

    async fn contacts(&self, page: &PageRequest) -> Result<Page<Contact>, PortError> {
        // Key values may not be empty; a space sorts before every key (keys hold no whitespace).
        let after = page.after.clone().unwrap_or_else(|| " ".to_owned());
        let cond = Expr::default().when(|e| {
            let (l, lv, c, cv) = (e.name("list"), e.val(s(LIST)), e.name("customer"), e.val(s(after)));
            format!("{l} = {lv} AND {c} > {cv}")
        });
        let items = self
            .query(&self.t.contacts, "by_customer", cond, true, page.limit + 1)
            .await?;
        let rows = items
            .iter()
            .map(|i| (contact_of(i), get_s(i, "customer").unwrap_or_default()))
            .collect();
        Ok(Page::from_rows(rows, page.limit, "contacts"))
    }

    async fn contact(&self, customer: &CustomerKey) -> Result<Option<Contact>, PortError> {
        Ok(self
            .get(&self.t.contacts, ("customer", customer.as_str()))
            .await?
            .map(|i| contact_of(&i)))
    }

    async fn ping(&self) -> Result<(), PortError> {
        self.get(&self.t.messages, ("id", "health-check")).await.map(drop)
    }
}
