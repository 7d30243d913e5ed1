//! ReadModel on DynamoStore: what the HTTP API reads: messages, conversations, contacts.

use crate::adapters::aws::expr::{Expr, get_s, s};
use crate::domain::{Conversation, CustomerKey, Direction, MessageId, MessageRef, StoredMessage, Window};
use crate::read::{AFTER_ALL_KEYS, MessageView, Page, PageRequest, messages_list};
use async_trait::async_trait;

use super::{DynamoStore, Item, Reads, conversation_of, message_of, window_of};
use crate::ports::{PortError, ReadModel, Walk};

#[async_trait]
impl ReadModel for DynamoStore {
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

    async fn timeline(&self, customer: &CustomerKey, walk: Walk<'_>) -> Result<Vec<StoredMessage>, PortError> {
        let Walk {
            lo,
            hi,
            newest_first,
            limit,
            ours_only,
        } = walk;
        // BETWEEN is inclusive; the bounds are never a stored key (they end in `#` or `~`, or are
        // a key the caller already has), and are dropped if they are.
        let (lo_v, hi_v) = (if lo.is_empty() { "0" } else { lo }, hi);
        if lo_v >= hi_v {
            return Ok(Vec::new());
        }
        let mut filter = None;
        let cond = Expr::default().when(|e| {
            let (c, cv, sq, l, h) = (
                e.name("customer"),
                e.val(s(customer.as_str())),
                e.name("seq"),
                e.val(s(lo_v)),
                e.val(s(hi_v)),
            );
            // Only our messages have a send state. The filter saves what comes back, not what is
            // read: a customer's run of messages between two of ours is still read past.
            filter = ours_only.then(|| format!("attribute_exists({})", e.name("state")));
            format!("{c} = {cv} AND {sq} BETWEEN {l} AND {h}")
        });
        let items = self
            .query_filtered(
                &self.t.messages,
                "by_customer",
                cond,
                filter.map(|f| (f, Reads::Wanted)),
                !newest_first,
                limit + 2,
            )
            .await?;
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            let seq = get_s(item, "seq").unwrap_or_default();
            if seq.as_str() <= lo || seq.as_str() >= hi {
                continue;
            }
            if let Some(m) = message_of(item)? {
                out.push(m);
            }
        }
        out.truncate(limit as usize);
        Ok(out)
    }

    async fn conversations(&self, page: &PageRequest, now_ms: i64) -> Result<Page<Conversation>, PortError> {
        let before = page.after.clone().unwrap_or_else(|| AFTER_ALL_KEYS.to_owned());
        let items = self
            .merged(
                &self.t.conversations,
                "by_activity",
                "activity",
                &before,
                false,
                page.limit + 1,
            )
            .await?;
        let rows = items
            .iter()
            .map(|(i, activity)| Ok((conversation_of(i)?.with_window(now_ms), activity.clone())))
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

    async fn window(&self, phone_number_id: &str, customer: &CustomerKey) -> Result<Window, PortError> {
        let item = self.get(&self.t.conversations, ("customer", customer.as_str())).await?;
        Ok(item.map(|i| window_of(&i, phone_number_id)).unwrap_or_default())
    }

    async fn ping(&self) -> Result<(), PortError> {
        self.get(&self.t.messages, ("id", "health-check")).await.map(drop)
    }
}

impl DynamoStore {
    /// The first `want` items of a sharded list index past `from` in `sort` order (ascending when
    /// `forward`), with their sort keys: each partition answers its own first `want`, and the
    /// merge keeps the overall first. The sort keys are unique across partitions (they end in the
    /// customer key), so the last one returned is a complete cursor: the next page asks every
    /// partition for what lies past it, and items that did not move are neither repeated nor
    /// skipped while others move.
    async fn merged(
        &self,
        table: &str,
        index: &str,
        sort: &str,
        from: &str,
        forward: bool,
        want: u32,
    ) -> Result<Vec<(Item, String)>, PortError> {
        let queries = self.list_partitions().into_iter().map(|partition| {
            let cond = Expr::default().when(|e| {
                let (l, lv, k, kv) = (e.name("list"), e.val(s(partition)), e.name(sort), e.val(s(from)));
                let op = if forward { ">" } else { "<" };
                format!("{l} = {lv} AND {k} {op} {kv}")
            });
            self.query(table, index, cond, forward, want)
        });
        let mut rows: Vec<(Item, String)> = futures::future::try_join_all(queries)
            .await?
            .into_iter()
            .flatten()
            .map(|i| {
                let k = get_s(&i, sort).unwrap_or_default();
                (i, k)
            })
            .collect();
        rows.sort_by(|a, b| if forward { a.1.cmp(&b.1) } else { b.1.cmp(&a.1) });
        rows.truncate(want as usize);
        Ok(rows)
    }
}
