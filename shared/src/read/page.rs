//! Pages, page requests and cursors: keyset pagination that stays stable while data arrives.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::domain::{CustomerKey, InvalidInput};

/// The cursor list name of one conversation's messages, so its cursors fit no other conversation.
pub fn messages_list(customer: &CustomerKey) -> String {
    format!("messages:{}", customer.as_str())
}

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 200;

/// A validated page request: a limit within 1..=200 and an optional decoded cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items at most.
    pub limit: u32,
    /// Sort key to continue after (exclusive), decoded from the opaque cursor.
    pub after: Option<String>,
}

impl PageRequest {
    /// Validates `limit` and decodes `cursor`, which must have been issued for the same `list`.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>, list: &str) -> Result<Self, InvalidInput> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| InvalidInput::new("limit", format!("must be an integer from 1 to {MAX_LIMIT}")))?,
        };
        let after = cursor
            .filter(|c| !c.is_empty())
            .map(|c| Cursor::decode(c, list))
            .transpose()?;
        Ok(Self { limit, after })
    }
}

/// One page of results and the cursor for the next one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The items.
    pub data: Vec<T>,
    /// Pass back as `cursor` to get the next page; null at the end.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Cuts rows fetched with `limit + 1` (each with its sort key) to a page; the extra row, when
    /// there is one, only tells that a next page exists, and the cursor points after the last item.
    pub fn from_rows(mut rows: Vec<(T, String)>, limit: u32, list: &str) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|(_, k)| Cursor::encode(list, k))
        } else {
            None
        };
        Self {
            data: rows.into_iter().map(|(t, _)| t).collect(),
            next_cursor,
        }
    }
}

/// Sorts after every sequence and activity key (they start with digits): the "before" bound of a
/// first page that walks back in time.
pub const AFTER_ALL_KEYS: &str = "~";

/// Longest cursor accepted: our keys are at most a few hundred bytes.
pub const MAX_CURSOR_LEN: usize = 1024;

/// Opaque pagination cursors: base64url of `{"l": list, "k": key}`, so a cursor from one list cannot
/// be replayed against another and a tampered one is a 400, not a 500.
#[derive(Debug)]
pub struct Cursor;

#[derive(Serialize, Deserialize)]
struct CursorBody {
    l: String,
    k: String,
}

impl Cursor {
    /// Encodes a sort key for `list`.
    pub fn encode(list: &str, key: &str) -> String {
        let body = CursorBody {
            l: list.to_owned(),
            k: key.to_owned(),
        };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default())
    }

    /// Decodes a cursor issued for `list`.
    pub fn decode(cursor: &str, list: &str) -> Result<String, InvalidInput> {
        let bad = || InvalidInput::new("cursor", "not a cursor this list issued");
        if cursor.len() > MAX_CURSOR_LEN {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
        let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        // Keys are ids and timestamps we wrote: anything else was forged and never reaches a store.
        let plain = !body.k.is_empty() && body.k.chars().all(|c| c.is_ascii_graphic());
        if body.l != list || !plain {
            return Err(bad());
        }
        Ok(body.k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_one_to_two_hundred_are_rejected() {
        for bad in ["0", "201", "-1", "ten", ""] {
            assert!(PageRequest::parse(Some(bad), None, "x").is_err(), "{bad}");
        }
        assert_eq!(PageRequest::parse(Some("200"), None, "x").unwrap().limit, 200);
        assert_eq!(PageRequest::parse(None, None, "x").unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn cursors_round_trip_and_refuse_tampering_or_another_list() {
        let c = Cursor::encode("contacts", "27820000001");
        assert_eq!(Cursor::decode(&c, "contacts").unwrap(), "27820000001");
        assert!(Cursor::decode(&c, "conversations").is_err());
        assert!(Cursor::decode("not-base64!", "contacts").is_err());
        assert!(Cursor::decode("eyJ4IjoxfQ", "contacts").is_err());
        assert!(Cursor::decode(&"A".repeat(MAX_CURSOR_LEN + 1), "contacts").is_err());
        assert!(Cursor::decode(&Cursor::encode("contacts", "a\u{0}b"), "contacts").is_err());
        assert!(Cursor::decode(&Cursor::encode("contacts", &"9".repeat(2000)), "contacts").is_err());
    }
}
