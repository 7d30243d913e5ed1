//! The inbox role: messages stored once, statuses merged monotonically, raw events kept once.

use super::*;

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

async fn a_system_message_does_not_open_the_window(b: Backend) {
    let mut m = inbound("wamid.SYS", "444", T0, "changed number");
    m.msg_type = "system".into();
    m.opens_window = false;
    b.store.record_inbound(&m).await.unwrap();
    let c = b.store.conversation(&key("444"), T0).await.unwrap().unwrap();
    assert_eq!((c.window_expires_at, c.window_open), (None, false));
}

async fn a_message_older_than_our_last_send_still_counts_and_opens_the_window(b: Backend) {
    let c = "27820000077";
    b.store
        .record_outbound(&outbound("wamid.OURS", c, T0 + 5_000))
        .await
        .unwrap();
    // The customer wrote before our send was stored, but the webhook arrives after it.
    let late = inbound("wamid.LATE", c, T0, "earlier");
    assert_eq!(b.store.record_inbound(&late).await.unwrap(), Recorded::New);
    assert_eq!(b.store.record_inbound(&late).await.unwrap(), Recorded::Duplicate);
    let conv = b.store.conversation(&key(c), T0 + 5_000).await.unwrap().unwrap();
    assert_eq!(conv.last_message.as_ref().unwrap().text.as_deref(), Some("our reply"));
    assert_eq!(conv.unread, 1, "counted once");
    assert_eq!(conv.window_expires_at, Some(T0 + WINDOW_MS));
    assert!(conv.window_open);
    // The next message is the newest again: shown, counted and extending the window.
    b.store
        .record_inbound(&inbound("wamid.NEXT", c, T0 + 9_000, "later"))
        .await
        .unwrap();
    let conv = b.store.conversation(&key(c), T0 + 9_000).await.unwrap().unwrap();
    assert_eq!(conv.last_message.as_ref().unwrap().text.as_deref(), Some("later"));
    assert_eq!((conv.unread, conv.window_expires_at), (2, Some(T0 + 9_000 + WINDOW_MS)));
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

/// The processor's progress mark: absent until written, the newest kept whatever order processors
/// write in.
async fn the_newest_inbound_mark_is_kept(b: Backend) {
    use wabridge::domain::InboundMark;
    assert_eq!(b.store.inbound_mark().await.unwrap(), None);
    let mark = |at_ms, oldest_sent_ms| InboundMark { at_ms, oldest_sent_ms };
    b.store.mark_inbound(mark(T0 + 10_000, T0)).await.unwrap();
    assert_eq!(b.store.inbound_mark().await.unwrap(), Some(mark(T0 + 10_000, T0)));
    b.store.mark_inbound(mark(T0 + 20_000, T0 + 19_000)).await.unwrap();
    b.store.mark_inbound(mark(T0 + 15_000, T0 + 1_000)).await.unwrap();
    let kept = b.store.inbound_mark().await.unwrap().unwrap();
    assert_eq!(kept, mark(T0 + 20_000, T0 + 19_000), "a late, older mark is ignored");
    assert_eq!(kept.lag_ms(), 1_000);
}

on_both_backends!(
    the_newest_inbound_mark_is_kept,
    an_inbound_message_is_stored_once_and_counted_once,
    concurrent_duplicates_store_one_message_and_bump_unread_once,
    statuses_in_every_order_end_at_the_highest_with_every_timestamp,
    a_status_before_its_message_is_readable_and_merges_when_the_message_arrives,
    a_system_message_does_not_open_the_window,
    a_message_older_than_our_last_send_still_counts_and_opens_the_window,
    raw_events_are_kept_once,
);
