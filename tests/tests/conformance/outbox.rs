//! The outbox role: the send state machine only moves forward.

use super::*;
use wabridge::domain::Stranded;

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
        .update_outbound(
            m.id,
            &SendChange::Accepted {
                wamid: w.clone(),
                resolved: None,
            },
        )
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

/// Meta's status is proof: it revives a message we failed without knowing, and never re-links one
/// already accepted under its wamid.
async fn a_status_confirms_a_message_we_gave_up_on_but_not_a_second_wamid(b: Backend) {
    let mut m = outbound("wamid.unused", "27820000032", T0);
    m.wamid = None;
    m.status = "queued".into();
    b.store.record_outbound(&m).await.unwrap();
    let unknown = ErrorInfo {
        code: 0,
        title: "outcome_unknown".into(),
        details: None,
    };
    b.store
        .update_outbound(m.id, &SendChange::Failed { error: unknown })
        .await
        .unwrap();
    let w = Wamid::parse("wamid.CONFIRMED").unwrap();
    let p = b
        .store
        .update_outbound(m.id, &SendChange::Confirmed { wamid: w.clone() })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.state, p.wamid.as_ref(), p.error),
        (SendState::Accepted, Some(&w), None)
    );
    let other = Wamid::parse("wamid.OTHER").unwrap();
    let p = b
        .store
        .update_outbound(m.id, &SendChange::Confirmed { wamid: other })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.wamid.as_ref(), Some(&w), "an accepted message keeps its wamid");
    let v = b.store.message(&MessageRef::Wamid(w)).await.unwrap().unwrap();
    assert_eq!((v.status.as_str(), v.error), ("accepted", None));
}

/// The sweep's question: which unfinished messages have not moved since a time?
async fn stranded_messages_are_the_unfinished_ones_that_stopped_moving(b: Backend) {
    let queued = |to: &str, ts: i64| {
        let mut m = outbound("wamid.unused", to, ts);
        m.wamid = None;
        m.status = "queued".into();
        m
    };
    // Twenty, so they spread over the index's shards on DynamoDB.
    let mut ids = Vec::new();
    for i in 0..20 {
        let m = queued(&format!("2782000{i:04}"), T0 + i);
        b.store.record_outbound(&m).await.unwrap();
        ids.push(m.id);
    }
    let stranded = |before: i64| {
        let store = b.store.clone();
        async move { store.stranded(before, 100).await.unwrap() }
    };
    let ids_of = |found: &[Stranded]| found.iter().map(|s| s.id).collect::<BTreeSet<_>>();
    let all = ids_of(&stranded(T0 + 1000).await);
    assert_eq!(all, ids.iter().copied().collect::<BTreeSet<_>>());
    assert!(
        b.store.stranded(T0, 100).await.unwrap().is_empty(),
        "none had stopped before T0"
    );
    assert_eq!(
        b.store.stranded(T0 + 1000, 7).await.unwrap().len(),
        7,
        "at most the limit"
    );

    // An attempt, a re-queue or a final state each take a message out of the stranded set.
    let attempt = SendChange::Attempt {
        at_ms: T0 + 2000,
        after_attempts: 0,
    };
    b.store.update_outbound(ids[0], &attempt).await.unwrap();
    b.store
        .update_outbound(ids[1], &SendChange::Requeued { at_ms: T0 + 2000 })
        .await
        .unwrap();
    b.store
        .update_outbound(
            ids[2],
            &SendChange::Accepted {
                wamid: Wamid::parse("wamid.S2").unwrap(),
                resolved: None,
            },
        )
        .await
        .unwrap();
    let failed = SendChange::Failed {
        error: ErrorInfo {
            code: 131026,
            title: "Message undeliverable".into(),
            details: None,
        },
    };
    b.store.update_outbound(ids[3], &failed).await.unwrap();
    let left = ids_of(&stranded(T0 + 1000).await);
    assert_eq!(left, ids[4..].iter().copied().collect::<BTreeSet<_>>());
    // Later, the attempted and re-queued ones stop moving too; the final ones never come back.
    let found_later = stranded(T0 + 3000).await;
    let later = ids_of(&found_later);
    assert!(later.contains(&ids[0]) && later.contains(&ids[1]));
    // Each comes with how often the sweep re-queued it.
    for s in &found_later {
        assert_eq!(s.requeues, u32::from(s.id == ids[1]), "{s:?}");
    }
    assert!(!later.contains(&ids[2]) && !later.contains(&ids[3]));
    // Inbound messages are never stranded.
    b.store
        .record_inbound(&inbound("wamid.IN", "27820000999", T0, "hi"))
        .await
        .unwrap();
    assert_eq!(b.store.stranded(T0 + 3000, 100).await.unwrap().len(), later.len());
}

/// Graph resolves a number to another form: the accepted message moves to that customer. The
/// conversation it leaves shows its own newest message again, or goes when it held nothing else;
/// a final message never moves.
async fn an_accepted_message_moves_to_the_customer_whatsapp_resolved(b: Backend) {
    let queued = |to: &str, ts: i64| {
        let mut m = outbound("wamid.unused", to, ts);
        m.wamid = None;
        m.status = "queued".into();
        m
    };
    let accept = |w: &str, to: &str| SendChange::Accepted {
        wamid: Wamid::parse(w).unwrap(),
        resolved: Some(key(to)),
    };
    let conversation = |c: &'static str| {
        let store = b.store.clone();
        async move { store.conversation(&key(c), T0 + 10_000).await.unwrap() }
    };
    let texts = |c: &'static str| {
        let store = b.store.clone();
        async move {
            let p = store.conversation_messages(&key(c), &page(50, None)).await.unwrap();
            p.data.iter().filter_map(|m| m.id.clone()).collect::<Vec<_>>()
        }
    };
    // A first message, alone under the form we wrote: it moves and its conversation goes.
    let alone = queued("5511987654321", T0);
    b.store.record_outbound(&alone).await.unwrap();
    b.store
        .record_inbound(&inbound("wamid.KNOWN", "551187654321", T0 - 50, "hi"))
        .await
        .unwrap();
    b.store
        .update_outbound(alone.id, &accept("wamid.MOVED1", "551187654321"))
        .await
        .unwrap();
    assert!(
        conversation("5511987654321").await.is_none(),
        "an emptied conversation goes"
    );
    assert!(texts("5511987654321").await.is_empty());
    assert_eq!(texts("551187654321").await.last(), Some(&alone.id.to_string()));
    let known = conversation("551187654321").await.unwrap();
    assert_eq!(
        known.last_message.as_ref().map(|l| l.id.clone()),
        Some(alone.id.to_string())
    );
    let (moved, _) = b.store.outbound(alone.id).await.unwrap().unwrap();
    assert_eq!(
        (moved.customer.as_str(), moved.wa_id.as_deref()),
        ("551187654321", Some("551187654321"))
    );
    // A conversation holding another message keeps it, and shows it again.
    let older = queued("5215512345678", T0);
    let newer = queued("5215512345678", T0 + 5);
    for m in [&older, &newer] {
        b.store.record_outbound(m).await.unwrap();
    }
    b.store
        .update_outbound(newer.id, &accept("wamid.MOVED2", "525512345678"))
        .await
        .unwrap();
    let stays = conversation("5215512345678").await.unwrap();
    assert_eq!(
        stays.last_message.map(|l| l.id),
        Some(older.id.to_string()),
        "shows what it still holds"
    );
    assert_eq!(texts("5215512345678").await, [older.id.to_string()]);
    assert_eq!(texts("525512345678").await, [newer.id.to_string()]);
    // A repeat, or a message already final, does not move again.
    b.store
        .update_outbound(newer.id, &accept("wamid.MOVED2", "5215512345678"))
        .await
        .unwrap();
    assert_eq!(texts("525512345678").await, [newer.id.to_string()]);
}

on_both_backends!(
    stranded_messages_are_the_unfinished_ones_that_stopped_moving,
    send_progress_only_moves_forward_and_final_states_stay,
    a_status_confirms_a_message_we_gave_up_on_but_not_a_second_wamid,
    an_accepted_message_moves_to_the_customer_whatsapp_resolved,
);
