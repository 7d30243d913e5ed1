//! The inbound path, in the order a webhook travels it: Meta's payload model and signature
//! ([`webhook`]), authenticated ingestion onto the queue ([`ingest`]), and the processor that applies
//! each update to the store ([`process`]), and how far behind it is ([`lag`]).

pub mod ingest;
pub mod lag;
pub mod process;
pub mod reactions;
pub mod webhook;
