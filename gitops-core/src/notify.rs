//! The [`Notifier`] trait: deliver events to the outside world.

use crate::{
    error::{BoxError, OtherError},
    event::Event,
};

/// Delivers [`Event`]s (to Slack, a webhook, a commit status, the notification controller, ...).
///
/// Only [`Notifier::notify`] is required.
#[async_trait::async_trait]
pub trait Notifier: Send + Sync {
    /// Sends `event`.
    ///
    /// # Errors
    /// See [`NotifyError`].
    async fn notify(&self, event: &Event) -> Result<(), NotifyError>;
}

/// Errors from [`Notifier::notify`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The receiver could not be reached, or answered with a retryable status.
    #[error("failed to deliver the event to {address}")]
    Delivery {
        /// Where the event was going.
        address: String,
        /// The underlying failure.
        #[source]
        source: BoxError,
    },
    /// The receiver refused the event for good (bad credentials, bad request).
    #[error("{address} rejected the event: {reason}")]
    Rejected {
        /// Where the event was going.
        address: String,
        /// Why.
        reason: String,
    },
    /// A third-party implementation failed.
    #[error(transparent)]
    Other(OtherError),
}

impl NotifyError {
    /// Whether retrying may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Delivery { .. } => true,
            Self::Rejected { .. } => false,
            Self::Other(e) => e.is_transient(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn object_safe() {
        fn _assert(_: Arc<dyn Notifier>) {}
    }
}
