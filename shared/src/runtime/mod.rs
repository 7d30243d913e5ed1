//! How use cases are driven: queue consumption shared by every consumer ([`consume`]), on a queue we
//! poll ourselves (the local stack's workers, tests) or, in Lambda, through [`lambda`]'s SQS batch
//! responses and HTTP adapter.

pub mod consume;
#[cfg(feature = "aws")]
pub mod lambda;
