//! The AWS backend: DynamoDB tables, SQS queues and an S3 bucket. Names come from the environment
//! the SAM template sets, so nothing is hard-coded.

mod blobs;
mod dynamo;
mod expr;
mod limiter;
mod queue;
pub mod schema;
mod secrets;

pub use blobs::S3Blobs;
pub use dynamo::DynamoStore;
pub use limiter::DynamoRateLimiter;
pub use queue::SqsQueue;

use std::sync::{Arc, OnceLock};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::app::resources::{self as res, Function};
use crate::config::{Config, ConfigError, Lookup};
use crate::ports::PortError;

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
    /// `WABRIDGE_MEDIA_TABLE`.
    pub media: String,
    /// `WABRIDGE_TEMPLATES_TABLE`.
    pub templates: String,
    /// `WABRIDGE_COUNTERS_TABLE`.
    pub counters: String,
    /// `WABRIDGE_SCHEDULES_TABLE`.
    pub schedules: String,
    /// `WABRIDGE_RECIPIENTS_TABLE`.
    pub recipients: String,
    /// `WABRIDGE_AUTOMATION_TABLE`.
    pub automation: String,
    /// `WABRIDGE_RATE_LIMITS_TABLE`, for the functions that send (the others have no access).
    pub rate_limits: Option<String>,
}

impl TableNames {
    /// The store's tables, as `function` is given them.
    pub fn for_function(function: &Function) -> Result<Self, ConfigError> {
        Ok(Self {
            messages: function.var(res::MESSAGES_TABLE)?,
            statuses: function.var(res::STATUSES_TABLE)?,
            conversations: function.var(res::CONVERSATIONS_TABLE)?,
            contacts: function.var(res::CONTACTS_TABLE)?,
            events: function.var(res::EVENTS_TABLE)?,
            idempotency: function.var(res::IDEMPOTENCY_TABLE)?,
            media: function.var(res::MEDIA_TABLE)?,
            templates: function.var(res::TEMPLATES_TABLE)?,
            counters: function.var(res::COUNTERS_TABLE)?,
            schedules: function.var(res::SCHEDULES_TABLE)?,
            recipients: function.var(res::RECIPIENTS_TABLE)?,
            automation: function.var(res::AUTOMATION_TABLE)?,
            rate_limits: function
                .reads_var(res::RATE_LIMITS_TABLE)
                .then(|| function.var(res::RATE_LIMITS_TABLE))
                .transpose()?,
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
            media: format!("{prefix}-media"),
            templates: format!("{prefix}-templates"),
            counters: format!("{prefix}-counters"),
            schedules: format!("{prefix}-schedules"),
            recipients: format!("{prefix}-recipients"),
            automation: format!("{prefix}-automation"),
            rate_limits: Some(format!("{prefix}-rate-limits")),
        }
    }
}

/// One function's AWS resources, resolved once at cold start from the variables
/// [`crate::app::resources`] declares for it. Each accessor builds the adapter for one port and
/// fails, naming the variable, if the function was not given that resource. Each service's client
/// (and so its connection pool) is built once, on first use, and shared by the adapters on it.
#[derive(Debug, Clone)]
pub struct Aws {
    function: Function,
    sdk: SdkConfig,
    dynamo: OnceLock<aws_sdk_dynamodb::Client>,
    sqs: OnceLock<aws_sdk_sqs::Client>,
    s3: OnceLock<aws_sdk_s3::Client>,
}

impl Aws {
    /// Loads the SDK configuration for `function`.
    pub async fn load(function: Function) -> Self {
        Self {
            function,
            sdk: load_config().await,
            dynamo: OnceLock::new(),
            sqs: OnceLock::new(),
            s3: OnceLock::new(),
        }
    }

    /// The function's configuration, its secret settings read from Secrets Manager (see
    /// [`crate::app::resources::SECRETS`]) and the rest from the environment.
    pub async fn config(&self) -> Result<Config, ConfigError> {
        self.config_from(&|k| std::env::var(k).ok()).await
    }

    /// [`Aws::config`] with the variables read through `get`.
    pub async fn config_from(&self, get: Lookup<'_>) -> Result<Config, ConfigError> {
        let client = aws_sdk_secretsmanager::Client::new(&self.sdk);
        secrets::config_with_secrets(&client, &self.function, get).await
    }

    fn dynamo(&self) -> aws_sdk_dynamodb::Client {
        self.dynamo.get_or_init(|| dynamo_client(&self.sdk)).clone()
    }

    /// The DynamoDB store (every store role).
    pub fn store(&self) -> Result<Arc<DynamoStore>, ConfigError> {
        Ok(Arc::new(DynamoStore::new(
            self.dynamo(),
            TableNames::for_function(&self.function)?,
        )))
    }

    /// The shared rate-limit buckets.
    pub fn limiter(&self) -> Result<Arc<DynamoRateLimiter>, ConfigError> {
        let table = self.function.var(res::RATE_LIMITS_TABLE)?;
        Ok(Arc::new(DynamoRateLimiter::new(self.dynamo(), table)))
    }

    /// The inbound queue; with its dead-letter queue when the function consumes it.
    pub fn inbound_queue(&self) -> Result<Arc<SqsQueue>, ConfigError> {
        self.queue(res::INBOUND_QUEUE_URL, res::INBOUND_DLQ_URL)
    }

    /// The outbound queue; with its dead-letter queue when the function consumes it.
    pub fn outbound_queue(&self) -> Result<Arc<SqsQueue>, ConfigError> {
        self.queue(res::OUTBOUND_QUEUE_URL, res::OUTBOUND_DLQ_URL)
    }

    /// The media queue; with its dead-letter queue when the function consumes it.
    pub fn media_queue(&self) -> Result<Arc<SqsQueue>, ConfigError> {
        self.queue(res::MEDIA_QUEUE_URL, res::MEDIA_DLQ_URL)
    }

    /// The callbacks queue; with its dead-letter queue when the function consumes it.
    pub fn callback_queue(&self) -> Result<Arc<SqsQueue>, ConfigError> {
        self.queue(res::CALLBACK_QUEUE_URL, res::CALLBACK_DLQ_URL)
    }

    fn queue(&self, url: &'static str, dlq: &'static str) -> Result<Arc<SqsQueue>, ConfigError> {
        let sqs = self.sqs.get_or_init(|| sqs_client(&self.sdk)).clone();
        let mut queue = SqsQueue::new(sqs, self.function.var(url)?);
        if self.function.reads_var(dlq) {
            queue = queue.with_dead_letter_queue(self.function.var(dlq)?);
        }
        Ok(Arc::new(queue))
    }

    /// The bucket for large webhook bodies and media.
    pub fn blobs(&self) -> Result<Arc<S3Blobs>, ConfigError> {
        let s3 = self.s3.get_or_init(|| s3_client(&self.sdk)).clone();
        Ok(Arc::new(S3Blobs::new(s3, self.function.var(res::BUCKET)?)))
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

/// Error codes AWS answers when the deployment itself is wrong (a policy, a name, a request shape):
/// retrying cannot help, so they fail fast instead of being retried until a queue gives up.
const MISCONFIGURED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "MissingAuthenticationToken",
    "ResourceNotFoundException",
    "ValidationException",
    "NoSuchBucket",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "KMS.AccessDeniedException",
];

/// For `map_err` on an SDK call: classifies the error as [`PortError::Misconfigured`] (access
/// denied, missing resource, validation) or [`PortError::Unavailable`] (throttling, 5xx, timeouts,
/// connection failures: anything that may pass), keeping it as the source.
pub(crate) fn sdk_err<E, R>(op: &'static str) -> impl Fn(SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| {
        if is_misconfiguration(e.code()) {
            PortError::misconfigured(op, e)
        } else {
            PortError::unavailable(op, e)
        }
    }
}

fn is_misconfiguration(code: Option<&str>) -> bool {
    code.is_some_and(|c| MISCONFIGURED_CODES.contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_denied_missing_resources_and_validation_fail_fast_and_throttling_retries() {
        for code in [
            "AccessDeniedException",
            "ResourceNotFoundException",
            "ValidationException",
            "NoSuchBucket",
        ] {
            assert!(is_misconfiguration(Some(code)), "{code}");
        }
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "InternalServerError",
        ] {
            assert!(!is_misconfiguration(Some(code)), "{code}");
        }
        assert!(
            !is_misconfiguration(None),
            "timeouts and dispatch failures carry no code and may pass"
        );
    }
}
