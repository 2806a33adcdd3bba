//! Output order: kustomize's "legacy" order by default, or input order (`fifo`).

use crate::{kustomization::SortOptions, resource::Resource};

const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const ORDER_LAST: &[&str] = &["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

fn or(s: &str, d: &'static str) -> String {
    if s.is_empty() { d.to_owned() } else { s.to_owned() }
}

/// Sorts in place.
pub(crate) fn apply(resources: &mut [Resource], opts: Option<&SortOptions>) {
    if opts.and_then(|o| o.order.as_deref()) == Some("fifo") {
        return;
    }
    let (first, last): (Vec<String>, Vec<String>) = match opts.and_then(|o| o.legacy_sort_options.as_ref()) {
        Some(l) => (l.order_first.clone(), l.order_last.clone()),
        None => (
            ORDER_FIRST.iter().map(|s| (*s).to_owned()).collect(),
            ORDER_LAST.iter().map(|s| (*s).to_owned()).collect(),
        ),
    };
    let rank = |kind: &str| -> i64 {
        if let Some(i) = first.iter().position(|k| k == kind) {
            return i as i64 - first.len() as i64;
        }
        if let Some(i) = last.iter().position(|k| k == kind) {
            return 1 + i as i64;
        }
        0
    };
    // Keys are computed once per resource: (rank, GVK string, namespace|name, is Namespace with no group).
    let keys: Vec<(i64, String, String, bool, bool)> = resources
        .iter()
        .map(|r| {
            let x = r.cur_id();
            let gvk = format!(
                "{}_{}_{}",
                or(&x.group, "~G"),
                or(&x.version, "~V"),
                or(&x.kind, "~K")
            );
            let id = format!("{}|{}", or(&x.namespace, "~X"), or(&x.name, "~N"));
            (rank(&x.kind), gvk, id, x.kind == "Namespace", x.group.is_empty())
        })
        .collect();
    let mut order: Vec<usize> = (0..resources.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&keys[a], &keys[b]);
        if x.1 != y.1 {
            if x.0 != y.0 {
                return x.0.cmp(&y.0);
            }
            if x.3 && y.3 && (x.4 || y.4) {
                return y.1.cmp(&x.1);
            }
            return x.1.cmp(&y.1);
        }
        x.2.cmp(&y.2)
    });
    let mut taken: Vec<Option<Resource>> = resources
        .iter_mut()
        .map(|r| Some(std::mem::replace(r, Resource::new(serde_json::json!({})))))
        .collect();
    for (slot, i) in resources.iter_mut().zip(order) {
        *slot = taken[i].take().expect("each index once");
    }
}
