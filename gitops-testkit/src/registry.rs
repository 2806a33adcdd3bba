//! Which API resources exist: the built-in table generated from the Kubernetes OpenAPI documents.

use crate::builtin::RESOURCES;

/// One API resource (a plural under a group version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResource {
    /// API group, empty for the core group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Plural resource name.
    pub plural: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Whether list, watch, get, update, patch and delete are served (some kinds are create-only).
    pub listable: bool,
    /// Whether `/status` is a separate subresource.
    pub status: bool,
}

impl ApiResource {
    /// `group/version`, or `version` for the core group.
    pub fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// Short names kubectl resolves through discovery.
pub(crate) fn short_names(plural: &str) -> &'static [&'static str] {
    match plural {
        "configmaps" => &["cm"],
        "namespaces" => &["ns"],
        "services" => &["svc"],
        "serviceaccounts" => &["sa"],
        "pods" => &["po"],
        "deployments" => &["deploy"],
        "replicasets" => &["rs"],
        "daemonsets" => &["ds"],
        "statefulsets" => &["sts"],
        "persistentvolumeclaims" => &["pvc"],
        "persistentvolumes" => &["pv"],
        "ingresses" => &["ing"],
        "networkpolicies" => &["netpol"],
        "customresourcedefinitions" => &["crd", "crds"],
        "horizontalpodautoscalers" => &["hpa"],
        "poddisruptionbudgets" => &["pdb"],
        "priorityclasses" => &["pc"],
        "storageclasses" => &["sc"],
        "endpoints" => &["ep"],
        "events" => &["ev"],
        "cronjobs" => &["cj"],
        "nodes" => &["no"],
        "resourcequotas" => &["quota"],
        "limitranges" => &["limits"],
        "replicationcontrollers" => &["rc"],
        "certificatesigningrequests" => &["csr"],
        _ => &[],
    }
}

/// All built-in resources.
pub(crate) fn builtin() -> Vec<ApiResource> {
    RESOURCES
        .iter()
        .map(|(g, v, k, p, ns, list, status)| ApiResource {
            group: (*g).to_owned(),
            version: (*v).to_owned(),
            kind: (*k).to_owned(),
            plural: (*p).to_owned(),
            namespaced: *ns,
            listable: *list,
            status: *status,
        })
        .collect()
}
