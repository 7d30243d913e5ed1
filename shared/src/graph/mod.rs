//! Meta's Graph API: the HTTP client ([`client`]) the sender, read receipts and the sandbox's tests
//! use.

pub mod client;

pub use client::{Accepted, Disposition, GraphClient, GraphError, parse_accepted, parse_error, parse_success};
