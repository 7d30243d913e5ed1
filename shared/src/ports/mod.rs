//! The ports: what the use cases need from infrastructure, one file per role. A use case takes only
//! the roles it uses (the processor an [`Inbox`] and an [`Outbox`], the query API a [`ReadModel`]),
//! so a Lambda function's IAM policy can match its ports. Each role has an AWS adapter and an
//! embedded one in [`crate::adapters`], in files of the same name, and one conformance suite (in
//! `tests/`) runs against both.

mod automation;
mod blobs;
mod clock;
mod contacts;
mod counters;
mod error;
mod idempotency;
mod inbox;
mod limiter;
mod media;
mod outbox;
mod queue;
mod read_model;
mod recipients;
mod schedules;
mod templates;

pub use automation::{
    Automation, InteractionFilter, MAX_FLOWS, MAX_RULES, RuleWrite, SessionFilter, interaction_key, session_key,
    session_sort_key,
};
pub use blobs::{BlobStream, BlobWriter, Blobs};
pub use clock::{Clock, SystemClock, later};
pub use contacts::{Changed, ContactBook, ContactFilter};
pub use counters::{BucketSums, Counters, DistinctFold, Fact, Point, Reach, Sums, Tally, bucket_of};
pub use error::{BoxError, PortError};
pub use idempotency::Idempotency;
pub use inbox::Inbox;
pub use limiter::{Grant, RateLimiter};
pub use media::MediaStore;
pub use outbox::Outbox;
pub use queue::{DeadLetter, Delivery, MAX_SEND_DELAY, Queue};
pub use read_model::{ReadModel, Walk};
pub use recipients::{CampaignRecipient, Recipients};
pub use schedules::{Schedule, Schedules};
pub use templates::TemplateStore;

/// Every store role at once: what one database adapter (SQLite, DynamoDB) provides. Wiring code
/// holds an `Arc<dyn Store>` and hands each use case the roles it needs (`Arc<dyn Inbox>`, …).
pub trait Store:
    Inbox
    + Outbox
    + Idempotency
    + ReadModel
    + MediaStore
    + TemplateStore
    + Counters
    + ContactBook
    + Schedules
    + Recipients
    + Automation
{
}

impl<
    T: Inbox
        + Outbox
        + Idempotency
        + ReadModel
        + MediaStore
        + TemplateStore
        + Counters
        + ContactBook
        + Schedules
        + Recipients
        + Automation
        + ?Sized,
> Store for T
{
}
