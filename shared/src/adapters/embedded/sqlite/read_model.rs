//! ReadModel on SqliteStore: what the HTTP API reads: messages, conversations, contacts.

use crate::adapters::embedded::sql_err;
use crate::domain::{Conversation, CustomerKey, MessageId, MessageRef, StoredMessage, Window};
use crate::read::{AFTER_ALL_KEYS, MessageView, Page, PageRequest, messages_list};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{
    CONVERSATION_SELECT, MESSAGE_COLUMNS, MessageRow, SqliteStore, by_id, conversation_row, message_row, stored, view,
};
use crate::ports::{PortError, ReadModel, Walk};

#[async_trait]
impl ReadModel for SqliteStore {
    async fn message(&self, r: &MessageRef) -> Result<Option<MessageView>, PortError> {
        let r = r.clone();
        self.with("read message", move |conn| {
            let (doc, wamid) = match &r {
                MessageRef::Id(id) => (by_id(conn, *id)?, None),
                MessageRef::Wamid(w) => {
                    // Inbound ids derive from the wamid: one primary-key read finds them.
                    let doc = match by_id(conn, MessageId::for_wamid(w))? {
                        Some(d) => Some(d),
                        None => conn
                            .query_row(
                                &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE wamid = ?1 LIMIT 1"),
                                [w.as_str()],
                                message_row,
                            )
                            .optional()
                            .map_err(sql_err("read message"))?,
                    };
                    (doc, Some(w.clone()))
                }
            };
            view(conn, doc, wamid.as_ref())
        })
        .await
    }

    async fn conversation_messages(
        &self,
        customer: &CustomerKey,
        page: &PageRequest,
    ) -> Result<Page<MessageView>, PortError> {
        let (c, p) = (customer.clone(), page.clone());
        self.with("read conversation", move |conn| {
            let before = p.after.clone().unwrap_or_else(|| AFTER_ALL_KEYS.to_owned());
            let rows: Vec<(MessageRow, String)> = {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {MESSAGE_COLUMNS}, seq FROM messages WHERE customer = ?1 AND seq < ?2
                         ORDER BY seq DESC LIMIT ?3"
                    ))
                    .map_err(sql_err("read conversation"))?;
                stmt.query_map(params![c.as_str(), before, p.limit + 1], |r| {
                    Ok((message_row(r)?, r.get("seq")?))
                })
                .map_err(sql_err("read conversation"))?
                .collect::<Result<_, _>>()
                .map_err(sql_err("read conversation"))?
            };
            let mut views = Vec::with_capacity(rows.len());
            for (row, seq) in rows {
                if let Some(v) = view(conn, Some(row), None)? {
                    views.push((v, seq));
                }
            }
            let mut page = Page::from_rows(views, p.limit, &messages_list(&c));
            page.data.reverse();
            Ok(page)
        })
        .await
    }

    async fn timeline(&self, customer: &CustomerKey, walk: Walk<'_>) -> Result<Vec<StoredMessage>, PortError> {
        let Walk {
            lo,
            hi,
            newest_first,
            limit,
            ours_only,
        } = walk;
        let (c, lo, hi) = (customer.clone(), lo.to_owned(), hi.to_owned());
        self.with("read timeline", move |conn| {
            let order = if newest_first { "DESC" } else { "ASC" };
            // Only our messages have a send state: the partial index `messages_ours` holds them.
            let ours = if ours_only { "AND state IS NOT NULL" } else { "" };
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE customer = ?1 AND seq > ?2 AND seq < ?3 {ours}
                     ORDER BY seq {order} LIMIT ?4"
                ))
                .map_err(sql_err("read timeline"))?;
            let rows: Vec<MessageRow> = stmt
                .query_map(params![c.as_str(), lo, hi, limit], message_row)
                .map_err(sql_err("read timeline"))?
                .collect::<Result<_, _>>()
                .map_err(sql_err("read timeline"))?;
            rows.iter().map(stored).collect()
        })
        .await
    }

    async fn conversations(&self, page: &PageRequest, now_ms: i64) -> Result<Page<Conversation>, PortError> {
        let p = page.clone();
        self.with("list conversations", move |conn| {
            let before = p.after.clone().unwrap_or_else(|| AFTER_ALL_KEYS.to_owned());
            let mut stmt = conn
                .prepare_cached(&format!(
                    "{CONVERSATION_SELECT} WHERE c.activity IS NOT NULL AND c.activity < ?1
                     ORDER BY c.activity DESC LIMIT ?2"
                ))
                .map_err(sql_err("list conversations"))?;
            let rows: Vec<(Conversation, String)> = stmt
                .query_map(params![before, p.limit + 1], conversation_row)
                .map_err(sql_err("list conversations"))?
                .collect::<Result<_, _>>()
                .map_err(sql_err("list conversations"))?;
            let rows = rows.into_iter().map(|(c, k)| (c.with_window(now_ms), k)).collect();
            Ok(Page::from_rows(rows, p.limit, "conversations"))
        })
        .await
    }

    async fn conversation(&self, customer: &CustomerKey, now_ms: i64) -> Result<Option<Conversation>, PortError> {
        let c = customer.clone();
        self.with("read conversation", move |conn| {
            let row = conn
                .query_row(
                    &format!("{CONVERSATION_SELECT} WHERE c.customer = ?1"),
                    [c.as_str()],
                    conversation_row,
                )
                .optional()
                .map_err(sql_err("read conversation"))?;
            Ok(row.map(|(c, _)| c.with_window(now_ms)))
        })
        .await
    }

    async fn window(&self, phone_number_id: &str, customer: &CustomerKey) -> Result<Window, PortError> {
        let (pni, c) = (phone_number_id.to_owned(), customer.clone());
        self.with("read window", move |conn| {
            conn.query_row(
                "SELECT last_inbound_at, closed_at FROM windows WHERE phone_number_id = ?1 AND customer = ?2",
                params![pni, c.as_str()],
                |r| {
                    Ok(Window {
                        last_inbound_ms: r.get(0)?,
                        closed_ms: r.get(1)?,
                    })
                },
            )
            .optional()
            .map(Option::unwrap_or_default)
            .map_err(sql_err("read window"))
        })
        .await
    }

    async fn ping(&self) -> Result<(), PortError> {
        self.with("ping", |conn| {
            conn.query_row("SELECT 1", [], |_| Ok(())).map_err(sql_err("ping"))
        })
        .await
    }
}
