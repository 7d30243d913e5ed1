//! `wabridge simulate`: builds webhooks in Meta's shape, signs them with the app secret and posts
//! them to a running stack, as Meta would. The builders are public so the load run and tests post
//! the same shapes.

use anyhow::Context;
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
