//! The shared rate limiter.

use super::*;

async fn the_rate_limiter_never_exceeds_its_limit_and_uses_all_of_it(b: Backend) {
    // A controllable clock: time moves in 5 ms steps and senders ask for batches of 10 greedily.
    for (rate, seconds) in [(80.0, 5), (1000.0, 1)] {
        let burst = wabridge::outbound::limits::number_burst(rate);
        let key = format!("mps#test{rate}");
        let mut grants: Vec<(i64, u32)> = Vec::new();
        let end = seconds * 1000;
        let mut now = T0;
        while now < T0 + end {
            // Two senders racing for the same bucket, as two Lambda invocations would.
            let (a, c) = tokio::join!(
                b.limiter.acquire(&key, 10, rate, burst, now),
                b.limiter.acquire(&key, 10, rate, burst, now)
            );
            for g in [a.unwrap(), c.unwrap()] {
                if g.granted > 0 {
                    grants.push((now, g.granted));
                }
            }
            now += 5;
        }
        let total: u32 = grants.iter().map(|(_, g)| g).sum();
        let want = rate * seconds as f64;
        assert!(
            f64::from(total) <= want + burst,
            "rate {rate}: {total} granted in {seconds} s"
        );
        assert!(
            f64::from(total) >= want * 0.99,
            "rate {rate}: only {total} of {want} used"
        );
        for (start, _) in &grants {
            let in_window: u32 = grants
                .iter()
                .filter(|(t, _)| *t >= *start && *t < start + 1000)
                .map(|(_, g)| g)
                .sum();
            assert!(
                f64::from(in_window) <= rate + burst,
                "rate {rate}: {in_window} in the second from {start}"
            );
        }
    }
}

async fn a_penalty_pauses_the_bucket(b: Backend) {
    let key = "mps#penalized";
    assert_eq!(b.limiter.acquire(key, 1, 10.0, 1.0, T0).await.unwrap().granted, 1);
    b.limiter.penalize(key, 10.0, Duration::from_secs(2), T0).await.unwrap();
    let g = b.limiter.acquire(key, 1, 10.0, 1.0, T0 + 1000).await.unwrap();
    assert_eq!(g.granted, 0, "still paused a second later");
    assert!(g.wait >= Duration::from_millis(900), "{:?}", g.wait);
    assert_eq!(
        b.limiter.acquire(key, 1, 10.0, 1.0, T0 + 2200).await.unwrap().granted,
        1
    );
}

async fn unused_tokens_come_back_up_to_the_burst(b: Backend) {
    let key = "pair#refund";
    assert_eq!(b.limiter.acquire(key, 5, 0.1, 3.0, T0).await.unwrap().granted, 3);
    assert_eq!(b.limiter.acquire(key, 1, 0.1, 3.0, T0).await.unwrap().granted, 0);
    b.limiter.refund(key, 2, 0.1, 3.0, T0).await.unwrap();
    assert_eq!(b.limiter.acquire(key, 5, 0.1, 3.0, T0).await.unwrap().granted, 2);
    b.limiter.refund(key, 50, 0.1, 3.0, T0).await.unwrap();
    assert_eq!(
        b.limiter.acquire(key, 50, 0.1, 3.0, T0).await.unwrap().granted,
        3,
        "never more than the burst"
    );
}

on_both_backends!(
    unused_tokens_come_back_up_to_the_burst,
    the_rate_limiter_never_exceeds_its_limit_and_uses_all_of_it,
    a_penalty_pauses_the_bucket,
);
