//! What we put in Meta's `biz_opaque_callback_data`, which Meta returns on every status webhook of
//! the message: our message id (so a status links to its send even before the send's answer is
//! recorded), then, after a `:`, the caller's own value when they gave one. Meta allows 512
//! characters, so the caller keeps 512 minus our 27.

use crate::domain::{MessageId, StoredMessage};

/// Meta's limit on `biz_opaque_callback_data`, in characters.
pub const META_LIMIT: usize = 512;
/// Our id (26 characters) and the separator.
const OURS: usize = 27;
/// The longest value a caller may give.
pub const MAX_CALLER_LEN: usize = META_LIMIT - OURS;

/// Our id, and the caller's value after a `:` when there is one.
pub fn encode(ours: MessageId, caller: Option<&str>) -> String {
    match caller {
        Some(c) => format!("{ours}:{c}"),
        None => ours.to_string(),
    }
}

/// Splits callback data from a status webhook into our id (when it starts with one, alone or
/// before a `:`) and the caller's value. Data another system set is all the caller's.
pub fn decode(data: &str) -> (Option<MessageId>, Option<&str>) {
    let (head, rest) = match data.split_once(':') {
        Some((h, r)) => (h, Some(r)),
        None => (data, None),
    };
    match MessageId::parse(head) {
        Ok(id) => (Some(id), rest),
        Err(_) => (None, Some(data)),
    }
}

/// The value the caller gave when sending `msg` (kept with the stored message), if any.
pub fn callers(msg: &StoredMessage) -> Option<String> {
    let extra = msg.extra.as_ref()?.value();
    extra.get("biz_opaque_callback_data")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_id_and_the_callers_value_round_trip() {
        let id = MessageId::new();
        assert_eq!(decode(&encode(id, None)), (Some(id), None));
        assert_eq!(decode(&encode(id, Some("order:77"))), (Some(id), Some("order:77")));
        assert_eq!(decode("crm-ticket-9"), (None, Some("crm-ticket-9")));
        assert_eq!(decode("a:b"), (None, Some("a:b")), "not our id: all of it is theirs");
        let longest = "x".repeat(MAX_CALLER_LEN);
        assert_eq!(encode(id, Some(&longest)).chars().count(), META_LIMIT);
    }
}
