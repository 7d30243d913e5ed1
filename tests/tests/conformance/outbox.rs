//! The outbox role: the send state machine only moves forward.

use super::*;

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

on_both_backends!(
    send_progress_only_moves_forward_and_final_states_stay,
    a_status_confirms_a_message_we_gave_up_on_but_not_a_second_wamid,
);
