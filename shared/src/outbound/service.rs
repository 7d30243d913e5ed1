//! The send API use case: validate, enforce the 24-hour window, store as `queued`, put the id on the
//! outbound queue, answer 202; with `Idempotency-Key` replay and conflict handling.

use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::request::{FieldError, Recipient, SendCommand, validate};
use crate::domain::{CustomerKey, Direction, ErrorInfo, IdempotencyClaim, MessageId, SendChange, StoredMessage, Wamid};
use crate::graph::GraphClient;
use crate::ports::{Clock, PortError, Queue, Store};
use crate::timefmt::rfc3339;

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// What the outbound queue carries: just our message id; the message itself is in the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutboundRecord {
    /// Our message id.
    pub id: String,
}

/// An answer of the send API: status and JSON body, errors included, so idempotent replays can
/// return exactly what the first request got.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
    /// Whether this is a replay of an earlier answer.
    pub replayed: bool,
}

impl Answer {
    fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            replayed: false,
        }
    }

    fn error(status: u16, code: &str, message: impl Into<String>, details: Value) -> Self {
        Self::new(
            status,
            json!({"error": {"code": code, "message": message.into(), "details": details}}),
        )
    }
}

fn field_details(errors: &[FieldError]) -> Value {
    Value::Array(
        errors
            .iter()
            .map(|e| json!({"field": e.field, "code": e.code, "reason": e.reason}))
            .collect(),
    )
}

/// The send API.
#[derive(Clone)]
pub struct SendService {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    clock: Arc<dyn Clock>,
    graph: GraphClient,
    default_phone_number_id: Option<String>,
}

impl std::fmt::Debug for SendService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendService")
            .field("default_phone_number_id", &self.default_phone_number_id)
            .finish()
    }
}

impl SendService {
    /// Wires the use case. `graph` serves read receipts; sends go through the queue.
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        clock: Arc<dyn Clock>,
        graph: GraphClient,
        default_phone_number_id: Option<String>,
    ) -> Self {
        Self {
            store,
            queue,
            clock,
            graph,
            default_phone_number_id,
        }
    }

    /// `POST /v1/messages`. `caller` identifies the API key (idempotency keys are per key).
    pub async fn submit(&self, caller: &str, idempotency_key: Option<&str>, body: &[u8]) -> Result<Answer, PortError> {
        let json: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return Ok(Answer::error(
                    400,
                    "invalid_json",
                    format!("body is not JSON: {e}"),
                    Value::Null,
                ));
            }
        };
        let Some(key) = idempotency_key else {
            return self.send(&json).await;
        };
        if key.is_empty() || key.len() > 255 || key.chars().any(char::is_control) {
            return Ok(Answer::error(
                400,
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 characters",
                Value::Null,
            ));
        }
        let scoped = format!("{caller}:{key}");
        let fingerprint = hex::encode(Sha256::digest(json.to_string().as_bytes()));
        let expires = self.clock.now_ms() + IDEMPOTENCY_TTL_MS;
        match self.store.claim_idempotency(&scoped, &fingerprint, expires).await? {
            IdempotencyClaim::New => {}
            IdempotencyClaim::Answered {
                fingerprint: f,
                status,
                body,
            } if f == fingerprint => {
                return Ok(Answer {
                    status,
                    body,
                    replayed: true,
                });
            }
            IdempotencyClaim::Answered { .. } | IdempotencyClaim::InProgress { .. } => {
                return Ok(Answer::error(
                    409,
                    "idempotency_conflict",
                    "this Idempotency-Key was used for a different request, or that request is still being handled",
                    Value::Null,
                ));
            }
        }
        let answer = match self.send(&json).await {
            Ok(a) => a,
            Err(e) => {
                self.store.release_idempotency(&scoped).await?;
                return Err(e);
            }
        };
        if answer.status >= 500 {
            self.store.release_idempotency(&scoped).await?;
        } else {
            self.store
                .finish_idempotency(&scoped, answer.status, &answer.body)
                .await?;
        }
        Ok(answer)
    }

    async fn send(&self, json: &Value) -> Result<Answer, PortError> {
        let cmd = match validate(json) {
            Ok(c) => c,
            Err(errors) => {
                let code = if errors.iter().any(|e| e.code == "invalid_phone_number") {
                    "invalid_phone_number"
                } else if errors.iter().any(|e| e.code == "unsupported_type") {
                    "unsupported_type"
                } else {
                    "validation_failed"
                };
                return Ok(Answer::error(
                    400,
                    code,
                    "the message does not meet WhatsApp's rules",
                    field_details(&errors),
                ));
            }
        };
        let Some(pni) = cmd
            .phone_number_id
            .clone()
            .or_else(|| self.default_phone_number_id.clone())
        else {
            return Ok(Answer::error(
                400,
                "validation_failed",
                "no business number: give phone_number_id or set WHATSAPP_PHONE_NUMBER_ID",
                json!([{"field": "phone_number_id", "code": "required", "reason": "is required"}]),
            ));
        };
        let now = self.clock.now_ms();
        let customer =
            CustomerKey::parse(cmd.recipient.key()).map_err(|e| PortError::invalid("recipient", e.to_string()))?;
        if cmd.needs_open_window() {
            let conversation = self.store.conversation(&customer, now).await?;
            if !conversation.as_ref().is_some_and(|c| c.window_open) {
                let expires = conversation.and_then(|c| c.window_expires_at);
                return Ok(Answer::error(
                    422,
                    "window_closed",
                    "the customer has not written in the last 24 hours: only a template message can be sent",
                    json!({"window_expires_at": expires.and_then(rfc3339), "hint": "send type \"template\" to re-open the conversation"}),
                ));
            }
        }
        let msg = outbound_message(&cmd, pni, customer, now);
        self.store.record_outbound(&msg).await?;
        let record = serde_json::to_string(&OutboundRecord { id: msg.id.to_string() })
            .map_err(|e| PortError::invalid("outbound record", e.to_string()))?;
        if let Err(e) = self.queue.send(&record).await {
            // Not queued means never sent: say so on the message instead of leaving it "queued".
            let error = ErrorInfo {
                code: 0,
                title: "could not be queued".into(),
                details: Some(e.to_string()),
            };
            self.store
                .update_outbound(msg.id, &SendChange::Failed { error })
                .await?;
            return Ok(Answer::error(
                503,
                "queue_unavailable",
                "the message could not be queued; retry",
                Value::Null,
            ));
        }
        Ok(Answer::new(202, json!({"id": msg.id.to_string(), "status": "queued"})))
    }

    /// `POST /v1/messages/{wamid}/read`: marks a customer's message read, with the typing indicator
    /// when asked (one Graph call).
    pub async fn mark_read(&self, wamid: &Wamid, typing: bool) -> Result<Answer, PortError> {
        let known = self
            .store
            .message(&crate::domain::MessageRef::Wamid(wamid.clone()))
            .await?;
        let pni = known
            .as_ref()
            .and_then(|m| m.phone_number_id.clone())
            .or_else(|| self.default_phone_number_id.clone());
        let Some(pni) = pni else {
            return Ok(Answer::error(
                404,
                "not_found",
                "unknown message and no default business number",
                Value::Null,
            ));
        };
        if known.as_ref().is_some_and(|m| m.direction != Direction::Inbound) {
            return Ok(Answer::error(
                400,
                "validation_failed",
                "only a customer's message can be marked read",
                Value::Null,
            ));
        }
        match self.graph.mark_read(&pni, wamid, typing).await {
            Ok(()) => Ok(Answer::new(200, json!({"status": "read", "typing_indicator": typing}))),
            Err(e) => {
                let info = e.info();
                Ok(Answer::error(
                    502,
                    "graph_error",
                    info.title.clone(),
                    json!({"code": info.code, "details": info.details}),
                ))
            }
        }
    }
}

fn outbound_message(cmd: &SendCommand, pni: String, customer: CustomerKey, now: i64) -> StoredMessage {
    let (wa_id, user_id) = match &cmd.recipient {
        Recipient::WaId(w) => (Some(w.clone()), None),
        Recipient::UserId(u) => (None, Some(u.clone())),
    };
    StoredMessage {
        id: MessageId::new(),
        wamid: None,
        phone_number_id: pni,
        customer,
        wa_id,
        user_id,
        direction: Direction::Outbound,
        msg_type: cmd.msg_type.clone(),
        text: cmd.text.clone(),
        content: cmd.content.clone(),
        context: cmd.context.clone(),
        referral: None,
        error: None,
        status: "queued".into(),
        timestamp_ms: now,
        opens_window: false,
        profile_name: None,
        extra: cmd
            .callback_data
            .as_ref()
            .map(|d| json!({"biz_opaque_callback_data": d})),
    }
}
