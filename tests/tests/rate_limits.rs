//! The sender under its limits, on both backends: a backlog to one customer waits on the pair limit
//! without holding the number's throughput, every wait is a postponement (it does not count towards
//! the queue's dead-letter redrive), and a batch of slow Graph calls stops starting new ones in time
//! to finish before the function's timeout. The clock is moved by hand, so the buckets are exact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use wabridge::app::{App, Settings};
use wabridge::graph::GraphClient;
use wabridge::outbound::enqueue::Enqueuer;
use wabridge::outbound::request::validate;
use wabridge::outbound::sender::{Sender, SenderConfig};
use wabridge::ports::Delivery;
use wabridge::runtime::consume::{Handler, Outcome};
use wabridge_infra::sandbox::{Fault, Sandbox, SandboxConfig};
use wabridge_tests::secrecy::SecretString;
use wabridge_tests::{API_KEY, Backend, ManualClock, on_both_backends};

const PNI: &str = "100000000000001";
const T0: i64 = 1_763_800_000_000;

struct Bench {
    sandbox: Sandbox,
    clock: Arc<ManualClock>,
    enqueuer: Enqueuer,
    sender: Sender,
    backend: Backend,
}

async fn bench(backend: Backend, sender: SenderConfig) -> Bench {
    let sandbox = Sandbox::new(SandboxConfig {
        webhook_url: None,
        app_secret: SecretString::from("unused"),
        status_delays: [Duration::from_millis(50); 3],
        api_keys: vec![SecretString::from(API_KEY)],
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    sandbox.serve(listener);
    let graph = GraphClient::new(&base, "v25.0", SecretString::from(API_KEY), Duration::from_secs(5)).unwrap();
    let clock = ManualClock::at(T0);
    let app = App::new(
        Settings {
            sender,
            ..Settings::for_tests()
        },
        clock.clone(),
    );
    let b = &backend;
    let enqueuer = app.enqueuer(b.store.clone(), b.store.clone(), b.outbound.clone(), Some(PNI.into()));
    let sender = app.sender(b.store.clone(), b.limiter.clone(), graph);
    Bench {
        sandbox,
        clock,
        enqueuer,
        sender,
        backend,
    }
}

fn hello(to: &str) -> Value {
    json!({"to": to, "type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}})
}

impl Bench {
    async fn enqueue(&self, to: &str, n: usize) {
        for _ in 0..n {
            self.enqueuer.enqueue(&validate(&hello(to)).unwrap()).await.unwrap();
        }
    }

    /// Takes exactly `n` records off the outbound queue (SQS may hand out fewer per call).
    async fn take(&self, n: usize) -> Vec<Delivery> {
        let mut batch = Vec::new();
        while batch.len() < n {
            let got = self
                .backend
                .outbound
                .receive(u32::try_from(n - batch.len()).unwrap(), Duration::from_secs(1))
                .await
                .unwrap();
            assert!(!got.is_empty(), "the queue ran dry at {} of {n}", batch.len());
            batch.extend(got);
        }
        batch
    }

    fn sent_to(&self, to: &str) -> usize {
        self.sandbox.accepted().iter().filter(|r| r["to"] == to).count()
    }
}

/// The records of a batch that are to come back (their copies, as the queue would hand them out).
fn not_done(batch: Vec<Delivery>, outcomes: &[Outcome]) -> Vec<Delivery> {
    batch
        .into_iter()
        .zip(outcomes)
        .filter(|(_, o)| **o != Outcome::Done)
        .map(|(d, _)| d)
        .collect()
}

fn done(outcomes: &[Outcome]) -> usize {
    outcomes.iter().filter(|o| **o == Outcome::Done).count()
}

fn postponed(outcomes: &[Outcome], why: &str) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Postpone { reason, .. } if reason.contains(why)))
        .count()
}

async fn a_backlog_to_one_customer_does_not_starve_the_number(b: Backend) {
    // 100 mps: a burst of 10 tokens, refilling one every 10 ms. The pair limit lets 5 go at once.
    let config = SenderConfig {
        throughput_mps: 100.0,
        ..SenderConfig::default()
    };
    let bench = bench(b, config).await;
    bench.enqueue("27820000001", 10).await;
    let first = bench.take(10).await;
    let outcomes = bench.sender.handle_batch(&first).await;
    assert_eq!(done(&outcomes), 5, "{outcomes:?}");
    assert_eq!(postponed(&outcomes, "pair rate limit"), 5, "{outcomes:?}");
    assert_eq!(bench.sent_to("27820000001"), 5);
    // Settled as the consumer settles them: the postponed ones hide for their delay (6 s and
    // more), not just the queue's one-second visibility, which a loaded machine can outlast.
    for (d, o) in first.iter().zip(&outcomes) {
        wabridge::runtime::consume::settle(bench.backend.outbound.as_ref(), d, o)
            .await
            .unwrap();
    }

    // 50 ms later the number has refilled 5 tokens; the 5 the busy customer could not use are still
    // there, so ten other customers all go now.
    bench.clock.advance(Duration::from_millis(50));
    let others: Vec<String> = (10..20).map(|n| format!("278200000{n}")).collect();
    for to in &others {
        bench.enqueue(to, 1).await;
    }
    let outcomes = bench.sender.handle_batch(&bench.take(10).await).await;
    assert_eq!(done(&outcomes), outcomes.len(), "{outcomes:?}");
    for to in &others {
        assert_eq!(bench.sent_to(to), 1, "{to}");
    }
}

async fn waits_for_the_number_are_shared_round_robin_and_postponed(b: Backend) {
    // 20 mps: 2 tokens at once. Three customers with two messages each want 6, and each customer
    // may have two at once, so every pair token is taken before the number's are shared out.
    let config = SenderConfig {
        throughput_mps: 20.0,
        pair_burst: 2.0,
        ..SenderConfig::default()
    };
    let bench = bench(b, config).await;
    for to in ["27820000031", "27820000032", "27820000033"] {
        bench.enqueue(to, 2).await;
    }
    let batch = bench.take(6).await;
    let outcomes = bench.sender.handle_batch(&batch).await;
    assert_eq!(done(&outcomes), 2, "{outcomes:?}");
    assert_eq!(postponed(&outcomes, "number throughput limit"), 4, "{outcomes:?}");
    // Two different customers went first: no customer's second message before another's first.
    let sent: Vec<Value> = bench.sandbox.accepted().iter().map(|r| r["to"].clone()).collect();
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0], sent[1], "{sent:?}");
    // 100 ms later the number has two more tokens, and two more go: the pair tokens of the four
    // that waited came back (the pair buckets refill one token in 6 s, so none came from refill).
    bench.clock.advance(Duration::from_millis(100));
    let outcomes = bench.sender.handle_batch(&not_done(batch, &outcomes)).await;
    assert_eq!(done(&outcomes), 2, "two more tokens, two more sends: {outcomes:?}");
}

async fn a_batch_of_slow_calls_stops_starting_new_ones_before_its_deadline(b: Backend) {
    // Each Graph call takes 600 ms; a batch may start calls for 1 s. One customer's lane of five
    // runs in order, so two start in time and three are postponed unattempted.
    let config = SenderConfig {
        throughput_mps: 1000.0,
        batch_deadline: Duration::from_secs(1),
        ..SenderConfig::default()
    };
    let bench = bench(b, config).await;
    bench.enqueue("27820000041", 5).await;
    let slow = Duration::from_millis(600);
    bench.sandbox.inject([Fault::Slow(slow), Fault::Slow(slow)]);
    let batch = bench.take(5).await;
    let outcomes = bench.sender.handle_batch(&batch).await;
    assert_eq!(done(&outcomes), 2, "{outcomes:?}");
    assert_eq!(postponed(&outcomes, "no time left"), 3, "{outcomes:?}");
    assert_eq!(bench.sent_to("27820000041"), 2, "the postponed were never sent");
    // Their tokens came back: the pair bucket (5) still has the 3 the postponed did not use.
    let outcomes = bench.sender.handle_batch(&not_done(batch, &outcomes)).await;
    assert_eq!(done(&outcomes), outcomes.len(), "{outcomes:?}");
    assert_eq!(bench.sent_to("27820000041"), 5);
}

on_both_backends!(
    a_backlog_to_one_customer_does_not_starve_the_number,
    waits_for_the_number_are_shared_round_robin_and_postponed,
    a_batch_of_slow_calls_stops_starting_new_ones_before_its_deadline,
);
