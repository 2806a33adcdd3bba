//! Error plumbing shared by the core traits.

use std::fmt;

/// A boxed error that can cross threads: the `#[source]` of most variants.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error raised by a third-party implementation of one of the core traits.
///
/// Implementations outside this workspace cannot add variants to the core error enums, so they wrap
/// their own error here and say whether retrying could help.
#[derive(Debug)]
pub struct OtherError {
    inner: BoxError,
    transient: bool,
}

impl OtherError {
    /// Wraps `error`; `transient` says whether the same call may succeed when retried.
    pub fn new(error: impl Into<BoxError>, transient: bool) -> Self {
        Self {
            inner: error.into(),
            transient,
        }
    }

    /// Whether retrying the same call may succeed.
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// The wrapped error.
    pub fn into_inner(self) -> BoxError {
        self.inner
    }
}

impl fmt::Display for OtherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl std::error::Error for OtherError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}
