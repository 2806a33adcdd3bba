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
    resources.sort_by(|a, b| {
        let (x, y) = (a.cur_id(), b.cur_id());
        let same_gvk = x.group == y.group && x.version == y.version && x.kind == y.kind;
        if !same_gvk {
            let (rx, ry) = (rank(&x.kind), rank(&y.kind));
            if rx != ry {
                return rx.cmp(&ry);
            }
            let gs = |g: &str, v: &str, k: &str| format!("{}_{}_{}", or(g, "~G"), or(v, "~V"), or(k, "~K"));
            let (sx, sy) = (
                gs(&x.group, &x.version, &x.kind),
                gs(&y.group, &y.version, &y.kind),
            );
            if x.kind == "Namespace" && y.kind == "Namespace" && (x.group.is_empty() || y.group.is_empty()) {
                return sy.cmp(&sx);
            }
            return sx.cmp(&sy);
        }
        let id = |i: &crate::resource::ResId| format!("{}|{}", or(&i.namespace, "~X"), or(&i.name, "~N"));
        id(&x).cmp(&id(&y))
    });
}
