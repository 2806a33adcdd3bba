//! Rendering a chart as `helm template` does: built-in objects, template parse order (so that
//! definitions override as in Helm), `<no value>` removal, NOTES.txt left out, manifests split and
//! sorted by kind in Helm's install order, hooks last, `# Source:` framing.

use std::rc::Rc;
use std::sync::Arc;

use super::values::{coalesce_chart, merge_values, process_dependencies};
use super::{Chart, ChartError, FileData, TemplateFile, chart_value};
use crate::funcs::helm_funcs_shared;
use crate::template::{Limits, Map, MapCell, MissingKey, Object, ParseError, Templates, Value};

/// The cluster a render reads from (`helm template --dry-run=server`, or a controller rendering a release
/// against its cluster): live objects for `lookup`, and the server's version and API versions for
/// `.Capabilities`. Without one, `lookup` returns an empty map and `.Capabilities` holds
/// `helm template`'s defaults.
pub trait Cluster: Send + Sync {
    /// The object `kind` of `api_version` named `name` in `namespace` (empty for cluster-scoped kinds),
    /// as the API server returns it; `Ok(None)` when there is none. With an empty `name`, the list of
    /// them (in `namespace`, or everywhere when it is empty), as a `...List` object.
    ///
    /// # Errors
    /// The kind is unknown to the cluster or the request failed; the render fails with the message.
    fn lookup(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<serde_json::Value>, String>;

    /// The server's version and every API version it serves, as Helm reads them from discovery.
    ///
    /// # Errors
    /// Discovery failed; the render fails with the message.
    fn capabilities(&self) -> Result<ClusterCapabilities, String>;
}

/// What a [`Cluster`] reports for `.Capabilities`.
#[derive(Clone, Debug, Default)]
pub struct ClusterCapabilities {
    /// `gitVersion` of the server's `/version` (`v1.35.2`).
    pub git_version: String,
    /// `major`, as the server reports it.
    pub major: String,
    /// `minor`, as the server reports it (`35`, or `35+` on some distributions).
    pub minor: String,
    /// Group versions and `group/version/Kind`s, as Helm's `GetVersionSet` lists them.
    pub api_versions: Vec<String>,
}

/// What `helm template` is asked to do.
#[derive(Clone)]
#[non_exhaustive]
pub struct RenderOptions {
    /// `.Release.Name`
    pub release_name: String,
    /// `.Release.Namespace`
    pub namespace: String,
    /// User values, already merged in order (`-f` files, then `--set`).
    pub values: Map,
    /// `--include-crds`
    pub include_crds: bool,
    /// `--skip-tests`
    pub skip_tests: bool,
    /// `--no-hooks`
    pub no_hooks: bool,
    /// `--kube-version` (default v1.35.0, as `helm template` v4.1.4 reports).
    pub kube_version: String,
    /// `--api-versions`, added to the default set.
    pub api_versions: Vec<String>,
    /// `--skip-schema-validation`
    pub skip_schema_validation: bool,
    /// `.Release.IsUpgrade` (and not `IsInstall`).
    pub is_upgrade: bool,
    /// `.Release.Revision`
    pub revision: i64,
    /// Limits on template execution.
    pub limits: Limits,
    /// The cluster `lookup` and `.Capabilities` read from; `None`: empty lookups, default capabilities.
    pub cluster: Option<std::sync::Arc<dyn Cluster>>,
    /// The process exits once it has printed this render, so what rendering builds on the way (values
    /// trees, the template set) is not freed: the operating system takes it back at exit, as a
    /// compiler's driver leaves its last allocations. Off by default; a long-running caller leaves it so.
    pub exit_after: bool,
}

impl std::fmt::Debug for RenderOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderOptions")
            .field("release_name", &self.release_name)
            .field("namespace", &self.namespace)
            .field("kube_version", &self.kube_version)
            .field("cluster", &self.cluster.is_some())
            .finish_non_exhaustive()
    }
}

impl RenderOptions {
    /// Options for a release name and namespace, with `helm template`'s defaults.
    pub fn new(release_name: &str, namespace: &str) -> RenderOptions {
        RenderOptions {
            release_name: release_name.to_string(),
            namespace: namespace.to_string(),
            values: Map::new(),
            include_crds: false,
            skip_tests: false,
            no_hooks: false,
            kube_version: "v1.35.0".into(),
            api_versions: Vec::new(),
            skip_schema_validation: false,
            is_upgrade: false,
            revision: 1,
            limits: Limits::default(),
            cluster: None,
            exit_after: false,
        }
    }

    /// Renders against `cluster`: `lookup` reads its objects, `.Capabilities` its versions.
    #[must_use]
    pub fn with_cluster(mut self, cluster: std::sync::Arc<dyn Cluster>) -> RenderOptions {
        self.cluster = Some(cluster);
        self
    }

    /// Adds a values file's content (merged over earlier ones, as `-f` does).
    pub fn values_yaml(mut self, text: &str) -> Result<RenderOptions, ChartError> {
        let v = crate::funcs::values_from_yaml(text).map_err(|e| {
            ChartError::Values(format!(
                "failed to parse values: error converting YAML to JSON: {e}"
            ))
        })?;
        let m = match v {
            Value::Map(m) => m.borrow().clone(),
            Value::Nil => Map::new(),
            _ => {
                return Err(ChartError::Values(
                    "failed to parse values: values must be a map".into(),
                ));
            }
        };
        self.values = merge_values(&self.values, &m);
        Ok(self)
    }
}

/// One rendered document.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The template path (`chart/templates/x.yaml`).
    pub path: String,
    /// The document text, trimmed.
    pub content: String,
    /// `kind`, if any.
    pub kind: String,
    /// Hook events, for hooks.
    pub hook_events: Vec<String>,
}

/// The result of rendering.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// Non-hook documents in install order.
    pub manifests: Vec<Manifest>,
    /// Hook documents in kind order.
    pub hooks: Vec<Manifest>,
    /// CRDs from `crds/` directories: (path, raw content).
    pub crds: Vec<(String, String)>,
    /// The rendered NOTES.txt of the top chart.
    pub notes: String,
}

const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

/// The group/versions `helm template` reports without a cluster (client-go's scheme plus apiextensions).
const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "autoscaling/v2beta1",
    "autoscaling/v2beta2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha1",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// Renders a chart and prints it exactly as `helm template` does.
pub fn template(chart: &Chart, opts: &RenderOptions) -> Result<String, ChartError> {
    let r = render(chart, opts)?;
    Ok(print(&r, opts))
}

fn print(r: &Rendered, opts: &RenderOptions) -> String {
    use std::fmt::Write as _;
    // Sized once: grown as it is written, a large chart's output would be copied a dozen times.
    let documents = r
        .crds
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .chain((r.manifests.iter().chain(&r.hooks)).map(|m| (m.path.as_str(), m.content.as_str())));
    let mut out = String::with_capacity(
        documents
            .map(|(path, content)| "---\n# Source: \n\n".len() + path.len() + content.len())
            .sum(),
    );
    if opts.include_crds {
        for (path, content) in &r.crds {
            let _ = write!(out, "---\n# Source: {path}\n{content}\n");
        }
    }
    for m in &r.manifests {
        let _ = write!(out, "---\n# Source: {}\n{}\n", m.path, m.content);
    }
    // The manifests trimmed (in place: the output of a large chart is not copied again), then the hooks.
    out.truncate(out.trim_end().len());
    let lead = out.len() - out.trim_start().len();
    out.drain(..lead);
    out.push('\n');
    if !opts.no_hooks {
        for h in &r.hooks {
            if opts.skip_tests && h.hook_events.iter().any(|e| e == "test" || e == "test-success") {
                continue;
            }
            let _ = write!(out, "---\n# Source: {}\n{}\n", h.path, h.content);
        }
    }
    out
}

fn validate_release_name(name: &str) -> Result<(), ChartError> {
    // Helm's regex below, as a loop: compiling it cost a small chart a fifth of its instructions.
    let label = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    };
    if name.is_empty() || name.len() > 53 || !name.split('.').all(label) {
        return Err(ChartError::Invalid(format!(
            "release name {name:?}: invalid release name, must match regex ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ and the length must not be longer than 53"
        )));
    }
    Ok(())
}

/// Renders a chart: templates executed, documents split, hooks separated, everything sorted.
pub fn render(chart: &Chart, opts: &RenderOptions) -> Result<Rendered, ChartError> {
    validate_release_name(&opts.release_name)?;
    if !matches!(chart.metadata.chart_type.as_str(), "" | "application") {
        return Err(ChartError::Invalid(format!(
            "{} charts are not installable",
            chart.metadata.chart_type
        )));
    }
    let missing: Vec<&str> = chart
        .metadata
        .dependencies
        .iter()
        .filter(|r| !chart.dependencies.iter().any(|d| d.name() == r.name))
        .map(|r| r.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(ChartError::MissingDependencies(missing.join(", ")));
    }
    let processed = process_dependencies(chart, &opts.values)?;
    let cluster_caps = match &opts.cluster {
        Some(c) => Some(c.capabilities().map_err(ChartError::Invalid)?),
        None => None,
    };
    let kube_version = cluster_caps
        .as_ref()
        .map_or(opts.kube_version.as_str(), |c| c.git_version.as_str());
    if !processed.metadata.kube_version.is_empty() {
        let ok = processed
            .metadata
            .kube_version
            .parse::<gitops_core::semver::Constraint>()
            .ok()
            .zip(kube_version.parse::<gitops_core::semver::Version>().ok())
            .is_some_and(|(c, v)| c.matches(&v));
        if !ok {
            return Err(ChartError::Incompatible(format!(
                "chart requires kubeVersion: {} which is incompatible with Kubernetes {}",
                processed.metadata.kube_version, kube_version
            )));
        }
    }
    let vals = coalesce_chart(&processed, &opts.values, false)?;
    if !opts.skip_schema_validation {
        let mut errors = String::new();
        super::schema::validate_tree(&processed, &vals, &mut errors);
        if !errors.is_empty() {
            return Err(ChartError::Schema(errors));
        }
    }
    let caps = match cluster_caps {
        Some(c) => Capabilities::of_cluster(c, &opts.api_versions),
        None => Capabilities::new(&opts.kube_version, &opts.api_versions),
    };
    let caps = Value::Object(Rc::new(caps));
    let mut release = Map::new();
    release.insert("Name".into(), Value::str(opts.release_name.as_str()));
    release.insert("Namespace".into(), Value::str(opts.namespace.as_str()));
    release.insert("IsUpgrade".into(), Value::Bool(opts.is_upgrade));
    release.insert("IsInstall".into(), Value::Bool(!opts.is_upgrade));
    release.insert("Revision".into(), Value::Int(opts.revision));
    release.insert("Service".into(), Value::str("Helm"));
    let release = Value::map(release);

    // Every template with its chart's values object, keyed by its full path.
    let mut tpls: Vec<Renderable> = Vec::new();
    let root_vals = Value::values_map(vals);
    collect(
        &processed,
        None,
        processed.name().to_string(),
        &root_vals,
        &release,
        &caps,
        &mut tpls,
    );
    let rendered = {
        let _lookup = crate::funcs::LookupGuard::set(opts.cluster.clone());
        execute_all(tpls, opts.limits, opts.exit_after)?
    };

    let mut out = Rendered::default();
    let notes_path = format!("{}/templates/NOTES.txt", processed.name());
    let mut files: Vec<(String, Vec<(String, Head)>)> = Vec::new();
    for file in rendered {
        if file.path.ends_with("NOTES.txt") {
            if file.path == notes_path {
                out.notes = file.text;
            }
            continue;
        }
        files.push((file.path, file.docs));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let (hooks, manifests) = sort_manifests(files)?;
    out.hooks = hooks;
    out.manifests = manifests;
    if opts.include_crds {
        crds(&processed, processed.name(), &mut out.crds);
    }
    if opts.exit_after {
        std::mem::forget((processed, root_vals, release, caps));
    }
    Ok(out)
}

fn crds(chart: &Chart, full: &str, out: &mut Vec<(String, String)>) {
    for (name, data) in &chart.files {
        if name.starts_with("crds/")
            && (name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"))
        {
            out.push((
                format!("{full}/{name}"),
                super::text_of(&data.bytes()).into_owned(),
            ));
        }
    }
    for d in &chart.dependencies {
        crds(d, &format!("{full}/charts/{}", d.name()), out);
    }
}

struct Renderable {
    path: String,
    /// How many `/` the path has (what the execution order sorts by first).
    depth: usize,
    file: TemplateFile,
    vals: Rc<MapCell>,
    base_path: String,
}

fn collect(
    chart: &Chart,
    parent: Option<&Rc<MapCell>>,
    full: String,
    root_vals: &Value,
    release: &Value,
    caps: &Value,
    out: &mut Vec<Renderable>,
) -> Value {
    let mut next = Map::new();
    next.insert("Chart".into(), chart_value(&chart.metadata, parent.is_none()));
    next.insert(
        "Files".into(),
        Value::Object(Rc::new(Files {
            files: Rc::new(chart.files.to_vec()),
        })),
    );
    next.insert("Release".into(), release.clone());
    next.insert("Capabilities".into(), caps.clone());
    let values = match parent {
        None => root_vals.clone(),
        Some(p) => match p.borrow().get("Values") {
            Some(Value::Map(pv)) => match pv.borrow().get(chart.name()) {
                Some(Value::Map(sub)) => Value::values_map(sub.borrow().clone()),
                _ => Value::values_map(Map::new()),
            },
            _ => Value::values_map(Map::new()),
        },
    };
    next.insert("Values".into(), values);
    next.insert("Subcharts".into(), Value::map(Map::new()));
    let Value::Map(next) = Value::values_map(next) else {
        unreachable!("values_map makes a map")
    };
    let mut subcharts = Map::new();
    for d in &chart.dependencies {
        let v = collect(
            d,
            Some(&next),
            format!("{full}/charts/{}", d.name()),
            root_vals,
            release,
            caps,
            out,
        );
        subcharts.insert(d.name().to_string(), v);
    }
    next.borrow_mut()
        .insert("Subcharts".into(), Value::map(subcharts));
    for file in &chart.templates {
        let name = &file.name;
        if chart.metadata.is_library() && !is_partial(name) {
            continue;
        }
        let path = format!("{full}/{name}");
        out.push(Renderable {
            depth: path.bytes().filter(|&b| b == b'/').count(),
            path,
            file: file.clone(),
            vals: next.clone(),
            base_path: format!("{full}/templates"),
        });
    }
    Value::Map(next)
}

/// One executed template: its text and, unless it is NOTES.txt, its documents with their heads.
struct RenderedFile {
    path: String,
    text: String,
    docs: Vec<(String, Head)>,
}

/// Whether a template is a partial (its file name starts with `_`): parsed, never rendered on its own.
fn is_partial(path: &str) -> bool {
    path.rsplit('/').next().unwrap_or(path).starts_with('_')
}

/// Rendered text handed to the thread that reads heads at a time.
const HEADS_BATCH_BYTES: usize = 8 << 10;

/// Template text from which a chart's output is split and read for heads on a thread of its own.
const HEADS_ON_THREAD_BYTES: usize = 32 << 10;

/// A template's output split into documents, each with its head (NOTES.txt keeps its text instead);
/// and the text, when it is no longer needed.
fn read_heads(path: String, text: String) -> (RenderedFile, Option<String>) {
    if path.ends_with("NOTES.txt") {
        let file = RenderedFile {
            path,
            text,
            docs: Vec::new(),
        };
        return (file, None);
    }
    let docs = split_manifests(&text)
        .into_iter()
        .map(|d| {
            let h = parse_head(&path, &d);
            (d, h)
        })
        .collect();
    let file = RenderedFile {
        path,
        text: String::new(),
        docs,
    };
    (file, Some(text))
}

/// Executes every template but the partials. Their output is split into documents and the documents'
/// heads read, for a chart of some size on a second thread while the next templates execute (execution
/// is single-threaded: values and templates are shared through `Rc`).
fn execute_all(
    mut tpls: Vec<Renderable>,
    limits: Limits,
    exit_after: bool,
) -> Result<Vec<RenderedFile>, ChartError> {
    // Helm parses (and executes) templates deepest path first, then in reverse lexical order, so a
    // parent chart's definitions, parsed last, override its subcharts'.
    tpls.sort_by(|a, b| b.depth.cmp(&a.depth).then_with(|| b.path.cmp(&a.path)));
    let mut set = Templates::new(Rc::new(helm_funcs_shared().clone()), MissingKey::Zero);
    // Between files only `.Template` changes from here, and reads of it are watched.
    set.reuse_includes();
    // The files were parsed under their names inside their charts, most of them on the threads that
    // loading started, in load order (parent charts first): what those have not reached is parsed here,
    // from the other end.
    //
    // A file that cannot define templates (its text has neither `define` nor `block`) only adds its own
    // tree, under its path: that one is made when first looked up (executed, or included by path), so
    // execution starts once the files that define are parsed, the others parsed alongside. Helm parses
    // everything first, so a parse error is still what a render reports, over any execution error.
    for t in &tpls {
        let parse_name: Arc<str> = t.path.as_str().into();
        let text = &t.file.text;
        if memchr::memmem::find(text.as_bytes(), b"define").is_none()
            && memchr::memmem::find(text.as_bytes(), b"block").is_none()
            && !set.contains(&t.path)
        {
            let (file, path) = (t.file.clone(), t.path.clone());
            set.add_lazy(t.path.clone(), move || {
                let (tree, _) = file.parsed().as_ref().ok()?;
                Some(tree.renamed(Some(&path), &parse_name))
            });
            continue;
        }
        let Ok((tree, defs)) = t.file.parsed() else {
            // A file before this one may not parse either: Helm reports the first.
            return Err(first_parse_error(&tpls).unwrap_or_else(|| parse_error(t)));
        };
        for d in defs {
            set.add_tree(d.renamed(None, &parse_name));
        }
        set.add_tree(tree.renamed(Some(&t.path), &parse_name));
    }
    let set = Rc::new(set);
    let run = |t: &Renderable| -> Result<Option<(String, String)>, ChartError> {
        if is_partial(&t.path) {
            return Ok(None);
        }
        let mut tm = Map::new();
        tm.insert("Name".into(), Value::str(t.path.as_str()));
        tm.insert("BasePath".into(), Value::str(t.base_path.as_str()));
        t.vals
            .borrow_mut()
            .insert("Template".into(), Value::template_map(tm));
        let text = crate::template::execute(&set, &t.path, Value::Map(t.vals.clone()), limits)
            .map_err(|e| ChartError::Template(helm_exec_error(&t.path, &e)))?;
        let text = if text.contains("<no value>") {
            text.replace("<no value>", "")
        } else {
            text
        };
        Ok(Some((t.path.clone(), text)))
    };
    // A small chart's heads are read as it goes: a thread would cost more than it saves.
    let template_bytes: usize = tpls.iter().map(|t| t.file.text.len()).sum();
    let rendered = if template_bytes < HEADS_ON_THREAD_BYTES {
        let mut out = Vec::new();
        tpls.iter()
            .try_for_each(|t| {
                if let Some((path, text)) = run(t)? {
                    out.push(read_heads(path, text).0);
                }
                Ok(())
            })
            .map(|()| out)
    } else {
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::channel::<Vec<(String, String)>>();
            // Texts go back to the thread that made them, to be freed there: freeing them on the
            // second thread would wait on the first one's allocator lock, and keeping them would add
            // to the peak.
            let (back, returned) = std::sync::mpsc::channel::<String>();
            let heads = scope.spawn(move || {
                rx.into_iter()
                    .flatten()
                    .map(|(path, text)| {
                        let (file, text) = read_heads(path, text);
                        if let Some(text) = text {
                            let _ = back.send(text);
                        }
                        file
                    })
                    .collect::<Vec<_>>()
            });
            // Files go in batches: each wakes the waiting thread once, where a file each woke it
            // some 90 times for a large chart.
            let (mut batch, mut batch_bytes) = (Vec::new(), 0);
            for t in &tpls {
                returned.try_iter().for_each(drop);
                if let Some(file) = run(t)? {
                    batch_bytes += file.1.len();
                    batch.push(file);
                    if batch_bytes >= HEADS_BATCH_BYTES {
                        // The receiver lives until every sender is gone: this send cannot fail.
                        let _ = tx.send(std::mem::take(&mut batch));
                        batch_bytes = 0;
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            drop(tx);
            Ok(heads.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        })
    };
    // Every file's parse, as Helm checks them before executing any.
    if let Some(e) = first_parse_error(&tpls) {
        return Err(e);
    }
    if exit_after {
        std::mem::forget((set, tpls));
    }
    rendered
}

/// The parse error of the first template (in parse order) that does not parse, if any.
fn first_parse_error(tpls: &[Renderable]) -> Option<ChartError> {
    tpls.iter().find(|t| t.file.parsed().is_err()).map(parse_error)
}

/// The parse error of a template that does not parse, worded as Helm words it.
fn parse_error(t: &Renderable) -> ChartError {
    // Parse again under the full name for the error text.
    let e = super::parse_file(&t.path, &t.file.text)
        .err()
        .unwrap_or_else(|| ParseError(format!("template: {}: parse failed", t.path)));
    ChartError::Template(helm_parse_error(&e.0))
}

/// One link of an execution error's chain, as Helm's engine prints it.
#[derive(PartialEq, Eq)]
struct TraceableError {
    location: String,
    message: String,
    executed: String,
}

/// One error of Go's chain (`errors.Unwrap`), parsed as Helm's engine parses it, with the text of the
/// next one: `error calling F: %w` wraps the function's error, other execution errors wrap nothing
/// that prints differently. `None` when Helm could not parse it.
fn parse_exec_link(s: &str) -> Option<(TraceableError, Option<&str>)> {
    let remainder = s.strip_prefix("template: ")?;
    if remainder.starts_with("no template ") {
        let t = TraceableError {
            location: String::new(),
            message: s.to_owned(),
            executed: String::new(),
        };
        return Some((t, None));
    }
    let cut_chained = |m: &str| m.find(" template:").map_or(m, |i| &m[..i]).to_owned();
    if let Some((template, after)) = remainder.split_once(": executing ") {
        let func_and_rest = after.strip_prefix('"')?;
        let end = func_and_rest.find('"')?;
        let function = &func_and_rest[..end];
        let (location, full) = func_and_rest[end + 1..]
            .strip_prefix(" at <")?
            .split_once(">: ")?;
        let next = full
            .strip_prefix("error calling ")
            .and_then(|r| r.split_once(": "))
            .map(|(_, inner)| inner);
        let t = TraceableError {
            location: template.to_owned(),
            message: cut_chained(full),
            executed: format!("executing \"{function}\" at <{location}>:"),
        };
        return Some((t, next));
    }
    let sep = remainder.rfind(": ")?;
    let t = TraceableError {
        location: remainder[..sep].to_owned(),
        message: cut_chained(&remainder[sep + 2..]),
        executed: String::new(),
    };
    Some((t, None))
}

/// Helm's `reformatExecErrorMsg`: `fail` and `required` become `execution error at (FILE:LINE:COL):
/// MESSAGE`; other errors whose whole chain it can parse become its multi-line trace; the rest stay as
/// Go printed them.
pub(crate) fn helm_exec_error(file: &str, e: &str) -> String {
    use crate::funcs::{HELM_ERR_END, HELM_ERR_START};
    let tokens: Vec<&str> = e.splitn(3, ": ").collect();
    if tokens.len() != 3 {
        return format!("execution error in ({file}): {e}");
    }
    if let Some(start) = tokens[2].find(HELM_ERR_START)
        && let Some(end) = tokens[2].rfind(HELM_ERR_END)
        && end >= start + HELM_ERR_START.len()
    {
        return format!(
            "execution error at ({}): {}",
            tokens[1],
            &tokens[2][start + HELM_ERR_START.len()..end]
        );
    }
    let mut links: Vec<TraceableError> = Vec::new();
    let mut current = Some(e);
    while let Some(text) = current {
        let Some((link, next)) = parse_exec_link(text) else {
            return e.to_owned();
        };
        if links.last() != Some(&link) {
            links.push(link);
        }
        current = next;
    }
    let mut out = String::new();
    for l in &links {
        if !l.location.is_empty() {
            out.push_str(&format!("{}\n  ", l.location));
        }
        if !l.executed.is_empty() {
            out.push_str(&format!("{}\n    ", l.executed));
        }
        if !l.message.is_empty() {
            out.push_str(&format!("{}\n", l.message));
        }
    }
    out.trim().to_owned()
}

/// Helm's form of a parse error: `template: NAME:LINE: MSG` becomes `parse error at (NAME:LINE): MSG`.
fn helm_parse_error(e: &str) -> String {
    let rest = e.strip_prefix("template: ").unwrap_or(e);
    // The location ends at the first ": " that follows a line number.
    let mut search = 0;
    while let Some(i) = rest[search..].find(": ") {
        let at = search + i;
        let loc = &rest[..at];
        if loc
            .rsplit(':')
            .next()
            .is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
        {
            return format!("parse error at ({loc}): {}", &rest[at + 2..]);
        }
        search = at + 2;
    }
    format!("parse error: {rest}")
}

/// Helm's `SplitManifests`: documents at `---` lines, trimmed, empty ones dropped.
///
/// Helm splits with the regex `(?:^|\s*\n)---\s*` (Go's ASCII `\s`); this is that split as a scan,
/// which saves every render compiling it.
fn split_manifests(text: &str) -> Vec<String> {
    let t = text.trim();
    let b = t.as_bytes();
    let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c');
    let skip_ws = |mut i: usize| {
        while i < b.len() && ws(b[i]) {
            i += 1;
        }
        i
    };
    let mut pieces = Vec::new();
    let mut start = 0;
    if t.starts_with("---") {
        pieces.push("");
        start = skip_ws(3);
    }
    let mut from = start;
    let sep = memchr::memmem::Finder::new("\n---");
    while let Some(i) = sep.find(&b[from..]) {
        // The separator takes the whitespace before the line break and after the dashes.
        let q = from + i;
        let mut p = q;
        while p > from && ws(b[p - 1]) {
            p -= 1;
        }
        pieces.push(&t[start..p]);
        start = skip_ws(q + 4);
        from = start;
    }
    pieces.push(&t[start..]);
    pieces
        .into_iter()
        .filter(|d| !d.is_empty())
        .map(|d| d.trim().to_string())
        .collect()
}

/// Helm's `SortManifests`: documents of the files (in path order) with their heads (an invalid document
/// fails the render, as in Helm), split into hooks and the rest, each sorted in install order.
fn sort_manifests(
    files: Vec<(String, Vec<(String, Head)>)>,
) -> Result<(Vec<Manifest>, Vec<Manifest>), ChartError> {
    let mut hooks = Vec::new();
    let mut generic = Vec::new();
    for (path, doc, head) in files
        .into_iter()
        .filter(|(path, _)| !is_partial(path))
        .flat_map(|(path, docs)| docs.into_iter().map(move |(d, h)| (path.clone(), d, h)))
    {
        let (kind, annotations) = head?;
        let hook = annotations
            .iter()
            .find(|(k, _)| k == "helm.sh/hook")
            .map(|(_, v)| v.clone());
        let Some(hook) = hook else {
            generic.push(Manifest {
                path,
                content: doc,
                kind,
                hook_events: Vec::new(),
            });
            continue;
        };
        let events: Vec<String> = hook.split(',').map(|e| e.trim().to_lowercase()).collect();
        if events.iter().any(|e| !HOOK_EVENTS.contains(&e.as_str())) {
            // Unknown hook types are dropped, as Helm does.
            continue;
        }
        hooks.push(Manifest {
            path,
            content: doc,
            kind,
            hook_events: events,
        });
    }
    let order = |k: &str| INSTALL_ORDER.iter().position(|o| *o == k);
    let less = |a: &Manifest, b: &Manifest| -> std::cmp::Ordering {
        match (order(&a.kind), order(&b.kind)) {
            (None, None) => a.kind.cmp(&b.kind),
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
            (Some(x), Some(y)) => x.cmp(&y),
        }
    };
    generic.sort_by(less);
    hooks.sort_by(less);
    Ok((hooks, generic))
}

type Head = Result<(String, Vec<(String, String)>), ChartError>;

/// The head of a document from the YAML event stream alone, without building its value: `None` when
/// the document has anything unusual (not a mapping, aliases, tags, complex keys, type errors, YAML
/// errors), which the full parse then handles and words.
fn fast_head(doc: &str) -> Option<(String, Vec<(String, String)>)> {
    use granit_parser::{Event, Parser};
    let mut events = Parser::new_from_str(doc).map(|r| r.ok().map(|(e, _)| e));
    let mut next = || events.next().flatten();
    // Skips the rest of a node whose first event was `first`.
    fn skip<'a>(first: &Event<'a>, next: &mut dyn FnMut() -> Option<Event<'a>>) -> Option<()> {
        let mut depth = match first {
            Event::MappingStart(..) | Event::SequenceStart(..) => 1usize,
            Event::Scalar(_, _, _, None) => return Some(()),
            _ => return None,
        };
        while depth > 0 {
            match next()? {
                Event::MappingStart(..) | Event::SequenceStart(..) => depth += 1,
                Event::MappingEnd | Event::SequenceEnd => depth -= 1,
                Event::Scalar(_, _, _, None) => {}
                _ => return None,
            }
        }
        Some(())
    }
    fn scalar_text(e: &Event<'_>) -> Option<String> {
        match e {
            Event::Scalar(v, granit_parser::ScalarStyle::Plain, _, None)
                if matches!(&**v, "" | "~" | "null" | "Null" | "NULL") =>
            {
                Some(String::new())
            }
            Event::Scalar(v, _, _, None) => Some(v.to_string()),
            _ => None,
        }
    }
    if !matches!(next()?, Event::StreamStart) || !matches!(next()?, Event::DocumentStart(..)) {
        return None;
    }
    let (mut kind, mut annotations) = (String::new(), Vec::new());
    match next()? {
        Event::MappingStart(..) => {}
        _ => return None,
    }
    loop {
        let key = match next()? {
            Event::MappingEnd => break,
            Event::Scalar(k, _, _, None) => k,
            _ => return None,
        };
        let value = next()?;
        match &*key {
            "kind" => kind = scalar_text(&value)?,
            "apiVersion" => {
                scalar_text(&value)?;
            }
            "metadata" => {
                if !matches!(value, Event::MappingStart(..)) {
                    return None;
                }
                annotations.clear();
                loop {
                    let k = match next()? {
                        Event::MappingEnd => break,
                        Event::Scalar(k, _, _, None) => k,
                        _ => return None,
                    };
                    let v = next()?;
                    match &*k {
                        "name" => {
                            scalar_text(&v)?;
                        }
                        "annotations" => {
                            if !matches!(v, Event::MappingStart(..)) {
                                return None;
                            }
                            annotations.clear();
                            loop {
                                let ak = match next()? {
                                    Event::MappingEnd => break,
                                    Event::Scalar(k, _, _, None) => k.to_string(),
                                    _ => return None,
                                };
                                let av = next()?;
                                let text = scalar_text(&av)?;
                                annotations.retain(|(k, _): &(String, String)| *k != ak);
                                annotations.push((ak, text));
                            }
                        }
                        _ => skip(&v, &mut next)?,
                    }
                }
            }
            _ => skip(&value, &mut next)?,
        }
    }
    if !matches!(next()?, Event::DocumentEnd) || !matches!(next()?, Event::StreamEnd) {
        return None;
    }
    Some((kind, annotations))
}

/// The head of a document the fast YAML reader reads (which also proves it valid YAML, building only the
/// head's fields), when its fields are strings or null; `None` leaves it to [`fast_head`].
fn simple_head_of(doc: &str) -> Option<(String, Vec<(String, String)>)> {
    use gitops_core::yaml::simple::{Simple, parse_mapping_keys};
    fn text(v: &Simple<'_>) -> Option<String> {
        match v {
            Simple::Null => Some(String::new()),
            Simple::Str(s) => Some(s.to_string()),
            _ => None,
        }
    }
    let head_keys = ["kind", "apiVersion", "metadata"];
    let Simple::Map(top) = parse_mapping_keys(doc, &crate::funcs::helm_yaml_limits(), &head_keys)? else {
        return None;
    };
    let (mut kind, mut annotations) = (String::new(), Vec::new());
    for (k, v) in &top {
        match &**k {
            "kind" => kind = text(v)?,
            "apiVersion" => {
                text(v)?;
            }
            "metadata" => {
                let m = match v {
                    Simple::Map(m) => m,
                    Simple::Null => continue,
                    _ => return None,
                };
                for (k, v) in m {
                    match &**k {
                        "name" => {
                            text(v)?;
                        }
                        // `annotations:` with nothing after it (a template's empty block) is null.
                        "annotations" => match v {
                            Simple::Map(a) => {
                                for (k, v) in a {
                                    annotations.push((k.to_string(), text(v)?));
                                }
                            }
                            Simple::Null => {}
                            _ => return None,
                        },
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some((kind, annotations))
}

fn parse_head(path: &str, doc: &str) -> Head {
    if let Some(h) = simple_head_of(doc).or_else(|| fast_head(doc)) {
        return Ok(h);
    }
    let head = gitops_core::yaml::from_str_multi(doc, &crate::funcs::helm_yaml_limits())
        .map_err(|e| {
            ChartError::Manifest(format!(
                "YAML parse error on {path}: error converting YAML to JSON: {}",
                crate::funcs::go_yaml_error(doc, &e)
            ))
        })?
        .into_iter()
        .next()
        .unwrap_or(serde_json::Value::Null);
    simple_head(&head).map_err(|e| {
        ChartError::Manifest(format!(
            "YAML parse error on {path}: error unmarshaling JSON: while decoding JSON: {e}"
        ))
    })
}

/// The fields of Helm's `SimpleHead`, read as `sigs.k8s.io/yaml` reads them into a struct: scalars
/// become strings for string fields, only a mapping or list where a string belongs is an error.
fn simple_head(v: &serde_json::Value) -> Result<(String, Vec<(String, String)>), String> {
    use serde_json::Value as J;
    fn text(v: &J, field: &str) -> Result<String, String> {
        match v {
            J::Null => Ok(String::new()),
            J::String(s) => Ok(s.clone()),
            J::Number(n) => Ok(n.to_string()),
            J::Bool(b) => Ok(b.to_string()),
            other => Err(format!(
                "json: cannot unmarshal {} into Go struct field {field} of type string",
                super::json_kind(other)
            )),
        }
    }
    let o = match v {
        J::Null => return Ok((String::new(), Vec::new())),
        J::Object(o) => o,
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type util.SimpleHead",
                super::json_kind(other)
            ));
        }
    };
    let kind = match o.get("kind") {
        Some(k) => text(k, "SimpleHead.kind")?,
        None => String::new(),
    };
    if let Some(av) = o.get("apiVersion") {
        text(av, "SimpleHead.apiVersion")?;
    }
    let mut annotations = Vec::new();
    match o.get("metadata") {
        None | Some(J::Null) => {}
        Some(J::Object(m)) => {
            if let Some(n) = m.get("name") {
                text(n, ".metadata.name")?;
            }
            match m.get("annotations") {
                None | Some(J::Null) => {}
                Some(J::Object(a)) => {
                    for (k, v) in a {
                        annotations.push((k.clone(), text(v, ".metadata.annotations")?));
                    }
                }
                Some(other) => {
                    return Err(format!(
                        "json: cannot unmarshal {} into Go struct field .metadata.annotations of type map[string]string",
                        super::json_kind(other)
                    ));
                }
            }
        }
        Some(other) => {
            return Err(format!(
                "json: cannot unmarshal {} into Go struct field SimpleHead.metadata of type struct",
                super::json_kind(other)
            ));
        }
    }
    Ok((kind, annotations))
}

/// `.Files`: the chart's non-template files.
struct Files {
    files: Rc<Vec<(String, FileData)>>,
}

impl Files {
    fn get(&self, name: &str) -> Option<Rc<[u8]>> {
        self.files.iter().find(|(n, _)| n == name).map(|(_, d)| d.bytes())
    }
}

impl Object for Files {
    fn type_name(&self) -> &str {
        "files.Files"
    }
    fn has_method(&self, name: &str) -> bool {
        matches!(
            name,
            "Get" | "GetBytes" | "Glob" | "Lines" | "AsConfig" | "AsSecrets"
        )
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let arg = |i: usize| -> Result<String, String> {
            match args.get(i) {
                Some(Value::Str(s)) => Ok(s.to_string()),
                Some(v) => Err(format!(
                    "wrong type for value; expected string; got {}",
                    v.type_name()
                )),
                None => Err(format!("wrong number of args for {name}: want 1 got 0")),
            }
        };
        let want = if matches!(name, "AsConfig" | "AsSecrets") {
            0
        } else {
            1
        };
        if args.len() != want {
            return Some(Err(format!(
                "wrong number of args for {name}: want {want} got {}",
                args.len()
            )));
        }
        Some(match name {
            "Get" => arg(0).map(|n| {
                Value::str(
                    self.get(&n)
                        .map(|d| super::text_of(&d).into_owned())
                        .unwrap_or_default(),
                )
            }),
            "GetBytes" => arg(0).map(|n| Value::Bytes(self.get(&n).unwrap_or_else(|| Rc::from(&[][..])))),
            "Lines" => arg(0).map(|n| match self.get(&n) {
                None => Value::list(Vec::new()),
                Some(d) => {
                    let s = super::text_of(&d);
                    let s = s.strip_suffix('\n').unwrap_or(&s);
                    Value::list(s.split('\n').map(Value::from).collect())
                }
            }),
            "Glob" => arg(0).map(|p| {
                let files: Vec<(String, FileData)> = self
                    .files
                    .iter()
                    .filter(|(n, _)| super::load::glob_match(&p, n, true))
                    .cloned()
                    .collect();
                Value::Object(Rc::new(Files {
                    files: Rc::new(files),
                }))
            }),
            "AsConfig" | "AsSecrets" => {
                use base64::Engine as _;
                let mut m = Map::new();
                for (n, d) in self.files.iter() {
                    let d = d.bytes();
                    let base = n.rsplit('/').next().unwrap_or(n).to_string();
                    let v = if name == "AsConfig" {
                        super::text_of(&d).into_owned()
                    } else {
                        base64::engine::general_purpose::STANDARD.encode(&d)
                    };
                    m.insert(base, Value::str(v));
                }
                if self.files.is_empty() {
                    Ok(Value::str(""))
                } else {
                    Ok(Value::str(
                        crate::funcs::to_yaml(&Value::map(m)).unwrap_or_default(),
                    ))
                }
            }
            _ => return None,
        })
    }
    fn entries(&self) -> Option<Vec<(Value, Value)>> {
        let mut e: Vec<(Value, Value)> = self
            .files
            .iter()
            .map(|(n, d)| (Value::str(n.as_str()), Value::Bytes(d.bytes())))
            .collect();
        e.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
        Some(e)
    }
    fn display(&self) -> String {
        let m: Map = self
            .files
            .iter()
            .map(|(n, d)| (n.clone(), Value::Bytes(d.bytes())))
            .collect();
        crate::template::fmt::sprint_value(&Value::map(m))
    }
    fn to_data(&self) -> Value {
        Value::map(
            self.files
                .iter()
                .map(|(n, d)| (n.clone(), Value::Bytes(d.bytes())))
                .collect(),
        )
    }
}

/// `.Capabilities`.
struct Capabilities {
    kube: Value,
    apis: Value,
    helm: Value,
}

impl Capabilities {
    fn new(kube_version: &str, extra: &[String]) -> Capabilities {
        let v = kube_version.trim_start_matches('v');
        let mut parts = v.split('.');
        let major = parts.next().unwrap_or("1").to_string();
        let minor = parts.next().unwrap_or("0").to_string();
        let version = format!("v{v}");
        let mut apis: Vec<String> = DEFAULT_API_VERSIONS.iter().map(|s| s.to_string()).collect();
        apis.extend(extra.iter().cloned());
        Capabilities {
            kube: Value::Object(Rc::new(KubeVersion {
                version,
                major,
                minor,
            })),
            apis: Value::Object(Rc::new(VersionSet(apis))),
            helm: Value::Object(Rc::new(HelmVersion)),
        }
    }

    /// A cluster's: its version as the server reports it, its API versions (and `--api-versions`).
    fn of_cluster(c: ClusterCapabilities, extra: &[String]) -> Capabilities {
        let mut apis = c.api_versions;
        apis.extend(extra.iter().cloned());
        Capabilities {
            kube: Value::Object(Rc::new(KubeVersion {
                version: c.git_version,
                major: c.major,
                minor: c.minor,
            })),
            apis: Value::Object(Rc::new(VersionSet(apis))),
            helm: Value::Object(Rc::new(HelmVersion)),
        }
    }
}

impl Object for Capabilities {
    fn type_name(&self) -> &str {
        "*common.Capabilities"
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "KubeVersion" => Some(self.kube.clone()),
            "APIVersions" => Some(self.apis.clone()),
            "HelmVersion" => Some(self.helm.clone()),
            _ => None,
        }
    }
    fn display(&self) -> String {
        use crate::template::fmt::sprint_value as p;
        format!("&{{{} {} {}}}", p(&self.kube), p(&self.apis), p(&self.helm))
    }
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        Some(vec![
            ("KubeVersion".into(), self.kube.clone()),
            ("APIVersions".into(), self.apis.clone()),
            ("HelmVersion".into(), self.helm.clone()),
        ])
    }
    fn to_data(&self) -> Value {
        let mut m = Map::new();
        m.insert("KubeVersion".into(), self.kube.clone());
        m.insert("APIVersions".into(), self.apis.clone());
        m.insert("HelmVersion".into(), self.helm.clone());
        Value::map(m)
    }
}

/// `.Capabilities.HelmVersion`: the build of Helm this renders like.
struct HelmVersion;

const HELM_VERSION_FIELDS: &[(&str, &str, &str)] = &[
    ("Version", "version", "v4.1.4"),
    (
        "GitCommit",
        "git_commit",
        "05fa37973dc9e42b76e1d2883494c87174b6074f",
    ),
    ("GitTreeState", "git_tree_state", "clean"),
    ("GoVersion", "go_version", "go1.25.9"),
    ("KubeClientVersion", "kube_client_version", "v1.35"),
];

impl Object for HelmVersion {
    fn type_name(&self) -> &str {
        "version.BuildInfo"
    }
    fn field(&self, name: &str) -> Option<Value> {
        HELM_VERSION_FIELDS
            .iter()
            .find(|(f, _, _)| *f == name)
            .map(|(_, _, v)| Value::str(*v))
    }
    fn display(&self) -> String {
        format!(
            "{{{}}}",
            HELM_VERSION_FIELDS
                .iter()
                .map(|(_, _, v)| *v)
                .collect::<Vec<_>>()
                .join(" ")
        )
    }
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        Some(
            HELM_VERSION_FIELDS
                .iter()
                .map(|(_, j, v)| ((*j).to_string(), Value::str(*v)))
                .collect(),
        )
    }
    fn to_data(&self) -> Value {
        Value::map(
            HELM_VERSION_FIELDS
                .iter()
                .map(|(_, j, v)| ((*j).to_string(), Value::str(*v)))
                .collect(),
        )
    }
}

struct KubeVersion {
    version: String,
    major: String,
    minor: String,
}

impl Object for KubeVersion {
    fn type_name(&self) -> &str {
        "common.KubeVersion"
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(Value::str(match name {
            "Version" | "GitVersion" | "String" => self.version.as_str(),
            "Major" => self.major.as_str(),
            "Minor" => self.minor.as_str(),
            _ => return None,
        }))
    }
    fn display(&self) -> String {
        format!(
            "{{{} {} {} {}}}",
            self.version, self.version, self.major, self.minor
        )
    }
    fn print(&self) -> String {
        self.version.clone()
    }
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        Some(vec![
            ("Version".into(), Value::str(self.version.as_str())),
            ("Major".into(), Value::str(self.major.as_str())),
            ("Minor".into(), Value::str(self.minor.as_str())),
        ])
    }
    fn to_data(&self) -> Value {
        let mut m = Map::new();
        m.insert("Version".into(), Value::str(self.version.as_str()));
        m.insert("Major".into(), Value::str(self.major.as_str()));
        m.insert("Minor".into(), Value::str(self.minor.as_str()));
        Value::map(m)
    }
}

struct VersionSet(Vec<String>);

impl Object for VersionSet {
    fn type_name(&self) -> &str {
        "common.VersionSet"
    }
    fn has_method(&self, name: &str) -> bool {
        name == "Has"
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        if name != "Has" {
            return None;
        }
        Some(match args {
            [Value::Str(s)] => Ok(Value::Bool(self.0.iter().any(|v| v == &**s))),
            [v] => Err(format!(
                "wrong type for value; expected string; got {}",
                v.type_name()
            )),
            _ => Err(format!("wrong number of args for Has: want 1 got {}", args.len())),
        })
    }
    fn entries(&self) -> Option<Vec<(Value, Value)>> {
        Some(
            self.0
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), Value::str(v.as_str())))
                .collect(),
        )
    }
    fn display(&self) -> String {
        format!("[{}]", self.0.join(" "))
    }
    fn to_data(&self) -> Value {
        Value::list(self.0.iter().map(|v| Value::str(v.as_str())).collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn release_names_are_checked_as_helm_checks_them() {
        // Helm: ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$, at most 53 bytes.
        for ok in ["a", "kp", "a-b", "a.b", "1a", "a--b.c1", "0", &"a".repeat(53)] {
            assert!(super::validate_release_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "A",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a.",
            "a_b",
            "a b",
            "é",
            "a.-b",
            &"a".repeat(54),
        ] {
            assert!(super::validate_release_name(bad).is_err(), "{bad}");
        }
        // Every short name over a small alphabet, against the regex itself.
        let re =
            regex::Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").unwrap();
        let alphabet = ['a', '0', '-', '.', 'A', '_'];
        let mut names = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = names
                .iter()
                .filter(|n| n.len() == names.last().map_or(0, String::len))
                .flat_map(|n| alphabet.iter().map(move |c| format!("{n}{c}")))
                .collect();
            names.extend(longer);
        }
        for n in &names {
            let expected = !n.is_empty() && re.is_match(n);
            assert_eq!(super::validate_release_name(n).is_ok(), expected, "{n:?}");
        }
    }

    #[test]
    fn manifests_split_as_helms_regex_splits_them() {
        let re = regex::Regex::new(r"(?:^|[\t\n\x0c\r ]*\n)---[\t\n\x0c\r ]*").unwrap();
        let by_regex = |t: &str| -> Vec<String> {
            re.split(t.trim())
                .filter(|d| !d.is_empty())
                .map(|d| d.trim().to_string())
                .collect()
        };
        let pieces = [
            "---", "\n", " ", "a", "-", "\t", "\r\n", "x: y", "--", "\u{a0}", "# c",
        ];
        let mut seed = 7u64;
        for _ in 0..20_000 {
            let mut t = String::new();
            for _ in 0..seed % 12 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                t.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            assert_eq!(super::split_manifests(&t), by_regex(&t), "{t:?}");
        }
    }
}
