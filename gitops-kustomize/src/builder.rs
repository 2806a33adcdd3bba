//! [`KustomizeBuilder`]: the kustomize engine behind the [`gitops_core::Builder`] trait.

use gitops_core::{BuildError, BuildOutput, BuildRequest, Builder, OtherError, yaml};

use crate::{BuildOptions, Error, build_with};

/// Builds kustomizations inside an unpacked artifact, with Flux's options.
///
/// Builds run on the blocking thread pool and share nothing, so many run in parallel (Flux serializes every
/// build behind one process-wide mutex; this does not).
#[derive(Debug, Clone, Default)]
pub struct KustomizeBuilder {
    options: BuildOptions,
}

impl KustomizeBuilder {
    /// A builder with `options` (see [`BuildOptions::flux`]).
    pub fn new(options: BuildOptions) -> Self {
        Self { options }
    }
}

fn to_build_error(e: Error, path: &std::path::Path) -> BuildError {
    match e {
        Error::OutsideRoot { path, .. } => BuildError::PathEscapesRoot { path },
        Error::Invalid { file, message } => BuildError::InvalidFile {
            file,
            source: message.into(),
        },
        other => BuildError::Failed {
            path: path.to_owned(),
            message: other.to_string(),
        },
    }
}

#[async_trait::async_trait]
impl Builder for KustomizeBuilder {
    async fn build(&self, req: &BuildRequest<'_>) -> Result<BuildOutput, BuildError> {
        let root = req.root.to_owned();
        let dir = req.root.join(req.path);
        let opts = self.options.clone();
        let path = req.path.to_owned();
        let values = tokio::task::spawn_blocking(move || build_with(&root, &dir, &opts))
            .await
            .map_err(|e| BuildError::Other(OtherError::new(e, true)))?
            .map_err(|e| to_build_error(e, &path))?;
        let objects = values
            .into_iter()
            .map(|v| {
                yaml::to_object(v).map_err(|message| BuildError::Failed {
                    path: path.clone(),
                    message,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BuildOutput::new(objects))
    }
}
