//! Adapters for the ports, side by side: `embedded` (SQLite, a durable SQLite queue, a local folder)
//! for the laptop stack, and `aws` (DynamoDB, SQS, S3) for Lambda.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "embedded")]
pub mod embedded;

use crate::domain::{CustomerKey, StoredMessage};
use crate::ports::PortError;

/// A stored message on its way to the customer WhatsApp resolved its number to.
#[cfg_attr(not(any(feature = "aws", feature = "embedded")), allow(dead_code))]
pub(crate) struct Refiled {
    /// The message as it will be: filed under the resolved customer, with that `wa_id`.
    pub message: StoredMessage,
    /// Its stored document, rewritten to match (only those two fields change).
    pub doc: String,
    /// The customer it leaves.
    pub left: CustomerKey,
}

/// Refiles a message's stored document under `to`; nothing when it is filed there already.
#[cfg_attr(not(any(feature = "aws", feature = "embedded")), allow(dead_code))]
pub(crate) fn refile(doc: &str, to: &CustomerKey) -> Result<Option<Refiled>, PortError> {
    let decode = |e: serde_json::Error| PortError::invalid("decode stored message", e.to_string());
    let mut value: serde_json::Value = serde_json::from_str(doc).map_err(decode)?;
    let mut message: StoredMessage = serde_json::from_value(value.clone()).map_err(decode)?;
    if message.customer == *to {
        return Ok(None);
    }
    value["customer"] = serde_json::Value::from(to.as_str());
    value["wa_id"] = serde_json::Value::from(to.as_str());
    let left = std::mem::replace(&mut message.customer, to.clone());
    message.wa_id = Some(to.as_str().to_owned());
    Ok(Some(Refiled {
        message,
        doc: value.to_string(),
        left,
    }))
}
