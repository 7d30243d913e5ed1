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

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// A streamed write is invisible until committed, keeps what was there if aborted, and holds
/// large blobs (past one S3 part, so S3 takes the multipart path) in order.
async fn streamed_writes_appear_whole_on_commit_and_not_at_all_on_abort(b: Backend) {
    let key = "media/100/200";
    b.blobs.put(key, b"old".to_vec(), "image/jpeg").await.unwrap();
    // 20 MiB in odd-sized chunks: three S3 parts, the last one short.
    let big = pattern(20 * 1024 * 1024 + 123);
    let mut w = b.blobs.writer(key, "image/jpeg").await.unwrap();
    for chunk in big.chunks(1_000_003) {
        w.write(chunk).await.unwrap();
        assert_eq!(
            b.blobs.get(key).await.unwrap().as_deref(),
            Some(&b"old"[..]),
            "not visible before commit"
        );
    }
    w.commit().await.unwrap();
    assert_eq!(b.blobs.get(key).await.unwrap(), Some(big));
    // Aborted, small and large: what was there stays.
    for size in [10, 9 * 1024 * 1024] {
        let mut w = b.blobs.writer(key, "image/jpeg").await.unwrap();
        w.write(&pattern(size)).await.unwrap();
        w.abort().await.unwrap();
        assert_eq!(
            b.blobs.get(key).await.unwrap().map(|v| v.len()),
            Some(20 * 1024 * 1024 + 123)
        );
    }
    let mut w = b.blobs.writer("media/100/new", "text/plain").await.unwrap();
    w.write(b"abc").await.unwrap();
    w.abort().await.unwrap();
    assert_eq!(b.blobs.get("media/100/new").await.unwrap(), None);
}

/// A URL handed out reads the blob without any other credential.
async fn urls_read_the_blob(b: Backend) {
    b.blobs.put("media/1/2", b"bytes".to_vec(), "image/png").await.unwrap();
    let url = b.blobs.url("media/1/2", Duration::from_secs(60)).await.unwrap();
    match b.kind {
        // Local URLs are paths the stack serves: checked end to end in tests/tests/media.rs.
        Kind::Embedded => assert!(url.starts_with("/media/1/2?expires="), "{url}"),
        Kind::Aws => {
            let body = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
            assert_eq!(&body[..], b"bytes");
        }
    }
}

/// Reading piece by piece gives the size and every byte; copying leaves both; an upload URL takes a
/// `PUT` without other credentials.
async fn readers_copies_and_upload_urls(b: Backend) {
    assert!(b.blobs.reader("uploads/none").await.unwrap().is_none());
    let big = pattern(3 * 1024 * 1024 + 7);
    b.blobs.put("uploads/a", big.clone(), "video/mp4").await.unwrap();
    let (size, mut stream) = b.blobs.reader("uploads/a").await.unwrap().unwrap();
    let mut read = Vec::new();
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        read.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!((size, read.len()), (big.len() as u64, big.len()));
    assert!(read == big);
    b.blobs.copy("uploads/a", "media/1/9", "video/mp4").await.unwrap();
    assert_eq!(
        b.blobs.get("media/1/9").await.unwrap().map(|v| v.len()),
        Some(big.len())
    );
    assert!(b.blobs.get("uploads/a").await.unwrap().is_some());
    let url = b.blobs.upload_url("uploads/b", Duration::from_secs(60)).await.unwrap();
    match b.kind {
        // Local upload URLs are paths the stack serves: checked end to end in tests/tests/media.rs.
        Kind::Embedded => assert!(url.starts_with("/uploads/b?expires="), "{url}"),
        Kind::Aws => {
            let res = reqwest::Client::new()
                .put(&url)
                .body(b"put".to_vec())
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "{}", res.status());
            assert_eq!(b.blobs.get("uploads/b").await.unwrap().as_deref(), Some(&b"put"[..]));
        }
    }
}

on_both_backends!(
    readers_copies_and_upload_urls,
    blobs_round_trip_and_missing_is_none,
    streamed_writes_appear_whole_on_commit_and_not_at_all_on_abort,
    urls_read_the_blob,
);
