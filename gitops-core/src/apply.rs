//! The [`Applier`] trait: put objects into a cluster and take them out again.

use std::{fmt, str::FromStr};

use kube_core::DynamicObject;
use serde::{Deserialize, Serialize};

use crate::error::{BoxError, OtherError};

/// An object's identity as Flux writes it into `status.inventory.entries[].id`:
/// `<namespace>_<name>_<group>_<kind>`, with empty strings for the core group and cluster scope and `:` in
/// names written as `__`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// API group; empty for the core group.
    pub group: String,
    /// Kind.
    pub kind: String,
}

impl ObjectId {
    /// The id of `obj`, or `None` when it lacks a kind, apiVersion or name.
    pub fn of(obj: &DynamicObject) -> Option<Self> {
        let types = obj.types.as_ref()?;
        let group = types.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        Some(Self {
            namespace: obj.metadata.namespace.clone().unwrap_or_default(),
            name: obj.metadata.name.clone()?,
            group: group.to_owned(),
            kind: types.kind.clone(),
        })
    }
}

/// A string that is not an inventory id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse stored object metadata: {0}")]
pub struct ObjectIdError(String);

impl FromStr for ObjectId {
    type Err = ObjectIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ObjectIdError(s.to_owned());
        let (namespace, rest) = s.split_once('_').ok_or_else(err)?;
        let (rest, kind) = rest.rsplit_once('_').ok_or_else(err)?;
        let (name, group) = rest.rsplit_once('_').ok_or_else(err)?;
        if name.is_empty() || kind.is_empty() {
            return Err(err());
        }
        Ok(Self {
            namespace: namespace.to_owned(),
            name: name.replace("__", ":"),
            group: group.to_owned(),
            kind: kind.to_owned(),
        })
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}_{}_{}_{}",
            self.namespace,
            self.name.replace(':', "__"),
            self.group,
            self.kind
        )
    }
}

/// What happened to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// It did not exist and was created.
    Created,
    /// It existed and was changed.
    Configured,
    /// It existed and already matched.
    Unchanged,
    /// It was deleted.
    Deleted,
    /// It was left alone on purpose (an annotation said so).
    Skipped,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Deleted => "deleted",
            Self::Skipped => "skipped",
        })
    }
}

/// The outcome of one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Which object.
    pub id: ObjectId,
    /// Its API version (`v` of the inventory entry).
    pub version: String,
    /// What happened.
    pub action: Action,
}

/// The outcome of an [`Applier`] call: what happened to each object, and which objects failed.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ChangeSet {
    /// Objects that were handled, in the order they were handled.
    pub changes: Vec<Change>,
    /// Objects that failed, each with its error.
    pub failed: Vec<(ObjectId, BoxError)>,
}

impl ChangeSet {
    /// Whether every object was handled.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

/// How [`Applier::apply`] applies.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApplyOptions {
    /// The server-side apply field manager.
    pub field_manager: String,
    /// Recreate objects whose immutable fields changed.
    pub force: bool,
    /// Ask the server to validate only; nothing is persisted.
    pub dry_run: bool,
}

impl ApplyOptions {
    /// Options applying as `field_manager`, without force or dry-run.
    pub fn new(field_manager: impl Into<String>) -> Self {
        Self {
            field_manager: field_manager.into(),
            force: false,
            dry_run: false,
        }
    }
}

/// Applies objects to a cluster and deletes them again.
///
/// Both methods are required. Per-object failures are collected in [`ChangeSet::failed`] rather than
/// stopping at the first one.
#[async_trait::async_trait]
pub trait Applier: Send + Sync {
    /// Applies `objects`.
    ///
    /// # Errors
    /// Per-object failures land in [`ChangeSet::failed`]; the call itself fails only on discovery or client
    /// errors.
    async fn apply(&self, objects: &[DynamicObject], opts: &ApplyOptions) -> Result<ChangeSet, ApplyError>;

    /// Deletes the objects named by `ids` (with their API versions), skipping those already gone.
    ///
    /// # Errors
    /// As for [`Applier::apply`].
    async fn delete(&self, ids: &[(ObjectId, String)], opts: &ApplyOptions) -> Result<ChangeSet, ApplyError>;
}

/// Errors from [`Applier`] calls that stop the whole call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// API discovery failed.
    #[error("API discovery failed")]
    Discovery(#[source] BoxError),
    /// The API server could not be reached.
    #[error("API request failed")]
    Client(#[source] BoxError),
    /// A third-party implementation failed.
    #[error(transparent)]
    Other(OtherError),
}

impl ApplyError {
    /// Whether retrying may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Discovery(_) | Self::Client(_) => true,
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
        fn _assert(_: Arc<dyn Applier>) {}
    }

    #[test]
    fn inventory_ids_match_flux() {
        let cases = [
            ("default_podinfo__Service", ("default", "podinfo", "", "Service")),
            (
                "default_podinfo_apps_Deployment",
                ("default", "podinfo", "apps", "Deployment"),
            ),
            ("_apps__Namespace", ("", "apps", "", "Namespace")),
            (
                "_flux-view_rbac.authorization.k8s.io_ClusterRole",
                ("", "flux-view", "rbac.authorization.k8s.io", "ClusterRole"),
            ),
            (
                "_system__controller__x_rbac.authorization.k8s.io_ClusterRole",
                (
                    "",
                    "system:controller:x",
                    "rbac.authorization.k8s.io",
                    "ClusterRole",
                ),
            ),
            (
                "ns_my_name_with_underscores_apps_Deployment",
                ("ns", "my_name_with_underscores", "apps", "Deployment"),
            ),
        ];
        for (s, (ns, name, group, kind)) in cases {
            let id: ObjectId = s.parse().unwrap();
            assert_eq!(
                (
                    id.namespace.as_str(),
                    id.name.as_str(),
                    id.group.as_str(),
                    id.kind.as_str()
                ),
                (ns, name, group, kind)
            );
            assert_eq!(id.to_string(), s);
        }
        assert!("nounderscore".parse::<ObjectId>().is_err());
        assert!("a_b".parse::<ObjectId>().is_err());
    }

    #[test]
    fn id_of_object() {
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "podinfo", "namespace": "default"}
        }))
        .unwrap();
        assert_eq!(
            ObjectId::of(&obj).unwrap().to_string(),
            "default_podinfo_apps_Deployment"
        );
    }
}
