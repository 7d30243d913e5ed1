//! The AWS backend: DynamoDB tables, SQS queues and an S3 bucket. Names come from the environment
//! the SAM template sets, so nothing is hard-coded.

mod blobs;
mod dynamo;
mod expr;
mod limiter;
mod queue;
pub mod schema;

pub use blobs::S3Blobs;
pub use dynamo::DynamoStore;
pub use limiter::DynamoRateLimiter;
pub use queue::SqsQueue;

use crate::config::{ConfigError, required_var};

/// The DynamoDB table names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    /// `WABRIDGE_MESSAGES_TABLE`.
    pub messages: String,
    /// `WABRIDGE_STATUSES_TABLE`.
    pub statuses: String,
    /// `WABRIDGE_CONVERSATIONS_TABLE`.
    pub conversations: String,
    /// `WABRIDGE_CONTACTS_TABLE`.
    pub contacts: String,
    /// `WABRIDGE_EVENTS_TABLE`.
    pub events: String,
    /// `WABRIDGE_IDEMPOTENCY_TABLE`.
    pub idempotency: String,
    /// `WABRIDGE_RATE_LIMITS_TABLE`.
    pub rate_limits: String,
}

impl TableNames {
    /// Reads the names from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            messages: required_var("WABRIDGE_MESSAGES_TABLE")?,
            statuses: required_var("WABRIDGE_STATUSES_TABLE")?,
            conversations: required_var("WABRIDGE_CONVERSATIONS_TABLE")?,
            contacts: required_var("WABRIDGE_CONTACTS_TABLE")?,
            events: required_var("WABRIDGE_EVENTS_TABLE")?,
            idempotency: required_var("WABRIDGE_IDEMPOTENCY_TABLE")?,
            rate_limits: required_var("WABRIDGE_RATE_LIMITS_TABLE")?,
        })
    }

    /// Names with a common prefix (tests create one set per test).
    pub fn prefixed(prefix: &str) -> Self {
        Self {
            messages: format!("{prefix}-messages"),
            statuses: format!("{prefix}-statuses"),
            conversations: format!("{prefix}-conversations"),
            contacts: format!("{prefix}-contacts"),
            events: format!("{prefix}-events"),
            idempotency: format!("{prefix}-idempotency"),
            rate_limits: format!("{prefix}-rate-limits"),
        }
    }
}

/// Loads the AWS configuration once (cold start). `AWS_ENDPOINT_URL` points every client at an
/// emulator such as moto.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

pub use aws_config::SdkConfig;

/// Builds the DynamoDB client.
pub fn dynamo_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// Builds the SQS client.
pub fn sqs_client(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

/// Builds the S3 client; emulators behind `AWS_ENDPOINT_URL` need path-style addressing.
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let path_style =
        std::env::var_os("AWS_ENDPOINT_URL").is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

/// Handles one Lambda SQS event: each record goes to `handler`, and the answer lists the records to
/// retry (`ReportBatchItemFailures`), so one bad record never fails the batch.
pub async fn sqs_batch(
    handler: &dyn crate::runtime::consume::Handler,
    queue: &dyn crate::ports::Queue,
    event: aws_lambda_events::event::sqs::SqsEvent,
) -> aws_lambda_events::event::sqs::SqsBatchResponse {
    let batch: Vec<crate::ports::Delivery> = event.records.into_iter().map(sqs_delivery).collect();
    let mut response = aws_lambda_events::event::sqs::SqsBatchResponse::default();
    for id in crate::runtime::consume::settle_lambda_batch(handler, queue, &batch).await {
        response.add_failure(id);
    }
    response
}

/// An SQS record from a Lambda event as a [`crate::ports::Delivery`]. A record missing its body
/// still goes through its handler, fails, and is dead-lettered with that reason rather than vanishing.
pub fn sqs_delivery(m: aws_lambda_events::event::sqs::SqsMessage) -> crate::ports::Delivery {
    crate::ports::Delivery {
        receive_count: m
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1),
        id: m.message_id.unwrap_or_default(),
        body: m.body.unwrap_or_default(),
        receipt: m.receipt_handle.unwrap_or_default(),
    }
}
