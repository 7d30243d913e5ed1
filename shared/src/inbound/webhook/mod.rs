//! Meta's webhooks: authentication ([`signature`]) and the lossless split of a body into updates
//! ([`split`]).

pub mod signature;
pub mod split;
mod wire;

pub use signature::{SignatureError, sign, verify_signature, verify_subscription};
pub use split::{ParseError, Update, split};
