//! The queue port: redelivery, receive counts, back-off, dead letters.

use super::*;
use wabridge_tests::settle_one_batch;

async fn the_queue_redelivers_what_was_not_acked_and_counts_receives(b: Backend) {
    let q = &b.queue;
    assert_eq!(q.backlog().await.unwrap(), 0);
    let before = chrono::Utc::now().timestamp_millis();
    q.send("one").await.unwrap();
    let after = chrono::Utc::now().timestamp_millis();
    assert_eq!(q.backlog().await.unwrap(), 1, "waiting counts");
    let first = q.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].body.as_str(), first[0].receive_count), ("one", 1));
    let sent = first[0].sent_ms.expect("the queue says when it got the message");
    // SQS stamps with its own clock, in whole milliseconds: a second of slack either side.
    assert!(
        (before - 1000..=after + 1000).contains(&sent),
        "{sent} not in {before}..{after}"
    );
    assert_eq!(q.backlog().await.unwrap(), 1, "in flight counts");
    assert!(
        q.receive(10, Duration::ZERO).await.unwrap().is_empty(),
        "hidden while in flight"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = q.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(again.len(), 1, "visible again after the visibility timeout");
    assert_eq!(again[0].receive_count, 2);
    assert_eq!(again[0].sent_ms, Some(sent), "a redelivery keeps when it was sent");
    q.ack(&again[0].receipt).await.unwrap();
    assert_eq!(q.backlog().await.unwrap(), 0, "acked is off the backlog");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        q.receive(10, Duration::ZERO).await.unwrap().is_empty(),
        "acked means gone"
    );
}

async fn retry_later_hides_for_the_delay_and_dead_letters_keep_their_reason(b: Backend) {
    let q = &b.queue;
    q.send("later").await.unwrap();
    let d = q.receive(10, Duration::from_secs(1)).await.unwrap().remove(0);
    q.retry_later(&d.receipt, Duration::ZERO).await.unwrap();
    let d = q.receive(10, Duration::from_secs(1)).await.unwrap().remove(0);
    assert_eq!(d.receive_count, 2);
    q.dead_letter(&d, "envelope unreadable").await.unwrap();
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].body.as_str(), dead[0].reason.as_str()),
        ("later", "envelope unreadable")
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        q.receive(10, Duration::ZERO).await.unwrap().is_empty(),
        "moved, not copied"
    );
}

/// Postpones every record it is handed, and notes the receive counts it saw.
#[derive(Default)]
struct Postponer(std::sync::Mutex<Vec<u32>>);

#[async_trait::async_trait]
impl wabridge::runtime::consume::Handler for Postponer {
    async fn handle_batch(&self, batch: &[wabridge::ports::Delivery]) -> Vec<wabridge::runtime::consume::Outcome> {
        let mut seen = self.0.lock().unwrap();
        seen.extend(batch.iter().map(|d| d.receive_count));
        let wait = wabridge::runtime::consume::Outcome::Postpone {
            reason: "pair rate limit".into(),
            delay: Duration::from_secs(2),
        };
        vec![wait; batch.len()]
    }
}

/// Settled the way each deployment settles (the local worker's loop; the Lambda batch response and
/// the event source deleting what it does not report), a postponed record leaves once and comes
/// back once, after its delay, as a new message.
async fn a_postponed_record_comes_back_after_its_delay_with_its_receive_count_reset(b: Backend) {
    let q = &b.queue;
    q.send("pair-limited").await.unwrap();
    let d = q.receive(10, Duration::from_secs(1)).await.unwrap().remove(0);
    q.retry_later(&d.receipt, Duration::ZERO).await.unwrap();
    let postponer = Postponer::default();
    while settle_one_batch(b.kind, &postponer, q.as_ref()).await == 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(*postponer.0.lock().unwrap(), vec![2], "its second receive is postponed");
    assert!(
        q.receive(10, Duration::from_millis(500)).await.unwrap().is_empty(),
        "neither the original (removed) nor the copy (delayed) is visible yet"
    );
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let again = q.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(again.len(), 1, "one copy, not two");
    assert_eq!((again[0].body.as_str(), again[0].receive_count), ("pair-limited", 1));
    q.ack(&again[0].receipt).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
}

on_both_backends!(
    a_postponed_record_comes_back_after_its_delay_with_its_receive_count_reset,
    the_queue_redelivers_what_was_not_acked_and_counts_receives,
    retry_later_hides_for_the_delay_and_dead_letters_keep_their_reason,
);
