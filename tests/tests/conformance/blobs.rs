//! The blob port.

use super::*;

async fn blobs_round_trip_and_missing_is_none(b: Backend) {
    let body = "ünïcødé body".as_bytes().to_vec();
    b.blobs
        .put("webhooks/a/b.json", body.clone(), "application/json")
        .await
        .unwrap();
    assert_eq!(b.blobs.get("webhooks/a/b.json").await.unwrap(), Some(body));
    assert_eq!(b.blobs.get("webhooks/missing.json").await.unwrap(), None);
}

on_both_backends!(blobs_round_trip_and_missing_is_none,);
