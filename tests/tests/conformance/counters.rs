//! The counters role: each fact counted once, a better version moving its counts, activity
//! points that only gain kinds, reads by hour range and business number, and a clear.

use super::*;
use wabridge::ports::{Fact, HourCounts, Point, Tally};

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

/// Every (phone, slot, metric, value) in hours `0..100`, sorted.
async fn counts(b: &Backend, phone: Option<&str>) -> Vec<(String, i64, String, i64)> {
    let mut out: Vec<_> = b
        .store
        .hours(phone, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|HourCounts { phone, slot, metrics }| {
            metrics.into_iter().map(move |(m, v)| (phone.clone(), slot, m, v))
        })
        .filter(|(.., v)| *v != 0)
        .collect();
    out.sort();
    out
}

async fn a_fact_counts_once_and_a_better_version_moves_its_counts(b: Backend) {
    let first = fact("ev:1:delivered", -50, PNI, 5, &[("ev.delivered", 1)]);
    for _ in 0..3 {
        b.store.tally(&tally(vec![first.clone()], vec![])).await.unwrap();
    }
    assert_eq!(counts(&b, None).await, [(PNI.into(), 5, "ev.delivered".into(), 1)]);
    // An earlier time found later (a higher rank) moves the count to its hour.
    let earlier = fact("ev:1:delivered", -40, PNI, 4, &[("ev.delivered", 1)]);
    b.store.tally(&tally(vec![earlier.clone()], vec![])).await.unwrap();
    assert_eq!(counts(&b, None).await, [(PNI.into(), 4, "ev.delivered".into(), 1)]);
    // The old version again changes nothing.
    b.store.tally(&tally(vec![first, earlier], vec![])).await.unwrap();
    assert_eq!(counts(&b, None).await, [(PNI.into(), 4, "ev.delivered".into(), 1)]);
    // A latest-status fact swaps its metric in place; several facts in one tally.
    let queued = fact("state:1", 0, PNI, 4, &[("st.queued", 1)]);
    let read = fact("state:1", 5, PNI, 4, &[("st.read", 1)]);
    let other = fact("in:9", 0, OTHER, 7, &[("in", 1), ("new", 1)]);
    b.store.tally(&tally(vec![queued, other], vec![])).await.unwrap();
    b.store.tally(&tally(vec![read], vec![])).await.unwrap();
    assert_eq!(
        counts(&b, None).await,
        [
            (PNI.into(), 4, "ev.delivered".into(), 1),
            (PNI.into(), 4, "st.read".into(), 1),
            (OTHER.into(), 7, "in".into(), 1),
            (OTHER.into(), 7, "new".into(), 1),
        ]
    );
    assert_eq!(counts(&b, Some(OTHER)).await.len(), 2);
    assert!(b.store.hours(None, 5, 7).await.unwrap().is_empty(), "to is exclusive");
}

async fn points_gain_kinds_and_read_by_range_and_number(b: Backend) {
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
            p(PNI, 800, "b", Point::REPLIED),
            p(OTHER, 3, "a", Point::MESSAGED),
        ],
    );
    b.store.tally(&t).await.unwrap();
    let mut all = b.store.points(None, 0, 1000).await.unwrap();
    all.sort_by(|x, y| (x.slot, &x.phone).cmp(&(y.slot, &y.phone)));
    assert_eq!(
        all,
        [
            p(PNI, 3, "a", Point::WROTE | Point::MESSAGED),
            p(OTHER, 3, "a", Point::MESSAGED),
            p(PNI, 800, "b", Point::REPLIED),
        ]
    );
    assert_eq!(b.store.points(Some(OTHER), 0, 1000).await.unwrap().len(), 1);
    assert_eq!(b.store.points(None, 4, 800).await.unwrap(), []);
    b.store.clear_counters().await.unwrap();
    assert_eq!(b.store.points(None, 0, 1000).await.unwrap(), []);
    // Cleared facts count again.
    let f = fact("in:1", 0, PNI, 1, &[("in", 1)]);
    b.store.tally(&tally(vec![f], vec![])).await.unwrap();
    assert_eq!(counts(&b, None).await, [(PNI.into(), 1, "in".into(), 1)]);
}

on_both_backends!(
    a_fact_counts_once_and_a_better_version_moves_its_counts,
    points_gain_kinds_and_read_by_range_and_number,
);
