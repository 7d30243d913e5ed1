//! `wabridge simulate`: builds webhooks in Meta's shape, signs them with the app secret and posts
//! them to a running stack, as Meta would. The builders are public so the load run and tests post
//! the same shapes.

use std::path::Path;

use anyhow::{Context, bail};
use secrecy::ExposeSecret;
use secrecy::SecretString;
use serde_json::{Value, json};

use wabridge::inbound::webhook::sign;

/// The business number simulated webhooks come in on when none is configured.
pub const DEFAULT_PHONE_NUMBER_ID: &str = "100000000000001";
/// The WABA id simulated webhooks carry.
pub const DEFAULT_WABA_ID: &str = "200000000000001";

/// A fresh, unique wamid.
pub fn new_wamid() -> String {
    format!("wamid.SIM{}", ulid::Ulid::new())
}

fn envelope(phone_number_id: &str, value_extra: Value) -> Value {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000001", "phone_number_id": phone_number_id},
    });
    if let (Some(v), Some(extra)) = (value.as_object_mut(), value_extra.as_object()) {
        v.extend(extra.clone());
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": DEFAULT_WABA_ID, "changes": [{"value": value, "field": "messages"}]}]
    })
}

/// An inbound message webhook: `content` is Meta's type-specific object (`{"body": "hi"}` for text).
pub fn inbound(
    phone_number_id: &str,
    from: &str,
    name: &str,
    wamid: &str,
    ts: i64,
    msg_type: &str,
    content: Value,
) -> Value {
    let mut message = json!({"from": from, "id": wamid, "timestamp": ts.to_string(), "type": msg_type});
    if let Some(m) = message.as_object_mut() {
        m.insert(msg_type.to_owned(), content);
    }
    envelope(
        phone_number_id,
        json!({"contacts": [{"profile": {"name": name}, "wa_id": from}], "messages": [message]}),
    )
}

/// A status webhook for a message the business sent.
pub fn status(phone_number_id: &str, recipient: &str, wamid: &str, status: &str, ts: i64) -> Value {
    let mut s = json!({"id": wamid, "status": status, "timestamp": ts.to_string(), "recipient_id": recipient});
    if status == "failed" {
        s["errors"] = json!([{"code": 131026, "title": "Message undeliverable",
            "error_data": {"details": "Message could not be delivered"}}]);
    } else {
        s["pricing"] = json!({"billable": true, "pricing_model": "PMP", "category": "service"});
    }
    envelope(phone_number_id, json!({"statuses": [s]}))
}

/// Signs and posts a body to `<base>/webhook`; returns the HTTP status.
pub async fn post(client: &reqwest::Client, base: &str, secret: &SecretString, body: &[u8]) -> anyhow::Result<u16> {
    let res = client
        .post(format!("{}/webhook", base.trim_end_matches('/')))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(secret, body))
        .body(body.to_vec())
        .send()
        .await
        .with_context(|| format!("posting to {base}/webhook: is the stack running?"))?;
    Ok(res.status().as_u16())
}

/// The MIME type Meta gives a file of this name.
pub fn mime_of(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "ogg" | "opus" => "audio/ogg",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "amr" => "audio/amr",
        "txt" => "text/plain",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        _ => "application/pdf",
    }
}

/// Meta's content object for a media message: a file is uploaded to the sandbox (as Meta would
/// hold the customer's upload) and named by its new id and real hash; anything else is taken as
/// a media id.
///
/// `upload_url` is the sandbox's `POST /{version}/{phone_number_id}/media`, opened with `key`.
pub async fn media_content(
    client: &reqwest::Client,
    upload_url: &str,
    key: &SecretString,
    kind: &str,
    given: &str,
    caption: Option<&str>,
) -> anyhow::Result<Value> {
    let path = Path::new(given);
    let mut content = if path.is_file() {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let mime = mime_of(path);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file").to_owned();
        let sha256 = crate::sandbox::sha256_base64(&bytes);
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.clone())
            .mime_str(mime)?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime)
            .part("file", part);
        let res = client
            .post(upload_url)
            .bearer_auth(key.expose_secret())
            .multipart(form)
            .send()
            .await
            .context("uploading to the sandbox: is `cargo run` up, with the sandbox on?")?;
        let status = res.status();
        let answer: Value = res.json().await.unwrap_or_default();
        let Some(id) = answer.get("id").and_then(Value::as_str) else {
            bail!("the sandbox refused the file ({status}): {answer}");
        };
        let mut c = json!({"id": id, "mime_type": mime, "sha256": sha256});
        if kind == "document" {
            c["filename"] = json!(name);
        }
        if kind == "audio" && mime == "audio/ogg" {
            c["voice"] = json!(true);
        }
        c
    } else {
        json!({"id": given, "mime_type": if kind == "image" { "image/jpeg" } else { "application/octet-stream" }})
    };
    if let Some(c) = caption.filter(|_| matches!(kind, "image" | "video" | "document")) {
        content["caption"] = json!(c);
    }
    Ok(content)
}
