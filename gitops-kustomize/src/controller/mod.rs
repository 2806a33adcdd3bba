//! The Kustomization reconciler: one call takes a Kustomization from its source's artifact to applied,
//! pruned and (optionally) healthy objects, and writes its status as Flux's kustomize-controller does.
//! Binaries decide when to call it.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use gitops_apply::{Config, Inventory, SsaApplier};
use gitops_core::{
    ApplyOptions, Artifact, Digest, ObjectId,
    conditions::{Conditions as _, reasons},
};
use gitops_source::{
    api::GitRepository,
    controller::{REQUESTED_AT, parse_duration},
};
use k8s_openapi::{
    api::core::v1::{ConfigMap, Secret},
    apimachinery::pkg::apis::meta::v1::Condition,
};
use kube::{
    Api, Client, ResourceExt as _,
    api::{Patch, PatchParams},
};
use serde_json::{Value, json};

pub mod lease;
pub mod ops;
mod runner;

pub use runner::{Controllers, Role};

use crate::{
    BuildOptions,
    api::{Kustomization, KustomizationStatus, ResourceInventory, ResourceRef},
};

/// The finalizer Flux puts on Kustomizations, so their objects can be pruned when they are deleted.
pub const FINALIZER: &str = "finalizers.fluxcd.io";
/// The field manager of applies, as Flux names it.
pub const FIELD_MANAGER: &str = "kustomize-controller";
/// The field manager of status writes.
pub const STATUS_MANAGER: &str = "gotk-kustomize-controller";
/// The owner label naming the Kustomization.
pub const NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
/// The owner label naming its namespace.
pub const NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";

/// Why a reconcile did not finish; the Ready condition says the same.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// A dependency is not ready yet.
    #[error("{0}")]
    DependencyNotReady(String),
    /// The reconcile failed and is retried after `retryInterval`.
    #[error("{0}")]
    Failed(String),
    /// It cannot succeed until the spec changes.
    #[error("{0}")]
    Stalled(String),
    /// The API server refused the status write.
    #[error("API request failed")]
    Client(#[source] kube::Error),
}

/// Unpacked artifacts by digest, shared by every Kustomization of the process: each revision is
/// unpacked once, however many Kustomizations use it.
#[derive(Debug)]
pub struct ArtifactCache {
    dir: PathBuf,
    /// The local storage of an in-process source-controller, read directly instead of over HTTP.
    storage_root: Option<PathBuf>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl ArtifactCache {
    /// A cache under `dir`. `storage_root` is the local artifact storage when the source-controller runs
    /// in the same process; otherwise (or when a file is not there) artifacts are downloaded from their
    /// URL, as Flux's kustomize-controller does.
    pub fn new(dir: impl Into<PathBuf>, storage_root: Option<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            storage_root,
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// The directory holding `artifact`'s content, reading or downloading and unpacking it first if
    /// needed. The archive's digest is checked against the artifact's before anything is unpacked.
    ///
    /// # Errors
    /// The archive cannot be read, does not match the digest, or is refused by the extractor.
    pub async fn unpack(&self, artifact: &Artifact) -> Result<PathBuf, String> {
        let hex = artifact.digest.hex().to_owned();
        let target = self.dir.join(&hex);
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            locks.entry(hex.clone()).or_default().clone()
        };
        let _guard = lock.lock().await;
        if target.is_dir() {
            return Ok(target);
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("creating {}: {e}", self.dir.display()))?;
        let local = self
            .storage_root
            .as_ref()
            .map(|root| root.join(&artifact.path))
            .filter(|p| p.is_file());
        // A download lands in a temporary file that goes away at the end of this call.
        let (tarball, download) = match local {
            Some(p) => (p, None),
            None => {
                let f = self.download(artifact).await?;
                (f.path().to_owned(), Some(f))
            }
        };
        let expected = artifact.digest.clone();
        let dir = self.dir.clone();
        let unpacked = tokio::task::spawn_blocking(move || unpack_verified(&tarball, &expected, &dir, &hex))
            .await
            .map_err(|e| e.to_string())?;
        drop(download);
        unpacked
    }

    /// Downloads `artifact.url` into a temporary file of the cache directory.
    async fn download(&self, artifact: &Artifact) -> Result<tempfile::NamedTempFile, String> {
        use std::io::Write as _;
        let err =
            |e: &dyn std::fmt::Display| format!("failed to download artifact from {}: {e}", artifact.url);
        let mut resp = reqwest::get(&artifact.url).await.map_err(|e| err(&e))?;
        if !resp.status().is_success() {
            return Err(err(&format!("HTTP status {}", resp.status())));
        }
        let mut file = tempfile::Builder::new()
            .prefix(".download-")
            .tempfile_in(&self.dir)
            .map_err(|e| err(&e))?;
        while let Some(chunk) = resp.chunk().await.map_err(|e| err(&e))? {
            file.write_all(&chunk).map_err(|e| err(&e))?;
        }
        file.flush().map_err(|e| err(&e))?;
        Ok(file)
    }
}

fn unpack_verified(tarball: &Path, expected: &Digest, dir: &Path, hex: &str) -> Result<PathBuf, String> {
    let bytes = std::fs::read(tarball).map_err(|e| format!("reading artifact {}: {e}", tarball.display()))?;
    let got = Digest::sha256(&bytes);
    if &got != expected {
        return Err(format!(
            "artifact {} has digest {got}, expected {expected}",
            tarball.display()
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let tmp = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(dir)
        .map_err(|e| e.to_string())?;
    gitops_source::archive::extract(tarball, tmp.path()).map_err(|e| format!("unpacking artifact: {e}"))?;
    let target = dir.join(hex);
    let unpacked = tmp.keep();
    if let Err(e) = std::fs::rename(&unpacked, &target) {
        // Another process sharing the cache got there first: its copy has the same content.
        let _ = std::fs::remove_dir_all(&unpacked);
        if !target.is_dir() {
            return Err(format!(
                "storing the unpacked artifact at {}: {e}",
                target.display()
            ));
        }
    }
    Ok(target)
}

/// Reconciles Kustomizations.
pub struct KustomizationReconciler {
    client: Client,
    cache: Arc<ArtifactCache>,
    poll_interval: Duration,
    no_cross_namespace_refs: bool,
    /// The configuration `client` was made from, to derive impersonating clients.
    client_config: Option<kube::Config>,
}

impl std::fmt::Debug for KustomizationReconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KustomizationReconciler").finish_non_exhaustive()
    }
}

/// What a reconcile produced before its status is written.
struct Outcome {
    status: KustomizationStatus,
    result: Result<Duration, ReconcileError>,
    /// The Kubernetes Event to record: (type, reason, message), when there is something to say.
    event: Option<(&'static str, &'static str, String)>,
}

/// The annotation Flux puts on a Kustomization's events: the source revision they are about.
pub const REVISION_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/revision";

fn condition_true(c: Option<&Vec<Condition>>, type_: &str) -> bool {
    c.is_some_and(|c| c.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

impl KustomizationReconciler {
    /// A reconciler applying through `client`, reading artifacts through `cache`.
    pub fn new(client: Client, cache: Arc<ArtifactCache>) -> Self {
        Self {
            client,
            cache,
            poll_interval: Duration::from_secs(2),
            no_cross_namespace_refs: false,
            client_config: None,
        }
    }

    /// The configuration the client was made from: needed to apply as `spec.serviceAccountName`
    /// (impersonating `system:serviceaccount:<namespace>:<name>`, as Flux does).
    #[must_use]
    pub fn with_client_config(mut self, config: kube::Config) -> Self {
        self.client_config = Some(config);
        self
    }

    /// Refuses sources and dependencies in other namespaces (Flux's `--no-cross-namespace-refs`
    /// multi-tenancy lockdown).
    #[must_use]
    pub fn with_no_cross_namespace_refs(mut self, on: bool) -> Self {
        self.no_cross_namespace_refs = on;
        self
    }

    /// How often health is polled while waiting (default 2 s).
    #[must_use]
    pub fn with_poll_interval(mut self, d: Duration) -> Self {
        self.poll_interval = d;
        self
    }

    /// Reconciles `ks` once and writes its status. Returns when to reconcile again: `spec.interval`
    /// after success, `spec.retryInterval` after a failure (in the error).
    ///
    /// # Errors
    /// See [`ReconcileError`]; the object's status has been written in every case but
    /// [`ReconcileError::Client`].
    pub async fn reconcile(&self, ks: &Kustomization) -> Result<Duration, ReconcileError> {
        let interval = parse_duration(&ks.spec.interval).unwrap_or(Duration::from_secs(600));
        if ks.metadata.deletion_timestamp.is_some() {
            return self.finalize(ks).await.map(|()| interval);
        }
        if ks.spec.suspend == Some(true) {
            return Ok(interval);
        }
        if !ks.finalizers().iter().any(|f| f == FINALIZER) {
            let mut finalizers = ks.finalizers().to_vec();
            finalizers.push(FINALIZER.to_owned());
            self.set_finalizers(ks, finalizers).await?;
        }
        let Outcome {
            mut status,
            result,
            event,
        } = self.run(ks, interval).await;
        if let Some(at) = ks.annotations().get(REQUESTED_AT) {
            status.last_handled_reconcile_at = Some(at.clone());
        }
        let ns = ks.namespace().unwrap_or_default();
        Api::<Kustomization>::namespaced(self.client.clone(), &ns)
            .patch_status(
                &ks.name_any(),
                &PatchParams::apply(STATUS_MANAGER).force(),
                &Patch::Apply(json!({
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                    "metadata": {"name": ks.name_any(), "namespace": ns},
                    "status": status,
                })),
            )
            .await
            .map_err(ReconcileError::Client)?;
        if let Some((type_, reason, message)) = event {
            let revision = status.last_attempted_revision.clone().unwrap_or_default();
            self.record(ks, type_, reason, &message, &revision).await;
        }
        result
    }

    async fn set_finalizers(
        &self,
        ks: &Kustomization,
        finalizers: Vec<String>,
    ) -> Result<(), ReconcileError> {
        let ns = ks.namespace().unwrap_or_default();
        Api::<Kustomization>::namespaced(self.client.clone(), &ns)
            .patch(
                &ks.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": finalizers, "resourceVersion": ks.metadata.resource_version}})),
            )
            .await
            .map(|_| ())
            .map_err(ReconcileError::Client)
    }

    /// A Kustomization being deleted: its objects are deleted as `spec.deletionPolicy` says
    /// (`MirrorPrune`, the default, deletes them when `spec.prune` is set; `Delete` always;
    /// `WaitForTermination` deletes and waits until they are gone; `Orphan` never; nothing when
    /// suspended), then the finalizer is removed so the API server can let it go.
    async fn finalize(&self, ks: &Kustomization) -> Result<(), ReconcileError> {
        if !ks.finalizers().iter().any(|f| f == FINALIZER) {
            return Ok(());
        }
        let ns = ks.namespace().unwrap_or_default();
        let policy = ks.spec.deletion_policy.as_deref().unwrap_or("MirrorPrune");
        let delete = ks.spec.suspend != Some(true)
            && match policy {
                "Delete" | "WaitForTermination" => true,
                "Orphan" => false,
                _ => ks.spec.prune,
            };
        let ids = ks
            .status
            .as_ref()
            .map(inventory_of)
            .unwrap_or_default()
            .stale(&Inventory::default());
        if delete && !ids.is_empty() {
            let target = self
                .target_client(ks, &ns)
                .await
                .map_err(|s| ReconcileError::Failed(step_message(s)))?;
            let config = Config::default()
                .owner_label(NAME_LABEL, ks.name_any())
                .owner_label(NAMESPACE_LABEL, &ns)
                .poll_interval(self.poll_interval);
            let applier = SsaApplier::with_config(target, config);
            let pruned = applier.prune(&ids, &ApplyOptions::new(FIELD_MANAGER)).await;
            if !pruned.is_ok() {
                let msgs: Vec<String> = pruned.failed.iter().map(|(_, e)| e.to_string()).collect();
                return Err(ReconcileError::Failed(format!(
                    "pruning on deletion failed: {}",
                    msgs.join("; ")
                )));
            }
            if policy == "WaitForTermination" {
                let timeout = ks
                    .spec
                    .timeout
                    .as_deref()
                    .and_then(parse_duration)
                    .unwrap_or(Duration::from_secs(300));
                let deadline = tokio::time::Instant::now() + timeout;
                loop {
                    let left = applier.existing(&ids).await;
                    if left == 0 {
                        break;
                    }
                    if tokio::time::Instant::now() > deadline {
                        return Err(ReconcileError::Failed(format!(
                            "{left} objects still terminating after {timeout:?}"
                        )));
                    }
                    tokio::time::sleep(self.poll_interval).await;
                }
            }
            let lines: Vec<String> = pruned
                .changes
                .iter()
                .map(|c| format!("{} {}", gitops_apply::display(&c.id), c.action))
                .collect();
            if !lines.is_empty() {
                let revision = ks
                    .status
                    .as_ref()
                    .and_then(|s| s.last_applied_revision.clone())
                    .unwrap_or_default();
                self.record(ks, "Normal", "Progressing", &lines.join("\n"), &revision)
                    .await;
            }
        }
        let rest: Vec<String> = ks
            .finalizers()
            .iter()
            .filter(|f| *f != FINALIZER)
            .cloned()
            .collect();
        self.set_finalizers(ks, rest).await
    }

    /// Records a Kubernetes Event on `ks` as Flux's kustomize-controller does (best effort: a failure
    /// to record is only logged).
    async fn record(&self, ks: &Kustomization, type_: &str, reason: &str, message: &str, revision: &str) {
        let ns = ks.namespace().unwrap_or_default();
        let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mut annotations = serde_json::Map::new();
        if !revision.is_empty() {
            annotations.insert(REVISION_ANNOTATION.into(), json!(revision));
        }
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": format!("{}.", ks.name_any()), "namespace": ns, "annotations": annotations},
            "involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                               "name": ks.name_any(), "namespace": ns, "uid": ks.metadata.uid,
                               "resourceVersion": ks.metadata.resource_version},
            "type": type_, "reason": reason, "message": message,
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER, "reportingInstance": FIELD_MANAGER,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        });
        let Ok(event) = serde_json::from_value::<k8s_openapi::api::core::v1::Event>(event) else {
            return;
        };
        if let Err(e) = Api::namespaced(self.client.clone(), &ns)
            .create(&kube::api::PostParams::default(), &event)
            .await
        {
            tracing::warn!("recording an event for Kustomization {ns}/{}: {e}", ks.name_any());
        }
    }

    async fn run(&self, ks: &Kustomization, interval: Duration) -> Outcome {
        let generation = ks.metadata.generation;
        let retry = ks
            .spec
            .retry_interval
            .as_deref()
            .and_then(parse_duration)
            .unwrap_or(interval);
        let mut status = ks.status.clone().unwrap_or_default();
        let mut conditions = status.conditions.take().unwrap_or_default();
        let step = self.steps(ks, &mut status).await;
        let mut event = None;
        let result = match step {
            Ok((revision, changed)) => {
                let msg = format!("Applied revision: {revision}");
                conditions.mark_ready(reasons::RECONCILIATION_SUCCEEDED, &msg, generation);
                status.observed_generation = generation;
                if !changed.is_empty() {
                    event = Some(("Normal", reasons::RECONCILIATION_SUCCEEDED, changed.join("\n")));
                }
                Ok(interval)
            }
            Err(Step::Dependency(msg)) => {
                conditions.mark_failed(reasons::DEPENDENCY_NOT_READY, &msg, generation);
                Err(ReconcileError::DependencyNotReady(msg))
            }
            Err(Step::Failed(reason, msg)) => {
                conditions.mark_failed(reason, &msg, generation);
                let _ = retry;
                event = Some(("Warning", reason, msg.clone()));
                Err(ReconcileError::Failed(msg))
            }
            Err(Step::Stalled(reason, msg)) => {
                conditions.mark_stalled(reason, &msg, generation);
                status.observed_generation = generation;
                event = Some(("Warning", reason, msg.clone()));
                Err(ReconcileError::Stalled(msg))
            }
        };
        status.conditions = Some(conditions);
        Outcome {
            status,
            result,
            event,
        }
    }

    /// The retry interval of `ks` (`retryInterval`, else `interval`).
    pub fn retry_interval(ks: &Kustomization) -> Duration {
        ks.spec
            .retry_interval
            .as_deref()
            .or(Some(ks.spec.interval.as_str()))
            .and_then(parse_duration)
            .unwrap_or(Duration::from_secs(60))
    }

    /// The reconcile proper: returns the applied revision and one line per object that changed.
    async fn steps(
        &self,
        ks: &Kustomization,
        status: &mut KustomizationStatus,
    ) -> Result<(String, Vec<String>), Step> {
        let ns = ks.namespace().unwrap_or_default();
        let name = ks.name_any();
        // Dependencies first.
        for dep in ks.spec.depends_on.iter().flatten() {
            let dns = dep.namespace.clone().unwrap_or_else(|| ns.clone());
            if self.no_cross_namespace_refs && dns != ns {
                return Err(Step::Stalled(
                    reasons::ACCESS_DENIED,
                    format!(
                        "cannot access Kustomization/{dns}/{}, cross-namespace references have been blocked",
                        dep.name
                    ),
                ));
            }
            let d = Api::<Kustomization>::namespaced(self.client.clone(), &dns)
                .get_opt(&dep.name)
                .await
                .map_err(|e| Step::Failed(reasons::DEPENDENCY_NOT_READY, e.to_string()))?;
            let ready = d.as_ref().is_some_and(|d| {
                let st = d.status.as_ref();
                st.and_then(|s| s.observed_generation) == d.metadata.generation
                    && condition_true(st.and_then(|s| s.conditions.as_ref()), "Ready")
            });
            if !ready {
                return Err(Step::Dependency(format!(
                    "dependency '{dns}/{}' is not ready",
                    dep.name
                )));
            }
        }
        // The source and its artifact.
        let sref = &ks.spec.source_ref;
        if sref.kind != "GitRepository" {
            return Err(Step::Stalled(
                reasons::ARTIFACT_FAILED,
                format!("source kind {} is not supported yet", sref.kind),
            ));
        }
        let sns = sref.namespace.clone().unwrap_or_else(|| ns.clone());
        if self.no_cross_namespace_refs && sns != ns {
            return Err(Step::Stalled(
                reasons::ACCESS_DENIED,
                format!(
                    "cannot access {}/{}/{}, cross-namespace references have been blocked",
                    sref.kind, sns, sref.name
                ),
            ));
        }
        let source = Api::<GitRepository>::namespaced(self.client.clone(), &sns)
            .get_opt(&sref.name)
            .await
            .map_err(|e| Step::Failed(reasons::ARTIFACT_FAILED, e.to_string()))?;
        let Some(artifact) = source.and_then(|s| s.status).and_then(|s| s.artifact) else {
            return Err(Step::Failed(
                reasons::ARTIFACT_FAILED,
                format!(
                    "Source artifact not found, retrying in {}",
                    ks.spec.retry_interval.as_deref().unwrap_or(&ks.spec.interval)
                ),
            ));
        };
        let revision = artifact.revision.to_string();
        status.last_attempted_revision = Some(revision.clone());
        let root = self
            .cache
            .unpack(&artifact)
            .await
            .map_err(|m| Step::Failed(reasons::ARTIFACT_FAILED, m))?;
        // Build.
        let mut objects = self.build(ks, &root, &ns).await?;
        refuse_encrypted(ks, &objects)?;
        // Apply and prune.
        let exprs = ks
            .spec
            .health_check_exprs
            .iter()
            .flatten()
            .map(|e| {
                gitops_apply::HealthExpr::new(
                    &e.api_version,
                    e.kind.as_deref(),
                    &e.current,
                    e.failed.as_deref(),
                    e.in_progress.as_deref(),
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| Step::Stalled(reasons::INVALID_CEL_EXPRESSION, m))?;
        let mut config = Config::default()
            .owner_label(NAME_LABEL, &name)
            .owner_label(NAMESPACE_LABEL, &ns)
            .poll_interval(self.poll_interval)
            .health_exprs(exprs);
        if let Some(t) = &ks.spec.target_namespace {
            config = config.default_namespace(t);
        }
        let target = self.target_client(ks, &ns).await?;
        let applier = SsaApplier::with_config(target, config);
        let previous = inventory_of(status);
        let mut opts = ApplyOptions::new(FIELD_MANAGER);
        opts.force = ks.spec.force == Some(true);
        for o in &mut objects {
            common_metadata(o, ks);
        }
        let (changes, inventory) = applier
            .sync(&objects, &previous, ks.spec.prune, &opts)
            .await
            .map_err(|e| Step::Failed(reasons::RECONCILIATION_FAILED, e.to_string()))?;
        status.inventory = Some(ResourceInventory {
            entries: inventory
                .entries
                .iter()
                .map(|e| ResourceRef {
                    id: e.id.clone(),
                    v: e.v.clone(),
                })
                .collect(),
        });
        if !changes.is_ok() {
            let msgs: Vec<String> = changes.failed.iter().map(|(_, e)| e.to_string()).collect();
            return Err(Step::Failed(reasons::RECONCILIATION_FAILED, msgs.join("\n")));
        }
        // Health.
        let timeout = ks
            .spec
            .timeout
            .as_deref()
            .and_then(parse_duration)
            .unwrap_or_else(|| parse_duration(&ks.spec.interval).unwrap_or(Duration::from_secs(300)));
        let mut checks: Vec<(ObjectId, String)> = Vec::new();
        if ks.spec.wait == Some(true) {
            checks.extend(
                changes
                    .changes
                    .iter()
                    .filter(|c| {
                        c.action != gitops_core::Action::Deleted && c.action != gitops_core::Action::Skipped
                    })
                    .map(|c| (c.id.clone(), c.version.clone())),
            );
        } else {
            for h in ks.spec.health_checks.iter().flatten() {
                let av = h.api_version.clone().unwrap_or_else(|| "v1".into());
                let (group, version) = av
                    .rsplit_once('/')
                    .map_or((String::new(), av.clone()), |(g, v)| (g.into(), v.into()));
                checks.push((
                    ObjectId {
                        namespace: h.namespace.clone().unwrap_or_else(|| ns.clone()),
                        name: h.name.clone(),
                        group,
                        kind: h.kind.clone(),
                    },
                    version,
                ));
            }
        }
        if !checks.is_empty() {
            applier
                .wait(&checks, timeout)
                .await
                .map_err(|e| Step::Failed(reasons::HEALTH_CHECK_FAILED, e.to_string()))?;
        }
        status.last_applied_revision = Some(revision.clone());
        let changed = changes
            .changes
            .iter()
            .filter(|c| {
                matches!(
                    c.action,
                    gitops_core::Action::Created
                        | gitops_core::Action::Configured
                        | gitops_core::Action::Deleted
                )
            })
            .map(|c| format!("{} {}", gitops_apply::display(&c.id), c.action))
            .collect();
        Ok((revision, changed))
    }

    /// Builds `spec.path` of the unpacked artifact at `root`, with Flux's additions and substitution.
    async fn build(&self, ks: &Kustomization, root: &Path, ns: &str) -> Result<Vec<Value>, Step> {
        let rel = ks.spec.path.clone().unwrap_or_else(|| "./".into());
        let dir = root.join(rel.trim_start_matches('/'));
        let escapes = Path::new(&rel)
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir));
        if escapes || !dir.is_dir() {
            return Err(Step::Stalled(
                reasons::ARTIFACT_FAILED,
                format!("kustomization path not found: {rel}"),
            ));
        }
        self.build_dir(ks, root, dir, ns).await
    }

    /// What `ks` would apply when its path held `dir` (a local checkout, as `gitops diff kustomization
    /// --path` builds): built with the spec's options, substituted (ConfigMaps and Secrets read from the
    /// cluster) and labelled with its owner labels and `commonMetadata`.
    ///
    /// # Errors
    /// The build or the substitution failed, in words.
    pub async fn build_local(&self, ks: &Kustomization, dir: &Path) -> Result<Vec<Value>, String> {
        let ns = ks.namespace().unwrap_or_default();
        let mut objects = self
            .build_dir(ks, dir, dir.to_owned(), &ns)
            .await
            .map_err(step_message)?;
        for o in &mut objects {
            common_metadata(o, ks);
        }
        Ok(objects)
    }

    async fn build_dir(
        &self,
        ks: &Kustomization,
        root: &Path,
        dir: PathBuf,
        ns: &str,
    ) -> Result<Vec<Value>, Step> {
        let mut opts = BuildOptions::flux();
        opts.namespace.clone_from(&ks.spec.target_namespace);
        opts.name_prefix.clone_from(&ks.spec.name_prefix);
        opts.name_suffix.clone_from(&ks.spec.name_suffix);
        opts.components = ks.spec.components.clone().unwrap_or_default();
        for p in ks.spec.patches.iter().flatten() {
            opts.patches.push(convert(p)?);
        }
        for i in ks.spec.images.iter().flatten() {
            opts.images.push(convert(i)?);
        }
        let root_owned = root.to_owned();
        let mut objects = tokio::task::spawn_blocking(move || crate::build_with(&root_owned, &dir, &opts))
            .await
            .map_err(|e| Step::Failed(reasons::BUILD_FAILED, e.to_string()))?
            .map_err(|e| Step::Failed(reasons::BUILD_FAILED, e.to_string()))?;
        if let Some(pb) = &ks.spec.post_build {
            let mut from = Vec::new();
            for r in pb.substitute_from.iter().flatten() {
                match self.substitute_source(ns, &r.kind, &r.name).await {
                    Ok(Some(m)) => from.push(m),
                    Ok(None) if r.optional == Some(true) => {}
                    Ok(None) => {
                        return Err(Step::Failed(
                            reasons::BUILD_FAILED,
                            format!("substitute from '{}/{}' failed: not found", r.kind, r.name),
                        ));
                    }
                    Err(m) => return Err(Step::Failed(reasons::BUILD_FAILED, m)),
                }
            }
            let vars = crate::substitute::merge_sources(&from, &pb.substitute.clone().unwrap_or_default())
                .map_err(|e| Step::Stalled(reasons::BUILD_FAILED, e.to_string()))?;
            crate::substitute::substitute(&mut objects, &vars, false)
                .map_err(|e| Step::Failed(reasons::BUILD_FAILED, e.to_string()))?;
        }
        Ok(objects)
    }

    /// The client objects are applied with: this cluster's, or the one `spec.kubeConfig.secretRef` names
    /// (key `value`, else `value.yaml`, unless the reference names one); impersonating
    /// `spec.serviceAccountName` when it is set.
    async fn target_client(&self, ks: &Kustomization, ns: &str) -> Result<Client, Step> {
        let fail = |m: String| Step::Failed(reasons::RECONCILIATION_FAILED, m);
        let impersonate = ks
            .spec
            .service_account_name
            .as_ref()
            .map(|sa| format!("system:serviceaccount:{ns}:{sa}"));
        let config = match ks.spec.kube_config.as_ref().and_then(|k| k.secret_ref.as_ref()) {
            Some(r) => {
                let secret = Api::<Secret>::namespaced(self.client.clone(), ns)
                    .get_opt(&r.name)
                    .await
                    .map_err(|e| fail(format!("reading kubeconfig secret '{ns}/{}': {e}", r.name)))?
                    .ok_or_else(|| fail(format!("kubeconfig secret '{ns}/{}' not found", r.name)))?;
                let data = secret.data.unwrap_or_default();
                let keys: Vec<&str> = match &r.key {
                    Some(k) => vec![k.as_str()],
                    None => vec!["value", "value.yaml"],
                };
                let text = keys
                    .iter()
                    .find_map(|k| data.get(*k))
                    .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                    .ok_or_else(|| {
                        fail(format!("kubeconfig secret '{ns}/{}' has no key {}", r.name, keys.join(" or ")))
                    })?;
                let kc = kube::config::Kubeconfig::from_yaml(&text)
                    .map_err(|e| fail(format!("kubeconfig in secret '{ns}/{}': {e}", r.name)))?;
                kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                    .await
                    .map_err(|e| fail(format!("kubeconfig in secret '{ns}/{}': {e}", r.name)))?
            }
            None if impersonate.is_none() => return Ok(self.client.clone()),
            None => self.client_config.clone().ok_or_else(|| {
                Step::Stalled(
                    reasons::RECONCILIATION_FAILED,
                    "spec.serviceAccountName needs impersonation, and this controller was started without its client configuration".into(),
                )
            })?,
        };
        let mut config = config;
        if let Some(user) = impersonate {
            config.auth_info.impersonate = Some(user);
        }
        Client::try_from(config).map_err(|e| fail(format!("creating the client: {e}")))
    }

    async fn substitute_source(
        &self,
        ns: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, String> {
        let err = |e: kube::Error| format!("substitute from '{kind}/{name}' failed: {e}");
        if kind == "Secret" {
            let s = Api::<Secret>::namespaced(self.client.clone(), ns)
                .get_opt(name)
                .await
                .map_err(err)?;
            Ok(s.map(|s| {
                s.data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                    .collect()
            }))
        } else {
            let c = Api::<ConfigMap>::namespaced(self.client.clone(), ns)
                .get_opt(name)
                .await
                .map_err(err)?;
            Ok(c.map(|c| c.data.unwrap_or_default().into_iter().collect()))
        }
    }
}

/// A Kustomization's `status.inventory` as gitops-apply's [`Inventory`].
pub fn inventory_of(status: &KustomizationStatus) -> Inventory {
    Inventory {
        entries: status
            .inventory
            .iter()
            .flat_map(|i| &i.entries)
            .map(|e| gitops_apply::Entry {
                id: e.id.clone(),
                v: e.v.clone(),
            })
            .collect(),
    }
}

/// A SOPS-encrypted object (a top-level `sops` map with a `mac`) must never reach the cluster as it is:
/// Flux fails the build when decryption is not configured, and decryption is not implemented here yet.
fn refuse_encrypted(ks: &Kustomization, objects: &[Value]) -> Result<(), Step> {
    let Some(o) = objects.iter().find(|o| o.pointer("/sops/mac").is_some()) else {
        return Ok(());
    };
    let s = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let what = if s("/metadata/namespace").is_empty() {
        format!("{}/{}", s("/kind"), s("/metadata/name"))
    } else {
        format!(
            "{}/{}/{}",
            s("/kind"),
            s("/metadata/namespace"),
            s("/metadata/name")
        )
    };
    let message = if ks.spec.decryption.is_some() {
        format!("{what} is SOPS encrypted, and SOPS decryption is not supported by this controller yet")
    } else {
        format!(
            "{what} is SOPS encrypted, configuring decryption is required for this secret to be reconciled"
        )
    };
    Err(Step::Stalled(reasons::BUILD_FAILED, message))
}

fn step_message(s: Step) -> String {
    match s {
        Step::Dependency(m) | Step::Failed(_, m) | Step::Stalled(_, m) => m,
    }
}

/// Converts an API type to the kustomization type of the same shape.
fn convert<T: serde::de::DeserializeOwned>(v: &impl serde::Serialize) -> Result<T, Step> {
    serde_json::to_value(v)
        .and_then(serde_json::from_value)
        .map_err(|e| Step::Stalled(reasons::BUILD_FAILED, e.to_string()))
}

/// How a reconcile step ended early.
enum Step {
    Dependency(String),
    Failed(&'static str, String),
    Stalled(&'static str, String),
}

/// Sets `spec.commonMetadata` labels and annotations on `obj`.
fn common_metadata(obj: &mut Value, ks: &Kustomization) {
    let Some(cm) = &ks.spec.common_metadata else {
        return;
    };
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    for (field, values) in [("labels", &cm.labels), ("annotations", &cm.annotations)] {
        let Some(values) = values else { continue };
        let m = meta.entry(field).or_insert_with(|| json!({}));
        if let Some(m) = m.as_object_mut() {
            for (k, v) in values {
                m.insert(k.clone(), json!(v));
            }
        }
    }
}
