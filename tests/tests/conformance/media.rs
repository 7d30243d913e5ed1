//! The media role: a record per media id, one download at a time, pending → stored | failed.

use super::*;
use wabridge::media::{MediaError, MediaKind, MediaOutcome, MediaRecord, MediaStatus};

fn record(id: &str) -> MediaRecord {
    MediaRecord {
        mime_type: Some("image/jpeg".into()),
        sha256: Some("abc=".into()),
        ..MediaRecord::new(id.into(), PNI.into(), MediaKind::Image)
    }
}

async fn a_record_is_registered_once_and_leased_to_one_download(b: Backend) {
    let r = record("m1");
    assert_eq!(b.store.register_media(&r).await.unwrap(), Recorded::New);
    let mut later = r.clone();
    later.mime_type = Some("image/png".into());
    assert_eq!(b.store.register_media(&later).await.unwrap(), Recorded::Duplicate);
    assert_eq!(b.store.media("m1").await.unwrap(), Some(r), "the first facts stay");
    assert_eq!(b.store.media("nope").await.unwrap(), None);

    assert!(b.store.claim_media("m1", T0, T0 + 1_000).await.unwrap());
    assert!(!b.store.claim_media("m1", T0 + 500, T0 + 1_500).await.unwrap(), "held");
    assert!(
        b.store.claim_media("m1", T0 + 1_000, T0 + 2_000).await.unwrap(),
        "lapsed"
    );
    b.store.release_media("m1").await.unwrap();
    assert!(
        b.store.claim_media("m1", T0 + 1_100, T0 + 2_000).await.unwrap(),
        "released"
    );
    assert!(!b.store.claim_media("nope", T0, T0 + 1).await.unwrap());
}

async fn a_finished_record_never_goes_back(b: Backend) {
    b.store.register_media(&record("m2")).await.unwrap();
    let stored = MediaOutcome::Stored {
        file_size: 42,
        mime_type: Some("image/jpeg".into()),
        sha256: Some("abc=".into()),
    };
    b.store.finish_media("m2", &stored).await.unwrap();
    let failed = MediaOutcome::Failed(MediaError {
        code: "hash_mismatch".into(),
        message: "late".into(),
    });
    b.store.finish_media("m2", &failed).await.unwrap();
    let r = b.store.media("m2").await.unwrap().unwrap();
    assert_eq!((r.status, r.file_size, r.error), (MediaStatus::Stored, Some(42), None));
    assert!(
        !b.store.claim_media("m2", T0, T0 + 1).await.unwrap(),
        "nothing left to download"
    );

    b.store.register_media(&record("m3")).await.unwrap();
    b.store.finish_media("m3", &failed).await.unwrap();
    b.store.finish_media("m3", &stored).await.unwrap();
    let r = b.store.media("m3").await.unwrap().unwrap();
    assert_eq!(r.status, MediaStatus::Failed);
    assert_eq!(r.error.unwrap().code, "hash_mismatch");
    // Finishing an unknown id changes nothing and is no error.
    b.store.finish_media("nope", &stored).await.unwrap();
}

async fn a_renewed_upload_keeps_its_id_and_goes_out_under_metas_new_one(b: Backend) {
    let uploaded = MediaRecord {
        status: MediaStatus::Stored,
        uploaded_at: Some(T0),
        file_size: Some(42),
        ..record("m4")
    };
    b.store.register_media(&uploaded).await.unwrap();
    assert_eq!(uploaded.current_id(), "m4");
    b.store.renew_upload("m4", "m4-again", T0 + 5_000).await.unwrap();
    let r = b.store.media("m4").await.unwrap().unwrap();
    assert_eq!(
        (r.id.as_str(), r.current_id(), r.uploaded_at),
        ("m4", "m4-again", Some(T0 + 5_000))
    );
    assert_eq!(
        (r.status, r.file_size),
        (MediaStatus::Stored, Some(42)),
        "the rest stays"
    );
    // Renewing what was never recorded creates nothing.
    b.store.renew_upload("nope", "x", T0).await.unwrap();
    assert_eq!(b.store.media("nope").await.unwrap(), None);
}

on_both_backends!(
    a_record_is_registered_once_and_leased_to_one_download,
    a_finished_record_never_goes_back,
    a_renewed_upload_keeps_its_id_and_goes_out_under_metas_new_one,
);
