//! A customer as the business knows them.

use serde::Serialize;

use crate::timefmt;

/// The contact object the HTTP API returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    /// Customer's number.
    pub wa_id: Option<String>,
    /// Customer's business-scoped id.
    pub user_id: Option<String>,
    /// Profile name, as last seen.
    pub name: Option<String>,
    /// Business number the customer last wrote to.
    pub phone_number_id: Option<String>,
    /// First message time.
    #[serde(serialize_with = "timefmt::ser_opt_ms")]
    pub first_seen_at: Option<i64>,
    /// Latest message time.
    #[serde(serialize_with = "timefmt::ser_opt_ms")]
    pub last_seen_at: Option<i64>,
}
