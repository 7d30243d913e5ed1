//! The read model: pages, conversations, absent things.

use super::*;
use wabridge::ports::Walk;

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

/// A customer's window with one business number says nothing about another number's.
async fn windows_belong_to_the_business_number_and_the_customer(b: Backend) {
    const OTHER: &str = "100000000000002";
    let to_other = |wamid: &str, ts: i64| StoredMessage {
        phone_number_id: OTHER.into(),
        ..inbound(wamid, "444", ts, "to the other number")
    };
    b.store
        .record_inbound(&inbound("wamid.W1", "444", T0, "hi"))
        .await
        .unwrap();
    let a = b.store.window(PNI, &key("444")).await.unwrap();
    assert_eq!(a.expires_at(), Some(T0 + WINDOW_MS));
    assert!(a.is_open(T0 + 1000));
    let other = b.store.window(OTHER, &key("444")).await.unwrap();
    assert!(
        !other.is_open(T0 + 1000),
        "the customer never wrote to {OTHER}: {other:?}"
    );
    assert_eq!(other.expires_at(), None);

    // The customer writes to the other number; Meta then refuses a free-form send from the first.
    b.store.record_inbound(&to_other("wamid.W2", T0 + 2000)).await.unwrap();
    b.store.close_window(PNI, &key("444"), T0 + 3000).await.unwrap();
    assert!(!b.store.window(PNI, &key("444")).await.unwrap().is_open(T0 + 4000));
    let other = b.store.window(OTHER, &key("444")).await.unwrap();
    assert_eq!(
        other.expires_at(),
        Some(T0 + 2000 + WINDOW_MS),
        "131047 on {PNI} closes only its window"
    );
    // The conversation shows the window of the number it last moved on.
    let c = b.store.conversation(&key("444"), T0 + 4000).await.unwrap().unwrap();
    assert_eq!(c.phone_number_id.as_deref(), Some(OTHER));
    assert_eq!(
        (c.window_open, c.window_expires_at),
        (true, Some(T0 + 2000 + WINDOW_MS))
    );

    // Writing again to the first number reopens it; a late, older message does not move it back.
    b.store
        .record_inbound(&inbound("wamid.W3", "444", T0 + 5000, "back"))
        .await
        .unwrap();
    b.store
        .record_inbound(&inbound("wamid.W0", "444", T0 - 9000, "late"))
        .await
        .unwrap();
    let a = b.store.window(PNI, &key("444")).await.unwrap();
    assert_eq!(a.expires_at(), Some(T0 + 5000 + WINDOW_MS));
    assert!(
        b.store
            .window(PNI, &key("nobody"))
            .await
            .unwrap()
            .expires_at()
            .is_none()
    );
}

/// Writers at once when loading many messages: moto runs DynamoDB requests one at a time, and a
/// test that queues many there slows every other test's requests.
fn writers(b: &Backend) -> usize {
    if b.kind == Kind::Aws { 2 } else { 16 }
}

/// Unread counts the customer's messages after the one last marked read: duplicates and late
/// arrivals before the position do not count, the position never moves back, and marking the
/// newest clears it. Only a stored inbound message can be marked.
async fn unread_counts_what_came_after_the_last_message_marked_read(b: Backend) {
    let c = "27820000777";
    let unread = || {
        let store = b.store.clone();
        async move {
            let conv = store.conversation(&key(c), T0).await.unwrap().unwrap();
            (conv.unread, conv.unread_more)
        }
    };
    let wamid = |i: i64| Wamid::parse(&format!("wamid.UNREAD{i}")).unwrap();
    for i in 0..5 {
        b.store
            .record_inbound(&inbound(wamid(i).as_str(), c, T0 + i * 1000, "hi"))
            .await
            .unwrap();
    }
    assert_eq!(unread().await, (5, false));
    assert!(b.store.mark_read(&wamid(2)).await.unwrap());
    assert_eq!(unread().await, (2, false), "the two after the third");
    // A redelivery, and a late message from before the position, count nothing.
    b.store
        .record_inbound(&inbound(wamid(3).as_str(), c, T0 + 3000, "hi"))
        .await
        .unwrap();
    b.store
        .record_inbound(&inbound("wamid.UNREADLATE", c, T0 + 500, "late"))
        .await
        .unwrap();
    assert_eq!(unread().await, (2, false));
    // A new one after it counts; our own send does not.
    b.store
        .record_inbound(&inbound(wamid(9).as_str(), c, T0 + 9000, "more"))
        .await
        .unwrap();
    b.store
        .record_outbound(&outbound("wamid.UNREADOUT", c, T0 + 9500))
        .await
        .unwrap();
    assert_eq!(unread().await, (3, false));
    assert!(b.store.mark_read(&wamid(1)).await.unwrap());
    assert_eq!(unread().await, (3, false), "the position never moves back");
    assert!(b.store.mark_read(&wamid(9)).await.unwrap());
    assert_eq!(unread().await, (0, false));
    assert!(
        !b.store
            .mark_read(&Wamid::parse("wamid.NOWHERE").unwrap())
            .await
            .unwrap()
    );
    assert!(
        !b.store
            .mark_read(&Wamid::parse("wamid.UNREADOUT").unwrap())
            .await
            .unwrap(),
        "our own message is not the customer's to mark"
    );
}

/// 20,000 messages from one customer: every one is recorded (nothing in the conversation grows
/// with its history, so no item outgrows DynamoDB's 400 KB), unread shows its cap and says there
/// is more, and marking one read recounts exactly what came after it.
async fn unread_stays_bounded_over_a_long_history(b: Backend) {
    use futures::StreamExt;
    let c = "27820000888";
    // moto takes about 10 ms a request, so on it a history just past the cap stands in for the
    // full 20,000; nothing stored grows with the history on either backend.
    let n: i64 = if b.kind == Kind::Aws { 1_020 } else { 20_000 };
    let store = b.store.clone();
    futures::stream::iter(0..n)
        .map(|i| {
            let store = store.clone();
            async move {
                let m = inbound(&format!("wamid.LONG{i:05}"), c, T0 + i, "hi");
                store.record_inbound(&m).await.unwrap()
            }
        })
        .buffer_unordered(writers(&b))
        .for_each(|_| async {})
        .await;
    let conv = b.store.conversation(&key(c), T0).await.unwrap().unwrap();
    assert_eq!((conv.unread, conv.unread_more), (1000, true));
    let at = |i: i64| Wamid::parse(&format!("wamid.LONG{i:05}")).unwrap();
    assert!(b.store.mark_read(&at(n - 1 - 250)).await.unwrap());
    let conv = b.store.conversation(&key(c), T0).await.unwrap().unwrap();
    assert_eq!((conv.unread, conv.unread_more), (250, false));
    b.store
        .record_inbound(&inbound("wamid.LONGNEXT", c, T0 + n, "next"))
        .await
        .unwrap();
    let conv = b.store.conversation(&key(c), T0).await.unwrap().unwrap();
    assert_eq!(conv.unread, 251);
}

/// Conversations spread over the list partitions still page newest first, complete and without
/// repeats, while other conversations keep moving.
async fn conversation_pages_merge_every_partition_in_order_while_writes_continue(b: Backend) {
    use futures::StreamExt;
    // Fewer on moto (about 10 ms a request); still several pages from every partition.
    let (n, size): (i64, u32) = if b.kind == Kind::Aws { (300, 20) } else { (10_000, 100) };
    let store = b.store.clone();
    let record = |i: i64, ts: i64| {
        let store = store.clone();
        async move {
            let m = inbound(&format!("wamid.CONV{i:05}-{ts}"), &format!("2782{i:07}"), ts, "hi");
            store.record_inbound(&m).await.unwrap();
        }
    };
    futures::stream::iter(0..n)
        .map(|i| record(i, T0 + i))
        .buffer_unordered(writers(&b))
        .for_each(|_| async {})
        .await;
    let mut seen = BTreeSet::new();
    let mut last: Option<i64> = None;
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let p = b.store.conversations(&page(size, cursor.clone()), T0).await.unwrap();
        // Meanwhile, conversations already listed move to the top: they must not come back.
        for i in 0..5 {
            let k = pages * 5 + i;
            record(n - 1 - k, T0 + n + k).await;
        }
        for conv in &p.data {
            let at = conv.last_message_at.unwrap();
            assert!(last.is_none_or(|l| at < l), "newest first across partitions");
            last = Some(at);
            assert!(seen.insert(conv.wa_id.clone().unwrap()), "no conversation twice");
        }
        pages += 1;
        match &p.next_cursor {
            Some(c) => cursor = Some(wabridge::read::Cursor::decode(c, "conversations").unwrap()),
            None => break,
        }
    }
    // Those that moved were listed before they moved, or are above the first page's top now:
    // every conversation that did not move was listed exactly once.
    assert_eq!(seen.len() as i64, n, "every conversation listed");
    assert_eq!(pages, n / i64::from(size));
}

/// A customer's timeline between two sequence keys (both excluded), either way round, whole or
/// only our messages: what analytics walks to find the messages around a message.
async fn a_timeline_walks_one_customer_either_way_and_can_keep_only_ours(b: Backend) {
    let c = "27820000061";
    let mut ours = Vec::new();
    for i in 0..12i64 {
        let at = T0 + i * 1000;
        // Every third message is ours, the rest the customer's.
        if i % 3 == 2 {
            let m = outbound(&format!("wamid.tl-out-{i}"), c, at);
            b.store.record_outbound(&m).await.unwrap();
            ours.push(m.id);
        } else {
            b.store
                .record_inbound(&inbound(&format!("wamid.tl-in-{i}"), c, at, "hi"))
                .await
                .unwrap();
        }
    }
    b.store
        .record_inbound(&inbound("wamid.tl-other", "27820000062", T0 + 5500, "x"))
        .await
        .unwrap();
    let key = CustomerKey::parse(c).unwrap();
    let times = |v: Vec<StoredMessage>| v.iter().map(|m| (m.timestamp_ms - T0) / 1000).collect::<Vec<_>>();
    let tl = |lo: String, hi: String, newest: bool, limit: u32, only: bool| {
        let (b, key) = (&b, &key);
        async move {
            let walk = Walk {
                lo: &lo,
                hi: &hi,
                newest_first: newest,
                limit,
                ours_only: only,
            };
            times(b.store.timeline(key, walk).await.unwrap())
        }
    };
    let at = |s: i64| wabridge::domain::seq_key(T0 + s * 1000, "");
    assert_eq!(
        tl(String::new(), "~".into(), false, 100, false).await,
        (0..12).collect::<Vec<_>>()
    );
    assert_eq!(
        tl(at(3), at(7), false, 100, false).await,
        [3, 4, 5, 6],
        "the other customer is not in it"
    );
    assert_eq!(tl(at(3), at(7), true, 2, false).await, [6, 5]);
    assert_eq!(tl(String::new(), "~".into(), false, 100, true).await, [2, 5, 8, 11]);
    assert_eq!(
        tl(String::new(), at(8), true, 1, true).await,
        [5],
        "our previous message"
    );
    assert_eq!(tl(at(9), "~".into(), false, 1, true).await, [11], "our next message");
    // A message's own key is excluded at either end.
    let (lo, hi) = (at(5), at(6));
    let walk = Walk {
        lo: &lo,
        hi: &hi,
        newest_first: false,
        limit: 1,
        ours_only: true,
    };
    let fifth = b.store.timeline(&key, walk).await.unwrap();
    assert_eq!(fifth[0].id, ours[1]);
    assert_eq!(tl(fifth[0].seq(), "~".into(), false, 1, true).await, [8]);
    assert_eq!(tl(String::new(), fifth[0].seq(), true, 1, true).await, [2]);
}

on_both_backends!(
    a_timeline_walks_one_customer_either_way_and_can_keep_only_ours,
    windows_belong_to_the_business_number_and_the_customer,
    conversation_pages_walk_back_in_time_and_stay_stable_under_inserts,
    conversations_list_newest_activity_first_with_window_and_unread,
    unknown_messages_are_absent_not_errors,
    unread_counts_what_came_after_the_last_message_marked_read,
    unread_stays_bounded_over_a_long_history,
    conversation_pages_merge_every_partition_in_order_while_writes_continue,
);
