//! Inbox on DynamoStore: what the inbound processor writes: messages, statuses and raw events.

use crate::adapters::aws::expr::{Expr, n, s};
use crate::domain::{DeliveryStatus, InboundMark, RawEvent, Recorded, StatusUpdate, StoredMessage, seq_key};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{DynamoStore, EVENT_TTL_SECS, INBOUND_MARK_ID, Item, LIST, from_json, to_json};
use crate::ports::{Inbox, PortError};

#[async_trait]
impl Inbox for DynamoStore {
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
