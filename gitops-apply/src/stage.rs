//! Apply stages and order, as Flux's `ssa` package sorts objects.

use std::cmp::Ordering;

/// Which stage an object is applied in. Earlier stages are applied and become ready before later ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// CustomResourceDefinitions, Namespaces and ClusterRoles: definitions others need.
    Definitions,
    /// Kinds whose name ends in `Class` (StorageClass, IngressClass, PriorityClass, ...).
    Classes,
    /// Everything else.
    Rest,
}

impl Stage {
    /// The stage of an object of `group` and `kind`.
    pub fn of(group: &str, kind: &str) -> Self {
        let definition = (group == "apiextensions.k8s.io" && kind == "CustomResourceDefinition")
            || (group.is_empty() && kind == "Namespace")
            || (group == "rbac.authorization.k8s.io" && kind == "ClusterRole");
        if definition {
            Self::Definitions
        } else if kind.ends_with("Class") {
            Self::Classes
        } else {
            Self::Rest
        }
    }
}

/// Flux's kind order within a stage; kinds not listed go between `PodDisruptionBudget` and the webhook
/// configurations.
const FIRST: &[&str] = &[
    "CustomResourceDefinition",
    "Namespace",
    "ClusterRole",
    "ClusterClass",
    "RuntimeClass",
    "PriorityClass",
    "StorageClass",
    "VolumeSnapshotClass",
    "IngressClass",
    "GatewayClass",
    "ClusterRoleBinding",
    "ResourceQuota",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const LAST: &[&str] = &["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

fn kind_rank(kind: &str) -> usize {
    if let Some(i) = FIRST.iter().position(|k| *k == kind) {
        i
    } else if let Some(i) = LAST.iter().position(|k| *k == kind) {
        FIRST.len() + 1 + i
    } else {
        FIRST.len()
    }
}

/// Orders two objects given as `(group, kind, namespace, name)`: by stage, kind order, kind, namespace,
/// name.
pub(crate) fn compare(a: (&str, &str, &str, &str), b: (&str, &str, &str, &str)) -> Ordering {
    Stage::of(a.0, a.1)
        .cmp(&Stage::of(b.0, b.1))
        .then_with(|| kind_rank(a.1).cmp(&kind_rank(b.1)))
        .then_with(|| a.1.cmp(b.1))
        .then_with(|| a.2.cmp(b.2))
        .then_with(|| a.3.cmp(b.3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_then_classes_then_the_rest_in_flux_order() {
        let mut objs = vec![
            (
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration",
                "",
                "v",
            ),
            ("apps", "Deployment", "b", "web"),
            ("example.com", "Widget", "a", "w"),
            ("", "ConfigMap", "b", "cfg"),
            ("networking.k8s.io", "IngressClass", "", "nginx"),
            ("", "Namespace", "", "b"),
            (
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                "",
                "widgets.example.com",
            ),
            ("", "Secret", "a", "s"),
            ("", "ConfigMap", "a", "cfg"),
        ];
        objs.sort_by(|a, b| compare(*a, *b));
        let kinds: Vec<String> = objs.iter().map(|o| format!("{}/{}", o.1, o.2)).collect();
        assert_eq!(
            kinds,
            [
                "CustomResourceDefinition/",
                "Namespace/",
                "IngressClass/",
                "ConfigMap/a",
                "ConfigMap/b",
                "Secret/a",
                "Deployment/b",
                "Widget/a",
                "ValidatingWebhookConfiguration/"
            ]
        );
        assert_eq!(
            Stage::of("rbac.authorization.k8s.io", "ClusterRole"),
            Stage::Definitions
        );
        assert_eq!(Stage::of("storage.k8s.io", "StorageClass"), Stage::Classes);
    }
}
