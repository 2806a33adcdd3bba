//! Field specs: where transformers read and write, with the built-in tables kustomize uses.

use serde_json::{Map, Value};

use crate::{kustomization::FieldSpec, resource::Resource};

/// A field spec compiled for matching: `(group, version, kind)` filters (empty = any) and path segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spec {
    pub(crate) group: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) path: Vec<String>,
    pub(crate) create: bool,
}

/// Splits a field spec path on `/`, honouring `\/` escapes.
pub(crate) fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

impl Spec {
    pub(crate) fn new(group: &str, version: &str, kind: &str, path: &str, create: bool) -> Self {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Self {
            group: opt(group),
            version: opt(version),
            kind: opt(kind),
            path: split_path(path),
            create,
        }
    }

    pub(crate) fn from_config(fs: &FieldSpec) -> Self {
        Self {
            group: fs.group.clone().filter(|s| !s.is_empty()),
            version: fs.version.clone().filter(|s| !s.is_empty()),
            kind: fs.kind.clone().filter(|s| !s.is_empty()),
            path: split_path(&fs.path),
            create: fs.create,
        }
    }

    pub(crate) fn matches(&self, r: &Resource) -> bool {
        let id = r.cur_id();
        self.group.as_ref().is_none_or(|g| *g == id.group)
            && self.version.as_ref().is_none_or(|v| *v == id.version)
            && self.kind.as_ref().is_none_or(|k| *k == id.kind)
    }

    /// Calls `f` on every value at the path (descending into sequences), creating missing maps when
    /// `create` is set; `f` receives `Null` for a created leaf.
    pub(crate) fn visit(&self, obj: &mut Value, f: &mut dyn FnMut(&mut Value)) {
        visit(obj, &self.path, self.create, f);
    }
}

pub(crate) fn visit(v: &mut Value, segs: &[String], create: bool, f: &mut dyn FnMut(&mut Value)) {
    if let Value::Array(items) = v {
        for item in items {
            visit(item, segs, create, f);
        }
        return;
    }
    let Some((seg, rest)) = segs.split_first() else {
        f(v);
        return;
    };
    let (seg, is_seq) = match seg.strip_suffix("[]") {
        Some(s) => (s, true),
        None => (seg.as_str(), false),
    };
    let Value::Object(m) = v else { return };
    if !m.contains_key(seg) {
        // Sequences are never created.
        if !create || is_seq {
            return;
        }
        m.insert(
            seg.to_owned(),
            if rest.is_empty() {
                Value::Null
            } else {
                Value::Object(Map::new())
            },
        );
    }
    if let Some(child) = m.get_mut(seg) {
        if child.is_null() && !rest.is_empty() {
            if !create {
                return;
            }
            *child = Value::Object(Map::new());
        }
        visit(child, rest, create, f);
    }
}

type Row = (&'static str, &'static str, &'static str, &'static str, bool);

const METADATA_LABELS: &[Row] = &[
    ("", "", "", "metadata/labels", true),
    (
        "",
        "v1",
        "ReplicationController",
        "spec/template/metadata/labels",
        true,
    ),
    ("", "", "Deployment", "spec/template/metadata/labels", true),
    ("", "", "ReplicaSet", "spec/template/metadata/labels", true),
    ("", "", "DaemonSet", "spec/template/metadata/labels", true),
    ("apps", "", "StatefulSet", "spec/template/metadata/labels", true),
    ("batch", "", "Job", "spec/template/metadata/labels", true),
    ("batch", "", "CronJob", "spec/jobTemplate/metadata/labels", true),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ),
];

const VOLUME_CLAIM_TEMPLATE_LABELS: &[Row] = &[(
    "apps",
    "",
    "StatefulSet",
    "spec/volumeClaimTemplates[]/metadata/labels",
    true,
)];

const SELECTORS: &[Row] = &[
    ("", "v1", "Service", "spec/selector", true),
    ("", "v1", "ReplicationController", "spec/selector", true),
    ("", "", "Deployment", "spec/selector/matchLabels", true),
    (
        "apps",
        "",
        "Deployment",
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    (
        "apps",
        "",
        "Deployment",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    (
        "apps",
        "",
        "Deployment",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    (
        "apps",
        "",
        "Deployment",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    (
        "apps",
        "",
        "Deployment",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
        false,
    ),
    ("", "", "ReplicaSet", "spec/selector/matchLabels", true),
    ("", "", "DaemonSet", "spec/selector/matchLabels", true),
    ("apps", "", "StatefulSet", "spec/selector/matchLabels", true),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
        false,
    ),
    ("batch", "", "Job", "spec/selector/matchLabels", false),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/selector/matchLabels",
        false,
    ),
    (
        "policy",
        "",
        "PodDisruptionBudget",
        "spec/selector/matchLabels",
        false,
    ),
    (
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/podSelector/matchLabels",
        false,
    ),
    (
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/ingress/from/podSelector/matchLabels",
        false,
    ),
    (
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/egress/to/podSelector/matchLabels",
        false,
    ),
];

const ANNOTATIONS: &[Row] = &[
    ("", "", "", "metadata/annotations", true),
    (
        "",
        "v1",
        "ReplicationController",
        "spec/template/metadata/annotations",
        true,
    ),
    ("", "", "Deployment", "spec/template/metadata/annotations", true),
    ("", "", "ReplicaSet", "spec/template/metadata/annotations", true),
    ("", "", "DaemonSet", "spec/template/metadata/annotations", true),
    ("", "", "StatefulSet", "spec/template/metadata/annotations", true),
    ("batch", "", "Job", "spec/template/metadata/annotations", true),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/metadata/annotations",
        true,
    ),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/annotations",
        true,
    ),
];

const IMAGES: &[Row] = &[
    ("", "", "", "spec/containers[]/image", true),
    ("", "", "", "spec/initContainers[]/image", true),
    ("", "", "", "spec/volumes[]/image/reference", true),
    ("", "", "", "spec/template/spec/containers[]/image", true),
    ("", "", "", "spec/template/spec/initContainers[]/image", true),
    ("", "", "", "spec/template/spec/volumes[]/image/reference", true),
];

const REPLICAS: &[Row] = &[
    ("", "", "Deployment", "spec/replicas", true),
    ("", "", "ReplicationController", "spec/replicas", true),
    ("", "", "ReplicaSet", "spec/replicas", true),
    ("", "", "StatefulSet", "spec/replicas", true),
];

fn specs(rows: &[&[Row]]) -> Vec<Spec> {
    rows.iter()
        .flat_map(|r| r.iter())
        .map(|(g, v, k, p, c)| Spec::new(g, v, k, p, *c))
        .collect()
}

/// Adds `incoming` specs to `to` as kustomize's `FsSlice` merge does: a spec is left out when `to` already
/// has one with the same path whose group, version and kind it selects (its empty fields match anything).
pub(crate) fn merge_into(to: &mut Vec<Spec>, incoming: &[Spec]) {
    let selects = |x: &Spec, y: &Spec| {
        x.path == y.path
            && [(&x.group, &y.group), (&x.version, &y.version), (&x.kind, &y.kind)]
                .iter()
                .all(|(x, y)| x.is_none() || x == y)
    };
    for x in incoming {
        if !to.iter().any(|y| selects(x, y)) {
            to.push(x.clone());
        }
    }
}

/// The field specs a transformer uses: those from `configurations:` first, then the built-in defaults
/// merged in, so a configured spec shadows the default it narrows:
/// `namePrefix: [{path: metadata/name, kind: Foo}]` prefixes only `Foo` objects, as in kustomize.
pub(crate) fn with_defaults(defaults: Vec<Spec>, configured: &[Spec]) -> Vec<Spec> {
    let mut out = configured.to_vec();
    merge_into(&mut out, &defaults);
    out
}

/// The default `namePrefix`/`nameSuffix` spec: every object's `metadata/name`.
pub(crate) fn name() -> Vec<Spec> {
    vec![Spec::new("", "", "", "metadata/name", false)]
}

/// Where `commonLabels` (and `labels` with `includeSelectors`) go.
pub(crate) fn common_labels() -> Vec<Spec> {
    specs(&[SELECTORS, METADATA_LABELS, VOLUME_CLAIM_TEMPLATE_LABELS])
}

/// Where `labels` with `includeTemplates` (and no selectors) go.
pub(crate) fn template_labels() -> Vec<Spec> {
    specs(&[METADATA_LABELS])
}

/// `spec/volumeClaimTemplates[]/metadata/labels` of StatefulSets.
pub(crate) fn volume_claim_template_labels() -> Vec<Spec> {
    specs(&[VOLUME_CLAIM_TEMPLATE_LABELS])
}

/// Only `metadata/labels`.
pub(crate) fn metadata_labels() -> Vec<Spec> {
    vec![Spec::new("", "", "", "metadata/labels", true)]
}

/// Where `commonAnnotations` go.
pub(crate) fn annotations() -> Vec<Spec> {
    specs(&[ANNOTATIONS])
}

/// Where images are.
pub(crate) fn images() -> Vec<Spec> {
    specs(&[IMAGES])
}

/// Where replica counts are.
pub(crate) fn replicas() -> Vec<Spec> {
    specs(&[REPLICAS])
}

const POD_TEMPLATES: &[&str] = &[
    "spec/",
    "spec/template/spec/",
    "template/spec/",
    "spec/jobTemplate/spec/template/spec/",
];

/// `(referred kind, path suffix under a pod spec)` pairs, expanded over every pod-spec location.
const POD_REFS: &[(&str, &str)] = &[
    ("ConfigMap", "volumes/configMap/name"),
    ("ConfigMap", "containers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "initContainers/env/valueFrom/configMapKeyRef/name"),
    ("ConfigMap", "containers/envFrom/configMapRef/name"),
    ("ConfigMap", "initContainers/envFrom/configMapRef/name"),
    ("ConfigMap", "volumes/projected/sources/configMap/name"),
    ("Secret", "volumes/secret/secretName"),
    ("Secret", "containers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "initContainers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "containers/envFrom/secretRef/name"),
    ("Secret", "initContainers/envFrom/secretRef/name"),
    ("Secret", "imagePullSecrets/name"),
    ("Secret", "volumes/projected/sources/secret/name"),
    ("ServiceAccount", "serviceAccountName"),
    ("PersistentVolumeClaim", "volumes/persistentVolumeClaim/claimName"),
    ("PriorityClass", "priorityClassName"),
];

const POD_KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "ReplicaSet",
    "ReplicationController",
    "DaemonSet",
    "StatefulSet",
    "Job",
    "CronJob",
    "PodTemplate",
];

/// Name reference rules: `(referred group, referred kind, referrer kind ("" = any), path)`.
pub(crate) fn name_references() -> Vec<(&'static str, &'static str, String, Vec<String>)> {
    let mut out = Vec::new();
    for (kind, suffix) in POD_REFS {
        let group = match *kind {
            "PriorityClass" => "scheduling.k8s.io",
            _ => "",
        };
        for prefix in POD_TEMPLATES {
            for rk in POD_KINDS {
                out.push((
                    group,
                    *kind,
                    (*rk).to_owned(),
                    split_path(&format!("{prefix}{suffix}")),
                ));
            }
        }
    }
    let fixed: &[(&str, &str, &str, &str)] = &[
        (
            "apps",
            "Deployment",
            "HorizontalPodAutoscaler",
            "spec/scaleTargetRef/name",
        ),
        (
            "apps",
            "StatefulSet",
            "HorizontalPodAutoscaler",
            "spec/scaleTargetRef/name",
        ),
        (
            "apps",
            "ReplicaSet",
            "HorizontalPodAutoscaler",
            "spec/scaleTargetRef/name",
        ),
        (
            "",
            "ReplicationController",
            "HorizontalPodAutoscaler",
            "spec/scaleTargetRef/name",
        ),
        ("", "ConfigMap", "Node", "spec/configSource/configMap"),
        ("", "Secret", "Ingress", "spec/tls/secretName"),
        (
            "",
            "Secret",
            "Ingress",
            "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
        ),
        (
            "",
            "Secret",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
        ),
        (
            "",
            "Secret",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
        ),
        ("", "Secret", "ServiceAccount", "imagePullSecrets/name"),
        ("", "Secret", "StorageClass", "parameters/secretName"),
        ("", "Secret", "StorageClass", "parameters/adminSecretName"),
        ("", "Secret", "StorageClass", "parameters/userSecretName"),
        ("", "Secret", "StorageClass", "parameters/secretRef"),
        ("", "Secret", "PersistentVolume", "spec/azureFile/secretName"),
        ("", "Service", "StatefulSet", "spec/serviceName"),
        (
            "",
            "Service",
            "Ingress",
            "spec/rules/http/paths/backend/serviceName",
        ),
        ("", "Service", "Ingress", "spec/backend/serviceName"),
        (
            "",
            "Service",
            "Ingress",
            "spec/rules/http/paths/backend/service/name",
        ),
        ("", "Service", "Ingress", "spec/defaultBackend/service/name"),
        ("", "Service", "APIService", "spec/service/name"),
        (
            "",
            "Service",
            "ValidatingWebhookConfiguration",
            "webhooks/clientConfig/service",
        ),
        (
            "",
            "Service",
            "MutatingWebhookConfiguration",
            "webhooks/clientConfig/service",
        ),
        ("", "ServiceAccount", "RoleBinding", "subjects"),
        ("", "ServiceAccount", "ClusterRoleBinding", "subjects"),
        ("", "ConfigMap", "Role", "rules/resourceNames"),
        ("", "ConfigMap", "ClusterRole", "rules/resourceNames"),
        ("", "Secret", "Role", "rules/resourceNames"),
        ("", "Secret", "ClusterRole", "rules/resourceNames"),
        ("rbac.authorization.k8s.io", "Role", "RoleBinding", "roleRef/name"),
        (
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "RoleBinding",
            "roleRef/name",
        ),
        (
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "ClusterRoleBinding",
            "roleRef/name",
        ),
        ("", "PersistentVolume", "PersistentVolumeClaim", "spec/volumeName"),
        (
            "storage.k8s.io",
            "StorageClass",
            "PersistentVolumeClaim",
            "spec/storageClassName",
        ),
        (
            "storage.k8s.io",
            "StorageClass",
            "PersistentVolume",
            "spec/storageClassName",
        ),
        (
            "storage.k8s.io",
            "StorageClass",
            "StatefulSet",
            "spec/volumeClaimTemplates/spec/storageClassName",
        ),
        (
            "networking.k8s.io",
            "IngressClass",
            "Ingress",
            "spec/ingressClassName",
        ),
        (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
            "spec/policyName",
        ),
    ];
    for (g, k, rk, p) in fixed {
        out.push((*g, *k, (*rk).to_owned(), split_path(p)));
    }
    out
}
