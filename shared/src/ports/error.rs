//! How a port failed, classified so use cases know whether to retry.

/// A boxed error from an SDK or driver, kept as the source of a [`PortError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How an adapter failed, classified so the use cases know whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Infrastructure trouble that may pass (throttling, timeouts, a lock): retry later.
    #[error("{op} failed, may succeed later")]
    Unavailable {
        /// What was being done.
        op: &'static str,
        /// The SDK or driver error.
        #[source]
        source: BoxError,
    },
    /// Infrastructure that will not work until an operator acts: access denied, a table, queue or
    /// bucket that does not exist, a request the service calls invalid. Retrying cannot help; the
    /// HTTP API answers an opaque 500 and the error is logged loudly with the operation.
    #[error("{op} failed and will keep failing until the deployment is fixed")]
    Misconfigured {
        /// What was being done.
        op: &'static str,
        /// The SDK error, naming the resource.
        #[source]
        source: BoxError,
    },
    /// Data the adapter cannot read back or write (a corrupt row, a missing key): retrying will not help.
    #[error("{op}: {reason}")]
    Invalid {
        /// What was being done.
        op: &'static str,
        /// Why.
        reason: String,
    },
}

impl PortError {
    /// Wraps an infrastructure error as retryable.
    pub fn unavailable(op: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            op,
            source: source.into(),
        }
    }

    /// Infrastructure that will not work until an operator acts.
    pub fn misconfigured(op: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Misconfigured {
            op,
            source: source.into(),
        }
    }

    /// A permanent data problem.
    pub fn invalid(op: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            op,
            reason: reason.into(),
        }
    }
}
