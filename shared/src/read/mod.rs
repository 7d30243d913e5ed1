//! The read side: the views the HTTP API returns, pages and cursors. Store adapters fill these; the
//! API serialises them. Keys the cursors carry stay opaque to clients.

mod page;
mod views;

pub use page::{AFTER_ALL_KEYS, Cursor, DEFAULT_LIMIT, MAX_CURSOR_LEN, MAX_LIMIT, Page, PageRequest, messages_list};
pub use views::MessageView;
