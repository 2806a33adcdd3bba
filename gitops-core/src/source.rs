//! The [`Source`] trait: fetch one revision of an upstream into an artifact file.

use std::{path::Path, time::Duration};

use crate::{
    artifact::ArtifactFile,
    error::{BoxError, OtherError},
    revision::Revision,
};

/// What [`Source::fetch`] is asked to do.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FetchRequest<'a> {
    /// A private, empty directory the source may write into; the artifact file goes here.
    pub workdir: &'a Path,
    /// The revision of the artifact already in storage. When the upstream still points at it, the source
    /// answers [`FetchOutcome::Unchanged`] without downloading content.
    pub last_revision: Option<&'a Revision>,
    /// Upper bound for the whole fetch.
    pub timeout: Duration,
}

impl<'a> FetchRequest<'a> {
    /// A request writing into `workdir`, with Flux's default timeout of 60 s.
    pub fn new(workdir: &'a Path) -> Self {
        Self {
            workdir,
            last_revision: None,
            timeout: Duration::from_secs(60),
        }
    }

    /// Sets the revision already in storage.
    #[must_use]
    pub fn with_last_revision(mut self, revision: Option<&'a Revision>) -> Self {
        self.last_revision = revision;
        self
    }

    /// Sets the timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// The result of a successful fetch.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FetchOutcome {
    /// The upstream still points at [`FetchRequest::last_revision`]; nothing was downloaded.
    Unchanged(Revision),
    /// A new artifact file was written under [`FetchRequest::workdir`].
    Fetched(ArtifactFile),
}

/// Fetches one revision of an upstream (Git, OCI, Helm repository, bucket) into a local artifact file.
///
/// Only [`Source::fetch`] is required. Fetching the same resolved [`Revision`] twice yields a file with the
/// same digest.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use gitops_core::{FetchOutcome, FetchRequest, Source, SourceError};
///
/// struct Fixed;
///
/// #[async_trait::async_trait]
/// impl Source for Fixed {
///     async fn fetch(&self, req: &FetchRequest<'_>) -> Result<FetchOutcome, SourceError> {
///         Ok(FetchOutcome::Unchanged("sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae".into()))
///     }
/// }
///
/// let sources: Vec<Arc<dyn Source>> = vec![Arc::new(Fixed)];
/// # assert_eq!(sources.len(), 1);
/// ```
#[async_trait::async_trait]
pub trait Source: Send + Sync {
    /// Resolves the configured reference and, unless it is unchanged, writes an artifact under
    /// `req.workdir`.
    ///
    /// # Errors
    /// See [`SourceError`]; [`SourceError::is_transient`] tells whether to retry.
    async fn fetch(&self, req: &FetchRequest<'_>) -> Result<FetchOutcome, SourceError>;
}

/// Errors from [`Source::fetch`]. `Transport` and `Timeout` are transient; the rest stall until the spec
/// (or the upstream) changes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The URL is not usable.
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The reference does not exist upstream.
    #[error("{reference} not found in {url}")]
    RevisionNotFound {
        /// The upstream URL.
        url: String,
        /// The reference as configured (`branch main`, `tag v1`, ...).
        reference: String,
    },
    /// The upstream refused the credentials, or a host key did not verify.
    #[error("authentication to {url} failed")]
    Authentication {
        /// The upstream URL.
        url: String,
        /// The underlying failure.
        #[source]
        source: BoxError,
    },
    /// The upstream could not be reached or the transfer broke.
    #[error("failed to fetch {reference} from {url}")]
    Transport {
        /// The upstream URL.
        url: String,
        /// The reference as configured.
        reference: String,
        /// The underlying failure.
        #[source]
        source: BoxError,
    },
    /// The fetch took longer than [`FetchRequest::timeout`].
    #[error("fetching {reference} from {url} timed out after {timeout:?}")]
    Timeout {
        /// The upstream URL.
        url: String,
        /// The reference as configured.
        reference: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The content is not acceptable (a symlink escaping the root, an invalid ignore pattern, ...).
    #[error("invalid content of {reference} in {url}")]
    InvalidContent {
        /// The upstream URL.
        url: String,
        /// The reference as configured.
        reference: String,
        /// What is wrong.
        #[source]
        source: BoxError,
    },
    /// Writing the artifact failed.
    #[error("failed to write the artifact to {path}")]
    Archive {
        /// Where the artifact was being written.
        path: String,
        /// The underlying failure.
        #[source]
        source: BoxError,
    },
    /// A third-party implementation failed.
    #[error(transparent)]
    Other(OtherError),
}

impl SourceError {
    /// Whether retrying the same fetch may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Timeout { .. } | Self::Archive { .. } => true,
            Self::Other(e) => e.is_transient(),
            Self::InvalidUrl { .. }
            | Self::RevisionNotFound { .. }
            | Self::Authentication { .. }
            | Self::InvalidContent { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn object_safe() {
        fn _assert(_: Arc<dyn Source>) {}
    }

    #[test]
    fn transient_classification() {
        let e = SourceError::RevisionNotFound {
            url: "u".into(),
            reference: "branch x".into(),
        };
        assert!(!e.is_transient());
        assert_eq!(e.to_string(), "branch x not found in u");
        let e = SourceError::Other(OtherError::new("flaky", true));
        assert!(e.is_transient());
    }
}
