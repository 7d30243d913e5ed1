//! One contract for the ports, run against both adapters: SQLite/SQLite-queue/folder and
//! DynamoDB/SQS/S3 on moto. A behaviour a user relies on that differs between them fails here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod automation;
mod blobs;
mod contacts;
mod counters;
mod idempotency;
mod inbox;
mod limiter;
mod media;
mod outbox;
mod queue;
mod read_model;
mod recipients;
mod templates;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use wabridge::domain::{
    CustomerKey, DeliveryStatus, Direction, ErrorInfo, IdempotencyClaim, MessageId, MessageRef, RawEvent, Recorded,
    SendChange, SendState, StatusUpdate, StoredMessage, WINDOW_MS, Wamid,
};
use wabridge::read::{PageRequest, messages_list};
use wabridge_tests::{Backend, Kind, on_both_backends, on_both_kinds};

const PNI: &str = "100000000000001";
const T0: i64 = 1_763_800_000_000;

fn inbound(wamid: &str, from: &str, ts: i64, text: &str) -> StoredMessage {
    let w = Wamid::parse(wamid).unwrap();
    StoredMessage {
        id: MessageId::for_wamid(&w),
        wamid: Some(w),
        phone_number_id: PNI.into(),
        customer: CustomerKey::parse(from).unwrap(),
        wa_id: Some(from.into()),
        user_id: None,
        direction: Direction::Inbound,
        msg_type: "text".into(),
        text: Some(text.into()),
        content: json!({"body": text}).into(),
        context: None,
        referral: None,
        error: None,
        status: "received".into(),
        timestamp_ms: ts,
        opens_window: true,
        profile_name: Some(format!("name-{ts}")),
        extra: None,
    }
}

fn outbound(wamid: &str, to: &str, ts: i64) -> StoredMessage {
    StoredMessage {
        id: MessageId::new(),
        wamid: Some(Wamid::parse(wamid).unwrap()),
        direction: Direction::Outbound,
        status: "accepted".into(),
        opens_window: false,
        profile_name: None,
        ..inbound(wamid, to, ts, "our reply")
    }
}

fn status(wamid: &str, s: DeliveryStatus, ts: i64) -> StatusUpdate {
    StatusUpdate {
        wamid: Wamid::parse(wamid).unwrap(),
        status: s,
        timestamp_ms: ts,
        phone_number_id: PNI.into(),
        recipient_id: Some("27820000001".into()),
        recipient_user_id: None,
        error: (s == DeliveryStatus::Failed).then(|| ErrorInfo {
            code: 131026,
            title: "Message undeliverable".into(),
            details: Some("receiver incapable".into()),
        }),
        conversation: None,
        pricing: Some(json!({"category": "service"}).into()),
        biz_opaque_callback_data: None,
    }
}

fn key(s: &str) -> CustomerKey {
    CustomerKey::parse(s).unwrap()
}

fn wamid_ref(s: &str) -> MessageRef {
    MessageRef::Wamid(Wamid::parse(s).unwrap())
}

fn page(limit: u32, after: Option<String>) -> PageRequest {
    PageRequest { limit, after }
}
