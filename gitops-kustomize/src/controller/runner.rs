//! The all-in-one controller loop: GitRepositories and Kustomizations reconciled in one process, with
//! the reconcile logic from gitops-source and gitops-kustomize.
//!
//! Every tick lists both kinds and reconciles what is due: its interval passed, its generation or
//! `reconcile.fluxcd.io/requestedAt` changed, its source has a revision it has not attempted, or it waits
//! on a dependency (so it proceeds on the first tick after the dependency is ready, not after a fixed
//! requeue delay).

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{StreamExt as _, stream};
use gitops_source::{
    api::GitRepository,
    controller::{GitRepositoryReconciler, REQUESTED_AT},
    storage::Storage,
};
use kube::{Api, Client, ResourceExt as _, api::ListParams};
use tokio::sync::watch;

use super::{ArtifactCache, KustomizationReconciler, ReconcileError};
use crate::api::Kustomization;

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

    /// How many Kustomizations are reconciled at once (at least 1).
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut sources: HashMap<(String, String), Seen> = HashMap::new();
        let mut appliers: HashMap<(String, String), Seen> = HashMap::new();
        loop {
            if *stop.borrow() {
                return;
            }
            self.tick_once(&mut sources, &mut appliers).await;
            tokio::select! {
                _ = tokio::time::sleep(self.tick) => {}
                _ = stop.changed() => {}
            }
        }
    }

    async fn tick_once(
        &self,
        sources: &mut HashMap<(String, String), Seen>,
        appliers: &mut HashMap<(String, String), Seen>,
    ) {
        let now = Instant::now();
        let repos = if self.role == Role::Kustomizations {
            Vec::new()
        } else {
            self.list_sources().await
        };
        self.sync_sources(&repos, sources, now).await;
        if self.role == Role::Sources {
            return;
        }
        self.sync_kustomizations(appliers, now).await;
    }

    async fn list_sources(&self) -> Vec<GitRepository> {
        match Api::<GitRepository>::all(self.client.clone())
            .list(&ListParams::default())
            .await
        {
            Ok(l) => l.items,
            Err(e) => {
                tracing::warn!("listing GitRepositories: {e}");
                Vec::new()
            }
        }
    }

    async fn sync_sources(
        &self,
        repos: &[GitRepository],
        sources: &mut HashMap<(String, String), Seen>,
        now: Instant,
    ) {
        for repo in repos {
            let key = (repo.namespace().unwrap_or_default(), repo.name_any());
            let seen = sources.entry(key.clone()).or_default();
            let requested = repo.annotations().get(REQUESTED_AT);
            if !seen.due(repo.metadata.generation, requested, now) {
                continue;
            }
            let next = match self.git.reconcile(repo).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!("GitRepository {}/{}: {e}", key.0, key.1);
                    Duration::from_secs(10)
                }
            };
            *seen = Seen {
                next: Some(Instant::now() + jitter(next, &key)),
                generation: repo.metadata.generation,
                requested_at: requested.cloned(),
                waiting_on_dependency: false,
            };
        }
    }

    async fn sync_kustomizations(&self, appliers: &mut HashMap<(String, String), Seen>, now: Instant) {
        // Re-read the sources: their artifacts may have just moved.
        let revisions: HashMap<(String, String), String> =
            match Api::<GitRepository>::all(self.client.clone())
                .list(&ListParams::default())
                .await
            {
                Ok(l) => l
                    .items
                    .into_iter()
                    .filter_map(|r| {
                        let rev = r.status.as_ref()?.artifact.as_ref()?.revision.to_string();
                        Some(((r.namespace().unwrap_or_default(), r.name_any()), rev))
                    })
                    .collect(),
                Err(_) => HashMap::new(),
            };
        let list = match Api::<Kustomization>::all(self.client.clone())
            .list(&ListParams::default())
            .await
        {
            Ok(l) => l.items,
            Err(e) => {
                tracing::warn!("listing Kustomizations: {e}");
                return;
            }
        };
        let mut work = Vec::new();
        for ks in list {
            let key = (ks.namespace().unwrap_or_default(), ks.name_any());
            let seen = appliers.entry(key.clone()).or_default();
            let sref = &ks.spec.source_ref;
            let skey = (
                sref.namespace.clone().unwrap_or_else(|| key.0.clone()),
                sref.name.clone(),
            );
            let attempted = ks
                .status
                .as_ref()
                .and_then(|s| s.last_attempted_revision.as_ref());
            let new_revision = revisions.get(&skey).is_some_and(|r| Some(r) != attempted);
            let requested = ks.annotations().get(REQUESTED_AT);
            if !(new_revision || seen.due(ks.metadata.generation, requested, now)) {
                continue;
            }
            let reconciler = self.kustomize.clone();
            work.push(async move {
                let r = reconciler.reconcile(&ks).await;
                (key, ks, r)
            });
        }
        let done: Vec<_> = stream::iter(work)
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        for (key, ks, r) in done {
            let (next, waiting) = match &r {
                Ok(d) => (*d, false),
                Err(ReconcileError::DependencyNotReady(_)) => {
                    (KustomizationReconciler::retry_interval(&ks), true)
                }
                Err(e) => {
                    tracing::warn!("Kustomization {}/{}: {e}", key.0, key.1);
                    (KustomizationReconciler::retry_interval(&ks), false)
                }
            };
            let at = Instant::now() + jitter(next, &key);
            appliers.insert(
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
