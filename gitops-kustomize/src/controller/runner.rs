//! The all-in-one controller loop: GitRepositories and Kustomizations reconciled in one process, with
//! the reconcile logic from gitops-source and gitops-kustomize.
//!
//! Both kinds are watched into in-memory stores; any change wakes the loop, which reconciles what is due:
//! its interval passed, its generation or `reconcile.fluxcd.io/requestedAt` changed, its source has a
//! revision it has not attempted, or it waits on a dependency (so it proceeds as soon as the dependency's
//! status changes, not after a fixed requeue delay). Deciding what is due costs no API request; each
//! reconcile reads its object fresh, so it never works from a stale inventory.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{StreamExt as _, stream};
use gitops_core::metrics::{Metrics, Outcome};
use gitops_source::{
    api::GitRepository,
    controller::{GitRepositoryReconciler, REQUESTED_AT},
    storage::Storage,
};
use kube::{
    Api, Client, ResourceExt as _,
    runtime::{WatchStreamExt as _, reflector, watcher},
};
use tokio::sync::{Notify, watch};

use super::{ArtifactCache, KustomizationReconciler, ReconcileError};
use crate::api::Kustomization;

/// controller-runtime's names of the two controllers, the `controller` label of their metrics.
const GIT_CONTROLLER: &str = "gitrepository";
const KS_CONTROLLER: &str = "kustomization";

/// Spreads requeues as Flux's `--interval-jitter-percentage` (5 %) does, so that objects created together
/// do not reconcile in lockstep forever: `d` scaled by a factor in [0.95, 1.05), drawn from the object's
/// key with a freshly seeded hasher.
fn jitter(d: Duration, key: &(String, String)) -> Duration {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(key.0.as_bytes());
    h.write(key.1.as_bytes());
    let unit = (h.finish() % 10_000) as f64 / 10_000.0;
    d.mul_f64(0.95 + unit * 0.1)
}

/// What was last seen of an object, to tell whether it is due.
#[derive(Default)]
struct Seen {
    next: Option<Instant>,
    generation: Option<i64>,
    requested_at: Option<String>,
    waiting_on_dependency: bool,
}

impl Seen {
    fn due(&self, generation: Option<i64>, requested_at: Option<&String>, now: Instant) -> bool {
        self.next.is_none_or(|n| n <= now)
            || self.generation != generation
            || self.requested_at.as_ref() != requested_at
            || self.waiting_on_dependency
    }
}

/// GitRepository and Kustomization reconcilers sharing one client, storage and artifact cache, run in
/// one loop: Flux's source-controller and kustomize-controller in one process.
pub struct Controllers {
    client: Client,
    git: GitRepositoryReconciler,
    kustomize: Arc<KustomizationReconciler>,
    tick: Duration,
    concurrency: usize,
    role: Role,
    metrics: Metrics,
    readiness: super::ops::Readiness,
}

/// Which reconcilers a [`Controllers`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Role {
    /// Both: source-controller and kustomize-controller in one process.
    #[default]
    All,
    /// GitRepositories only (source-controller).
    Sources,
    /// Kustomizations only (kustomize-controller); artifacts come over HTTP.
    Kustomizations,
}

impl std::fmt::Debug for Controllers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controllers")
            .field("tick", &self.tick)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Controllers {
    /// Controllers storing artifacts in `storage` and unpacking them under `cache_dir`, looking for work
    /// every `tick` and reconciling up to 8 Kustomizations at once.
    pub fn new(client: Client, storage: Storage, cache_dir: &std::path::Path, tick: Duration) -> Self {
        let storage_root = storage.root().to_owned();
        let storage = Arc::new(storage);
        let cache = Arc::new(ArtifactCache::new(cache_dir, Some(storage_root)));
        Self {
            git: GitRepositoryReconciler::new(client.clone(), storage),
            kustomize: Arc::new(
                KustomizationReconciler::new(client.clone(), cache)
                    .with_poll_interval(Duration::from_millis(200)),
            ),
            client,
            tick,
            concurrency: 8,
            role: Role::All,
            metrics: Metrics::new(),
            readiness: super::ops::Readiness::new(),
        }
    }

    /// Runs only some of the reconcilers.
    #[must_use]
    pub fn with_role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    /// Refuses cross-namespace source and dependency references (Flux's `--no-cross-namespace-refs`).
    #[must_use]
    pub fn with_no_cross_namespace_refs(mut self, on: bool) -> Self {
        // Not shared before `run`, so the reconciler is still ours alone.
        if let Some(k) = Arc::get_mut(&mut self.kustomize) {
            k.no_cross_namespace_refs = on;
        }
        self
    }

    /// The configuration the client was made from, so that Kustomizations with `serviceAccountName` are
    /// applied impersonating it.
    #[must_use]
    pub fn with_client_config(mut self, config: kube::Config) -> Self {
        // Not shared before `run`, so the reconciler is still ours alone.
        if let Some(k) = Arc::get_mut(&mut self.kustomize) {
            k.client_config = Some(config);
        }
        self
    }

    /// How many Kustomizations are reconciled at once (at least 1).
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Records reconciles into `metrics` (Flux's `gotk_reconcile_duration_seconds` and controller-runtime's
    /// series), to be served by [`super::ops::serve`].
    #[must_use]
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Sets `readiness` once the caches of the watched kinds are filled (the `/readyz` probe).
    #[must_use]
    pub fn with_readiness(mut self, readiness: super::ops::Readiness) -> Self {
        self.readiness = readiness;
        self
    }

    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        if self.role != Role::Kustomizations {
            self.metrics.max_concurrent(GIT_CONTROLLER, 1);
        }
        if self.role != Role::Sources {
            self.metrics
                .max_concurrent(KS_CONTROLLER, self.concurrency as u64);
        }
        // `wake` rouses the Kustomization loop on any change of either kind (a new artifact, a
        // dependency turning Ready); `source_wake` rouses the source loop on GitRepository changes.
        let wake = Arc::new(Notify::new());
        let source_wake = Arc::new(Notify::new());
        let (sources, source_writer) = reflector::store::<GitRepository>();
        let (kustomizations, ks_writer) = reflector::store::<Kustomization>();
        let mut watchers = Vec::new();
        watchers.push(spawn_watch(
            Api::<GitRepository>::all(self.client.clone()),
            source_writer,
            vec![wake.clone(), source_wake.clone()],
        ));
        if self.role != Role::Sources {
            watchers.push(spawn_watch(
                Api::<Kustomization>::all(self.client.clone()),
                ks_writer,
                vec![wake.clone()],
            ));
        }
        let ready = async {
            let _ = sources.wait_until_ready().await;
            if self.role != Role::Sources {
                let _ = kustomizations.wait_until_ready().await;
            }
        };
        tokio::select! {
            () = ready => self.readiness.set(true),
            _ = stop.changed() => {}
        }
        // The two controllers run side by side: a long round of Kustomizations never delays a source poll.
        let sources_loop = async {
            if self.role == Role::Kustomizations {
                return;
            }
            let mut seen: HashMap<(String, String), Seen> = HashMap::new();
            let mut stop = stop.clone();
            while !*stop.borrow() {
                self.sync_sources(&sources, &mut seen, Instant::now()).await;
                tokio::select! {
                    () = source_wake.notified() => {}
                    () = tokio::time::sleep(self.tick) => {}
                    _ = stop.changed() => {}
                }
            }
        };
        let kustomizations_loop = async {
            if self.role == Role::Sources {
                return;
            }
            let mut seen: HashMap<(String, String), Seen> = HashMap::new();
            let mut stop = stop.clone();
            while !*stop.borrow() {
                self.sync_kustomizations(&sources, &kustomizations, &mut seen, Instant::now())
                    .await;
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(self.tick) => {}
                    _ = stop.changed() => {}
                }
            }
        };
        tokio::join!(sources_loop, kustomizations_loop);
        for w in watchers {
            w.abort();
        }
    }

    async fn sync_sources(
        &self,
        store: &reflector::Store<GitRepository>,
        seen_by_key: &mut HashMap<(String, String), Seen>,
        now: Instant,
    ) {
        let state = store.state();
        forget_deleted(&self.metrics, "GitRepository", &state);
        for cached in state {
            let key = (cached.namespace().unwrap_or_default(), cached.name_any());
            let seen = seen_by_key.entry(key.clone()).or_default();
            let requested = cached.annotations().get(REQUESTED_AT);
            if !seen.due(cached.metadata.generation, requested, now) {
                continue;
            }
            // The cache may lag behind a status just written: reconcile what the server has.
            let api = Api::<GitRepository>::namespaced(self.client.clone(), &key.0);
            let repo = match api.get_opt(&key.1).await {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!("reading GitRepository {}/{}: {e}", key.0, key.1);
                    continue;
                }
            };
            let requested = repo.annotations().get(REQUESTED_AT).cloned();
            // Failures are in the object's status and events; the log only traces them.
            self.metrics.active(GIT_CONTROLLER, 1);
            let started = Instant::now();
            let result = self.git.reconcile(&repo).await;
            let outcome = if result.is_ok() {
                Outcome::Requeue
            } else {
                Outcome::Error
            };
            self.metrics.record(
                GIT_CONTROLLER,
                "GitRepository",
                &key.0,
                &key.1,
                started.elapsed(),
                outcome,
            );
            self.metrics.active(GIT_CONTROLLER, -1);
            let next = match result {
                Ok(d) => d,
                Err(e) => {
                    tracing::info!("GitRepository {}/{}: {e}", key.0, key.1);
                    Duration::from_secs(10)
                }
            };
            *seen = Seen {
                next: Some(Instant::now() + jitter(next, &key)),
                generation: repo.metadata.generation,
                requested_at: requested,
                waiting_on_dependency: false,
            };
        }
    }

    async fn sync_kustomizations(
        &self,
        sources: &reflector::Store<GitRepository>,
        store: &reflector::Store<Kustomization>,
        seen_by_key: &mut HashMap<(String, String), Seen>,
        now: Instant,
    ) {
        let revisions: HashMap<(String, String), String> = sources
            .state()
            .iter()
            .filter_map(|r| {
                let rev = r.status.as_ref()?.artifact.as_ref()?.revision.to_string();
                Some(((r.namespace().unwrap_or_default(), r.name_any()), rev))
            })
            .collect();
        let mut cached_all = store.state();
        forget_deleted(&self.metrics, "Kustomization", &cached_all);
        // A stable order (namespace, name), so that reconciles happen in the same order every time.
        cached_all.sort_by_key(|k| (k.namespace(), k.name_any()));
        let mut work = Vec::new();
        for cached in cached_all {
            let key = (cached.namespace().unwrap_or_default(), cached.name_any());
            let seen = seen_by_key.entry(key.clone()).or_default();
            let sref = &cached.spec.source_ref;
            let skey = (
                sref.namespace.clone().unwrap_or_else(|| key.0.clone()),
                sref.name.clone(),
            );
            let attempted = cached
                .status
                .as_ref()
                .and_then(|s| s.last_attempted_revision.as_ref());
            let new_revision = revisions.get(&skey).is_some_and(|r| Some(r) != attempted);
            let requested = cached.annotations().get(REQUESTED_AT);
            let deleting = cached.metadata.deletion_timestamp.is_some();
            if !(deleting || new_revision || seen.due(cached.metadata.generation, requested, now)) {
                continue;
            }
            let reconciler = self.kustomize.clone();
            let metrics = self.metrics.clone();
            let api = Api::<Kustomization>::namespaced(self.client.clone(), &key.0);
            work.push(async move {
                // The previous inventory must be the one last written, not a cached copy.
                let ks = match api.get_opt(&key.1).await {
                    Ok(Some(k)) => k,
                    Ok(None) => return None,
                    Err(e) => {
                        tracing::warn!("reading Kustomization {}/{}: {e}", key.0, key.1);
                        return None;
                    }
                };
                metrics.active(KS_CONTROLLER, 1);
                let started = Instant::now();
                let r = reconciler.reconcile(&ks).await;
                // Waiting on a dependency is a requeue in Flux, not a failure.
                let outcome = match &r {
                    Ok(_) | Err(ReconcileError::DependencyNotReady(_)) => Outcome::Requeue,
                    Err(_) => Outcome::Error,
                };
                metrics.record(
                    KS_CONTROLLER,
                    "Kustomization",
                    &key.0,
                    &key.1,
                    started.elapsed(),
                    outcome,
                );
                metrics.active(KS_CONTROLLER, -1);
                Some((key, ks, r))
            });
        }
        let done: Vec<_> = stream::iter(work)
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        for (key, ks, r) in done.into_iter().flatten() {
            let (next, waiting) = match &r {
                Ok(d) => (*d, false),
                Err(ReconcileError::DependencyNotReady(_)) => {
                    (KustomizationReconciler::retry_interval(&ks), true)
                }
                Err(e) => {
                    tracing::info!("Kustomization {}/{}: {e}", key.0, key.1);
                    (KustomizationReconciler::retry_interval(&ks), false)
                }
            };
            let at = Instant::now() + jitter(next, &key);
            seen_by_key.insert(
                key,
                Seen {
                    next: Some(at),
                    generation: ks.metadata.generation,
                    requested_at: ks.annotations().get(REQUESTED_AT).cloned(),
                    waiting_on_dependency: waiting,
                },
            );
        }
    }
}

/// Drops the metric series of `kind` objects no longer in `cached`.
fn forget_deleted<K: kube::Resource>(metrics: &Metrics, kind: &str, cached: &[Arc<K>]) {
    let present: std::collections::HashSet<(&str, &str)> = cached
        .iter()
        .map(|o| {
            let m = o.meta();
            (
                m.namespace.as_deref().unwrap_or_default(),
                m.name.as_deref().unwrap_or_default(),
            )
        })
        .collect();
    metrics.retain(kind, |ns, name| present.contains(&(ns, name)));
}

/// Keeps `writer`'s store in sync with a watch of `api`, waking the loops on every change.
fn spawn_watch<K>(
    api: Api<K>,
    writer: reflector::store::Writer<K>,
    wake: Vec<Arc<Notify>>,
) -> tokio::task::JoinHandle<()>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    tokio::spawn(async move {
        // The cache only decides what is due; each reconcile reads its object fresh. Managed fields are
        // most of an object's bytes and never read from the cache, so they are not kept.
        let stream = watcher(api, watcher::Config::default()).modify(|o| o.meta_mut().managed_fields = None);
        reflector(writer, stream)
            .default_backoff()
            .for_each(|event| {
                if let Err(e) = event {
                    tracing::warn!("watch: {e}");
                }
                for w in &wake {
                    w.notify_one();
                }
                std::future::ready(())
            })
            .await;
    })
}
