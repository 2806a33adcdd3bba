//! The [`Builder`] trait: turn a directory of sources into Kubernetes objects.

use std::path::{Path, PathBuf};

use kube_core::DynamicObject;

use crate::error::{BoxError, OtherError};

/// What [`Builder::build`] is asked to do.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BuildRequest<'a> {
    /// The root nothing may escape (an unpacked artifact).
    pub root: &'a Path,
    /// The directory to build, relative to `root`.
    pub path: &'a Path,
}

impl<'a> BuildRequest<'a> {
    /// Builds `path` inside `root`.
    pub fn new(root: &'a Path, path: &'a Path) -> Self {
        Self { root, path }
    }
}

/// Objects produced by a build, in output order.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct BuildOutput {
    /// The objects.
    pub objects: Vec<DynamicObject>,
}

impl BuildOutput {
    /// Wraps `objects`.
    pub fn new(objects: Vec<DynamicObject>) -> Self {
        Self { objects }
    }
}

/// Renders manifests (kustomize overlays, Helm charts) into Kubernetes objects.
///
/// Only [`Builder::build`] is required. Builds are pure: the same input tree gives the same objects, and
/// nothing outside [`BuildRequest::root`] is read.
#[async_trait::async_trait]
pub trait Builder: Send + Sync {
    /// Builds `req.path` under `req.root`.
    ///
    /// # Errors
    /// See [`BuildError`]; a build error never is transient.
    async fn build(&self, req: &BuildRequest<'_>) -> Result<BuildOutput, BuildError>;
}

/// Errors from [`Builder::build`]. All stall until the input changes, except `Other` when it says so.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A path leaves the build root.
    #[error("path {path} is outside the build root")]
    PathEscapesRoot {
        /// The offending path.
        path: PathBuf,
    },
    /// A file could not be read or parsed.
    #[error("{file}")]
    InvalidFile {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        #[source]
        source: BoxError,
    },
    /// The build itself failed.
    #[error("build of {path} failed: {message}")]
    Failed {
        /// The directory being built.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A third-party implementation failed.
    #[error(transparent)]
    Other(OtherError),
}

impl BuildError {
    /// Whether retrying the same build may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Other(e) if e.is_transient())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn object_safe() {
        fn _assert(_: Arc<dyn Builder>) {}
    }
}
