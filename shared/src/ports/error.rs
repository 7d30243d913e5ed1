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

    /// A permanent data problem.
    pub fn invalid(op: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            op,
            reason: reason.into(),
        }
    }
}

/// For `map_err`: wraps an SDK or driver error as retryable, naming what was being done.
pub fn unavailable<E: Into<BoxError>>(op: &'static str) -> impl Fn(E) -> PortError {
    move |e| PortError::unavailable(op, e)
}
