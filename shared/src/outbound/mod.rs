//! The outbound path: the message a caller asks for ([`request`]), phone numbers ([`phone`]), the
//! enqueue use case every sender of messages shares ([`enqueue`]), read receipts
//! ([`read_receipt`]), rate limits ([`limits`]), the queue consumer that calls Graph ([`sender`])
//! and the sweep that re-queues messages whose record was lost ([`sweep`]).

pub mod callback_data;
pub mod enqueue;
pub mod limits;
pub mod phone;
pub mod read_receipt;
pub mod request;
pub mod sender;
pub mod sweep;
