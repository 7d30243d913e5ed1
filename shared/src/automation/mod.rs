//! Automation: keyword rules that answer or escalate a customer's message.
//!
//! [`rules`] says what a rule is and checks one before it is kept; [`matcher`] compiles a set of
//! rules once and finds the one that fires for a message in microseconds, however many there are.

pub mod matcher;
pub mod rules;
