//! The idempotency role: one claimant per key, answers replayed, keys expire.

use super::*;

async fn one_concurrent_claimant_wins_an_idempotency_key(b: Backend) {
    // Claims are kept until their expiry, judged against the real clock.
    let day = chrono::Utc::now().timestamp_millis() + 86_400_000;
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let s = b.store.clone();
            tokio::spawn(async move { s.claim_idempotency("caller:key-1", "fp-a", day, day).await.unwrap() })
        })
        .collect();
    let mut new = 0;
    for t in tasks {
        match t.await.unwrap() {
            IdempotencyClaim::New => new += 1,
            IdempotencyClaim::InProgress { fingerprint, .. } => assert_eq!(fingerprint, "fp-a"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(new, 1);
    b.store
        .finish_idempotency("caller:key-1", day, 202, &json!({"id": "x"}))
        .await
        .unwrap();
    assert_eq!(
        b.store
            .claim_idempotency("caller:key-1", "fp-b", day, day)
            .await
            .unwrap(),
        IdempotencyClaim::Answered {
            fingerprint: "fp-a".into(),
            status: 202,
            body: json!({"id": "x"})
        }
    );
    b.store.claim_idempotency("caller:key-2", "fp", day, day).await.unwrap();
    b.store.release_idempotency("caller:key-2", day).await.unwrap();
    assert_eq!(
        b.store.claim_idempotency("caller:key-2", "fp", day, day).await.unwrap(),
        IdempotencyClaim::New,
        "released keys are free"
    );
    // An expired key is free again, even before the store's own clean-up removes it.
    let past = chrono::Utc::now().timestamp_millis() - 1;
    b.store
        .claim_idempotency("caller:key-3", "fp", past, past)
        .await
        .unwrap();
    assert_eq!(
        b.store
            .claim_idempotency("caller:key-3", "fp2", day, day)
            .await
            .unwrap(),
        IdempotencyClaim::New
    );
}

/// Idempotency keys expire by the store's clock: a manual one, so a day passes without sleeping.
async fn an_idempotency_key_expires_a_day_later_by_the_stores_clock(kind: wabridge_tests::Kind) {
    let t0 = 1_763_800_000_000;
    let clock = wabridge_tests::ManualClock::at(t0);
    let b = Backend::at(kind, clock.clone()).await;
    let day = 24 * 3600 * 1000;
    let key = "caller:expiring";
    assert_eq!(
        b.store.claim_idempotency(key, "fp", t0 + day, t0 + day).await.unwrap(),
        IdempotencyClaim::New
    );
    b.store
        .finish_idempotency(key, t0 + day, 202, &json!({"id": "x"}))
        .await
        .unwrap();
    clock.advance(std::time::Duration::from_millis(day as u64 - 1));
    assert!(matches!(
        b.store
            .claim_idempotency(key, "fp", t0 + 2 * day, t0 + 2 * day)
            .await
            .unwrap(),
        IdempotencyClaim::Answered { status: 202, .. }
    ));
    clock.advance(std::time::Duration::from_millis(2));
    assert_eq!(
        b.store
            .claim_idempotency(key, "fp", t0 + 2 * day, t0 + 2 * day)
            .await
            .unwrap(),
        IdempotencyClaim::New,
        "expired keys are claimed afresh"
    );
}

/// A request that claimed a key and crashed before answering holds it only for its lease: a retry
/// after the lease claims it afresh, and an answered key does not lapse with the lease.
async fn an_unanswered_claim_is_free_again_after_its_lease(kind: wabridge_tests::Kind) {
    let t0 = 1_763_800_000_000;
    let clock = wabridge_tests::ManualClock::at(t0);
    let b = Backend::at(kind, clock.clone()).await;
    let (lease, day) = (30_000, 86_400_000);
    let key = "caller:crashed";
    let claim = |now: i64| {
        let s = b.store.clone();
        async move { s.claim_idempotency(key, "fp", now + lease, now + day).await.unwrap() }
    };
    assert_eq!(claim(t0).await, IdempotencyClaim::New);
    assert_eq!(
        claim(t0).await,
        IdempotencyClaim::InProgress {
            fingerprint: "fp".into(),
            lease_until_ms: t0 + lease
        }
    );
    clock.advance(std::time::Duration::from_millis(lease as u64 - 1));
    assert!(matches!(
        claim(t0 + lease - 1).await,
        IdempotencyClaim::InProgress { .. }
    ));
    clock.advance(std::time::Duration::from_millis(2));
    let now = t0 + lease + 1;
    assert_eq!(
        claim(now).await,
        IdempotencyClaim::New,
        "the lapsed claim is taken over"
    );
    assert_eq!(
        claim(now).await,
        IdempotencyClaim::InProgress {
            fingerprint: "fp".into(),
            lease_until_ms: now + lease
        },
        "the new claimant holds its own lease"
    );
    // The crashed request was only slow: it answers late, under the lease it lost. Its answer and
    // its release must not touch the claim that took over.
    b.store
        .finish_idempotency(key, t0 + lease, 500, &json!({"stale": true}))
        .await
        .unwrap();
    b.store.release_idempotency(key, t0 + lease).await.unwrap();
    assert_eq!(
        claim(now).await,
        IdempotencyClaim::InProgress {
            fingerprint: "fp".into(),
            lease_until_ms: now + lease
        },
        "a request past its lease neither answers nor frees the key it lost"
    );
    b.store
        .finish_idempotency(key, now + lease, 202, &json!({"id": "y"}))
        .await
        .unwrap();
    b.store
        .finish_idempotency(key, now + lease, 200, &json!({"id": "again"}))
        .await
        .unwrap();
    clock.advance(std::time::Duration::from_millis(10 * lease as u64));
    assert_eq!(
        claim(now + 10 * lease).await,
        IdempotencyClaim::Answered {
            fingerprint: "fp".into(),
            status: 202,
            body: json!({"id": "y"})
        },
        "the first answer is kept for the day, not the lease"
    );
}

on_both_backends!(one_concurrent_claimant_wins_an_idempotency_key,);

on_both_kinds!(
    an_idempotency_key_expires_a_day_later_by_the_stores_clock,
    an_unanswered_claim_is_free_again_after_its_lease,
);
