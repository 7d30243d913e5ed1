//! Inbox on DynamoStore: what the inbound processor writes: messages, statuses and raw events.

use crate::adapters::aws::expr::{Expr, get_n, get_s, n, s};
use crate::adapters::aws::sdk_err;
use crate::domain::{
    CustomerKey, DeliveryStatus, Direction, InboundMark, Json, MessageId, RawEvent, Recorded, StatusUpdate,
    StoredMessage, UNREAD_SHOWN, Wamid, seq_key,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, Select, TransactWriteItem, Update};

use super::{DynamoStore, EVENT_TTL_SECS, INBOUND_MARK_ID, Item, from_json, inbound_attr, to_json};
use crate::ports::{Inbox, PortError};

#[async_trait]
impl Inbox for DynamoStore {
    async fn record_inbound(&self, msg: &StoredMessage) -> Result<Recorded, PortError> {
        let recorded = match self.put_with(msg, self.newest_expr(msg)?).await? {
            Tx::Applied => {
                self.upsert_contact(msg).await?;
                return Ok(Recorded::New);
            }
            Tx::Duplicate => Recorded::Duplicate,
            Tx::ConversationRefused => self.put_counted(msg).await?,
        };
        // A message that is not the newest, or a redelivery (which heals a crash before the
        // contact was written): the conversation and window move only where they are behind.
        self.advance_conversation(msg).await?;
        self.upsert_contact(msg).await?;
        Ok(recorded)
    }

    async fn mark_read(&self, wamid: &Wamid) -> Result<bool, PortError> {
        let Some(item) = self
            .get(&self.t.messages, ("id", &MessageId::for_wamid(wamid).to_string()))
            .await?
        else {
            return Ok(false);
        };
        let (Some(customer), Some(seq)) = (get_s(&item, "customer"), get_s(&item, "seq")) else {
            return Ok(false);
        };
        if item.contains_key("state") {
            return Ok(false);
        }
        // Optimistic: recount, then write only if no message was counted meanwhile (and no other
        // mark moved the position); otherwise recount. Each round is a few reads.
        for _ in 0..MARK_READ_ROUNDS {
            let conversation = self.get(&self.t.conversations, ("customer", &customer)).await?;
            let read_seq = conversation.as_ref().and_then(|c| get_s(c, "read_seq"));
            if read_seq.as_ref().is_some_and(|r| *r >= seq) {
                return Ok(true);
            }
            let seen = conversation.as_ref().and_then(|c| get_n(c, "unread"));
            let unread = self.count_inbound_after(&customer, &seq).await?;
            let e = Expr::default()
                .set("read_seq", s(&seq))
                .set("unread", n(unread))
                .remove("unread_ids")
                .when(|e| {
                    let (r, u) = (e.name("read_seq"), e.name("unread"));
                    let position = match &read_seq {
                        Some(r0) => format!("{r} = {}", e.val(s(r0))),
                        None => format!("attribute_not_exists({r})"),
                    };
                    let count = match seen {
                        Some(u0) => format!("{u} = {}", e.val(n(u0))),
                        None => format!("attribute_not_exists({u})"),
                    };
                    let c = e.name("customer");
                    format!("attribute_exists({c}) AND {position} AND {count}")
                });
            if self
                .update_applied(&self.t.conversations, ("customer", &customer), e, "mark read")
                .await?
            {
                return Ok(true);
            }
        }
        Err(PortError::unavailable(
            "mark read",
            "the conversation kept changing; try again",
        ))
    }

    /// One update for the usual status, newer than what the record shows: its facts and its rank
    /// together. An older one (a reordered webhook) takes a second update that keeps its facts only.
    async fn set_automation(&self, id: MessageId, outcome: &Json) -> Result<(), PortError> {
        let first = Expr::default().set("automation", s(outcome.text())).when(|e| {
            let a = e.name("automation");
            format!("attribute_exists(id) AND attribute_not_exists({a})")
        });
        self.update(&self.t.messages, ("id", &id.to_string()), first, "set automation")
            .await
    }

    async fn label_conversation(&self, customer: &CustomerKey, label: &str, at_ms: i64) -> Result<(), PortError> {
        let key = ("customer", customer.as_str());
        let label = Expr::default()
            .add("labels", AttributeValue::Ss(vec![label.to_owned()]))
            .when(|_| "attribute_exists(customer)".to_owned());
        self.update(&self.t.conversations, key, label, "label conversation")
            .await?;
        let later = Expr::default().set("escalated_at", n(at_ms)).when(|e| {
            let (a, t) = (e.name("escalated_at"), e.val(n(at_ms)));
            format!("attribute_exists(customer) AND (attribute_not_exists({a}) OR {a} < {t})")
        });
        self.update(&self.t.conversations, key, later, "label conversation")
            .await
    }

    async fn apply_status(&self, u: &StatusUpdate) -> Result<(), PortError> {
        let key = ("wamid", u.wamid.as_str());
        let error = match (u.status, &u.error) {
            (DeliveryStatus::Failed, Some(e)) => Some(to_json(e)?),
            _ => None,
        };
        let advance = status_facts(u)?
            .set("status", s(u.status.as_str()))
            .set("rank", n(u.status.rank()))
            .set_opt("error", error)
            .when(|e| {
                let (r, v) = (e.name("rank"), e.val(n(u.status.rank())));
                format!("attribute_not_exists({r}) OR {r} < {v}")
            });
        if self
            .update_applied(&self.t.statuses, key, advance, "advance status")
            .await?
        {
            return Ok(());
        }
        self.update(&self.t.statuses, key, status_facts(u)?, "status facts")
            .await
    }

    async fn record_event(&self, event: &RawEvent) -> Result<Recorded, PortError> {
        let now_ms = self.clock.now_ms();
        let mut item = Item::new();
        item.insert("id".into(), s(&event.id));
        item.insert("field".into(), s(&event.field));
        item.insert("seq".into(), s(seq_key(now_ms, &event.id)));
        item.insert("doc".into(), to_json(event)?);
        item.insert("expires_at".into(), n(now_ms / 1000 + EVENT_TTL_SECS));
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

    async fn mark_inbound(&self, mark: InboundMark) -> Result<(), PortError> {
        // In the events table, under a key no event id takes; without `field` it stays out of the
        // events index, and its TTL clears it once no processor has run for a day.
        let e = Expr::default()
            .set("at_ms", n(mark.at_ms))
            .set("oldest_sent_ms", n(mark.oldest_sent_ms))
            .set("expires_at", n(mark.at_ms / 1000 + 86_400))
            .when(|e| {
                let (at, v) = (e.name("at_ms"), e.val(n(mark.at_ms)));
                format!("attribute_not_exists({at}) OR {at} <= {v}")
            });
        self.update(&self.t.events, ("id", INBOUND_MARK_ID), e, "mark inbound")
            .await
    }
}

/// Recounts a mark-read makes before it gives up on a conversation that keeps changing.
const MARK_READ_ROUNDS: usize = 5;

/// How a message's put with its conversation's update went.
enum Tx {
    /// Both written.
    Applied,
    /// The message was already stored; nothing written.
    Duplicate,
    /// The conversation's condition refused; nothing written.
    ConversationRefused,
}

/// What a status tells whatever its order: its own time and the facts only some statuses carry
/// (the first one to carry each wins).
fn status_facts(u: &StatusUpdate) -> Result<Expr, PortError> {
    Ok(Expr::default()
        .set_if_absent(&format!("ts_{}", u.status.as_str()), Some(n(u.timestamp_ms)))
        .set_if_absent(
            "phone_number_id",
            Some(&u.phone_number_id).filter(|p| !p.is_empty()).map(s),
        )
        .set_if_absent("recipient_id", u.recipient_id.clone().map(s))
        .set_if_absent("recipient_user_id", u.recipient_user_id.clone().map(s))
        .set_if_absent("biz_opaque_callback_data", u.biz_opaque_callback_data.clone().map(s))
        .set_if_absent("conversation", u.conversation.as_ref().map(to_json).transpose()?)
        .set_if_absent("pricing", u.pricing.as_ref().map(to_json).transpose()?))
}

impl DynamoStore {
    /// What the usual message, the newest of its conversation, does to the conversation: counts
    /// it unread, shows it, and opens the window, in the one update that goes with the message's
    /// put. Refused when the conversation already shows a newer message.
    fn newest_expr(&self, msg: &StoredMessage) -> Result<Expr, PortError> {
        let (seq, ts) = (msg.seq(), msg.timestamp_ms);
        let window =
            (msg.direction == Direction::Inbound && msg.opens_window).then(|| inbound_attr(&msg.phone_number_id));
        let mut e = self.last_message_expr(msg)?.add("unread", n(1));
        if let Some(attr) = &window {
            e = e.set(attr, n(ts));
        }
        Ok(e.when(|e| {
            let (ls, r, v) = (e.name("last_seq"), e.name("read_seq"), e.val(s(&seq)));
            let mut c =
                format!("(attribute_not_exists({ls}) OR {ls} < {v}) AND (attribute_not_exists({r}) OR {r} < {v})");
            if let Some(attr) = &window {
                let (a, t) = (e.name(attr), e.val(n(ts)));
                c.push_str(&format!(" AND (attribute_not_exists({a}) OR {a} <= {t})"));
            }
            c
        }))
    }

    /// Stores a new inbound message and counts it unread in one transaction, so a crash between
    /// the two can neither lose the count nor, on redelivery, double it. A message older than the
    /// conversation's read position is stored without counting.
    async fn put_counted(&self, msg: &StoredMessage) -> Result<Recorded, PortError> {
        let seq = msg.seq();
        let count = Expr::default().add("unread", n(1)).when(|e| {
            let (r, v) = (e.name("read_seq"), e.val(s(&seq)));
            format!("attribute_not_exists({r}) OR {r} < {v}")
        });
        match self.put_with(msg, count).await? {
            Tx::Applied => Ok(Recorded::New),
            Tx::Duplicate => Ok(Recorded::Duplicate),
            Tx::ConversationRefused => self.put_message(msg, "record inbound").await,
        }
    }

    /// Puts a new message and applies `conversation` (a conditional update of its conversation)
    /// in one transaction: both or neither.
    async fn put_with(&self, msg: &StoredMessage, conversation: Expr) -> Result<Tx, PortError> {
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| PortError::invalid("record inbound", e.to_string());
        let put = Put::builder()
            .table_name(&self.t.messages)
            .set_item(Some(Self::message_item(msg)?))
            .condition_expression("attribute_not_exists(id)")
            .build()
            .map_err(invalid)?;
        let (update, cond, names, values) = conversation.parts();
        let update = Update::builder()
            .table_name(&self.t.conversations)
            .key("customer", s(msg.customer.as_str()))
            .update_expression(update)
            .set_condition_expression(cond)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(invalid)?;
        let tx = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await;
        let Err(err) = tx else { return Ok(Tx::Applied) };
        let refused = |i: usize| match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                .cancellation_reasons()
                .get(i)
                .and_then(|r| r.code())
                .is_some_and(|code| code == "ConditionalCheckFailed"),
            _ => false,
        };
        if refused(0) {
            return Ok(Tx::Duplicate);
        }
        if refused(1) {
            return Ok(Tx::ConversationRefused);
        }
        Err(sdk_err("record inbound")(err))
    }

    /// Inbound messages of `customer` after `seq`, counted up to one past what is shown.
    async fn count_inbound_after(&self, customer: &str, seq: &str) -> Result<i64, PortError> {
        let mut count = 0;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.t.messages)
                .index_name("by_customer")
                .key_condition_expression("#c = :c AND #q > :q")
                .filter_expression("attribute_not_exists(#st)")
                .expression_attribute_names("#c", "customer")
                .expression_attribute_names("#q", "seq")
                .expression_attribute_names("#st", "state")
                .expression_attribute_values(":c", s(customer))
                .expression_attribute_values(":q", s(seq))
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err("count unread"))?;
            count += i64::from(out.count());
            start = out.last_evaluated_key;
            if start.is_none() || count > UNREAD_SHOWN {
                return Ok(count);
            }
        }
    }
}
