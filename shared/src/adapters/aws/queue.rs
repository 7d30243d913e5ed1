//! The queue on SQS. In Lambda the event source receives and deletes; this adapter does the rest
//! (back-off through the visibility timeout, dead-lettering with a reason) and the polling used by
//! tests and tools.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};

use crate::adapters::aws::sdk_err;
use crate::ports::{DeadLetter, Delivery, MAX_SEND_DELAY, PortError, Queue};

/// The message attribute that carries why a message was dead-lettered.
pub const REASON_ATTRIBUTE: &str = "wabridge_reason";
/// SQS caps a visibility timeout at 12 hours.
const MAX_VISIBILITY_SECS: u64 = 12 * 3600;

/// An SQS queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
    dlq_url: Option<String>,
}

impl SqsQueue {
    /// Wraps a client and the queue URL (enough for a producer).
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
            dlq_url: None,
        }
    }

    /// Adds the dead-letter queue a consumer moves failed messages to.
    pub fn with_dead_letter_queue(mut self, url: impl Into<String>) -> Self {
        self.dlq_url = Some(url.into());
        self
    }

    fn dlq(&self) -> Result<&str, PortError> {
        self.dlq_url
            .as_deref()
            .ok_or_else(|| PortError::invalid("dead letter", "no dead-letter queue configured"))
    }
}

fn secs(d: Duration, max: u64) -> i32 {
    i32::try_from(d.as_secs().min(max)).unwrap_or(0)
}

/// SQS counts visibility in whole seconds: round a back-off up, so a short wait (a rate-limit
/// token due in 20 ms) does not become an immediate, busy redelivery.
fn secs_up(d: Duration, max: u64) -> i32 {
    let whole = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(whole.min(max)).unwrap_or(0)
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str) -> Result<(), PortError> {
        self.send_later(body, Duration::ZERO).await
    }

    async fn send_later(&self, body: &str, delay: Duration) -> Result<(), PortError> {
        let max = MAX_SEND_DELAY.as_secs();
        let mut send = self.client.send_message().queue_url(&self.url).message_body(body);
        if !delay.is_zero() {
            send = send.delay_seconds(secs_up(delay, max));
        }
        send.send().await.map_err(sdk_err("send"))?;
        Ok(())
    }

    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<Delivery>, PortError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .wait_time_seconds(secs(wait, 20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(sdk_err("receive"))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let attribute = |name: MessageSystemAttributeName| {
                    m.attributes
                        .as_ref()
                        .and_then(|a| a.get(&name))
                        .and_then(|v| v.parse::<i64>().ok())
                };
                let count = attribute(MessageSystemAttributeName::ApproximateReceiveCount)
                    .and_then(|c| u32::try_from(c).ok())
                    .unwrap_or(1);
                let sent_ms = attribute(MessageSystemAttributeName::SentTimestamp);
                Some(Delivery {
                    id: m.message_id?,
                    body: m.body?,
                    receive_count: count,
                    receipt: m.receipt_handle?,
                    sent_ms,
                })
            })
            .collect())
    }

    async fn ack(&self, receipt: &str) -> Result<(), PortError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(sdk_err("ack"))?;
        Ok(())
    }

    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), PortError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(secs_up(delay, MAX_VISIBILITY_SECS))
            .send()
            .await
            .map_err(sdk_err("retry later"))?;
        Ok(())
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<(), PortError> {
        let reason: String = reason.chars().take(1024).collect();
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()
            .map_err(|e| PortError::invalid("dead letter", e.to_string()))?;
        self.client
            .send_message()
            .queue_url(self.dlq()?)
            .message_body(&delivery.body)
            .message_attributes(REASON_ATTRIBUTE, attr)
            .send()
            .await
            .map_err(sdk_err("dead letter"))?;
        self.ack(&delivery.receipt).await
    }

    async fn backlog(&self) -> Result<u64, PortError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(sdk_err("queue backlog"))?;
        Ok(out
            .attributes
            .unwrap_or_default()
            .values()
            .filter_map(|v| v.parse::<u64>().ok())
            .sum())
    }

    async fn dead_letters(&self, max: u32) -> Result<Vec<DeadLetter>, PortError> {
        let out = self
            .client
            .receive_message()
            .queue_url(self.dlq()?)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .visibility_timeout(0)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(sdk_err("read dead letters"))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| DeadLetter {
                reason: m
                    .message_attributes
                    .as_ref()
                    .and_then(|a| a.get(REASON_ATTRIBUTE))
                    .and_then(|v| v.string_value.clone())
                    .unwrap_or_else(|| "redriven by SQS after maxReceiveCount".into()),
                body: m.body.unwrap_or_default(),
            })
            .collect())
    }
}
