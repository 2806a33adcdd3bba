//! [`SsaApplier`]: Flux's server-side apply on a [`kube::Client`].

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{StreamExt, stream};
use gitops_core::{Action, Applier, ApplyError, ApplyOptions, BoxError, Change, ChangeSet, ObjectId};
use kube::{
    Api, Client,
    api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams},
    core::{ApiResource, GroupVersionKind},
    discovery::{self, Scope},
};
use serde_json::{Map, Value, json};

use crate::{
    Inventory, diff,
    health::{Health, HealthExpr, Status, health_with},
    stage::{self, Stage},
};

/// The label or annotation that sets how an object is applied (`Override`, `Merge`, `IfNotPresent`,
/// `Ignore`).
pub const SSA_KEY: &str = "kustomize.toolkit.fluxcd.io/ssa";
/// The label or annotation that makes an object be recreated when an immutable field changed
/// (`Enabled`).
pub const FORCE_KEY: &str = "kustomize.toolkit.fluxcd.io/force";
/// The label or annotation that keeps an object from being pruned (`Disabled`).
pub const PRUNE_KEY: &str = "kustomize.toolkit.fluxcd.io/prune";
/// The label or annotation that makes apply and prune leave an object alone (`disabled`).
pub const RECONCILE_KEY: &str = "kustomize.toolkit.fluxcd.io/reconcile";

/// Annotations an apply removes, as Flux does: kubectl's client-side record and Flux v1's checksums.
const STALE_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "kustomize.toolkit.fluxcd.io/checksum",
    "fluxcd.io/sync-checksum",
];
/// Labels an apply removes: Flux v1's garbage-collection mark.
const STALE_LABELS: &[&str] = &["fluxcd.io/sync-gc-mark"];

/// A field manager whose ownership an apply takes over, by name prefix and operation (`None`: both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverrideManager {
    /// A prefix of the manager's name (`kubectl` matches `kubectl-edit` and `kubectl-client-side-apply`).
    pub prefix: String,
    /// `Apply` or `Update`; `None` for both.
    pub operation: Option<String>,
}

impl OverrideManager {
    /// Takes over `prefix`'s fields from operations of `operation` (`None`: any).
    pub fn new(prefix: impl Into<String>, operation: Option<&str>) -> Self {
        Self {
            prefix: prefix.into(),
            operation: operation.map(str::to_owned),
        }
    }
}

/// How an [`SsaApplier`] works.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// How many objects are applied, checked or deleted at once.
    pub concurrency: usize,
    /// How often health is polled while waiting.
    pub poll_interval: Duration,
    /// How long the definitions and class stages may take to become ready before the next stage.
    pub stage_timeout: Duration,
    /// Labels set on every applied object and required on an object before it is pruned.
    pub owner_labels: BTreeMap<String, String>,
    /// The namespace of namespaced objects that name none; without one such objects fail.
    pub default_namespace: Option<String>,
    /// Managers whose fields are taken over, so that manual edits are reverted and fields they set are
    /// removed once the manifests drop them. Flux's defaults: `kubectl` (Apply and Update) and
    /// `before-first-apply`; the applier's own Update entries are always folded in.
    pub override_managers: Vec<OverrideManager>,
    /// CEL health rules for kinds without a built-in one (Flux's `healthCheckExprs`).
    pub health_exprs: Arc<Vec<HealthExpr>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            concurrency: 4,
            poll_interval: Duration::from_secs(2),
            stage_timeout: Duration::from_secs(60),
            owner_labels: BTreeMap::new(),
            default_namespace: None,
            override_managers: vec![
                OverrideManager::new("kubectl", None),
                OverrideManager::new("before-first-apply", Some("Update")),
            ],
            health_exprs: Arc::default(),
        }
    }
}

impl Config {
    /// Sets [`Config::concurrency`] (at least 1).
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Sets [`Config::poll_interval`].
    #[must_use]
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.poll_interval = d;
        self
    }

    /// Sets [`Config::stage_timeout`].
    #[must_use]
    pub fn stage_timeout(mut self, d: Duration) -> Self {
        self.stage_timeout = d;
        self
    }

    /// Adds an owner label.
    #[must_use]
    pub fn owner_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.owner_labels.insert(key.into(), value.into());
        self
    }

    /// Sets [`Config::health_exprs`].
    #[must_use]
    pub fn health_exprs(mut self, exprs: Vec<HealthExpr>) -> Self {
        self.health_exprs = Arc::new(exprs);
        self
    }

    /// Sets [`Config::default_namespace`].
    #[must_use]
    pub fn default_namespace(mut self, ns: impl Into<String>) -> Self {
        self.default_namespace = Some(ns.into());
        self
    }
}

/// One object failed; the message names it.
#[derive(Debug)]
pub struct ObjectError {
    /// `Kind/namespace/name` (or `Kind/name`), as Flux prints objects.
    pub object: String,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for ObjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.message)
    }
}

impl std::error::Error for ObjectError {}

/// Why waiting for health ended without every object being ready.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// An object failed (fail fast).
    #[error("{object} failed: {message}")]
    Failed {
        /// The object, as Flux prints it.
        object: String,
        /// Why.
        message: String,
    },
    /// The timeout passed first.
    #[error("timeout waiting for: [{}]", .pending.iter().map(|(o, h)| format!("{o} status: '{}': {}", h.status, h.message)).collect::<Vec<_>>().join(", "))]
    Timeout {
        /// The objects not ready, with their health.
        pending: Vec<(String, Health)>,
    },
    /// The API server could not be asked.
    #[error("health check request failed")]
    Client(#[source] BoxError),
}

/// What applying one object would do, with the diff from live to the result (Secret values masked).
#[derive(Debug)]
pub struct ObjectDiff {
    /// The object.
    pub id: ObjectId,
    /// `Created`, `Configured`, `Unchanged` or `Skipped`.
    pub action: Action,
    /// The diff, for created and configured objects.
    pub diff: Option<String>,
}

/// `Kind/namespace/name`, or `Kind/name` for cluster-scoped objects, as Flux prints objects.
pub fn display(id: &ObjectId) -> String {
    if id.namespace.is_empty() {
        format!("{}/{}", id.kind, id.name)
    } else {
        format!("{}/{}/{}", id.kind, id.namespace, id.name)
    }
}

/// Live objects listed ahead, by (apiVersion, kind, namespace), then by name.
type Prefetched = HashMap<(String, String, String), HashMap<String, Value>>;

/// From how many objects of one kind in one namespace their live states are listed rather than read one
/// by one.
const LIST_AT: usize = 4;

/// A resolved kind: how to reach its objects.
#[derive(Clone)]
struct Resolved {
    resource: ApiResource,
    namespaced: bool,
}

/// What a dry run found for one object.
struct Plan {
    id: ObjectId,
    version: String,
    api: Api<DynamicObject>,
    desired: Value,
    live: Option<Value>,
    /// The server's dry-run result; `None` when the object is skipped.
    result: Option<Value>,
    /// A dry run failed on an immutable field and the object may be recreated.
    recreate: bool,
}

/// Applies with Flux's server-side apply semantics on a [`kube::Client`]: staged, dry-run first, only
/// drifted objects written, ownership taken from kubectl, results per object.
pub struct SsaApplier {
    client: Client,
    config: Config,
    kinds: Mutex<HashMap<(String, String, String), Resolved>>,
}

impl fmt::Debug for SsaApplier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SsaApplier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn label_or_annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .or_else(|| obj.pointer("/metadata/annotations").and_then(|a| a.get(key)))
        .and_then(Value::as_str)
}

fn has(obj: &Value, key: &str, value: &str) -> bool {
    label_or_annotation(obj, key).is_some_and(|v| v.eq_ignore_ascii_case(value))
}

fn fail(id: &ObjectId, message: impl Into<String>) -> (ObjectId, BoxError) {
    (
        id.clone(),
        Box::new(ObjectError {
            object: display(id),
            message: message.into(),
        }),
    )
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        e => e.to_string(),
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

fn is_immutable(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 422 && s.message.contains("immutable"))
}

/// The id an object would have, as far as it can be told, for reporting what is wrong with it.
fn partial_id(obj: &Value) -> ObjectId {
    let s = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let api_version = s("/apiVersion");
    ObjectId {
        namespace: s("/metadata/namespace"),
        name: s("/metadata/name"),
        group: api_version.rsplit_once('/').map_or("", |(g, _)| g).to_owned(),
        kind: s("/kind"),
    }
}

/// Unions two `FieldsV1` trees.
fn union_fields(a: &mut Value, b: &Value) {
    let (Some(am), Some(bm)) = (a.as_object_mut(), b.as_object()) else {
        return;
    };
    if am.is_empty() && !bm.is_empty() {
        *am = bm.clone();
        am.insert(".".into(), json!({}));
        return;
    }
    if bm.is_empty() {
        if !am.is_empty() {
            am.insert(".".into(), json!({}));
        }
        return;
    }
    for (k, bv) in bm {
        match am.get_mut(k) {
            Some(av) => union_fields(av, bv),
            None => {
                am.insert(k.clone(), bv.clone());
            }
        }
    }
}

impl SsaApplier {
    /// An applier on `client` with Flux's defaults.
    pub fn new(client: Client) -> Self {
        Self::with_config(client, Config::default())
    }

    /// An applier on `client` configured by `config`.
    pub fn with_config(client: Client, config: Config) -> Self {
        Self {
            client,
            config,
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Finds how to reach `group/version` `kind`; kinds only served once a CRD is applied are found as
    /// soon as they are (misses are not cached).
    async fn resolve(&self, group: &str, version: &str, kind: &str) -> Result<Resolved, String> {
        let key = (group.to_owned(), version.to_owned(), kind.to_owned());
        if let Some(r) = self
            .kinds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            return Ok(r.clone());
        }
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) = discovery::pinned_kind(&self.client, &gvk).await.map_err(|e| {
            let gv = if group.is_empty() {
                version.to_owned()
            } else {
                format!("{group}/{version}")
            };
            match e {
                kube::Error::Discovery(_) => format!("no matches for kind \"{kind}\" in version \"{gv}\""),
                e if is_not_found(&e) => format!("no matches for kind \"{kind}\" in version \"{gv}\""),
                e => format!("discovery of {gv} failed: {}", api_message(&e)),
            }
        })?;
        let r = Resolved {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        };
        self.kinds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, r.clone());
        Ok(r)
    }

    fn api_for(&self, r: &Resolved, namespace: &str) -> Api<DynamicObject> {
        if r.namespaced {
            Api::namespaced_with(self.client.clone(), namespace, &r.resource)
        } else {
            Api::all_with(self.client.clone(), &r.resource)
        }
    }

    /// Checks an object, fills in its namespace and owner labels, reads the live object and dry-runs
    /// the apply.
    async fn plan(
        &self,
        mut obj: Value,
        opts: &ApplyOptions,
        known: &Prefetched,
        need_result: bool,
    ) -> Result<Plan, (ObjectId, BoxError)> {
        let pid = partial_id(&obj);
        if !obj.is_object() {
            return Err(fail(&pid, "not a mapping"));
        }
        for (field, p) in [
            ("apiVersion", "/apiVersion"),
            ("kind", "/kind"),
            ("metadata.name", "/metadata/name"),
        ] {
            if obj.pointer(p).and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(fail(&pid, format!("{field} is required")));
            }
        }
        let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_owned();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
        let version = version.to_owned();
        let resolved = self
            .resolve(group, &version, &pid.kind)
            .await
            .map_err(|m| fail(&pid, m))?;
        let meta = obj["metadata"]
            .as_object_mut()
            .ok_or_else(|| fail(&pid, "metadata is not a mapping"))?;
        if resolved.namespaced {
            if meta
                .get("namespace")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                match &self.config.default_namespace {
                    Some(ns) => {
                        meta.insert("namespace".into(), json!(ns));
                    }
                    None => return Err(fail(&pid, "namespace not specified")),
                }
            }
        } else {
            meta.remove("namespace");
        }
        if !self.config.owner_labels.is_empty() {
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                for (k, v) in &self.config.owner_labels {
                    l.insert(k.clone(), json!(v));
                }
            }
        }
        // A conversion webhook's CA bundle belongs to the certificate injector, not to Git.
        if pid.kind == "CustomResourceDefinition"
            && let Some(cc) = obj
                .pointer_mut("/spec/conversion/webhook/clientConfig")
                .and_then(Value::as_object_mut)
        {
            cc.remove("caBundle");
        }
        let id = partial_id(&obj);
        let api = self.api_for(&resolved, &id.namespace);
        let mut plan = Plan {
            id,
            version,
            api,
            desired: obj,
            live: None,
            result: None,
            recreate: false,
        };
        if has(&plan.desired, SSA_KEY, "Ignore") || has(&plan.desired, RECONCILE_KEY, "disabled") {
            return Ok(plan);
        }
        let listed = known.get(&(
            api_version.clone(),
            plan.id.kind.clone(),
            plan.id.namespace.clone(),
        ));
        plan.live = match listed {
            Some(objects) => objects.get(&plan.id.name).cloned(),
            None => match plan.api.get(&plan.id.name).await {
                Ok(o) => Some(serde_json::to_value(o).map_err(|e| fail(&plan.id, e.to_string()))?),
                Err(e) if is_not_found(&e) => None,
                Err(e) => return Err(fail(&plan.id, api_message(&e))),
            },
        };
        if plan.live.is_some() && has(&plan.desired, SSA_KEY, "IfNotPresent") {
            return Ok(plan);
        }
        if plan.live.is_none() && !need_result && !opts.dry_run {
            // A new object: the apply itself validates it, a dry run first would only double the
            // requests. Its result is the manifest.
            plan.result = Some(plan.desired.clone());
            return Ok(plan);
        }
        let pp = PatchParams::apply(&opts.field_manager).force().dry_run();
        match plan
            .api
            .patch(&plan.id.name, &pp, &Patch::Apply(&plan.desired))
            .await
        {
            Ok(o) => plan.result = Some(serde_json::to_value(o).map_err(|e| fail(&plan.id, e.to_string()))?),
            Err(e) if is_immutable(&e) && (opts.force || has(&plan.desired, FORCE_KEY, "Enabled")) => {
                plan.recreate = true;
                plan.result = Some(plan.desired.clone());
            }
            Err(e) => return Err(fail(&plan.id, api_message(&e))),
        }
        Ok(plan)
    }

    /// Lists the live objects of every (kind, namespace) with at least [`LIST_AT`] objects among
    /// `objects`: one request instead of one per object. Kinds that cannot be listed are left to
    /// per-object reads.
    async fn prefetch(&self, objects: &[Value]) -> Prefetched {
        let mut groups: HashMap<(String, String, String), (usize, Option<Resolved>)> = HashMap::new();
        for o in objects {
            let (Some(av), Some(kind)) = (o["apiVersion"].as_str(), o["kind"].as_str()) else {
                continue;
            };
            let (group, version) = av.rsplit_once('/').unwrap_or(("", av));
            let Ok(r) = self.resolve(group, version, kind).await else {
                continue;
            };
            let ns = if r.namespaced {
                match o.pointer("/metadata/namespace").and_then(Value::as_str) {
                    Some(ns) if !ns.is_empty() => ns.to_owned(),
                    _ => match &self.config.default_namespace {
                        Some(ns) => ns.clone(),
                        None => continue,
                    },
                }
            } else {
                String::new()
            };
            let e = groups
                .entry((av.to_owned(), kind.to_owned(), ns))
                .or_insert((0, None));
            e.0 += 1;
            e.1 = Some(r);
        }
        let mut out = Prefetched::new();
        for ((av, kind, ns), (count, r)) in groups {
            let Some(r) = r.filter(|_| count >= LIST_AT) else {
                continue;
            };
            let Ok(list) = self.api_for(&r, &ns).list(&ListParams::default()).await else {
                continue;
            };
            let by_name = list
                .items
                .into_iter()
                .filter_map(|o| {
                    let mut v = serde_json::to_value(o).ok()?;
                    v["apiVersion"] = json!(av);
                    v["kind"] = json!(kind);
                    Some((v.pointer("/metadata/name")?.as_str()?.to_owned(), v))
                })
                .collect();
            out.insert((av, kind, ns), by_name);
        }
        out
    }

    /// The managedFields of `live` with the fields of overridden managers moved to `manager`'s Apply
    /// entry, or `None` when no entry is overridden.
    fn taken_over(&self, live: &Value, manager: &str) -> Option<Vec<Value>> {
        let entries = live.pointer("/metadata/managedFields")?.as_array()?;
        let overridden =
            |e: &Value| {
                let name = e["manager"].as_str().unwrap_or_default();
                let op = e["operation"].as_str().unwrap_or_default();
                (name == manager && op == "Update")
                    || self.config.override_managers.iter().any(|m| {
                        name.starts_with(&m.prefix) && m.operation.as_deref().is_none_or(|o| o == op)
                    })
            };
        if !entries.iter().any(overridden) {
            return None;
        }
        let mut taken = json!({});
        let mut kept = Vec::new();
        let mut mine = None;
        for e in entries {
            if e["manager"] == manager && e["operation"] == "Apply" {
                mine = Some(e.clone());
            } else if overridden(e) {
                union_fields(&mut taken, &e["fieldsV1"]);
            } else {
                kept.push(e.clone());
            }
        }
        let mut mine = mine.unwrap_or_else(|| {
            json!({"manager": manager, "operation": "Apply", "apiVersion": live["apiVersion"],
                   "time": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                   "fieldsType": "FieldsV1", "fieldsV1": {}})
        });
        union_fields(&mut mine["fieldsV1"], &taken);
        kept.insert(0, mine);
        Some(kept)
    }

    /// Applies one planned object for real when it drifted.
    async fn execute(&self, plan: Plan, opts: &ApplyOptions) -> Result<Change, (ObjectId, BoxError)> {
        let change = |action| Change {
            id: plan.id.clone(),
            version: plan.version.clone(),
            action,
        };
        let Some(result) = &plan.result else {
            return Ok(change(Action::Skipped));
        };
        let pp = PatchParams::apply(&opts.field_manager).force();
        if plan.recreate {
            if opts.dry_run {
                return Ok(change(Action::Created));
            }
            plan.api
                .delete(&plan.id.name, &DeleteParams::background())
                .await
                .map_err(|e| fail(&plan.id, api_message(&e)))?;
            self.wait_gone(&plan.api, &plan.id).await?;
            plan.api
                .patch(&plan.id.name, &pp, &Patch::Apply(&plan.desired))
                .await
                .map_err(|e| fail(&plan.id, api_message(&e)))?;
            return Ok(change(Action::Created));
        }
        let Some(live) = &plan.live else {
            if !opts.dry_run {
                plan.api
                    .patch(&plan.id.name, &pp, &Patch::Apply(&plan.desired))
                    .await
                    .map_err(|e| fail(&plan.id, api_message(&e)))?;
            }
            return Ok(change(Action::Created));
        };
        let mut cleaned = false;
        if !opts.dry_run && !has(&plan.desired, SSA_KEY, "Merge") {
            let managed = self.taken_over(live, &opts.field_manager);
            // Flux's cleanup: kubectl's last-applied annotation and the markers of Flux v1.
            let stale = |field: &str, keys: &[&str]| -> Map<String, Value> {
                keys.iter()
                    .filter(|k| {
                        live.pointer(&format!("/metadata/{field}"))
                            .and_then(|m| m.get(**k))
                            .is_some()
                    })
                    .map(|k| ((*k).to_owned(), Value::Null))
                    .collect()
            };
            let annotations = stale("annotations", STALE_ANNOTATIONS);
            let labels = stale("labels", STALE_LABELS);
            if managed.is_some() || !annotations.is_empty() || !labels.is_empty() {
                let mut meta = Map::new();
                if let Some(m) = managed {
                    meta.insert("managedFields".into(), Value::Array(m));
                }
                if !annotations.is_empty() {
                    meta.insert("annotations".into(), Value::Object(annotations));
                }
                if !labels.is_empty() {
                    meta.insert("labels".into(), Value::Object(labels));
                }
                meta.insert(
                    "resourceVersion".into(),
                    live["metadata"]["resourceVersion"].clone(),
                );
                let patch = json!({ "metadata": meta });
                plan.api
                    .patch(
                        &plan.id.name,
                        &PatchParams {
                            field_manager: Some(opts.field_manager.clone()),
                            ..PatchParams::default()
                        },
                        &Patch::Merge(&patch),
                    )
                    .await
                    .map_err(|e| {
                        fail(
                            &plan.id,
                            format!("taking over field ownership: {}", api_message(&e)),
                        )
                    })?;
                cleaned = true;
            }
        }
        if !diff::drifted(live, result) && !cleaned {
            return Ok(change(Action::Unchanged));
        }
        if !diff::drifted(live, result) {
            // Ownership moved, the object did not change: apply so the removed managers' fields that are
            // no longer in the manifests go, but report what the user sees.
            plan.api
                .patch(&plan.id.name, &pp, &Patch::Apply(&plan.desired))
                .await
                .map_err(|e| fail(&plan.id, api_message(&e)))?;
            return Ok(change(Action::Unchanged));
        }
        if !opts.dry_run {
            plan.api
                .patch(&plan.id.name, &pp, &Patch::Apply(&plan.desired))
                .await
                .map_err(|e| fail(&plan.id, api_message(&e)))?;
        }
        Ok(change(Action::Configured))
    }

    async fn wait_gone(&self, api: &Api<DynamicObject>, id: &ObjectId) -> Result<(), (ObjectId, BoxError)> {
        let deadline = tokio::time::Instant::now() + self.config.stage_timeout;
        loop {
            match api.get_opt(&id.name).await {
                Ok(None) => return Ok(()),
                Ok(Some(_)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(self.config.poll_interval).await;
                }
                Ok(Some(_)) => return Err(fail(id, "timed out waiting for the old object to be deleted")),
                Err(e) => return Err(fail(id, api_message(&e))),
            }
        }
    }

    async fn apply_one(
        &self,
        obj: Value,
        opts: &ApplyOptions,
        known: &Prefetched,
    ) -> Result<Change, (ObjectId, BoxError)> {
        let plan = self.plan(obj, opts, known, false).await?;
        self.execute(plan, opts).await
    }

    /// Applies `objects` in stages: CRDs, Namespaces and ClusterRoles first, waiting until they are
    /// ready, then `*Class` kinds, likewise, then the rest. Each object is dry-run first and written only
    /// when it drifted. Failures are collected per object; later objects are still applied.
    ///
    /// # Errors
    /// Never for an object's failure; those are in [`ChangeSet::failed`].
    pub async fn apply_all_staged(
        &self,
        objects: &[Value],
        opts: &ApplyOptions,
    ) -> Result<ChangeSet, ApplyError> {
        let mut sorted: Vec<&Value> = objects.iter().collect();
        let key = |o: &Value| {
            let id = partial_id(o);
            (id.group, id.kind, id.namespace, id.name)
        };
        sorted.sort_by(|a, b| {
            let (ka, kb) = (key(a), key(b));
            stage::compare((&ka.0, &ka.1, &ka.2, &ka.3), (&kb.0, &kb.1, &kb.2, &kb.3))
        });
        let mut out = ChangeSet::default();
        for st in [Stage::Definitions, Stage::Classes, Stage::Rest] {
            let batch: Vec<Value> = sorted
                .iter()
                .filter(|o| {
                    let id = partial_id(o);
                    Stage::of(&id.group, &id.kind) == st
                })
                .map(|o| (*o).clone())
                .collect();
            if batch.is_empty() {
                continue;
            }
            let known = self.prefetch(&batch).await;
            let known = &known;
            let work: Vec<_> = batch
                .into_iter()
                .map(|o| self.apply_one(o, opts, known))
                .collect();
            let results: Vec<_> = stream::iter(work)
                .buffered(self.config.concurrency)
                .collect()
                .await;
            let mut applied = Vec::new();
            for r in results {
                match r {
                    Ok(c) => {
                        if c.action != Action::Skipped {
                            applied.push((c.id.clone(), c.version.clone()));
                        }
                        out.changes.push(c);
                    }
                    Err(f) => out.failed.push(f),
                }
            }
            if st != Stage::Rest
                && !opts.dry_run
                && !applied.is_empty()
                && let Err(e) = self.wait(&applied, self.config.stage_timeout).await
            {
                for (id, _) in &applied {
                    out.failed
                        .push(fail(id, format!("not ready before the next stage: {e}")));
                }
            }
        }
        Ok(out)
    }

    /// What applying `objects` would change, object by object, without changing anything.
    ///
    /// # Errors
    /// Never for an object's failure; those are returned beside the diffs.
    pub async fn diff(
        &self,
        objects: &[Value],
        opts: &ApplyOptions,
    ) -> Result<(Vec<ObjectDiff>, Vec<(ObjectId, BoxError)>), ApplyError> {
        let known = self.prefetch(objects).await;
        let known = &known;
        let work: Vec<_> = objects
            .iter()
            .map(|o| self.plan(o.clone(), opts, known, true))
            .collect();
        let results: Vec<_> = stream::iter(work)
            .buffered(self.config.concurrency)
            .collect()
            .await;
        let mut diffs = Vec::new();
        let mut failed = Vec::new();
        for r in results {
            match r {
                Ok(p) => {
                    let (action, d) = match &p.result {
                        None => (Action::Skipped, None),
                        Some(res) => match &p.live {
                            None => (Action::Created, diff::unified_diff(None, res)),
                            Some(live) if p.recreate || diff::drifted(live, res) => {
                                (Action::Configured, diff::unified_diff(Some(live), res))
                            }
                            Some(_) => (Action::Unchanged, None),
                        },
                    };
                    diffs.push(ObjectDiff {
                        id: p.id,
                        action,
                        diff: d,
                    });
                }
                Err(f) => failed.push(f),
            }
        }
        Ok((diffs, failed))
    }

    /// Fetches an object by id and API version; `None` when it does not exist.
    async fn fetch(
        &self,
        id: &ObjectId,
        version: &str,
    ) -> Result<Option<(Api<DynamicObject>, Value)>, String> {
        let r = self.resolve(&id.group, version, &id.kind).await?;
        let api = self.api_for(&r, &id.namespace);
        match api.get_opt(&id.name).await {
            Ok(Some(o)) => Ok(Some((api, serde_json::to_value(o).map_err(|e| e.to_string())?))),
            Ok(None) => Ok(None),
            Err(e) => Err(api_message(&e)),
        }
    }

    /// Deletes the objects of `ids` (with background propagation) that still carry the owner labels and
    /// do not opt out of pruning; objects in Namespaces go before their Namespace and custom resources
    /// before CRDs. Objects already gone are left out.
    pub async fn prune(&self, ids: &[(ObjectId, String)], opts: &ApplyOptions) -> ChangeSet {
        let mut sorted: Vec<&(ObjectId, String)> = ids.iter().collect();
        sorted.sort_by(|(a, _), (b, _)| {
            stage::compare(
                (&b.group, &b.kind, &b.namespace, &b.name),
                (&a.group, &a.kind, &a.namespace, &a.name),
            )
        });
        let mut out = ChangeSet::default();
        // Stage by stage, so that nothing outlives its Namespace or CRD by a race.
        for st in [Stage::Rest, Stage::Classes, Stage::Definitions] {
            let batch: Vec<&(ObjectId, String)> = sorted
                .iter()
                .copied()
                .filter(|(id, _)| Stage::of(&id.group, &id.kind) == st)
                .collect();
            let work: Vec<_> = batch
                .into_iter()
                .map(|(id, v)| self.prune_one(id, v, opts))
                .collect();
            let results: Vec<_> = stream::iter(work)
                .buffered(self.config.concurrency)
                .collect()
                .await;
            for r in results {
                match r {
                    Ok(Some(c)) => out.changes.push(c),
                    Ok(None) => {}
                    Err(f) => out.failed.push(f),
                }
            }
        }
        out
    }

    async fn prune_one(
        &self,
        id: &ObjectId,
        version: &str,
        opts: &ApplyOptions,
    ) -> Result<Option<Change>, (ObjectId, BoxError)> {
        let Some((api, live)) = self.fetch(id, version).await.map_err(|m| fail(id, m))? else {
            return Ok(None);
        };
        let change = |action| Change {
            id: id.clone(),
            version: version.to_owned(),
            action,
        };
        let owned = self.config.owner_labels.iter().all(|(k, v)| {
            live.pointer("/metadata/labels")
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
                == Some(v)
        });
        if !owned
            || has(&live, PRUNE_KEY, "Disabled")
            || has(&live, RECONCILE_KEY, "disabled")
            || has(&live, SSA_KEY, "Ignore")
        {
            return Ok(Some(change(Action::Skipped)));
        }
        if live.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(Some(change(Action::Deleted)));
        }
        let mut dp = DeleteParams::background();
        if opts.dry_run {
            dp = dp.dry_run();
        }
        match api.delete(&id.name, &dp).await {
            Ok(_) => Ok(Some(change(Action::Deleted))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(fail(id, api_message(&e))),
        }
    }

    /// One reconcile of a set of manifests against what an earlier one left (`previous`): applies them,
    /// then, when `prune` is set and every object applied, deletes what left the set. When an object
    /// failed nothing is pruned and the returned inventory still holds everything of `previous`, so that
    /// a failed reconcile leaves the last good state in place. Objects that failed to be pruned stay in
    /// the inventory, as in Flux.
    ///
    /// # Errors
    /// As for [`SsaApplier::apply_all_staged`].
    pub async fn sync(
        &self,
        objects: &[Value],
        previous: &Inventory,
        prune: bool,
        opts: &ApplyOptions,
    ) -> Result<(ChangeSet, Inventory), ApplyError> {
        let mut changes = self.apply_all_staged(objects, opts).await?;
        let mut inventory = Inventory::from_change_set(&changes);
        if !changes.is_ok() {
            inventory.merge(previous);
            return Ok((changes, inventory));
        }
        let stale = previous.stale(&inventory);
        if !prune {
            return Ok((changes, inventory));
        }
        let pruned = self.prune(&stale, opts).await;
        for (id, _) in &pruned.failed {
            if let Some((_, v)) = stale.iter().find(|(s, _)| s == id) {
                inventory.insert(id, v);
            }
        }
        changes.changes.extend(pruned.changes);
        changes.failed.extend(pruned.failed);
        Ok((changes, inventory))
    }

    /// How many of the objects of `ids` still exist (terminating ones included).
    pub async fn existing(&self, ids: &[(ObjectId, String)]) -> usize {
        let work: Vec<_> = ids.iter().map(|(id, v)| self.fetch(id, v)).collect();
        let found: Vec<_> = stream::iter(work)
            .buffered(self.config.concurrency)
            .collect()
            .await;
        found.into_iter().filter(|r| !matches!(r, Ok(None))).count()
    }

    /// Waits until every object of `ids` is Current, polling every [`Config::poll_interval`]; stops
    /// early when one has Failed.
    ///
    /// # Errors
    /// [`WaitError::Failed`] for the first failed object, [`WaitError::Timeout`] with every object not
    /// ready when `timeout` passes.
    pub async fn wait(&self, ids: &[(ObjectId, String)], timeout: Duration) -> Result<(), WaitError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let work: Vec<_> = ids
                .iter()
                .map(|(id, v)| async move {
                    let h = match self.fetch(id, v).await {
                        Ok(Some((_, live))) => Ok(health_with(&live, &self.config.health_exprs)),
                        Ok(None) => Ok(Health {
                            status: Status::NotFound,
                            message: "Resource not found".into(),
                        }),
                        Err(m) => Err(m),
                    };
                    (id, h)
                })
                .collect();
            let healths: Vec<_> = stream::iter(work)
                .buffered(self.config.concurrency)
                .collect()
                .await;
            let mut pending = Vec::new();
            for (id, h) in healths {
                let h = h.map_err(|m| WaitError::Client(m.into()))?;
                match h.status {
                    Status::Current => {}
                    Status::Failed => {
                        return Err(WaitError::Failed {
                            object: display(id),
                            message: h.message,
                        });
                    }
                    _ => pending.push((display(id), h)),
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(WaitError::Timeout { pending });
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }
}

#[async_trait::async_trait]
impl Applier for SsaApplier {
    async fn apply(&self, objects: &[DynamicObject], opts: &ApplyOptions) -> Result<ChangeSet, ApplyError> {
        let values: Vec<Value> = objects
            .iter()
            .map(|o| serde_json::to_value(o).unwrap_or(Value::Null))
            .collect();
        self.apply_all_staged(&values, opts).await
    }

    async fn delete(&self, ids: &[(ObjectId, String)], opts: &ApplyOptions) -> Result<ChangeSet, ApplyError> {
        Ok(self.prune(ids, opts).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_v1_union_keeps_members() {
        let mut a = json!({"f:data": {"f:a": {}}});
        union_fields(
            &mut a,
            &json!({"f:data": {"f:b": {}}, "f:metadata": {"f:labels": {"f:x": {}}}}),
        );
        assert_eq!(
            a,
            json!({"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:x": {}}}})
        );
        let mut leaf = json!({"f:spec": {}});
        union_fields(&mut leaf, &json!({"f:spec": {"f:x": {}}}));
        assert_eq!(leaf, json!({"f:spec": {"f:x": {}, ".": {}}}));
    }

    #[test]
    fn objects_display_as_flux_prints_them() {
        let id: ObjectId = "default_web_apps_Deployment".parse().unwrap();
        assert_eq!(display(&id), "Deployment/default/web");
        let ns: ObjectId = "_apps__Namespace".parse().unwrap();
        assert_eq!(display(&ns), "Namespace/apps");
    }
}
