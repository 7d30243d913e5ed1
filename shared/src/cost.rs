//! What the hot paths cost on AWS. The request counts per path are what the request-count tests
//! measure on DynamoDB and SQS (`tests/tests/requests.rs`), so the model moves with the code; the
//! write and read units add DynamoDB's index writes and transaction doubling to them, and public
//! on-demand prices turn everything into dollars. `wabridge cost` prints it; `docs/cost.md`
//! explains each figure.

use std::fmt::Write as _;

/// One path's requests, keyed `Service.Operation`, as counted.
#[derive(Debug, Clone, Copy)]
pub struct PathCost {
    /// What the path is.
    pub name: &'static str,
    /// Requests per run of the path.
    pub requests: &'static [(&'static str, u32)],
}

/// A customer's text message (not their first): queued by `webhook-ingest`, applied by
/// `inbound-processor`: the message, its unread count, the conversation's last message and its
/// window in one transaction; the contact in one update. Analytics: the markers of its facts in
/// one batch read, our messages around it in one query, its new count (marker and hour counter)
/// in one transaction, its activity point in one update. Automation: the version of the rules
/// and flows in one read (they are reloaded only when it moves).
pub const INBOUND_MESSAGE: PathCost = PathCost {
    name: "inbound text message",
    requests: &[
        ("DynamoDB.BatchGetItem", 1),
        ("DynamoDB.GetItem", 1),
        ("DynamoDB.Query", 1),
        ("DynamoDB.TransactWriteItems", 2),
        ("DynamoDB.UpdateItem", 2),
        ("SQS.SendMessage", 1),
    ],
};

/// One status webhook of our send (sent, delivered or read): its facts and its rank in one
/// update. Analytics: the message read back (a miss on the derived id, `by_wamid`, its status),
/// its facts' markers in one batch read, and two facts that change (its latest status moving,
/// the status's event) in one transaction each.
pub const STATUS_WEBHOOK: PathCost = PathCost {
    name: "status webhook",
    requests: &[
        ("DynamoDB.BatchGetItem", 1),
        ("DynamoDB.GetItem", 2),
        ("DynamoDB.Query", 1),
        ("DynamoDB.TransactWriteItems", 2),
        ("DynamoDB.UpdateItem", 1),
        ("SQS.SendMessage", 1),
    ],
};

/// `POST /v1/messages` of a template: stored as queued, the conversation moved, the record queued.
/// Analytics: the message read back, its fact's marker, our previous message and the customer's
/// first after it (two queries), its `queued` count in one transaction, its activity point.
pub const QUEUE_SEND: PathCost = PathCost {
    name: "send queued",
    requests: &[
        ("DynamoDB.BatchGetItem", 1),
        ("DynamoDB.GetItem", 1),
        ("DynamoDB.PutItem", 1),
        ("DynamoDB.Query", 2),
        ("DynamoDB.TransactWriteItems", 1),
        ("DynamoDB.UpdateItem", 2),
        ("SQS.SendMessage", 1),
    ],
};

/// The sender's part of a batch of ten sends to ten customers: each record's message read, each
/// customer's pair bucket read and written, the number's bucket read and written once for the
/// batch, and each message claimed for its attempt and then marked accepted. Analytics, per
/// send: the message and its status read back, its facts' markers in one batch read, and two
/// facts (`queued` moving to `accepted`, accepted by Meta) in one transaction each.
pub const SEND_BATCH_AT_GRAPH: PathCost = PathCost {
    name: "batch of ten sends at Graph",
    requests: &[
        ("DynamoDB.BatchGetItem", 10),
        ("DynamoDB.GetItem", 41),
        ("DynamoDB.PutItem", 11),
        ("DynamoDB.TransactWriteItems", 20),
        ("DynamoDB.UpdateItem", 20),
    ],
};

/// Write units of one analytics fact's transaction: its marker and one hour-counter item, two
/// units each (a fact whose new and old versions count in different items touches a third).
const FACT_UNITS: f64 = 2.0 * 2.0;

/// One page of a conversation's messages: one query, and one batch read of their statuses when
/// the page holds sends.
pub const MESSAGES_PAGE: PathCost = PathCost {
    name: "messages page",
    requests: &[("DynamoDB.Query", 1)],
};

/// Queries for one page of a sharded list (conversations, contacts): one per shard and one for
/// items from before sharding.
pub fn list_page_queries(shards: u32) -> u32 {
    shards + 1
}

/// Public on-demand prices, us-east-1, in dollars per unit, as published on the AWS pricing pages
/// (read 2026-11-23; DynamoDB's since its November 2024 cut).
pub mod price {
    /// DynamoDB, one write request unit (1 KB).
    pub const DYNAMODB_WRITE_UNIT: f64 = 0.625 / 1e6;
    /// DynamoDB, one read request unit (4 KB strongly consistent).
    pub const DYNAMODB_READ_UNIT: f64 = 0.125 / 1e6;
    /// SQS standard queue, one request (64 KB).
    pub const SQS_REQUEST: f64 = 0.40 / 1e6;
    /// API Gateway HTTP API, one request (first 300 million a month).
    pub const HTTP_API_REQUEST: f64 = 1.00 / 1e6;
    /// Lambda, one invocation.
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    /// Lambda on arm64, one GB-second.
    pub const LAMBDA_ARM_GB_SECOND: f64 = 0.000_013_333_4;
}

/// What one run of a flow uses, in billed units.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// API Gateway requests.
    pub http_requests: f64,
    /// SQS requests, the Lambda event source's receives and deletes included.
    pub sqs_requests: f64,
    /// DynamoDB write request units, index writes included.
    pub write_units: f64,
    /// DynamoDB read request units.
    pub read_units: f64,
    /// Lambda invocations.
    pub invocations: f64,
    /// Lambda GB-seconds.
    pub gb_seconds: f64,
}

impl Usage {
    fn plus(self, o: Self, times: f64) -> Self {
        Self {
            http_requests: self.http_requests + o.http_requests * times,
            sqs_requests: self.sqs_requests + o.sqs_requests * times,
            write_units: self.write_units + o.write_units * times,
            read_units: self.read_units + o.read_units * times,
            invocations: self.invocations + o.invocations * times,
            gb_seconds: self.gb_seconds + o.gb_seconds * times,
        }
    }
}

/// Records per batch of the queue consumers (`BatchSize` in `template.yaml`): the event source
/// receives a batch in one request and deletes it in one.
const BATCH: f64 = 10.0;
/// Memory of every function (`Globals.Function.MemorySize`), in GB.
const MEMORY_GB: f64 = 0.25;
/// Assumed durations, in seconds, of one invocation: an HTTP function's request, a consumer's
/// batch. Not yet measured on Lambda (see `docs/cost.md`).
const HTTP_SECONDS: f64 = 0.02;
const BATCH_SECONDS: f64 = 0.15;

fn count(path: &PathCost, op: &str) -> f64 {
    path.requests
        .iter()
        .filter(|(o, _)| *o == op)
        .map(|(_, n)| f64::from(*n))
        .sum()
}

/// An HTTP-fronted webhook: API Gateway, `webhook-ingest`, the queue, and a tenth of a batch of
/// `inbound-processor` with its receive and delete.
fn webhook(path: &PathCost, write_units: f64, read_units: f64) -> Usage {
    Usage {
        http_requests: 1.0,
        sqs_requests: count(path, "SQS.SendMessage") + 2.0 / BATCH,
        write_units,
        read_units,
        invocations: 1.0 + 1.0 / BATCH,
        gb_seconds: MEMORY_GB * (HTTP_SECONDS + BATCH_SECONDS / BATCH),
    }
}

/// One inbound text message. Write units: the transactions' two items at two units each (the
/// message's and the fact's); the message's `by_customer` entry; the conversation's
/// `by_activity` entry moving (a delete and a put); the contact and its `by_customer` entry; the
/// activity point. Inbound messages stay out of `by_wamid`. Read units: two fact markers
/// (consistent, one each) and the query of our messages (half a unit).
pub fn inbound_message() -> Usage {
    let p = &INBOUND_MESSAGE;
    let tx = 2.0 * 2.0 * count(p, "DynamoDB.TransactWriteItems");
    webhook(p, tx + 1.0 + 2.0 + 2.0 + 1.0, 2.0 + 0.5)
}

/// One status webhook: one update of the status item (not indexed), and two facts. Read units:
/// the message and status reads, four fact markers, the `by_wamid` query.
pub fn status_webhook() -> Usage {
    let p = &STATUS_WEBHOOK;
    let facts = FACT_UNITS * count(p, "DynamoDB.TransactWriteItems");
    webhook(p, count(p, "DynamoDB.UpdateItem") + facts, 2.0 + 4.0 + 0.5)
}

/// One outbound message, from `POST /v1/messages` to Graph's answer (its statuses are
/// [`status_webhook`]s). Queueing: the put with its `by_customer` and `by_pending` entries, the
/// conversation's update and its `by_activity` move. Sending, a tenth of
/// [`SEND_BATCH_AT_GRAPH`]: the buckets' puts (not indexed); the attempt, which rewrites the
/// message's `by_customer` entry and moves its `by_pending` one; the acceptance, which rewrites
/// `by_customer`, adds `by_wamid` and removes `by_pending`. Read units: the message and the
/// buckets, one each (items under 4 KB).
///
/// Analytics: when queued, one fact and the activity point; when sent, two facts. Read units:
/// when queued, the message, one marker and two queries; when sent, two markers per send.
pub fn outbound_message() -> Usage {
    let (q, s) = (&QUEUE_SEND, &SEND_BATCH_AT_GRAPH);
    let queue_units = 3.0 + 3.0 + FACT_UNITS * count(q, "DynamoDB.TransactWriteItems") + 1.0;
    let buckets = count(s, "DynamoDB.PutItem") / BATCH;
    let per_update = (4.0 + 4.0) / 2.0;
    let send_facts = FACT_UNITS * count(s, "DynamoDB.TransactWriteItems") / BATCH;
    let send_units = buckets + count(s, "DynamoDB.UpdateItem") / BATCH * per_update + send_facts;
    let queue_reads = 1.0 + 1.0 + 2.0 * 0.5;
    Usage {
        http_requests: 1.0,
        sqs_requests: count(q, "SQS.SendMessage") + 2.0 / BATCH,
        write_units: queue_units + send_units,
        read_units: queue_reads + count(s, "DynamoDB.GetItem") / BATCH + 2.0,
        invocations: 1.0 + 1.0 / BATCH,
        gb_seconds: MEMORY_GB * (HTTP_SECONDS + BATCH_SECONDS / BATCH),
    }
}

/// Statuses Meta sends per outbound message: sent, delivered, read.
pub const STATUSES_PER_SEND: f64 = 3.0;

/// What `inbound` messages and `outbound` ones (each with its statuses) use together.
pub fn usage(inbound: u64, outbound: u64) -> Usage {
    let (i, o) = (inbound as f64, outbound as f64);
    Usage::default()
        .plus(inbound_message(), i)
        .plus(outbound_message(), o)
        .plus(status_webhook(), o * STATUSES_PER_SEND)
}

/// The bill as a Markdown table: each service's units, price and dollars, and the total.
pub fn report(inbound: u64, outbound: u64) -> String {
    let u = usage(inbound, outbound);
    let lines = [
        ("DynamoDB write units", u.write_units, price::DYNAMODB_WRITE_UNIT),
        ("DynamoDB read units", u.read_units, price::DYNAMODB_READ_UNIT),
        ("SQS requests", u.sqs_requests, price::SQS_REQUEST),
        ("API Gateway requests", u.http_requests, price::HTTP_API_REQUEST),
        ("Lambda invocations", u.invocations, price::LAMBDA_REQUEST),
        ("Lambda GB-seconds (arm64)", u.gb_seconds, price::LAMBDA_ARM_GB_SECOND),
    ];
    let mut out = format!(
        "{inbound} inbound + {outbound} outbound messages ({} statuses), us-east-1 on-demand\n\n\
         | item | units | $ per million | $ |\n|---|---:|---:|---:|\n",
        (outbound as f64 * STATUSES_PER_SEND) as u64
    );
    let mut total = 0.0;
    for (name, units, unit_price) in lines {
        let dollars = units * unit_price;
        total += dollars;
        let _ = writeln!(out, "| {name} | {units:.0} | {:.4} | {dollars:.2} |", unit_price * 1e6);
    }
    let _ = writeln!(out, "| **total** | | | **{total:.2}** |");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_million_each_way_prices_as_pinned() {
        let r = report(1_000_000, 1_000_000);
        assert!(
            r.contains("| DynamoDB write units | 69100000 | 0.6250 | 43.19 |"),
            "{r}"
        );
        assert!(r.contains("| SQS requests | 6000000 | 0.4000 | 2.40 |"), "{r}");
        assert!(r.contains("| API Gateway requests | 5000000 | 1.0000 | 5.00 |"), "{r}");
        assert!(r.contains("| DynamoDB read units | 31100000 | 0.1250 | 3.89 |"), "{r}");
        assert!(r.contains("| **total** | | | **56.16** |"), "{r}");
    }

    #[test]
    fn nothing_costs_nothing() {
        assert!(report(0, 0).contains("**0.00**"));
    }
}
