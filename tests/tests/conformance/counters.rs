//! The counters role: each fact counted once, a better version moving its counts, activity
//! points that only gain kinds, sums by bucket and business number with exact distinct
//! customers, and a clear.

use super::*;
use wabridge::ports::{Fact, Point, Reach, Tally};

const OTHER: &str = "100000000000002";

fn fact(key: &str, rank: i64, phone: &str, slot: i64, metrics: &[(&str, i64)]) -> Fact {
    Fact {
        key: key.into(),
        rank,
        phone: phone.into(),
        slot,
        metrics: metrics.iter().map(|(m, v)| ((*m).to_owned(), *v)).collect(),
    }
}

fn tally(facts: Vec<Fact>, points: Vec<Point>) -> Tally {
    Tally { facts, points }
}

/// Every (hour, metric, value) in hours `0..100`, one bucket per hour, sorted.
async fn counts(b: &Backend, phone: Option<&str>) -> Vec<(i64, String, i64)> {
    let edges: Vec<i64> = (0..=100).collect();
    let sums = b.store.sums(phone, &edges).await.unwrap();
    assert_eq!(sums.buckets.len(), 100);
    let mut out: Vec<_> = sums
        .buckets
        .into_iter()
        .zip(0..)
        .flat_map(|(bucket, slot)| bucket.metrics.into_iter().map(move |(m, v)| (slot, m, v)))
        .collect();
    out.sort();
    out
}

async fn a_fact_counts_once_and_a_better_version_moves_its_counts(b: Backend) {
    let first = fact("ev:1:delivered", -50, PNI, 5, &[("ev.delivered", 1)]);
    for _ in 0..3 {
        b.store.tally(&tally(vec![first.clone()], vec![])).await.unwrap();
    }
    assert_eq!(counts(&b, None).await, [(5, "ev.delivered".into(), 1)]);
    // An earlier time found later (a higher rank) moves the count to its hour.
    let earlier = fact("ev:1:delivered", -40, PNI, 4, &[("ev.delivered", 1)]);
    b.store.tally(&tally(vec![earlier.clone()], vec![])).await.unwrap();
    assert_eq!(counts(&b, None).await, [(4, "ev.delivered".into(), 1)]);
    // The old version again changes nothing.
    b.store.tally(&tally(vec![first, earlier], vec![])).await.unwrap();
    assert_eq!(counts(&b, None).await, [(4, "ev.delivered".into(), 1)]);
    // A latest-status fact swaps its metric in place; several facts in one tally.
    let queued = fact("state:1", 0, PNI, 4, &[("st.queued", 1)]);
    let read = fact("state:1", 5, PNI, 4, &[("st.read", 1)]);
    let other = fact("in:9", 0, OTHER, 7, &[("in", 1), ("new", 1)]);
    b.store.tally(&tally(vec![queued, other], vec![])).await.unwrap();
    b.store.tally(&tally(vec![read], vec![])).await.unwrap();
    assert_eq!(
        counts(&b, None).await,
        [
            (4, "ev.delivered".into(), 1),
            (4, "st.read".into(), 1),
            (7, "in".into(), 1),
            (7, "new".into(), 1),
        ]
    );
    assert_eq!(
        counts(&b, Some(OTHER)).await,
        [(7, "in".into(), 1), (7, "new".into(), 1)]
    );
    // Buckets sum their hours; the last edge is exclusive.
    let sums = b.store.sums(None, &[4, 7, 8]).await.unwrap();
    let mut first = sums.buckets[0].metrics.clone();
    first.sort();
    assert_eq!(first, [("ev.delivered".to_owned(), 1), ("st.read".to_owned(), 1)]);
    assert_eq!(b.store.sums(None, &[5, 7]).await.unwrap().buckets[0].metrics, []);
}

async fn activity_counts_each_customer_once_per_bucket_and_range(b: Backend) {
    let p = |phone: &str, slot, c: &str, kinds| Point {
        phone: phone.into(),
        slot,
        customer: c.into(),
        kinds,
    };
    let t = tally(
        vec![],
        vec![
            p(PNI, 3, "a", Point::WROTE),
            p(PNI, 3, "a", Point::MESSAGED),
            p(PNI, 3, "a", Point::WROTE),
            p(PNI, 4, "a", Point::WROTE),
            p(PNI, 4, "c", Point::WROTE),
            p(PNI, 800, "b", Point::REPLIED | Point::MESSAGED),
            p(OTHER, 3, "a", Point::MESSAGED),
            p(OTHER, 5, "d", Point::WROTE),
        ],
    );
    b.store.tally(&t).await.unwrap();
    // Redelivered, the same points change nothing.
    b.store.tally(&t).await.unwrap();
    let active = |s: &wabridge::ports::Sums| s.buckets.iter().map(|b| b.active).collect::<Vec<_>>();
    let all = b.store.sums(None, &[0, 4, 5, 1000]).await.unwrap();
    assert_eq!(active(&all), [1, 2, 1], "a in 0..4; a and c in 4..5; d in 5..1000");
    assert_eq!(
        all.reach,
        Reach {
            wrote: 3,
            any: 4,
            messaged: 2,
            replied: 1
        },
        "a customer of two numbers is one customer"
    );
    let other = b.store.sums(Some(OTHER), &[0, 1000]).await.unwrap();
    assert_eq!(active(&other), [1]);
    assert_eq!((other.reach.any, other.reach.messaged), (2, 1));
    let between = b.store.sums(None, &[6, 800]).await.unwrap();
    assert_eq!(
        (active(&between), between.reach),
        (vec![0], Reach::default()),
        "800 is outside"
    );
    // One bucket over everything: a customer active in many hours counts once.
    let one = b.store.sums(Some(PNI), &[0, 1000]).await.unwrap();
    assert_eq!(active(&one), [2]);
    b.store.clear_counters().await.unwrap();
    assert_eq!(b.store.sums(None, &[0, 1000]).await.unwrap().reach, Reach::default());
    // Cleared facts count again.
    let f = fact("in:1", 0, PNI, 1, &[("in", 1)]);
    b.store.tally(&tally(vec![f], vec![])).await.unwrap();
    assert_eq!(counts(&b, None).await, [(1, "in".into(), 1)]);
}

on_both_backends!(
    a_fact_counts_once_and_a_better_version_moves_its_counts,
    activity_counts_each_customer_once_per_bucket_and_range,
);
