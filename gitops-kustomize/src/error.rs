//! Build errors.

use std::path::PathBuf;

/// Why a kustomize build failed. Every variant names the file or object concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A path leaves the build root.
    #[error("security; file '{path}' is not in or below '{root}'")]
    OutsideRoot {
        /// The offending path.
        path: PathBuf,
        /// The root.
        root: PathBuf,
    },
    /// Remote resources are not supported.
    #[error("{path}: remote resources are not supported (only local files and directories)")]
    Remote {
        /// The resource entry.
        path: String,
    },
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A directory has no kustomization file.
    #[error(
        "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{dir}'"
    )]
    MissingKustomization {
        /// The directory.
        dir: PathBuf,
    },
    /// A file is not valid YAML or does not have the expected shape.
    #[error("{file}: {message}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Kustomizations refer to each other in a cycle.
    #[error("cycle detected: {dir} is already being built")]
    Cycle {
        /// The directory seen twice.
        dir: PathBuf,
    },
    /// The build itself failed.
    #[error("{0}")]
    Build(String),
}

impl Error {
    pub(crate) fn build(msg: impl Into<String>) -> Self {
        Self::Build(msg.into())
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
