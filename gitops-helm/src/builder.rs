//! [`HelmBuilder`]: charts as a [`gitops_core::Builder`].

use std::path::{Component, Path, PathBuf};

use gitops_core::{BuildError, BuildOutput, BuildRequest, Builder};

use crate::chart::{self, RenderOptions};
use crate::template::Value;

/// Stack for one rendering thread: deep `include` recursion stays far from overflowing it (the limits
/// in [`crate::template::Limits`] stop a template long before).
pub const RENDER_STACK: usize = 256 << 20;

/// Runs `f` on a thread with a stack large enough for deeply nested templates.
pub fn with_render_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("helm-render".into())
            .stack_size(RENDER_STACK)
            .spawn_scoped(s, f)
            .expect("spawning a render thread")
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Renders the chart at [`BuildRequest::path`] (a directory, or a `.tgz` file) as `helm template` would,
/// and returns its objects: CRDs from `crds/` first when asked, then manifests in install order, then
/// hooks (tests left out unless asked).
#[derive(Debug, Clone)]
pub struct HelmBuilder {
    release_name: String,
    namespace: String,
    values: serde_json::Map<String, serde_json::Value>,
    include_crds: bool,
    include_tests: bool,
}

impl HelmBuilder {
    /// A builder for a release name and namespace.
    pub fn new(release_name: impl Into<String>, namespace: impl Into<String>) -> HelmBuilder {
        HelmBuilder {
            release_name: release_name.into(),
            namespace: namespace.into(),
            values: Default::default(),
            include_crds: true,
            include_tests: false,
        }
    }

    /// Values merged over the chart's defaults (a HelmRelease's `spec.values`).
    pub fn values(mut self, values: serde_json::Map<String, serde_json::Value>) -> HelmBuilder {
        self.values = values;
        self
    }

    /// Whether CRDs from `crds/` are part of the output (default: yes, as helm-controller installs them).
    pub fn include_crds(mut self, yes: bool) -> HelmBuilder {
        self.include_crds = yes;
        self
    }

    /// Whether test hooks are part of the output (default: no).
    pub fn include_tests(mut self, yes: bool) -> HelmBuilder {
        self.include_tests = yes;
        self
    }

    /// Renders synchronously to `helm template` text.
    pub fn render_text(&self, chart_path: &Path) -> Result<String, chart::ChartError> {
        let values = self.values.clone();
        let path = chart_path.to_path_buf();
        let (name, ns, crds, tests) = (
            self.release_name.clone(),
            self.namespace.clone(),
            self.include_crds,
            self.include_tests,
        );
        with_render_stack(move || {
            let chart = chart::load(&path)?;
            let mut opts = RenderOptions::new(&name, &ns);
            if let Value::Map(m) = Value::from_json(&serde_json::Value::Object(values)) {
                opts.values = m.borrow().clone();
            }
            opts.include_crds = crds;
            opts.skip_tests = !tests;
            chart::template(&chart, &opts)
        })
    }
}

fn inside(root: &Path, rel: &Path) -> Result<PathBuf, BuildError> {
    let escapes = rel.components().any(|c| {
        matches!(
            c,
            Component::ParentDir | Component::RootDir | Component::Prefix(_)
        )
    });
    let joined = root.join(rel);
    let real_root = std::fs::canonicalize(root).map_err(|e| BuildError::InvalidFile {
        file: root.to_path_buf(),
        source: Box::new(e),
    })?;
    let real = std::fs::canonicalize(&joined).map_err(|e| BuildError::InvalidFile {
        file: joined.clone(),
        source: Box::new(e),
    })?;
    if escapes || !real.starts_with(&real_root) {
        return Err(BuildError::PathEscapesRoot {
            path: rel.to_path_buf(),
        });
    }
    Ok(real)
}

#[async_trait::async_trait]
impl Builder for HelmBuilder {
    async fn build(&self, req: &BuildRequest<'_>) -> Result<BuildOutput, BuildError> {
        let chart_path = inside(req.root, req.path)?;
        let this = self.clone();
        let rel = req.path.to_path_buf();
        let text = tokio::task::spawn_blocking(move || this.render_text(&chart_path))
            .await
            .map_err(|e| BuildError::Failed {
                path: rel.clone(),
                message: e.to_string(),
            })?
            .map_err(|e| BuildError::Failed {
                path: rel.clone(),
                message: e.to_string(),
            })?;
        let objects =
            gitops_core::yaml::parse_objects(&text, &crate::funcs::helm_yaml_limits()).map_err(|e| {
                BuildError::Failed {
                    path: rel,
                    message: format!("rendered output: {e}"),
                }
            })?;
        Ok(BuildOutput::new(objects))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn object_safe() {
        fn _assert(_: Arc<dyn Builder>) {}
        _assert(Arc::new(HelmBuilder::new("r", "default")));
    }
}
