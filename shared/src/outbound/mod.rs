//! The outbound path: the message a caller asks for ([`request`]), phone numbers ([`phone`]), the
//! send API use case ([`service`]), rate limits ([`limits`]) and the queue consumer that calls Graph
//! ([`sender`]).

pub mod limits;
pub mod phone;
pub mod request;
pub mod sender;
pub mod service;
