//! Meta's Graph API: the HTTP client ([`client`], with the template calls in `templates`) and the catalogue of Meta's error codes
//! ([`errors`]) that the client, the sender and the sandbox share.

pub mod client;
pub mod errors;
mod templates;

pub use client::{
    Accepted, Disposition, GraphClient, GraphError, MediaInfo, parse_accepted, parse_error, parse_media_info,
    parse_success,
};
pub use errors::Meaning;
pub use templates::TemplatePage;
