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

on_both_backends!(send_progress_only_moves_forward_and_final_states_stay,);
