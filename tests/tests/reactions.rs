//! The reaction seam, on both backends: side effects of an inbound message happen exactly once over
//! at-least-once webhooks, even when the processor crashes between storing the message and reacting
//! to it, and when the outbound queue is down at the moment the reaction enqueues.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use wabridge::domain::{CustomerKey, MessageId, SendState};
use wabridge::inbound::reactions::{Applied, Reaction, ReactionError};
use wabridge::outbound::enqueue::{Enqueuer, OutboundRecord};
use wabridge::outbound::request::validate;
use wabridge::ports::{Queue, SystemClock};
use wabridge::read::PageRequest;
use wabridge_infra::simulate;
use wabridge_tests::{Backend, FlakyQueue, Pipeline, on_both_backends};

const PNI: &str = "100000000000001";
const CUSTOMER: &str = "27820000077";

/// Replies "got it" to every customer text, under an id derived from the customer's wamid. The
/// first `crashes` runs fail the way a crash would (the record is not acked and comes back).
struct AutoAck {
    enqueuer: Enqueuer,
    crashes: AtomicUsize,
    runs: AtomicUsize,
}

#[async_trait]
impl Reaction for AutoAck {
    fn name(&self) -> &str {
        "test:auto-ack"
    }

    async fn react(&self, applied: Applied<'_>) -> Result<(), ReactionError> {
        let Applied::Message { message, .. } = applied else {
            return Ok(());
        };
        let Some(wamid) = &message.wamid else { return Ok(()) };
        self.runs.fetch_add(1, Ordering::SeqCst);
        if self
            .crashes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ReactionError::Retry("crashed before reacting".into()));
        }
        let reply = validate(&json!({"to": CUSTOMER, "type": "text", "text": {"body": "got it"}})).unwrap();
        self.enqueuer
            .enqueue_as(MessageId::derived(wamid, self.name()), &reply)
            .await?;
        Ok(())
    }
}

fn auto_ack(b: &Backend, outbound: Arc<dyn Queue>, crashes: usize) -> Arc<AutoAck> {
    Arc::new(AutoAck {
        enqueuer: Enqueuer::new(
            b.store.clone(),
            b.store.clone(),
            outbound,
            Arc::new(SystemClock),
            Some(PNI.into()),
        ),
        crashes: AtomicUsize::new(crashes),
        runs: AtomicUsize::new(0),
    })
}

fn webhook(wamid: &str) -> Vec<u8> {
    let ts = chrono::Utc::now().timestamp();
    let body = simulate::inbound(PNI, CUSTOMER, "Customer", wamid, ts, "text", json!({"body": "hi"}));
    serde_json::to_vec(&body).unwrap()
}

/// Every id on the outbound queue, taking the records off it.
async fn queued_ids(queue: &dyn Queue) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let batch = queue.receive(10, Duration::ZERO).await.unwrap();
        if batch.is_empty() {
            return ids;
        }
        for d in batch {
            ids.push(serde_json::from_str::<OutboundRecord>(&d.body).unwrap().id);
            queue.ack(&d.receipt).await.unwrap();
        }
    }
}

async fn outbound_in_conversation(b: &Backend) -> Vec<String> {
    let page = PageRequest::parse(Some("200"), None, "x").unwrap();
    let key = CustomerKey::parse(CUSTOMER).unwrap();
    let msgs = b.store.conversation_messages(&key, &page).await.unwrap();
    msgs.data
        .iter()
        .filter(|m| m.direction == wabridge::domain::Direction::Outbound)
        .filter_map(|m| m.id.clone())
        .collect()
}

async fn a_crash_before_the_reaction_heals_on_redelivery_and_never_doubles(b: Backend) {
    let outbound = b.outbound.clone();
    let reaction = auto_ack(&b, outbound.clone(), 1);
    let r = reaction.clone();
    let p = Pipeline::with_reactions(b, move |app| app.with_reaction(r));
    let wamid = "wamid.REACT1";
    let body = webhook(wamid);

    // First delivery: the message is stored, then the processor "crashes" before reacting.
    assert_eq!(p.post_webhook(&body).await.status, 200);
    p.drain(Duration::from_millis(1600)).await;
    // Meta redelivers the same webhook three more times.
    for _ in 0..3 {
        assert_eq!(p.post_webhook(&body).await.status, 200);
    }
    p.drain(Duration::ZERO).await;

    let expected = MessageId::derived(&wabridge::domain::Wamid::parse(wamid).unwrap(), "test:auto-ack");
    assert!(
        reaction.runs.load(Ordering::SeqCst) >= 4,
        "the reaction runs on every delivery"
    );
    assert_eq!(
        outbound_in_conversation(&p.backend).await,
        vec![expected.to_string()],
        "exactly one reply exists"
    );
    let ids = queued_ids(outbound.as_ref()).await;
    assert!(!ids.is_empty(), "the reply was queued");
    assert!(ids.iter().all(|id| *id == expected.to_string()), "{ids:?}");
    let (_, progress) = p.backend.store.outbound(expected).await.unwrap().unwrap();
    assert_eq!(progress.state, SendState::Queued);
}

async fn a_queue_outage_during_the_reaction_is_healed_by_the_retry(b: Backend) {
    let outbound = b.outbound.clone();
    let flaky: Arc<dyn Queue> = Arc::new(FlakyQueue::new(outbound.clone(), 1));
    let reaction = auto_ack(&b, flaky, 0);
    let r = reaction.clone();
    let p = Pipeline::with_reactions(b, move |app| app.with_reaction(r));
    let wamid = "wamid.REACT2";

    // The reply is stored, but the queue refuses it: the webhook is retried, and the retry queues it.
    assert_eq!(p.post_webhook(&webhook(wamid)).await.status, 200);
    p.drain(Duration::from_millis(1600)).await;

    let expected = MessageId::derived(&wabridge::domain::Wamid::parse(wamid).unwrap(), "test:auto-ack");
    assert_eq!(outbound_in_conversation(&p.backend).await, vec![expected.to_string()]);
    assert_eq!(queued_ids(outbound.as_ref()).await, vec![expected.to_string()]);
    assert_eq!(
        p.backend.queue.dead_letters(10).await.unwrap().len(),
        0,
        "nothing was dead-lettered"
    );
}

on_both_backends!(
    a_crash_before_the_reaction_heals_on_redelivery_and_never_doubles,
    a_queue_outage_during_the_reaction_is_healed_by_the_retry,
);
