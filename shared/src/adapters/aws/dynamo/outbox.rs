//! Outbox on DynamoStore: the send state machine of outbound messages.

use crate::adapters::aws::expr::{Expr, get_n, get_s, n, s};
use crate::adapters::aws::sdk_err;
use crate::adapters::{Refiled, refile};
use crate::domain::{
    CustomerKey, InboundMark, MessageId, Recorded, SendChange, SendProgress, SendState, StoredMessage, Stranded,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::{
    DynamoStore, INBOUND_MARK_ID, PENDING_SHARDS, closed_attr, message_of, pending_at, pending_partition, progress_of,
    to_json,
};
use crate::ports::{Outbox, PortError};

impl DynamoStore {
    /// What moving message `id` to `to` means, or nothing when it is unknown or there already.
    async fn moving(&self, id: MessageId, to: &CustomerKey) -> Result<Option<Refiled>, PortError> {
        let item = self.get(&self.t.messages, ("id", &id.to_string())).await?;
        match item.as_ref().and_then(|i| get_s(i, "doc")) {
            Some(doc) => refile(&doc, to),
            None => Ok(None),
        }
    }

    /// The conversation `moved` left shows its own newest message again, or goes when nothing is
    /// left in it. Both only while it still shows `moved`: a message that arrived meanwhile wins.
    async fn vacate(&self, left: &CustomerKey, moved: &StoredMessage) -> Result<(), PortError> {
        let cond = Expr::default().when(|e| {
            let (c, v) = (e.name("customer"), e.val(s(left.as_str())));
            format!("{c} = {v}")
        });
        // Two: the index may show the moved message under its old customer for a moment.
        let items = self.query(&self.t.messages, "by_customer", cond, false, 2).await?;
        let mut newest = None;
        for item in &items {
            if let Some(m) = message_of(item)?.filter(|m| m.id != moved.id) {
                newest = Some(m);
                break;
            }
        }
        let seq = moved.seq();
        let still_shows = |e: &mut Expr| {
            let (ls, v) = (e.name("last_seq"), e.val(s(&seq)));
            format!("{ls} = {v}")
        };
        match newest {
            Some(mut m) => {
                m.customer = left.clone();
                let e = self.last_message_expr(&m)?.when(still_shows);
                self.update(
                    &self.t.conversations,
                    ("customer", left.as_str()),
                    e,
                    "vacate conversation",
                )
                .await
            }
            None => {
                self.delete_if(
                    &self.t.conversations,
                    ("customer", left.as_str()),
                    Expr::default().when(still_shows),
                    "vacate conversation",
                )
                .await
            }
        }
    }
}

#[async_trait]
impl Outbox for DynamoStore {
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
        // A message moving to the form WhatsApp resolved: the conversation it joins advances
        // first, so a crash part way never leaves it in no conversation at all.
        let moving = match change {
            SendChange::Accepted { resolved: Some(to), .. } => self.moving(id, to).await?,
            _ => None,
        };
        if let Some(m) = &moving {
            self.advance_conversation(&m.message).await?;
        }
        let e = match change {
            SendChange::Attempt { at_ms, .. } => Expr::default()
                .set("state", s(SendState::Sending.as_str()))
                .set("last_attempt_ms", n(*at_ms))
                .set("pending_at", s(pending_at(*at_ms)))
                .add("attempts", n(1)),
            SendChange::Accepted { wamid, .. } => {
                let e = Expr::default()
                    .set("state", s(SendState::Accepted.as_str()))
                    .set("wamid", s(wamid.as_str()))
                    .remove("pending_shard")
                    .remove("pending_at");
                match &moving {
                    Some(m) => e.set("customer", s(m.message.customer.as_str())).set("doc", s(&m.doc)),
                    None => e,
                }
            }
            SendChange::Confirmed { wamid } => Expr::default()
                .set("state", s(SendState::Accepted.as_str()))
                .set("wamid", s(wamid.as_str()))
                .remove("send_error")
                .remove("pending_shard")
                .remove("pending_at"),
            SendChange::Requeued { at_ms } => Expr::default()
                .set("pending_at", s(pending_at(*at_ms)))
                .add("requeues", n(1)),
            SendChange::Deferred { error } => Expr::default()
                .set("state", s(SendState::Queued.as_str()))
                .set("send_error", to_json(error)?),
            SendChange::Failed { error } => Expr::default()
                .set("state", s(SendState::Failed.as_str()))
                .set("send_error", to_json(error)?)
                .remove("pending_shard")
                .remove("pending_at"),
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
                SendChange::Confirmed { .. } => {
                    let f = e.val(s(SendState::Failed.as_str()));
                    format!("{st} IN ({q}, {sd}, {f})")
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
            Ok(out) => {
                if let Some(m) = &moving {
                    self.vacate(&m.left, &m.message).await?;
                }
                out.attributes
            }
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item().cloned(),
                _ => return Err(sdk_err("update outbound")(err)),
            },
        };
        Ok(item.as_ref().map(progress_of).transpose()?.flatten())
    }

    async fn stranded(&self, before_ms: i64, limit: u32) -> Result<Vec<Stranded>, PortError> {
        // Each shard's oldest first; the sweep takes what it can and the next sweep the rest. The
        // index projects `requeues`, so the sweep reads nothing else.
        let mut found = Vec::new();
        for shard in 0..PENDING_SHARDS {
            let want = limit.saturating_sub(u32::try_from(found.len()).unwrap_or(u32::MAX));
            if want == 0 {
                break;
            }
            let cond = Expr::default().when(|e| {
                let (k, kv) = (e.name("pending_shard"), e.val(s(pending_partition(shard))));
                let (a, av) = (e.name("pending_at"), e.val(s(pending_at(before_ms))));
                format!("{k} = {kv} AND {a} < {av}")
            });
            let items = self.query(&self.t.messages, "by_pending", cond, true, want).await?;
            found.extend(items.iter().filter_map(|i| {
                Some(Stranded {
                    id: MessageId::parse(&get_s(i, "id")?).ok()?,
                    requeues: get_n(i, "requeues").and_then(|r| u32::try_from(r).ok()).unwrap_or(0),
                })
            }));
        }
        Ok(found)
    }

    async fn close_window(&self, phone_number_id: &str, customer: &CustomerKey, at_ms: i64) -> Result<(), PortError> {
        let attr = closed_attr(phone_number_id);
        let e = Expr::default().set(&attr, n(at_ms)).when(|e| {
            let (c, w, v) = (e.name("customer"), e.name(&attr), e.val(n(at_ms)));
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

    async fn inbound_mark(&self) -> Result<Option<InboundMark>, PortError> {
        let item = self.get(&self.t.events, ("id", INBOUND_MARK_ID)).await?;
        Ok(item.and_then(|i| {
            Some(InboundMark {
                at_ms: get_n(&i, "at_ms")?,
                oldest_sent_ms: get_n(&i, "oldest_sent_ms")?,
            })
        }))
    }
}
