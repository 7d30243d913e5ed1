//! Menu-bot flows: declarative definitions ([`definition`]) and the sessions customers move
//! through them ([`session`]), one step per message, exactly once.

pub mod definition;
pub mod session;
