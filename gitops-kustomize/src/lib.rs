//! A kustomize v5 build engine: what `kustomize build` does, without plugins or network.
//!
//! [`build`] builds a directory on disk; nothing outside `root` is read, remote resources are refused.
//! Output is printed with [`gitops_core::yaml::to_string_multi`], byte-compatible with kustomize.

mod build;
mod builder;
mod crds;
mod error;
mod fieldpath;
mod fieldspec;
mod fs;
mod generators;
#[rustfmt::skip]
mod k8s_tables;
pub mod api;
#[cfg(feature = "controller")]
pub mod controller;
pub mod kustomization;
mod nameref;
mod openapi;
mod patch;
mod plugins;
mod replacements;
mod resource;
mod sort;
pub mod substitute;
mod transformers;
mod vars;

pub use build::{BuildOptions, build, build_fs, build_to_string, build_with};
pub use builder::KustomizeBuilder;
pub use error::{Error, Result};
pub use fs::{DiskFs, EntryKind, FileSystem, MemFs};

/// Patch algorithms as kustomize and the Kubernetes API server apply them.
pub mod patches {
    use serde_json::Value;

    /// Strategic merge of `patch` into `base`, with the list merge keys of the built-in kind `(group, kind)`
    /// (lists of unknown kinds are replaced), and the `$patch`, `$setElementOrder`, `$retainKeys`,
    /// `$deleteFromPrimitiveList` directives.
    pub fn strategic_merge(base: &mut Value, patch: &Value, group: &str, kind: &str) {
        crate::patch::merge_value(
            base,
            patch,
            &mut Vec::new(),
            crate::patch::strategies_for(group, kind),
        );
    }

    /// RFC 6902 JSON patch.
    ///
    /// # Errors
    /// An operation that does not apply, with a message naming the path.
    pub fn json_patch(doc: &mut Value, ops: &[Value]) -> Result<(), String> {
        crate::patch::json6902(doc, ops)
    }

    /// RFC 7386 JSON merge patch.
    pub fn merge_patch(base: &mut Value, patch: &Value) {
        match (base, patch) {
            (Value::Object(b), Value::Object(p)) => {
                for (k, v) in p {
                    if v.is_null() {
                        b.shift_remove(k);
                    } else {
                        merge_patch(b.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
            (b, p) => {
                *b = match p {
                    Value::Object(_) => {
                        let mut fresh = Value::Object(serde_json::Map::new());
                        merge_patch(&mut fresh, p);
                        fresh
                    }
                    other => other.clone(),
                }
            }
        }
    }
}
