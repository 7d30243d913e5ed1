//! How use cases are driven: queue consumption shared by every consumer ([`consume`]), on a queue we
//! poll ourselves (local stack, tests) or through a Lambda SQS batch response.

pub mod consume;
