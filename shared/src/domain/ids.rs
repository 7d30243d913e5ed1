//! Identifiers parsed at the boundary: a value of one of these types is valid by construction.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ulid::Ulid;

/// Why an identifier or paging parameter was rejected; the API maps it to a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidInput {
    /// The parameter that was wrong.
    pub field: &'static str,
    /// What was wrong with it.
    pub reason: String,
}

impl InvalidInput {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// Longest identifier we accept from Meta or a client. Real wamids are ~60 characters; the bound only
/// keeps garbage out of keys.
const MAX_ID_LEN: usize = 512;

pub(crate) fn check_token(field: &'static str, s: &str, max: usize) -> Result<(), InvalidInput> {
    if s.is_empty() {
        return Err(InvalidInput::new(field, "must not be empty"));
    }
    if s.len() > max {
        return Err(InvalidInput::new(field, format!("must be at most {max} bytes")));
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(InvalidInput::new(
            field,
            "must not contain whitespace or control characters",
        ));
    }
    Ok(())
}

/// Our own message id: a ULID. Inbound messages derive theirs from the wamid, so every redelivery of
/// the same webhook maps to the same key and the store's conditional write is the de-duplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(Ulid);

impl MessageId {
    /// A fresh, time-ordered id (outbound messages).
    pub fn new() -> Self {
        Self(Ulid::new())
    }

    /// The id of the inbound message with this wamid: the first 128 bits of its SHA-256.
    pub fn for_wamid(wamid: &Wamid) -> Self {
        let digest = Sha256::digest(wamid.as_str().as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(Ulid::from(u128::from_be_bytes(bytes)))
    }

    /// The id of a scheduled send (`"<schedule>:<send>"`): the first 128 bits of SHA-256 over a
    /// prefix no wamid has and `key`. Every tick that handles the send derives the same id, so a
    /// send taken over after a crash is stored once.
    pub fn scheduled(key: &str) -> Self {
        let mut h = Sha256::new();
        h.update(b"scheduled\0");
        h.update(key.as_bytes());
        let digest = h.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(Ulid::from(u128::from_be_bytes(bytes)))
    }

    /// The id of an effect of the message `wamid` (an auto-reply, a flow step, a download job):
    /// the first 128 bits of SHA-256 over the wamid and `purpose` (`"rule:<id>"`, …). Every
    /// redelivery of the triggering webhook derives the same id, so the store's conditional write
    /// refuses the second copy and the effect happens once.
    pub fn derived(wamid: &Wamid, purpose: &str) -> Self {
        let mut h = Sha256::new();
        h.update(wamid.as_str().as_bytes());
        // A separator no wamid contains, so ("a", "bc") and ("ab", "c") cannot collide.
        h.update([0u8]);
        h.update(purpose.as_bytes());
        let digest = h.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(Ulid::from(u128::from_be_bytes(bytes)))
    }

    /// Parses our id (26 characters of Crockford base32).
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        Ulid::from_string(s)
            .map(Self)
            .map_err(|_| InvalidInput::new("id", "not a wabridge message id"))
    }
}

impl Default for MessageId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A WhatsApp message id as Meta writes it (`wamid.…`). Meta's own examples use placeholders such as
/// `<WHATSAPP_MESSAGE_ID>`, so only emptiness, length and control characters are refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Wamid(String);

impl Wamid {
    /// Parses a wamid.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        check_token("wamid", s, MAX_ID_LEN)?;
        Ok(Self(s.to_owned()))
    }

    /// The wamid as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A reference to one message in the API: our id or Meta's wamid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageRef {
    /// Our ULID.
    Id(MessageId),
    /// Meta's id.
    Wamid(Wamid),
}

impl MessageRef {
    /// Our ids are ULIDs; anything else that is a well-formed token is taken as a wamid.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        match MessageId::parse(s) {
            Ok(id) => Ok(Self::Id(id)),
            Err(_) => Wamid::parse(s)
                .map(Self::Wamid)
                .map_err(|e| InvalidInput::new("id", e.reason)),
        }
    }
}

/// The customer a conversation is with: the `wa_id` when Meta sends one (E.164 digits, no '+'), else
/// the business-scoped `user_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerKey(String);

impl CustomerKey {
    /// Parses a wa_id or user_id from a path.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        check_token("wa_id", s, 128)?;
        if s.contains('/') {
            return Err(InvalidInput::new("wa_id", "must not contain '/'"));
        }
        Ok(Self(s.to_owned()))
    }

    /// Parses a business-scoped user id a caller sends to (`US.13491208655302741918`): a key of
    /// letters, digits, '.', '-' and '_' only, so it is safe as a storage key and a path segment.
    pub fn parse_user_id(s: &str) -> Result<Self, InvalidInput> {
        let key = Self::parse(s)?;
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(InvalidInput::new(
                "user_id",
                "a business-scoped user id has only letters, digits, '.', '-' and '_'",
            ));
        }
        Ok(key)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_id_is_stable_per_wamid_and_distinct_across_wamids() {
        let a = Wamid::parse("wamid.A").unwrap();
        let b = Wamid::parse("wamid.B").unwrap();
        assert_eq!(MessageId::for_wamid(&a), MessageId::for_wamid(&a));
        assert_ne!(MessageId::for_wamid(&a), MessageId::for_wamid(&b));
    }

    #[test]
    fn derived_ids_are_stable_per_trigger_and_purpose_and_differ_from_the_message_id() {
        let a = Wamid::parse("wamid.A").unwrap();
        let reply = MessageId::derived(&a, "rule:1");
        assert_eq!(reply, MessageId::derived(&a, "rule:1"));
        assert_ne!(reply, MessageId::derived(&a, "rule:2"));
        assert_ne!(reply, MessageId::derived(&Wamid::parse("wamid.B").unwrap(), "rule:1"));
        assert_ne!(reply, MessageId::for_wamid(&a));
        assert_eq!(MessageId::parse(&reply.to_string()).unwrap(), reply);
    }

    #[test]
    fn our_id_parses_as_id_and_anything_else_as_wamid() {
        let id = MessageId::new();
        assert_eq!(MessageRef::parse(&id.to_string()).unwrap(), MessageRef::Id(id));
        assert!(matches!(
            MessageRef::parse("wamid.HBgL=").unwrap(),
            MessageRef::Wamid(_)
        ));
        assert!(matches!(
            MessageRef::parse("<WHATSAPP_MESSAGE_ID>").unwrap(),
            MessageRef::Wamid(_)
        ));
    }

    #[test]
    fn empty_long_or_spaced_ids_are_rejected() {
        assert!(MessageRef::parse("").is_err());
        assert!(MessageRef::parse("a b").is_err());
        assert!(MessageRef::parse(&"x".repeat(600)).is_err());
        assert!(CustomerKey::parse("12/34").is_err());
    }
}
