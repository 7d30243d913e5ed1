//! One contract for the ports, run against both adapters: SQLite/SQLite-queue/folder and
//! DynamoDB/SQS/S3 on moto. A behaviour a user relies on that differs between them fails here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use wabridge::domain::{
    CustomerKey, DeliveryStatus, Direction, ErrorInfo, IdempotencyClaim, MessageId, MessageRef, RawEvent, Recorded,
    SendChange, SendState, StatusUpdate, StoredMessage, WINDOW_MS, Wamid,
};
use wabridge::read::{PageRequest, messages_list};
use wabridge_tests::{Backend, on_both_backends};

const PNI: &str = "100000000000001";
const T0: i64 = 1_763_800_000_000;

fn inbound(wamid: &str, from: &str, ts: i64, text: &str) -> StoredMessage {
    let w = Wamid::parse(wamid).unwrap();
    StoredMessage {
        id: MessageId::for_wamid(&w),
        wamid: Some(w),
        phone_number_id: PNI.into(),
        customer: CustomerKey::parse(from).unwrap(),
        wa_id: Some(from.into()),
        user_id: None,
        direction: Direction::Inbound,
        msg_type: "text".into(),
        text: Some(text.into()),
        content: json!({"body": text}),
        context: None,
        referral: None,
        error: None,
        status: "received".into(),
        timestamp_ms: ts,
        opens_window: true,
        profile_name: Some(format!("name-{ts}")),
        extra: None,
    }
}

fn outbound(wamid: &str, to: &str, ts: i64) -> StoredMessage {
    StoredMessage {
        id: MessageId::new(),
        wamid: Some(Wamid::parse(wamid).unwrap()),
        direction: Direction::Outbound,
        status: "accepted".into(),
        opens_window: false,
        profile_name: None,
        ..inbound(wamid, to, ts, "our reply")
    }
}

fn status(wamid: &str, s: DeliveryStatus, ts: i64) -> StatusUpdate {
    StatusUpdate {
        wamid: Wamid::parse(wamid).unwrap(),
        status: s,
        timestamp_ms: ts,
        phone_number_id: PNI.into(),
        recipient_id: Some("27820000001".into()),
        recipient_user_id: None,
        error: (s == DeliveryStatus::Failed).then(|| ErrorInfo {
            code: 131026,
            title: "Message undeliverable".into(),
            details: Some("receiver incapable".into()),
        }),
        conversation: None,
        pricing: Some(json!({"category": "service"})),
        biz_opaque_callback_data: None,
    }
}

fn key(s: &str) -> CustomerKey {
    CustomerKey::parse(s).unwrap()
}

fn wamid_ref(s: &str) -> MessageRef {
    MessageRef::Wamid(Wamid::parse(s).unwrap())
}

fn page(limit: u32, after: Option<String>) -> PageRequest {
    PageRequest { limit, after }
}

async fn an_inbound_message_is_stored_once_and_counted_once(b: Backend) {
    let m = inbound("wamid.ONE", "27820000001", T0, "hello");
    assert_eq!(b.store.record_inbound(&m).await.unwrap(), Recorded::New);
    assert_eq!(b.store.record_inbound(&m).await.unwrap(), Recorded::Duplicate);
    let c = b.store.conversation(&key("27820000001"), T0).await.unwrap().unwrap();
    assert_eq!(c.unread, 1);
    let v = b.store.message(&wamid_ref("wamid.ONE")).await.unwrap().unwrap();
    assert_eq!(
        (v.status.as_str(), v.text.as_deref(), v.msg_type.as_deref()),
        ("received", Some("hello"), Some("text"))
    );
    assert_eq!(v.id, Some(m.id.to_string()));
    let by_id = b.store.message(&MessageRef::Id(m.id)).await.unwrap().unwrap();
    assert_eq!(by_id, v);
}

async fn concurrent_duplicates_store_one_message_and_bump_unread_once(b: Backend) {
    let m = inbound("wamid.RACE", "27820000001", T0, "hi");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (s, m) = (b.store.clone(), m.clone());
            tokio::spawn(async move { s.record_inbound(&m).await.unwrap() })
        })
        .collect();
    let mut news = 0;
    for t in tasks {
        news += usize::from(t.await.unwrap() == Recorded::New);
    }
    assert_eq!(news, 1);
    assert_eq!(
        b.store
            .conversation(&key("27820000001"), T0)
            .await
            .unwrap()
            .unwrap()
            .unread,
        1
    );
    let msgs = b
        .store
        .conversation_messages(&key("27820000001"), &page(50, None))
        .await
        .unwrap();
    assert_eq!(msgs.data.len(), 1);
}

fn permutations(items: &[DeliveryStatus]) -> Vec<Vec<DeliveryStatus>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first);
            out.push(p);
        }
    }
    out
}

async fn statuses_in_every_order_end_at_the_highest_with_every_timestamp(b: Backend) {
    use DeliveryStatus::*;
    for (n, order) in permutations(&[Sent, Delivered, Read]).into_iter().enumerate() {
        let w = format!("wamid.ORDER{n}");
        for s in &order {
            b.store
                .apply_status(&status(&w, *s, T0 + s.rank() * 1000))
                .await
                .unwrap();
        }
        let v = b.store.message(&wamid_ref(&w)).await.unwrap().unwrap();
        assert_eq!(v.status, "read", "order {order:?}");
        let keys: BTreeSet<&str> = v.status_timestamps.keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["sent", "delivered", "read"]), "order {order:?}");
        assert_eq!(v.status_timestamps["delivered"], T0 + 2000);
    }
    for (n, order) in permutations(&[Sent, Delivered, Read, Failed]).into_iter().enumerate() {
        let w = format!("wamid.FAIL{n}");
        for s in &order {
            b.store.apply_status(&status(&w, *s, T0)).await.unwrap();
        }
        let v = b.store.message(&wamid_ref(&w)).await.unwrap().unwrap();
        assert_eq!(v.status, "failed", "failed is terminal, order {order:?}");
        assert_eq!(v.error.as_ref().map(|e| e.code), Some(131026), "order {order:?}");
        assert_eq!(v.status_timestamps.len(), 4);
    }
    // Played counts as read for voice, and a late "read" does not undo it.
    b.store.apply_status(&status("wamid.VOICE", Played, T0)).await.unwrap();
    b.store.apply_status(&status("wamid.VOICE", Read, T0)).await.unwrap();
    assert_eq!(
        b.store
            .message(&wamid_ref("wamid.VOICE"))
            .await
            .unwrap()
            .unwrap()
            .status,
        "played"
    );
}

async fn a_status_before_its_message_is_readable_and_merges_when_the_message_arrives(b: Backend) {
    let w = "wamid.EARLY";
    b.store
        .apply_status(&status(w, DeliveryStatus::Delivered, T0 + 5000))
        .await
        .unwrap();
    let placeholder = b.store.message(&wamid_ref(w)).await.unwrap().unwrap();
    assert_eq!(placeholder.msg_type, None);
    assert_eq!(placeholder.direction, Direction::Outbound);
    assert_eq!(placeholder.status, "delivered");
    assert_eq!(placeholder.wa_id.as_deref(), Some("27820000001"));
    assert_eq!(placeholder.id, None);

    let m = outbound(w, "27820000001", T0);
    assert_eq!(b.store.record_outbound(&m).await.unwrap(), Recorded::New);
    assert_eq!(b.store.record_outbound(&m).await.unwrap(), Recorded::Duplicate);
    b.store
        .apply_status(&status(w, DeliveryStatus::Sent, T0 + 1000))
        .await
        .unwrap();
    for r in [wamid_ref(w), MessageRef::Id(m.id)] {
        let v = b.store.message(&r).await.unwrap().unwrap();
        assert_eq!(v.msg_type.as_deref(), Some("text"));
        assert_eq!(v.status, "delivered", "a late sent does not go backwards");
        assert_eq!(v.status_timestamps.len(), 2);
        assert_eq!(v.id, Some(m.id.to_string()));
    }
    // A conversation page shows each outbound message with its own status, alongside others.
    let other = outbound("wamid.OTHER", "27820000001", T0 + 10);
    b.store.record_outbound(&other).await.unwrap();
    b.store
        .apply_status(&status("wamid.OTHER", DeliveryStatus::Read, T0 + 20))
        .await
        .unwrap();
    let page = b
        .store
        .conversation_messages(&key("27820000001"), &page(50, None))
        .await
        .unwrap();
    let shown: Vec<(&str, &str)> = page
        .data
        .iter()
        .map(|v| (v.wamid.as_deref().unwrap(), v.status.as_str()))
        .collect();
    assert_eq!(shown, [(w, "delivered"), ("wamid.OTHER", "read")]);
    let c = b.store.conversation(&key("27820000001"), T0).await.unwrap().unwrap();
    assert_eq!(c.unread, 0, "outbound messages are not unread");
    assert!(!c.window_open, "our own message opens no window");
}

async fn conversation_pages_walk_back_in_time_and_stay_stable_under_inserts(b: Backend) {
    let c = "27820000009";
    for i in 0..25 {
        b.store
            .record_inbound(&inbound(&format!("wamid.P{i:02}"), c, T0 + i * 1000, &format!("m{i}")))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let p = b
            .store
            .conversation_messages(&key(c), &page(10, cursor.clone()))
            .await
            .unwrap();
        let texts: Vec<String> = p.data.iter().map(|m| m.text.clone().unwrap()).collect();
        let times: Vec<i64> = p.data.iter().map(|m| m.timestamp.unwrap()).collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "oldest first within a page: {times:?}"
        );
        seen.splice(0..0, texts);
        pages += 1;
        if pages == 1 {
            // New messages arriving between pages must not shift what the cursor returns next.
            for i in 25..30 {
                b.store
                    .record_inbound(&inbound(&format!("wamid.P{i:02}"), c, T0 + i * 1000, &format!("m{i}")))
                    .await
                    .unwrap();
            }
        }
        match p.next_cursor {
            Some(next) => cursor = Some(wabridge::read::Cursor::decode(&next, &messages_list(&key(c))).unwrap()),
            None => break,
        }
    }
    let want: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
    assert_eq!(
        seen, want,
        "every original message once, in order, across {pages} pages"
    );
    assert_eq!(pages, 3);
}

async fn conversations_list_newest_activity_first_with_window_and_unread(b: Backend) {
    b.store
        .record_inbound(&inbound("wamid.A1", "111", T0, "a1"))
        .await
        .unwrap();
    b.store
        .record_inbound(&inbound("wamid.B1", "222", T0 + 1000, "b1"))
        .await
        .unwrap();
    b.store
        .record_inbound(&inbound("wamid.C1", "333", T0 + 2000, "c1"))
        .await
        .unwrap();
    b.store
        .record_inbound(&inbound("wamid.A2", "111", T0 + 3000, "a2"))
        .await
        .unwrap();
    // An older message arriving late changes neither the last message nor the window.
    b.store
        .record_inbound(&inbound("wamid.A0", "111", T0 - 60_000, "a0"))
        .await
        .unwrap();

    let first = b.store.conversations(&page(2, None), T0 + 3000).await.unwrap();
    let who: Vec<_> = first.data.iter().map(|c| c.wa_id.clone().unwrap()).collect();
    assert_eq!(who, ["111", "333"]);
    let a = &first.data[0];
    assert_eq!(a.unread, 3);
    assert_eq!(a.last_message.as_ref().unwrap().text.as_deref(), Some("a2"));
    assert_eq!(a.last_message_at, Some(T0 + 3000));
    assert_eq!(a.name.as_deref(), Some(format!("name-{}", T0 + 3000).as_str()));
    assert_eq!(a.window_expires_at, Some(T0 + 3000 + WINDOW_MS));
    assert!(a.window_open);
    let after = wabridge::read::Cursor::decode(first.next_cursor.as_ref().unwrap(), "conversations").unwrap();
    let second = b.store.conversations(&page(2, Some(after)), T0).await.unwrap();
    assert_eq!(
        second.data.iter().map(|c| c.wa_id.clone().unwrap()).collect::<Vec<_>>(),
        ["222"]
    );
    assert_eq!(second.next_cursor, None);
    let later = b
        .store
        .conversation(&key("111"), T0 + 3000 + WINDOW_MS)
        .await
        .unwrap()
        .unwrap();
    assert!(!later.window_open, "closed 24 hours after the customer's last message");
}

async fn a_system_message_does_not_open_the_window(b: Backend) {
    let mut m = inbound("wamid.SYS", "444", T0, "changed number");
    m.msg_type = "system".into();
    m.opens_window = false;
    b.store.record_inbound(&m).await.unwrap();
    let c = b.store.conversation(&key("444"), T0).await.unwrap().unwrap();
    assert_eq!((c.window_expires_at, c.window_open), (None, false));
}

async fn contacts_keep_first_and_last_seen_and_the_latest_name(b: Backend) {
    b.store
        .record_inbound(&inbound("wamid.K2", "555", T0 + 2000, "x"))
        .await
        .unwrap();
    b.store
        .record_inbound(&inbound("wamid.K1", "555", T0 + 1000, "x"))
        .await
        .unwrap();
    b.store
        .record_inbound(&inbound("wamid.K3", "555", T0 + 3000, "x"))
        .await
        .unwrap();
    b.store
        .record_inbound(&inbound("wamid.L1", "666", T0, "x"))
        .await
        .unwrap();
    let k = b.store.contact(&key("555")).await.unwrap().unwrap();
    assert_eq!((k.first_seen_at, k.last_seen_at), (Some(T0 + 1000), Some(T0 + 3000)));
    assert_eq!(k.name.as_deref(), Some(format!("name-{}", T0 + 3000).as_str()));
    assert_eq!(k.wa_id.as_deref(), Some("555"));
    let p1 = b.store.contacts(&page(1, None)).await.unwrap();
    assert_eq!(p1.data[0].wa_id.as_deref(), Some("555"));
    let after = wabridge::read::Cursor::decode(p1.next_cursor.as_ref().unwrap(), "contacts").unwrap();
    let p2 = b.store.contacts(&page(1, Some(after))).await.unwrap();
    assert_eq!(p2.data[0].wa_id.as_deref(), Some("666"));
    assert_eq!(p2.next_cursor, None);
    assert!(b.store.contact(&key("777")).await.unwrap().is_none());
}

async fn raw_events_are_kept_once(b: Backend) {
    let e = RawEvent::new(
        "account_update",
        "change",
        Some("waba".into()),
        None,
        json!({"event": "X"}),
    );
    assert_eq!(b.store.record_event(&e).await.unwrap(), Recorded::New);
    assert_eq!(b.store.record_event(&e).await.unwrap(), Recorded::Duplicate);
    let got = b.store.events("account_update", 10).await.unwrap();
    assert_eq!(got, vec![e]);
    assert!(b.store.events("other", 10).await.unwrap().is_empty());
}

async fn unknown_messages_are_absent_not_errors(b: Backend) {
    assert!(b.store.message(&wamid_ref("wamid.NOPE")).await.unwrap().is_none());
    assert!(
        b.store
            .message(&MessageRef::Id(MessageId::new()))
            .await
            .unwrap()
            .is_none()
    );
    assert!(b.store.conversation(&key("000"), T0).await.unwrap().is_none());
    assert!(b.store.contact(&key("000")).await.unwrap().is_none());
    b.store.ping().await.unwrap();
}

async fn the_queue_redelivers_what_was_not_acked_and_counts_receives(b: Backend) {
    let q = &b.queue;
    q.send("one").await.unwrap();
    let first = q.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].body.as_str(), first[0].receive_count), ("one", 1));
    assert!(
        q.receive(10, Duration::ZERO).await.unwrap().is_empty(),
        "hidden while in flight"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = q.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(again.len(), 1, "visible again after the visibility timeout");
    assert_eq!(again[0].receive_count, 2);
    q.ack(&again[0].receipt).await.unwrap();
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

async fn blobs_round_trip_and_missing_is_none(b: Backend) {
    let body = "ünïcødé body".as_bytes().to_vec();
    b.blobs
        .put("webhooks/a/b.json", body.clone(), "application/json")
        .await
        .unwrap();
    assert_eq!(b.blobs.get("webhooks/a/b.json").await.unwrap(), Some(body));
    assert_eq!(b.blobs.get("webhooks/missing.json").await.unwrap(), None);
}

async fn the_rate_limiter_never_exceeds_its_limit_and_uses_all_of_it(b: Backend) {
    // A controllable clock: time moves in 5 ms steps and senders ask for batches of 10 greedily.
    for (rate, seconds) in [(80.0, 5), (1000.0, 2)] {
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

async fn one_concurrent_claimant_wins_an_idempotency_key(b: Backend) {
    // Claims are kept until their expiry, judged against the real clock.
    let day = chrono::Utc::now().timestamp_millis() + 86_400_000;
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let s = b.store.clone();
            tokio::spawn(async move { s.claim_idempotency("caller:key-1", "fp-a", day).await.unwrap() })
        })
        .collect();
    let mut new = 0;
    for t in tasks {
        match t.await.unwrap() {
            IdempotencyClaim::New => new += 1,
            IdempotencyClaim::InProgress { fingerprint } => assert_eq!(fingerprint, "fp-a"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(new, 1);
    b.store
        .finish_idempotency("caller:key-1", 202, &json!({"id": "x"}))
        .await
        .unwrap();
    assert_eq!(
        b.store.claim_idempotency("caller:key-1", "fp-b", day).await.unwrap(),
        IdempotencyClaim::Answered {
            fingerprint: "fp-a".into(),
            status: 202,
            body: json!({"id": "x"})
        }
    );
    b.store.claim_idempotency("caller:key-2", "fp", day).await.unwrap();
    b.store.release_idempotency("caller:key-2").await.unwrap();
    assert_eq!(
        b.store.claim_idempotency("caller:key-2", "fp", day).await.unwrap(),
        IdempotencyClaim::New,
        "released keys are free"
    );
    // An expired key is free again, even before the store's own clean-up removes it.
    let past = chrono::Utc::now().timestamp_millis() - 1;
    b.store.claim_idempotency("caller:key-3", "fp", past).await.unwrap();
    assert_eq!(
        b.store.claim_idempotency("caller:key-3", "fp2", day).await.unwrap(),
        IdempotencyClaim::New
    );
}

async fn send_progress_only_moves_forward_and_final_states_stay(b: Backend) {
    let mut m = outbound("wamid.unused", "27820000031", T0);
    m.wamid = None;
    m.status = "queued".into();
    b.store.record_outbound(&m).await.unwrap();
    let (_, p) = b.store.outbound(m.id).await.unwrap().unwrap();
    assert_eq!((p.state, p.attempts), (SendState::Queued, 0));
    let p = b
        .store
        .update_outbound(
            m.id,
            &SendChange::Attempt {
                at_ms: T0 + 1,
                after_attempts: 0,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.state, p.attempts, p.last_attempt_ms),
        (SendState::Sending, 1, Some(T0 + 1))
    );
    // A second worker holding a duplicate delivery saw 0 attempts too: its attempt does not count.
    let p = b
        .store
        .update_outbound(
            m.id,
            &SendChange::Attempt {
                at_ms: T0 + 5,
                after_attempts: 0,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((p.attempts, p.last_attempt_ms), (1, Some(T0 + 1)));
    let err = ErrorInfo {
        code: 131000,
        title: "Something went wrong".into(),
        details: None,
    };
    let p = b
        .store
        .update_outbound(m.id, &SendChange::Deferred { error: err.clone() })
        .await
        .unwrap()
        .unwrap();
    assert_eq!((p.state, p.error.as_ref()), (SendState::Queued, Some(&err)));
    let w = Wamid::parse("wamid.PROGRESS").unwrap();
    b.store
        .update_outbound(
            m.id,
            &SendChange::Attempt {
                at_ms: T0 + 2,
                after_attempts: 1,
            },
        )
        .await
        .unwrap();
    let p = b
        .store
        .update_outbound(m.id, &SendChange::Accepted { wamid: w.clone() })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.state, p.attempts, p.wamid.as_ref()),
        (SendState::Accepted, 2, Some(&w))
    );
    let p = b
        .store
        .update_outbound(m.id, &SendChange::Failed { error: err })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.state, SendState::Accepted, "a late failure does not undo acceptance");
    let v = b.store.message(&MessageRef::Wamid(w)).await.unwrap().unwrap();
    assert_eq!((v.id, v.status.as_str()), (Some(m.id.to_string()), "accepted"));
    assert!(
        b.store
            .update_outbound(
                MessageId::new(),
                &SendChange::Attempt {
                    at_ms: T0,
                    after_attempts: 0
                }
            )
            .await
            .unwrap()
            .is_none()
    );
}

on_both_backends!(
    the_rate_limiter_never_exceeds_its_limit_and_uses_all_of_it,
    a_penalty_pauses_the_bucket,
    one_concurrent_claimant_wins_an_idempotency_key,
    send_progress_only_moves_forward_and_final_states_stay,
    an_inbound_message_is_stored_once_and_counted_once,
    concurrent_duplicates_store_one_message_and_bump_unread_once,
    statuses_in_every_order_end_at_the_highest_with_every_timestamp,
    a_status_before_its_message_is_readable_and_merges_when_the_message_arrives,
    conversation_pages_walk_back_in_time_and_stay_stable_under_inserts,
    conversations_list_newest_activity_first_with_window_and_unread,
    a_system_message_does_not_open_the_window,
    contacts_keep_first_and_last_seen_and_the_latest_name,
    raw_events_are_kept_once,
    unknown_messages_are_absent_not_errors,
    the_queue_redelivers_what_was_not_acked_and_counts_receives,
    retry_later_hides_for_the_delay_and_dead_letters_keep_their_reason,
    blobs_round_trip_and_missing_is_none,
);

/// Idempotency keys expire by the store's clock: a manual one, so a day passes without sleeping.
async fn an_idempotency_key_expires_a_day_later_by_the_stores_clock(kind: wabridge_tests::Kind) {
    let t0 = 1_763_800_000_000;
    let clock = wabridge_tests::ManualClock::at(t0);
    let b = Backend::at(kind, clock.clone()).await;
    let day = 24 * 3600 * 1000;
    let key = "caller:expiring";
    assert_eq!(
        b.store.claim_idempotency(key, "fp", t0 + day).await.unwrap(),
        IdempotencyClaim::New
    );
    b.store.finish_idempotency(key, 202, &json!({"id": "x"})).await.unwrap();
    clock.advance(std::time::Duration::from_millis(day as u64 - 1));
    assert!(matches!(
        b.store.claim_idempotency(key, "fp", t0 + 2 * day).await.unwrap(),
        IdempotencyClaim::Answered { status: 202, .. }
    ));
    clock.advance(std::time::Duration::from_millis(2));
    assert_eq!(
        b.store.claim_idempotency(key, "fp", t0 + 2 * day).await.unwrap(),
        IdempotencyClaim::New,
        "expired keys are claimed afresh"
    );
}

mod clocked {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_an_idempotency_key_expires_a_day_later_by_the_stores_clock() {
        super::an_idempotency_key_expires_a_day_later_by_the_stores_clock(wabridge_tests::Kind::Embedded).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aws_an_idempotency_key_expires_a_day_later_by_the_stores_clock() {
        super::an_idempotency_key_expires_a_day_later_by_the_stores_clock(wabridge_tests::Kind::Aws).await
    }
}
