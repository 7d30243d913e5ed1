//! The same ports on both backends, fresh for each test: embedded (SQLite, a SQLite queue, a
//! folder) and AWS (DynamoDB, SQS, S3 on moto server).

use std::sync::Arc;

use wabridge::adapters::aws::{self as awsa, DynamoRateLimiter, DynamoStore, S3Blobs, SqsQueue, TableNames};
use wabridge::adapters::embedded::{FolderBlobs, MemoryRateLimiter, SqliteQueue, SqliteStore};
use wabridge::ports::{Blobs, Clock, Queue, RateLimiter, Store, SystemClock};

use secrecy::SecretString;
use wabridge::media::url::UrlSigner;

use crate::VISIBILITY;
use crate::requests::RequestCounter;

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SQLite, SQLite queue, local folder.
    Embedded,
    /// DynamoDB, SQS, S3 on moto.
    Aws,
}

/// One backend's ports, fresh for each test.
pub struct Backend {
    /// Which one.
    pub kind: Kind,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The inbound queue.
    pub queue: Arc<dyn Queue>,
    /// Blob storage.
    pub blobs: Arc<dyn Blobs>,
    /// The outbound queue.
    pub outbound: Arc<dyn Queue>,
    /// The media download queue.
    pub media: Arc<dyn Queue>,
    /// Event callbacks waiting to be posted.
    pub callbacks: Arc<dyn Queue>,
    /// Signs the URLs of the embedded folder storage (`None` on AWS, where S3 presigns).
    pub media_urls: Option<UrlSigner>,
    /// Shared rate-limit buckets.
    pub limiter: Arc<dyn RateLimiter>,
    /// The AWS requests the adapters made (AWS only).
    pub requests: Option<RequestCounter>,
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backend({:?})", self.kind)
    }
}

impl Backend {
    /// Fresh embedded ports in a temporary folder.
    pub async fn embedded() -> Self {
        Self::embedded_at(Arc::new(SystemClock)).await
    }

    /// Fresh embedded ports whose store and queues read time from `clock`.
    pub async fn embedded_at(clock: Arc<dyn Clock>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("store.db"))
            .unwrap()
            .with_clock(clock.clone());
        let queue = SqliteQueue::open(&dir.path().join("queue.db"), "inbound", VISIBILITY)
            .unwrap()
            .with_clock(clock.clone());
        let signer = UrlSigner::new(SecretString::from("test media url key"));
        let blobs = FolderBlobs::new(dir.path().join("blobs")).with_urls(signer.clone(), clock.clone());
        let outbound = SqliteQueue::open(&dir.path().join("queue.db"), "outbound", VISIBILITY)
            .unwrap()
            .with_clock(clock.clone());
        let media = SqliteQueue::open(&dir.path().join("queue.db"), "media", VISIBILITY)
            .unwrap()
            .with_clock(clock.clone());
        let callbacks = SqliteQueue::open(&dir.path().join("queue.db"), "callbacks", VISIBILITY)
            .unwrap()
            .with_clock(clock);
        Self {
            kind: Kind::Embedded,
            store: Arc::new(store),
            queue: Arc::new(queue),
            blobs: Arc::new(blobs),
            outbound: Arc::new(outbound),
            media: Arc::new(media),
            callbacks: Arc::new(callbacks),
            media_urls: Some(signer),
            limiter: Arc::new(MemoryRateLimiter::default()),
            requests: None,
            _dir: Some(dir),
        }
    }

    /// Fresh AWS ports on moto: new tables, queue, DLQ and bucket under a unique prefix.
    pub async fn aws() -> Self {
        Self::aws_at(Arc::new(SystemClock)).await
    }

    /// Fresh AWS ports whose store reads time from `clock`.
    pub async fn aws_at(clock: Arc<dyn Clock>) -> Self {
        assert!(
            std::env::var_os("WABRIDGE_TEST_AWS").is_some() && std::env::var_os("AWS_ENDPOINT_URL").is_some(),
            "the AWS adapter tests need moto server: run ./scripts/test, which starts it and sets AWS_ENDPOINT_URL"
        );
        let sdk = awsa::load_config().await;
        let prefix = format!("t{}", ulid::Ulid::new().to_string().to_lowercase());
        let tables = TableNames::prefixed(&prefix);
        let requests = RequestCounter::default();
        let dynamo = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .interceptor(requests.clone())
                .build(),
        );
        awsa::schema::create_tables(&dynamo, &tables).await.unwrap();
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&sdk)
                .interceptor(requests.clone())
                .build(),
        );
        let visibility = VISIBILITY.as_secs().to_string();
        let queue_pair = |name: &'static str| {
            let (sqs, prefix, visibility) = (sqs.clone(), prefix.clone(), visibility.clone());
            async move {
                let dlq = sqs
                    .create_queue()
                    .queue_name(format!("{prefix}-{name}-dlq"))
                    .send()
                    .await
                    .unwrap();
                let url = sqs
                    .create_queue()
                    .queue_name(format!("{prefix}-{name}"))
                    .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, visibility)
                    .send()
                    .await
                    .unwrap();
                SqsQueue::new(sqs, url.queue_url.unwrap()).with_dead_letter_queue(dlq.queue_url.unwrap())
            }
        };
        let (inbound, outbound) = (queue_pair("inbound").await, queue_pair("outbound").await);
        let (media, callbacks) = (queue_pair("media").await, queue_pair("callbacks").await);
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .interceptor(requests.clone())
                .build(),
        );
        s3.create_bucket().bucket(&prefix).send().await.unwrap();
        let limiter = DynamoRateLimiter::new(dynamo.clone(), tables.rate_limits.clone().unwrap());
        // The tests count what the code does, not what setting up its resources took.
        requests.take();
        requests.take_accesses();
        Self {
            kind: Kind::Aws,
            store: Arc::new(DynamoStore::new(dynamo, tables).with_clock(clock).with_list_shards(10)),
            queue: Arc::new(inbound),
            blobs: Arc::new(S3Blobs::new(s3, prefix)),
            outbound: Arc::new(outbound),
            media: Arc::new(media),
            callbacks: Arc::new(callbacks),
            media_urls: None,
            limiter: Arc::new(limiter),
            requests: Some(requests),
            _dir: None,
        }
    }

    /// The backend of `kind`.
    pub async fn of(kind: Kind) -> Self {
        Self::at(kind, Arc::new(SystemClock)).await
    }

    /// The backend of `kind`, its adapters reading time from `clock` (a [`ManualClock`] in tests
    /// that move time).
    pub async fn at(kind: Kind, clock: Arc<dyn Clock>) -> Self {
        match kind {
            Kind::Embedded => Self::embedded_at(clock).await,
            Kind::Aws => Self::aws_at(clock).await,
        }
    }
}

/// Generates `embedded::name` and `aws::name` tests calling `name(Backend)` for each listed test.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::of($crate::Kind::Embedded).await).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::of($crate::Kind::Aws).await).await
                }
            )*
        }
    };
}

/// Like [`on_both_backends!`], for tests that build their own backend (on a
/// [`crate::ManualClock`], say): generates `kind_embedded::name` and `kind_aws::name` calling
/// `name(Kind)`.
#[macro_export]
macro_rules! on_both_kinds {
    ($($name:ident),* $(,)?) => {
        mod kind_embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Kind::Embedded).await
                }
            )*
        }
        mod kind_aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Kind::Aws).await
                }
            )*
        }
    };
}
