//! `wabridge cost`: the AWS bill for a month's messages, from the counted request model.

/// Prints the cost table for `inbound` and `outbound` messages.
pub fn run(inbound: u64, outbound: u64) {
    print!("{}", wabridge::cost::report(inbound, outbound));
}
