//! Recomputes every counter from the stored messages and statuses: for data kept before
//! analytics existed, after an outage of the counters, and as the reference the live counters
//! are checked against.

use std::sync::Arc;

use crate::domain::CustomerKey;
use crate::ports::{Counters, PortError, ReadModel};
use crate::read::{Cursor, PageRequest, messages_list};

use super::Recorder;

/// What a rebuild went through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rebuilt {
    /// Conversations read.
    pub conversations: u64,
    /// Messages counted.
    pub messages: u64,
}

/// Forgets every counter, then records every message of every conversation. Live traffic may go
/// on meanwhile: a fact counted live and again by the rebuild is counted once.
pub async fn rebuild(read: Arc<dyn ReadModel>, counters: Arc<dyn Counters>, now_ms: i64) -> Result<Rebuilt, PortError> {
    counters.clear_counters().await?;
    let recorder = Recorder::new(read.clone(), counters);
    let mut done = Rebuilt::default();
    let mut page = PageRequest {
        limit: crate::read::MAX_LIMIT,
        after: None,
    };
    loop {
        let convs = read.conversations(&page, now_ms).await?;
        for c in &convs.data {
            done.conversations += 1;
            let Some(key) = c.wa_id.as_deref().or(c.user_id.as_deref()) else {
                continue;
            };
            let Ok(customer) = CustomerKey::parse(key) else {
                continue;
            };
            let mut mp = PageRequest {
                limit: crate::read::MAX_LIMIT,
                after: None,
            };
            loop {
                let msgs = read.conversation_messages(&customer, &mp).await?;
                for m in &msgs.data {
                    recorder.record_view(m).await?;
                    done.messages += 1;
                }
                match next(msgs.next_cursor.as_deref(), &messages_list(&customer)) {
                    Some(after) => mp.after = Some(after),
                    None => break,
                }
            }
        }
        match next(convs.next_cursor.as_deref(), "conversations") {
            Some(after) => page.after = Some(after),
            None => return Ok(done),
        }
    }
}

fn next(cursor: Option<&str>, list: &str) -> Option<String> {
    cursor.and_then(|c| Cursor::decode(c, list).ok())
}
