//! Media, end to end on both backends: a customer's photo, voice note, document or sticker webhook
//! → processor → media queue → downloader → Graph API sandbox (media URL, then the bytes with the
//! token) → storage (a folder, or S3 on moto) → `GET /v1/media/{id}` → the URL serves the exact
//! bytes. Faults are injected at the sandbox; each test counts what the sandbox served.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use wabridge::api::{self, ApiKeys};
use wabridge::app::{App, Numbers, Settings};
use wabridge::media::{MediaKind, MediaRecord, MediaStatus};
use wabridge::ports::{Clock, Delivery};
use wabridge::runtime::consume::{Handler, Outcome};
use wabridge_infra::sandbox::{MediaFault, Sandbox, Template, sha256_base64, sha256_hex};
use wabridge_tests::rig::{Rig, fast_config};
use wabridge_tests::secrecy::SecretString;
use wabridge_tests::{Backend, Kind, ManualClock, enc, on_both_backends, on_both_kinds, settle_one_batch};

/// Bytes that look like nothing in particular, `n` long.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Meta's content object for a media message of `bytes`.
fn content(id: &str, mime: &str, bytes: &[u8], extra: Value) -> Value {
    let mut c = json!({"id": id, "mime_type": mime, "sha256": sha256_base64(bytes)});
    if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    c
}

/// The sandbox holds `data` as Meta would, and the customer sends it as a `kind` message in one
/// webhook with Meta's hash; the media id.
async fn customer_sends_media(rig: &Rig, from: &str, wamid: &str, kind: &str, mime: &str, data: &[u8]) -> String {
    let id = rig.sandbox.add_media(data.to_vec(), mime);
    rig.customer_sends(from, wamid, kind, content(&id, mime, data, json!({})), 1)
        .await;
    id
}

/// Fetches a media URL as a browser would: no API key.
async fn fetch(rig: &Rig, url: &str) -> (u16, Option<String>, Vec<u8>) {
    let res = rig.http.get(url).send().await.unwrap();
    let status = res.status().as_u16();
    let mime = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, mime, res.bytes().await.unwrap().to_vec())
}

async fn every_kind_of_media_is_stored_once_and_served_byte_for_byte(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    let cases = [
        ("image", "image/jpeg", 200 * 1024, json!({"caption": "the crack"})),
        ("audio", "audio/ogg; codecs=opus", 40 * 1024, json!({"voice": true})),
        (
            "document",
            "application/pdf",
            300 * 1024,
            json!({"filename": "invoice.pdf"}),
        ),
        ("sticker", "image/webp", 20 * 1024, json!({"animated": false})),
    ];
    for (i, (kind, mime, size, extra)) in cases.into_iter().enumerate() {
        let data = bytes(size, i as u8);
        let id = rig.sandbox.add_media(data.clone(), mime);
        let wamid = format!("wamid.MEDIA{i}");
        // Meta delivers the webhook three times: one download.
        rig.customer_sends("27820001000", &wamid, kind, content(&id, mime, &data, extra.clone()), 3)
            .await;
        let m = rig.wait_media(&id, |m| m["status"] == "stored", 20).await;
        assert_eq!(m["file_size"], json!(size), "{kind}");
        assert_eq!(m["mime_type"], json!(mime), "{kind}");
        let url = m["url"].as_str().unwrap();
        // The link lives the configured five minutes.
        let expires = chrono::DateTime::parse_from_rfc3339(m["url_expires_at"].as_str().unwrap()).unwrap();
        let left = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
        assert!((280..=300).contains(&left), "{kind}: expires in {left} s");
        // ... and so does the link itself, not just what the answer says of it.
        match rig.backend.kind {
            Kind::Aws => assert!(url.contains("X-Amz-Expires=300"), "{url}"),
            Kind::Embedded => {
                let signed = url.split("expires=").nth(1).and_then(|r| r.split('&').next()).unwrap();
                let signed: i64 = signed.parse().unwrap();
                assert!((signed - expires.timestamp_millis()).abs() < 2_000, "{url}");
            }
        }
        let (status, served_mime, body) = fetch(&rig, url).await;
        assert_eq!(status, 200, "{kind}: {url}");
        assert_eq!(body, data, "{kind}: the exact bytes");
        if rig.backend.kind == Kind::Embedded {
            assert_eq!(served_mime.as_deref(), Some(mime));
        }
        // The message shows its media, stored, with what the webhook said about it.
        let msg = rig.wait(&wamid, |m| m["media"]["status"] == "stored", 10).await;
        assert_eq!(msg["media"]["id"], json!(id));
        for (k, v) in extra.as_object().unwrap() {
            if k != "caption" {
                assert_eq!(&msg["media"][k], v, "{kind}: {k}");
            }
        }
        // Redirects to the same bytes for clients that just want them.
        let no_redirect = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let res = no_redirect
            .get(format!("{}/v1/media/{}/content", rig.base, enc(&id)))
            .bearer_auth(wabridge_tests::API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 302, "{kind}");
        assert_eq!(
            res.headers()["location"].to_str().unwrap().split('?').next(),
            url.split('?').next()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(rig.sandbox.downloads(&id), 1, "{kind}: three webhooks, one download");
    }
}

async fn an_expired_url_is_fetched_again_and_a_5xx_is_retried(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    let data = bytes(50 * 1024, 7);
    rig.sandbox
        .inject_media([MediaFault::ExpiredUrl, MediaFault::ServerError]);
    let id = customer_sends_media(&rig, "27820001001", "wamid.RETRY", "image", "image/png", &data).await;
    let m = rig.wait_media(&id, |m| m["status"] == "stored", 20).await;
    let (_, _, body) = fetch(&rig, m["url"].as_str().unwrap()).await;
    assert_eq!(body, data);
    assert_eq!(rig.sandbox.downloads(&id), 1);
}

async fn a_download_that_stalls_mid_file_is_dropped_and_fetched_again_whole(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    let data = bytes(64 * 1024, 6);
    // Half the file, then a stall past the download's read timeout (one second in tests).
    rig.sandbox.inject_media([MediaFault::SlowBody(Duration::from_secs(3))]);
    let id = customer_sends_media(&rig, "27820001005", "wamid.STALL", "image", "image/jpeg", &data).await;
    let m = rig.wait_media(&id, |m| m["status"] == "stored", 30).await;
    let (_, _, body) = fetch(&rig, m["url"].as_str().unwrap()).await;
    assert_eq!(body, data, "the half-written copy was dropped, the second one is whole");
    assert_eq!(rig.sandbox.downloads(&id), 2);
}

async fn wrong_bytes_an_oversize_file_and_an_unknown_id_fail_with_their_reason(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    // Wrong bytes: the hash does not match what Meta said.
    let data = bytes(10 * 1024, 1);
    rig.sandbox.inject_media([MediaFault::WrongBytes]);
    let id = customer_sends_media(&rig, "27820001002", "wamid.BADHASH", "image", "image/jpeg", &data).await;
    let m = rig.wait_media(&id, |m| m["status"] == "failed", 20).await;
    assert_eq!(m["error"]["code"], "hash_mismatch", "{m}");
    assert_eq!(m["url"], Value::Null);
    // A sticker over WhatsApp's 500 KB.
    let big = bytes(600 * 1024, 2);
    let id = customer_sends_media(&rig, "27820001002", "wamid.BIG", "sticker", "image/webp", &big).await;
    let m = rig.wait_media(&id, |m| m["status"] == "failed", 20).await;
    assert_eq!(m["error"]["code"], "too_large", "{m}");
    assert_eq!(
        rig.sandbox.downloads(&id),
        0,
        "refused from the size Graph gave, before downloading"
    );
    // A media id Meta does not know (expired after its 7 days, say).
    rig.customer_sends(
        "27820001002",
        "wamid.UNKNOWN",
        "document",
        json!({"id": "999", "mime_type": "application/pdf", "filename": "gone.pdf"}),
        1,
    )
    .await;
    let m = rig.wait_media("999", |m| m["status"] == "failed", 20).await;
    assert_eq!(m["error"]["code"], "unknown_media", "{m}");
    let (code, body) = rig.get(&format!("/v1/media/{}/content", "999")).await;
    assert_eq!((code, body["error"]["code"].as_str()), (409, Some("media_not_stored")));
    // The messages themselves were stored and read normally all along.
    for wamid in ["wamid.BADHASH", "wamid.BIG", "wamid.UNKNOWN"] {
        let msg = rig.wait(wamid, |m| m["status"] == "received", 5).await;
        assert_eq!(msg["media"]["status"], "failed", "{wamid}");
    }
}

async fn a_download_that_keeps_failing_ends_failed_after_its_attempts(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    let data = bytes(4 * 1024, 5);
    // More 5xx than the downloader has attempts (five in tests).
    rig.sandbox.inject_media([MediaFault::ServerError; 12]);
    let id = customer_sends_media(&rig, "27820001004", "wamid.FLAKY", "image", "image/jpeg", &data).await;
    let m = rig.wait_media(&id, |m| m["status"] == "failed", 30).await;
    assert_eq!(m["error"]["code"], "retries_exhausted", "{m}");
    assert!(m["error"]["message"].as_str().unwrap().contains("503"), "{m}");
    assert_eq!(rig.sandbox.downloads(&id), 0);
    // Failed is final: a redelivered webhook does not start it again.
    rig.customer_sends(
        "27820001004",
        "wamid.FLAKY",
        "image",
        content(&id, "image/jpeg", &data, json!({})),
        1,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rig.wait_media(&id, |_| true, 5).await["status"], "failed");
    assert_eq!(rig.sandbox.downloads(&id), 0);
}

async fn unknown_media_is_a_404_and_local_links_refuse_tampering(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    let (code, body) = rig.get("/v1/media/123456").await;
    assert_eq!((code, body["error"]["code"].as_str()), (404, Some("not_found")));
    if rig.backend.kind != Kind::Embedded {
        return;
    }
    let data = bytes(1024, 3);
    let id = customer_sends_media(&rig, "27820001003", "wamid.SIGNED", "image", "image/jpeg", &data).await;
    let m = rig.wait_media(&id, |m| m["status"] == "stored", 20).await;
    let url = m["url"].as_str().unwrap().to_owned();
    assert_eq!(fetch(&rig, &url).await.0, 200);
    let tampered = [
        url.replace("signature=", "signature=00"),
        url.replace("expires=", "expires=1"),
        url.split('?').next().unwrap().to_owned(),
        url.replace(&id, "1"),
    ];
    for bad in tampered {
        let res = rig.http.get(&bad).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 403, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "forbidden", "{bad}");
    }
    // Expiry is the signer's own test (`media::url`): a link past its time is refused the same way.
}

/// `POST /v1/media` with `bytes` as `mime`.
async fn upload(rig: &Rig, bytes: Vec<u8>, mime: &str, query: &str) -> (u16, Value) {
    // A client of its own: a body refused before it is read leaves its connection closing, and a
    // shared pool would hand that connection to the next request.
    let res = reqwest::Client::new()
        .post(format!("{}/v1/media{query}", rig.base))
        .bearer_auth(wabridge_tests::API_KEY)
        .header("content-type", mime)
        .body(bytes)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

async fn an_upload_is_checked_kept_and_sent_by_id_until_read(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    let pdf = bytes(100 * 1024, 9);
    let (code, up) = upload(&rig, pdf.clone(), "application/pdf", "?filename=invoice.pdf").await;
    assert_eq!(code, 201, "{up}");
    let id = up["id"].as_str().unwrap().to_owned();
    assert_eq!(up["sha256"], json!(sha256_hex(&pdf)));
    assert_eq!(
        (up["file_size"].as_u64(), up["filename"].as_str()),
        (Some(100 * 1024), Some("invoice.pdf"))
    );
    // Meta has it, and so do we.
    let m = rig.wait_media(&id, |m| m["status"] == "stored", 5).await;
    let (status, _, body) = fetch(&rig, m["url"].as_str().unwrap()).await;
    assert_eq!((status, body == pdf), (200, true));
    // Sent by id to two customers: both reach read.
    for to in ["27820001010", "27820001011"] {
        rig.customer_writes(to).await;
        let (code, sent) = rig
            .post(
                "/v1/messages",
                &json!({"to": to, "type": "document", "document": {"id": id, "filename": "invoice.pdf"}}),
                None,
            )
            .await;
        assert_eq!(code, 202, "{sent}");
        rig.wait(sent["id"].as_str().unwrap(), |m| m["status"] == "read", 10)
            .await;
    }
    assert_eq!(
        rig.sandbox
            .accepted()
            .iter()
            .filter(|r| r["document"]["id"] == json!(id))
            .count(),
        2
    );
}

async fn uploads_of_a_wrong_type_or_over_the_limit_are_refused_with_the_limit(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    let (code, e) = upload(&rig, bytes(1024, 1), "image/gif", "").await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (415, Some("unsupported_media_type")),
        "{e}"
    );
    let (code, e) = upload(&rig, bytes(1024, 1), "", "").await;
    assert_eq!(code, 415, "no Content-Type: {e}");
    let (code, e) = upload(&rig, bytes(600 * 1024, 1), "image/webp", "").await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{e}"
    );
    assert_eq!(e["error"]["details"]["limit"], json!(500 * 1024));
    let (code, e) = upload(&rig, bytes(5 * 1024 * 1024 + 1, 1), "image/png", "").await;
    assert_eq!(code, 413, "{e}");
    assert_eq!(e["error"]["details"]["limit"], json!(5 * 1024 * 1024));
    let (code, e) = upload(&rig, Vec::new(), "image/png", "").await;
    assert_eq!(code, 400, "{e}");
    let res = rig
        .http
        .post(format!("{}/v1/media", rig.base))
        .header("content-type", "image/png")
        .body(bytes(10, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert!(rig.sandbox.accepted().is_empty());
}

async fn a_large_file_goes_through_an_upload_url_once_and_is_sent_by_id(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    let video = bytes(7 * 1024 * 1024 + 5, 3);
    let (code, e) = upload(&rig, video.clone(), "video/mp4", "").await;
    assert_eq!(code, 413, "too large to come through the API: {e}");
    let (code, t) = rig
        .post(
            "/v1/media/uploads",
            &json!({"mime_type": "video/mp4", "file_size": video.len(), "filename": "clip.mp4"}),
            None,
        )
        .await;
    assert_eq!(code, 201, "{t}");
    assert!(t["expires_at"].is_string());
    let (upload_id, url) = (t["upload_id"].as_str().unwrap(), t["upload_url"].as_str().unwrap());
    let complete = format!("/v1/media/uploads/{upload_id}/complete");
    let (code, e) = rig.post(&complete, &json!({}), None).await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (409, Some("upload_incomplete")),
        "{e}"
    );
    // The client PUTs the bytes straight to storage, with no API key.
    let put = rig.http.put(url).body(video.clone()).send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let (code, up) = rig.post(&complete, &json!({}), None).await;
    assert_eq!(code, 201, "{up}");
    assert_eq!(up["sha256"], json!(sha256_hex(&video)));
    assert_eq!(
        (up["file_size"].as_u64(), up["filename"].as_str()),
        (Some(video.len() as u64), Some("clip.mp4"))
    );
    let id = up["id"].as_str().unwrap().to_owned();
    // Completing again answers the same media: Meta got the file once.
    let (code, again) = rig.post(&complete, &json!({}), None).await;
    assert_eq!((code, &again["id"]), (201, &json!(id)));
    let m = rig.wait_media(&id, |m| m["status"] == "stored", 5).await;
    let (_, _, body) = fetch(&rig, m["url"].as_str().unwrap()).await;
    assert!(body == video, "our copy is the file");
    rig.customer_writes("27820001020").await;
    let (code, sent) = rig
        .post(
            "/v1/messages",
            &json!({"to": "27820001020", "type": "video", "video": {"id": id}}),
            None,
        )
        .await;
    assert_eq!(code, 202, "{sent}");
    rig.wait(sent["id"].as_str().unwrap(), |m| m["status"] == "read", 10)
        .await;
}

async fn upload_urls_refuse_what_does_not_fit(b: Backend) {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    let (code, e) = rig
        .post(
            "/v1/media/uploads/01jxxxxxxxxxxxxxxxxxxxxxxx/complete",
            &json!({}),
            None,
        )
        .await;
    assert_eq!((code, e["error"]["code"].as_str()), (404, Some("not_found")), "{e}");
    let begin = |mime: &str, size: u64| json!({"mime_type": mime, "file_size": size});
    let (code, e) = rig
        .post("/v1/media/uploads", &begin("video/mp4", 16 * 1024 * 1024 + 1), None)
        .await;
    assert_eq!(
        (code, &e["error"]["details"]["limit"]),
        (413, &json!(16 * 1024 * 1024)),
        "{e}"
    );
    let (code, _) = rig.post("/v1/media/uploads", &begin("application/zip", 10), None).await;
    assert_eq!(code, 415);
    let (code, e) = rig
        .post("/v1/media/uploads", &json!({"mime_type": "video/mp4"}), None)
        .await;
    assert_eq!(
        (code, e["error"]["details"][0]["field"].as_str()),
        (400, Some("file_size")),
        "{e}"
    );
    // A file other than the size declared is refused at completion.
    let (_, t) = rig
        .post("/v1/media/uploads", &begin("application/pdf", 1000), None)
        .await;
    let url = t["upload_url"].as_str().unwrap();
    assert!(
        rig.http
            .put(url)
            .body(bytes(999, 1))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let complete = format!("/v1/media/uploads/{}/complete", t["upload_id"].as_str().unwrap());
    let (code, e) = rig.post(&complete, &json!({}), None).await;
    assert_eq!((code, e["error"]["code"].as_str()), (400, Some("size_mismatch")), "{e}");
    assert!(rig.sandbox.accepted().is_empty());
    if rig.backend.kind == Kind::Embedded {
        let tampered = url.replace("signature=", "signature=00");
        let res = rig.http.put(&tampered).body(bytes(1000, 1)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 403);
    }
}

/// Meta forgets an upload after 30 days. A send naming one of our uploads goes out under its id
/// for 29 days; after that the send first uploads our copy again, once, and it and every later
/// send go out under Meta's new id (the frontend keeps naming the first one).
async fn an_upload_meta_is_about_to_forget_is_uploaded_again_before_a_send(kind: Kind) {
    const DAY: Duration = Duration::from_secs(24 * 60 * 60);
    let clock = ManualClock::at(1_763_800_000_000);
    let b = Backend::at(kind, clock.clone()).await;
    let (sandbox, graph, serving) = wabridge_tests::rig::sandbox_on_loopback().await;
    sandbox.add_template(
        "terms",
        "en",
        Template {
            status: "APPROVED".into(),
            body_params: 0,
        },
    );
    let app = App::new(Settings::for_tests(), clock.clone());
    let numbers = Numbers {
        phone_number_id: Some(wabridge_tests::rig::PNI.to_owned()),
        waba_id: None,
    };
    let send = app.send_api(
        b.store.clone(),
        b.outbound.clone(),
        b.blobs.clone(),
        graph.clone(),
        &numbers,
    );
    let pdf = bytes(50 * 1024, 7);
    let first = send
        .uploads
        .upload(None, pdf.clone().into(), "application/pdf", Some("terms.pdf"))
        .await
        .unwrap();
    let keys = ApiKeys::new(vec![SecretString::from(wabridge_tests::API_KEY)]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = api::finish(api::send_router(Some(send), keys));
    let serving_api = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let sender = app.sender(b.store.clone(), b.limiter.clone(), graph);
    // A template whose header is the document: sent outside any window, so no customer is needed.
    let send_terms = |media_id: &str| {
        let body = json!({"to": "27820002020", "type": "template", "template": {
            "name": "terms", "language": {"code": "en"},
            "components": [{"type": "header", "parameters": [
                {"type": "document", "document": {"id": media_id, "filename": "terms.pdf"}}]}]}});
        let req = reqwest::Client::new()
            .post(format!("{base}/v1/messages"))
            .bearer_auth(wabridge_tests::API_KEY)
            .json(&body);
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let sent_ids = |sandbox: &Sandbox| -> Vec<String> {
        sandbox
            .accepted()
            .iter()
            .map(|r| {
                r["template"]["components"][0]["parameters"][0]["document"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };

    clock.advance(28 * DAY);
    let (code, answer) = send_terms(&first.id).await;
    assert_eq!(code, 202, "{answer}");
    settle_one_batch(kind, &sender, b.outbound.as_ref()).await;
    assert_eq!(sent_ids(&sandbox), vec![first.id.clone()], "Meta still has it");

    clock.advance(DAY);
    for _ in 0..2 {
        let (code, answer) = send_terms(&first.id).await;
        assert_eq!(code, 202, "{answer}");
    }
    while settle_one_batch(kind, &sender, b.outbound.as_ref()).await > 0 {}
    let ids = sent_ids(&sandbox);
    assert_eq!(ids.len(), 3, "{ids:?}");
    let renewed = ids[1].clone();
    assert_ne!(renewed, first.id);
    assert_eq!(ids[2], renewed, "uploaded again once, not per send");
    let (held, mime) = sandbox.held_media(&renewed).unwrap();
    assert_eq!((held.as_ref(), mime.as_str()), (pdf.as_slice(), "application/pdf"));
    let r = b.store.media(&first.id).await.unwrap().unwrap();
    assert_eq!(
        (r.current_id(), r.uploaded_at),
        (renewed.as_str(), Some(clock.now_ms()))
    );

    // An old upload whose copy is gone cannot be renewed: a clear 410, nothing queued.
    let ghost = MediaRecord {
        status: MediaStatus::Stored,
        uploaded_at: Some(clock.now_ms() - 40 * 24 * 60 * 60 * 1000),
        mime_type: Some("application/pdf".into()),
        ..MediaRecord::new("ghost".into(), wabridge_tests::rig::PNI.into(), MediaKind::Document)
    };
    b.store.register_media(&ghost).await.unwrap();
    let (code, answer) = send_terms("ghost").await;
    assert_eq!(
        (code, answer["error"]["code"].as_str()),
        (410, Some("media_expired")),
        "{answer}"
    );
    assert_eq!(settle_one_batch(kind, &sender, b.outbound.as_ref()).await, 0);
    serving_api.abort();
    serving.abort();
}

/// A download that crashed mid-file holds its lease: a second job for the same media waits the
/// lease out (spending no attempts), then takes over and stores it once.
async fn a_crashed_download_is_taken_over_once_its_lease_lapses(kind: Kind) {
    let clock = ManualClock::at(1_763_800_000_000);
    let b = Backend::at(kind, clock.clone()).await;
    let (sandbox, graph, serving) = wabridge_tests::rig::sandbox_on_loopback().await;
    let app = App::new(Settings::for_tests(), clock.clone());
    let downloader = app.downloader(b.store.clone(), b.blobs.clone(), graph);
    let data = bytes(30 * 1024, 4);
    let id = sandbox.add_media(data.clone(), "image/png");
    let record = MediaRecord::new(id.clone(), wabridge_tests::rig::PNI.into(), MediaKind::Image);
    b.store.register_media(&record).await.unwrap();
    // The first download claimed it, then its process died.
    let now = clock.now_ms();
    assert!(b.store.claim_media(&id, now, now + 15 * 60 * 1000).await.unwrap());
    let job = |n| Delivery {
        id: "job".into(),
        body: json!({"media_id": id}).to_string(),
        receive_count: n,
        receipt: "r".into(),
        sent_ms: None,
    };
    match &downloader.handle_batch(&[job(1)]).await[..] {
        [Outcome::Retry { delay, .. }] => assert_eq!(*delay, Duration::from_secs(15 * 60)),
        other => panic!("expected a wait for the lease, got {other:?}"),
    }
    assert_eq!(sandbox.downloads(&id), 0);
    clock.advance(Duration::from_secs(15 * 60));
    assert!(matches!(&downloader.handle_batch(&[job(2)]).await[..], [Outcome::Done]));
    let r = b.store.media(&id).await.unwrap().unwrap();
    assert_eq!((r.status, r.file_size), (MediaStatus::Stored, Some(30 * 1024)));
    assert_eq!(b.blobs.get(&r.key()).await.unwrap(), Some(data));
    assert_eq!(sandbox.downloads(&id), 1);
    serving.abort();
}

on_both_kinds!(
    a_crashed_download_is_taken_over_once_its_lease_lapses,
    an_upload_meta_is_about_to_forget_is_uploaded_again_before_a_send,
);

on_both_backends!(
    an_upload_is_checked_kept_and_sent_by_id_until_read,
    uploads_of_a_wrong_type_or_over_the_limit_are_refused_with_the_limit,
    every_kind_of_media_is_stored_once_and_served_byte_for_byte,
    an_expired_url_is_fetched_again_and_a_5xx_is_retried,
    wrong_bytes_an_oversize_file_and_an_unknown_id_fail_with_their_reason,
    unknown_media_is_a_404_and_local_links_refuse_tampering,
    a_download_that_keeps_failing_ends_failed_after_its_attempts,
    a_download_that_stalls_mid_file_is_dropped_and_fetched_again_whole,
    a_large_file_goes_through_an_upload_url_once_and_is_sent_by_id,
    upload_urls_refuse_what_does_not_fit,
);
