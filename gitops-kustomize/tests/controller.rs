//! The Kustomization reconciler end to end on the embedded API server, with a real Git repository served
//! over HTTP and the GitRepository reconciler: dependsOn, health, suspend, requestedAt, bad paths.
//!
//! With `GITOPS_E2E_KUBECONFIG` naming a kubeconfig, the same tests run against that cluster instead
//! (each in a namespace of its own, deleted afterwards); the few that inspect the embedded server itself
//! say so and skip. The reconcilers and the Git server run in this process either way.

#![allow(missing_docs)]

use std::{sync::Arc, time::Duration};

use gitops_kustomize::{
    api::{Kustomization, kustomization_crd},
    controller::{ArtifactCache, KustomizationReconciler, ReconcileError},
};
use gitops_source::{
    api::{GitRepository, gitrepository_crd},
    controller::GitRepositoryReconciler,
    storage::Storage,
};
use gitops_testkit::{TestApiServer, git::GitServer};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};

struct Env {
    /// The embedded server, or `None` on a real cluster.
    server: Option<TestApiServer>,
    client: Client,
    /// The namespace this test works in: its objects, Kustomizations and GitRepository.
    ns: String,
    git: GitServer,
    sources: GitRepositoryReconciler,
    kustomize: KustomizationReconciler,
    _tmp: tempfile::TempDir,
}

/// Objects carry no namespace: every Kustomization of these tests sets `targetNamespace` to the test's.
const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: NAME\ndata:\n  v: \"1\"\n";
/// A Deployment that fails: on the embedded server by its simulation annotation, on a real cluster by an
/// image that cannot be pulled and a progress deadline of 2 s.
const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations: {testkit.gitops-rs.io/simulate: fail}\nspec:\n  replicas: 1\n  progressDeadlineSeconds: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: registry.invalid/none:0}]}\n";

static NEXT_NS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Whether the tests run against a real cluster (`GITOPS_E2E_KUBECONFIG`).
fn real_cluster() -> Option<std::path::PathBuf> {
    std::env::var_os("GITOPS_E2E_KUBECONFIG").map(Into::into)
}

async fn env() -> Option<Env> {
    env_with(true).await
}

/// `local`: the kustomize reconciler reads the source's storage directly (all-in-one); otherwise it
/// downloads artifacts from the storage's HTTP server.
async fn env_with(local: bool) -> Option<Env> {
    let git = match GitServer::start("app").await {
        Ok(g) => g,
        Err(e) => {
            eprintln!("skipping: no git ({e})");
            return None;
        }
    };
    let (server, kc) = match real_cluster() {
        Some(path) => (None, kube::config::Kubeconfig::read_from(&path).unwrap()),
        None => {
            let server = TestApiServer::start().await.unwrap();
            server.simulate_workloads(true);
            let kc = kube::config::Kubeconfig::from_yaml(&server.kubeconfig()).unwrap();
            (Some(server), kc)
        }
    };
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = Client::try_from(cfg).unwrap();
    let crds: Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = Api::all(client.clone());
    for crd in [gitrepository_crd(), kustomization_crd()] {
        let name = crd.metadata.name.clone().unwrap();
        crds.patch(
            &name,
            &PatchParams::apply("gitops-e2e").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
        crds.wait_established(&name).await;
    }
    let ns = format!(
        "e2e-{}-{}",
        std::process::id(),
        NEXT_NS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .unwrap();
    git.write("infra/cm.yaml", &CM.replace("NAME", "infra")).unwrap();
    git.write("app/cm.yaml", &CM.replace("NAME", "app")).unwrap();
    git.write("sick/deploy.yaml", DEPLOY).unwrap();
    git.commit("init").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let storage = Storage::new(
        tmp.path().join("storage"),
        &listener.local_addr().unwrap().to_string(),
    )
    .unwrap();
    tokio::spawn(gitops_source::server::serve(listener, storage.clone()));
    let root = local.then(|| storage.root().to_owned());
    let cache = Arc::new(ArtifactCache::new(tmp.path().join("cache"), root));
    let env = Env {
        sources: GitRepositoryReconciler::new(client.clone(), Arc::new(storage)),
        kustomize: KustomizationReconciler::new(client.clone(), cache)
            .with_poll_interval(Duration::from_millis(50)),
        server,
        client,
        ns,
        git,
        _tmp: tmp,
    };
    env.put(
        "source.toolkit.fluxcd.io/v1",
        "GitRepository",
        "repo",
        json!({"url": env.git.url(), "interval": "1m", "ref": {"branch": "main"}}),
    )
    .await;
    env.sync_source().await;
    Some(env)
}

/// Waiting for a CRD to serve, as a real API server needs a moment for.
trait WaitEstablished {
    async fn wait_established(&self, name: &str);
}

impl WaitEstablished
    for Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    async fn wait_established(&self, name: &str) {
        for _ in 0..100 {
            let crd = self.get(name).await.unwrap();
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Established" && c.status == "True"));
            if established {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("CRD {name} not established after 10 s");
    }
}

/// On a real cluster, the test's namespace goes with it; Kustomizations first lose their finalizers,
/// since no controller is left to remove them.
impl Drop for Env {
    fn drop(&mut self) {
        if self.server.is_some() {
            return;
        }
        let (client, ns) = (self.client.clone(), self.ns.clone());
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let api = Api::<Kustomization>::namespaced(client.clone(), &ns);
                for ks in api
                    .list(&Default::default())
                    .await
                    .map(|l| l.items)
                    .unwrap_or_default()
                {
                    let name = ks.metadata.name.unwrap_or_default();
                    let unfinalize = json!({"metadata": {"finalizers": null}});
                    let _ = api
                        .patch(&name, &PatchParams::default(), &Patch::Merge(&unfinalize))
                        .await;
                }
                let _ = Api::<k8s_openapi::api::core::v1::Namespace>::all(client)
                    .delete(&ns, &Default::default())
                    .await;
            });
        });
    }
}

impl Env {
    /// The embedded server, for the tests that inspect it; `None` (after saying so) on a real cluster.
    fn embedded(&self, test: &str) -> Option<&TestApiServer> {
        if self.server.is_none() {
            eprintln!("skipping {test} on a real cluster: it inspects the embedded server");
        }
        self.server.as_ref()
    }

    async fn put(&self, api_version: &str, kind: &str, name: &str, spec: Value) {
        let (g, v) = api_version.split_once('/').unwrap();
        let ar = kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(g, v, kind));
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(self.client.clone(), &self.ns, &ar);
        let obj = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": self.ns}, "spec": spec});
        api.patch(name, &PatchParams::apply("test").force(), &Patch::Apply(&obj))
            .await
            .unwrap();
    }

    async fn sync_source(&self) {
        let repo = self.repo().await;
        self.sources.reconcile(&repo).await.unwrap();
    }

    async fn repo(&self) -> GitRepository {
        Api::<GitRepository>::namespaced(self.client.clone(), &self.ns)
            .get("repo")
            .await
            .unwrap()
    }

    async fn ks(&self, name: &str, spec: Value) -> Kustomization {
        let mut full = json!({"interval": "10m", "prune": true, "targetNamespace": self.ns,
                              "sourceRef": {"kind": "GitRepository", "name": "repo"}});
        for (k, v) in spec.as_object().unwrap() {
            full[k] = v.clone();
        }
        self.put("kustomize.toolkit.fluxcd.io/v1", "Kustomization", name, full)
            .await;
        self.get(name).await
    }

    async fn get(&self, name: &str) -> Kustomization {
        self.kustomizations().get(name).await.unwrap()
    }

    fn kustomizations(&self) -> Api<Kustomization> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn reconcile(&self, name: &str) -> Result<Duration, ReconcileError> {
        let ks = self.get(name).await;
        self.kustomize.reconcile(&ks).await
    }

    async fn ready(&self, name: &str) -> (String, String, String) {
        let ks = self.get(name).await;
        let c = ks
            .status
            .and_then(|s| s.conditions)
            .and_then(|c| c.into_iter().find(|c| c.type_ == "Ready"))
            .expect("a Ready condition");
        (c.status, c.reason, c.message)
    }

    async fn cm(&self, name: &str) -> Option<k8s_openapi::api::core::v1::ConfigMap> {
        Api::namespaced(self.client.clone(), &self.ns)
            .get_opt(name)
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn commit_applied_new_revision_reapplied_removed_file_pruned() {
    let Some(env) = env().await else { return };
    env.ks("app", json!({"path": "./app"})).await;
    env.reconcile("app").await.unwrap();
    let (status, reason, message) = env.ready("app").await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "ReconciliationSucceeded")
    );
    assert!(message.starts_with("Applied revision: main@sha1:"), "{message}");
    let cm = env.cm("app").await.unwrap();
    assert_eq!(
        cm.metadata.labels.unwrap()["kustomize.toolkit.fluxcd.io/name"],
        "app"
    );
    let st = env.get("app").await.status.unwrap();
    assert_eq!(
        st.inventory.unwrap().entries[0].id,
        format!("{}_app__ConfigMap", env.ns)
    );
    assert_eq!(st.last_applied_revision, st.last_attempted_revision);

    env.git
        .write(
            "app/cm.yaml",
            &CM.replace("NAME", "app").replace("\"1\"", "\"2\""),
        )
        .unwrap();
    env.git
        .write("app/extra.yaml", &CM.replace("NAME", "extra"))
        .unwrap();
    let sha = env.git.commit("change").unwrap();
    env.sync_source().await;
    env.reconcile("app").await.unwrap();
    assert_eq!(env.cm("app").await.unwrap().data.unwrap()["v"], "2");
    assert!(env.cm("extra").await.is_some());
    assert!(
        env.get("app")
            .await
            .status
            .unwrap()
            .last_applied_revision
            .unwrap()
            .ends_with(&sha)
    );

    env.git.remove("app/extra.yaml").unwrap();
    env.git.commit("remove").unwrap();
    env.sync_source().await;
    env.reconcile("app").await.unwrap();
    assert!(env.cm("extra").await.is_none(), "pruned");
    assert!(env.cm("app").await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn depends_on_waits_for_the_dependency() {
    let Some(env) = env().await else { return };
    env.ks("infra", json!({"path": "./infra"})).await;
    env.ks("app", json!({"path": "./app", "dependsOn": [{"name": "infra"}]}))
        .await;
    let e = env.reconcile("app").await.unwrap_err();
    assert!(matches!(e, ReconcileError::DependencyNotReady(_)), "{e:?}");
    let (status, reason, message) = env.ready("app").await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "DependencyNotReady")
    );
    assert_eq!(message, format!("dependency '{}/infra' is not ready", env.ns));
    assert!(env.cm("app").await.is_none());
    env.reconcile("infra").await.unwrap();
    env.reconcile("app").await.unwrap();
    assert!(env.cm("app").await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_health_is_reported_with_its_reason() {
    let Some(env) = env().await else { return };
    env.ks("sick", json!({"path": "./sick", "wait": true, "timeout": "10s"}))
        .await;
    let e = env.reconcile("sick").await.unwrap_err();
    assert!(matches!(e, ReconcileError::Failed(_)), "{e:?}");
    let (status, reason, message) = env.ready("sick").await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "HealthCheckFailed"));
    assert!(
        message.contains(&format!("Deployment/{}/web failed", env.ns)),
        "{message}"
    );
    // Applied, just unhealthy; the revision was attempted but not recorded as applied.
    let st = env.get("sick").await.status.unwrap();
    assert!(st.last_attempted_revision.is_some() && st.last_applied_revision.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn suspend_resume_and_requested_at() {
    let Some(env) = env().await else { return };
    env.ks("app", json!({"path": "./app", "suspend": true})).await;
    env.reconcile("app").await.unwrap();
    assert!(
        env.get("app").await.status.is_none(),
        "a suspended Kustomization is left alone"
    );
    assert!(env.cm("app").await.is_none());
    env.ks("app", json!({"path": "./app", "suspend": false})).await;
    env.kustomizations()
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "2026-11-25T10:00:00Z"}}})),
        )
        .await
        .unwrap();
    env.reconcile("app").await.unwrap();
    assert!(env.cm("app").await.is_some());
    let st = env.get("app").await.status.unwrap();
    assert_eq!(
        st.last_handled_reconcile_at.as_deref(),
        Some("2026-11-25T10:00:00Z")
    );
    assert_eq!(st.observed_generation, env.get("app").await.metadata.generation);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_path_stalls_and_changes_nothing() {
    let Some(env) = env().await else { return };
    env.ks("app", json!({"path": "./app"})).await;
    env.reconcile("app").await.unwrap();
    let before = env.get("app").await.status.unwrap();
    let rv = env.cm("app").await.unwrap().metadata.resource_version;
    env.ks("app", json!({"path": "./nowhere"})).await;
    let e = env.reconcile("app").await.unwrap_err();
    assert!(matches!(e, ReconcileError::Stalled(_)), "{e:?}");
    let ks = env.get("app").await;
    let st = ks.status.clone().unwrap();
    let stalled = st
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Stalled")
        .unwrap();
    assert_eq!(stalled.status, "True");
    assert_eq!(stalled.message, "kustomization path not found: ./nowhere");
    assert_eq!(
        st.inventory, before.inventory,
        "the inventory of the last good apply stays"
    );
    assert_eq!(st.last_applied_revision, before.last_applied_revision);
    assert_eq!(
        env.cm("app").await.unwrap().metadata.resource_version,
        rv,
        "nothing changed"
    );
    // A path climbing out of the artifact is refused the same way.
    env.ks("app", json!({"path": "../../etc"})).await;
    assert!(matches!(
        env.reconcile("app").await.unwrap_err(),
        ReconcileError::Stalled(_)
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn artifacts_are_downloaded_and_their_digest_checked() {
    let Some(env) = env_with(false).await else { return };
    env.ks("app", json!({"path": "./app"})).await;
    env.reconcile("app").await.unwrap();
    assert!(env.cm("app").await.is_some());
    // The stored file is swapped for another; a fresh cache downloads it and refuses it.
    let artifact = env.repo().await.status.unwrap().artifact.unwrap();
    let path = env.sources.storage().local_path(&artifact);
    std::fs::write(&path, b"not the artifact").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fresh =
        KustomizationReconciler::new(env.client.clone(), Arc::new(ArtifactCache::new(tmp.path(), None)));
    let ks = env.get("app").await;
    let e = fresh.reconcile(&ks).await.unwrap_err();
    assert!(matches!(e, ReconcileError::Failed(_)), "{e:?}");
    let (status, reason, message) = env.ready("app").await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "ArtifactFailed"));
    assert!(
        message.contains("has digest sha256:") && message.contains("expected"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_check_exprs_decide_health_with_cel() {
    let Some(env) = env().await else { return };
    let exprs = |current: &str| json!([{"apiVersion": "v1", "kind": "ConfigMap", "current": current, "failed": "self.data.v == 'broken'"}]);
    env.ks("app", json!({"path": "./app", "wait": true, "timeout": "5s", "healthCheckExprs": exprs("self.data.v == '1'")}))
        .await;
    env.reconcile("app").await.unwrap();
    assert_eq!(env.ready("app").await.0, "True");

    env.git
        .write(
            "app/cm.yaml",
            &CM.replace("NAME", "app").replace("\"1\"", "broken"),
        )
        .unwrap();
    env.git.commit("broken").unwrap();
    env.sync_source().await;
    env.reconcile("app").await.unwrap_err();
    let (status, reason, message) = env.ready("app").await;
    assert_eq!((status.as_str(), reason.as_str()), ("False", "HealthCheckFailed"));
    assert!(
        message.contains(&format!("ConfigMap/{}/app failed", env.ns)),
        "{message}"
    );

    env.ks(
        "app",
        json!({"path": "./app", "wait": true, "healthCheckExprs": exprs("self.data.(")}),
    )
    .await;
    assert!(matches!(
        env.reconcile("app").await.unwrap_err(),
        ReconcileError::Stalled(_)
    ));
    let (_, reason, message) = env.ready("app").await;
    assert_eq!(reason, "InvalidCELExpression");
    assert!(message.contains("invalid current expression"), "{message}");
}

async fn events(env: &Env) -> Vec<k8s_openapi::api::core::v1::Event> {
    Api::<k8s_openapi::api::core::v1::Event>::namespaced(env.client.clone(), &env.ns)
        .list(&Default::default())
        .await
        .unwrap()
        .items
}

#[tokio::test(flavor = "multi_thread")]
async fn events_carry_the_revision() {
    let Some(env) = env().await else { return };
    env.ks("app", json!({"path": "./app"})).await;
    env.reconcile("app").await.unwrap();
    let evs = events(&env).await;
    assert_eq!(evs.len(), 1, "{evs:?}");
    let e = &evs[0];
    assert_eq!(e.type_.as_deref(), Some("Normal"));
    assert_eq!(e.reason.as_deref(), Some("ReconciliationSucceeded"));
    assert_eq!(
        e.message.as_deref(),
        Some(format!("ConfigMap/{}/app created", env.ns).as_str())
    );
    assert_eq!(e.involved_object.kind.as_deref(), Some("Kustomization"));
    let rev = env
        .get("app")
        .await
        .status
        .unwrap()
        .last_applied_revision
        .unwrap();
    assert_eq!(
        e.metadata.annotations.as_ref().unwrap()["kustomize.toolkit.fluxcd.io/revision"],
        rev
    );
    // Nothing changed: no new event.
    env.reconcile("app").await.unwrap();
    assert_eq!(events(&env).await.len(), 1);
    // A failure is a Warning with the reason.
    env.ks("app", json!({"path": "./nowhere"})).await;
    env.reconcile("app").await.unwrap_err();
    let evs = events(&env).await;
    let w = evs
        .iter()
        .find(|e| e.type_.as_deref() == Some("Warning"))
        .unwrap();
    assert_eq!(w.reason.as_deref(), Some("ArtifactFailed"));
    assert_eq!(
        w.message.as_deref(),
        Some("kustomization path not found: ./nowhere")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_namespace_references_can_be_locked_down() {
    let Some(env) = env().await else { return };
    env.ks("app", json!({"path": "./app", "sourceRef": {"kind": "GitRepository", "name": "repo", "namespace": "elsewhere"}}))
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let locked =
        KustomizationReconciler::new(env.client.clone(), Arc::new(ArtifactCache::new(tmp.path(), None)))
            .with_no_cross_namespace_refs(true);
    let e = locked.reconcile(&env.get("app").await).await.unwrap_err();
    assert!(matches!(e, ReconcileError::Stalled(_)), "{e:?}");
    let (_, reason, message) = env.ready("app").await;
    assert_eq!(reason, "AccessDenied");
    assert!(
        message.contains("cross-namespace references have been blocked"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kubeconfig_secret_targets_a_remote_cluster() {
    let Some(env) = env().await else { return };
    let remote = TestApiServer::start().await.unwrap();
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "remote", "namespace": env.ns},
                        "stringData": {"value": remote.kubeconfig()}});
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(env.client.clone(), &env.ns)
        .create(&PostParams::default(), &serde_json::from_value(secret).unwrap())
        .await
        .unwrap();
    env.ks(
        "app",
        json!({"path": "./app", "kubeConfig": {"secretRef": {"name": "remote"}}}),
    )
    .await;
    let kc = kube::config::Kubeconfig::from_yaml(&remote.kubeconfig()).unwrap();
    let rc = Client::try_from(
        kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap(),
    )
    .unwrap();
    Api::<k8s_openapi::api::core::v1::Namespace>::all(rc.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": env.ns}})).unwrap(),
        )
        .await
        .unwrap();
    env.reconcile("app").await.unwrap();
    assert!(env.cm("app").await.is_none(), "not applied to the local cluster");
    let cm: Option<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(rc, &env.ns).get_opt("app").await.unwrap();
    assert!(cm.is_some(), "applied to the remote cluster");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_replica_leads_and_another_takes_over_when_it_stops() {
    use gitops_kustomize::controller::lease::{LeaseConfig, acquire};
    let server = TestApiServer::start().await.unwrap();
    let kc = kube::config::Kubeconfig::from_yaml(&server.kubeconfig()).unwrap();
    let client = Client::try_from(
        kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap(),
    )
    .unwrap();
    let cfg = |id: &str| {
        LeaseConfig::new("default", "gitops-controllers", id).timings(
            Duration::from_secs(1),
            Duration::from_millis(100),
            Duration::from_millis(50),
        )
    };
    let first = acquire(client.clone(), cfg("a")).await.unwrap();
    let waiting = tokio::spawn(acquire(client.clone(), cfg("b")));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!waiting.is_finished(), "b must wait while a renews");
    assert!(!*first.lost().borrow());
    drop(first);
    let second = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!*second.lost().borrow());
    let lease: k8s_openapi::api::coordination::v1::Lease = Api::namespaced(client, "default")
        .get("gitops-controllers")
        .await
        .unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("b"));
    assert_eq!(spec.lease_transitions, Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_kustomization_follows_its_deletion_policy() {
    let Some(env) = env().await else { return };
    let api = env.kustomizations();
    // MirrorPrune (the default) with prune: the objects go with the Kustomization.
    env.ks("app", json!({"path": "./app"})).await;
    env.reconcile("app").await.unwrap();
    assert_eq!(
        env.get("app").await.metadata.finalizers.unwrap(),
        ["finalizers.fluxcd.io"]
    );
    api.delete("app", &Default::default()).await.unwrap();
    assert!(
        env.get("app").await.metadata.deletion_timestamp.is_some(),
        "held by the finalizer"
    );
    env.reconcile("app").await.unwrap();
    assert!(env.cm("app").await.is_none(), "pruned on deletion");
    assert!(api.get_opt("app").await.unwrap().is_none(), "finalizer removed");

    // Orphan: the objects stay.
    env.ks("infra", json!({"path": "./infra", "deletionPolicy": "Orphan"}))
        .await;
    env.reconcile("infra").await.unwrap();
    api.delete("infra", &Default::default()).await.unwrap();
    env.reconcile("infra").await.unwrap();
    assert!(env.cm("infra").await.is_some(), "orphaned");
    assert!(api.get_opt("infra").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn service_account_name_is_impersonated() {
    let Some(env) = env().await else { return };
    let Some(server) = env.embedded("service_account_name_is_impersonated") else {
        return;
    };
    env.ks("app", json!({"path": "./app", "serviceAccountName": "deployer"}))
        .await;
    // Without its client configuration the controller cannot impersonate: it says so and stalls.
    let e = env.reconcile("app").await.unwrap_err();
    assert!(matches!(e, ReconcileError::Stalled(_)), "{e:?}");
    assert!(env.cm("app").await.is_none());
    let kc = kube::config::Kubeconfig::from_yaml(&server.kubeconfig()).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let storage_root = env.sources.storage().root().to_owned();
    let reconciler = KustomizationReconciler::new(
        env.client.clone(),
        Arc::new(ArtifactCache::new(tmp.path(), Some(storage_root))),
    )
    .with_client_config(cfg);
    reconciler.reconcile(&env.get("app").await).await.unwrap();
    assert!(env.cm("app").await.is_some());
    assert_eq!(
        server.impersonated_users(),
        [format!("system:serviceaccount:{}:deployer", env.ns)]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sops_encrypted_objects_never_reach_the_cluster() {
    let Some(env) = env().await else { return };
    env.git
        .write(
            "secret/s.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]\nsops:\n  mac: ENC[AES256_GCM,data:xyz,iv:a,tag:b,type:str]\n  version: 3.9.0\n",
        )
        .unwrap();
    env.git.commit("encrypted").unwrap();
    env.sync_source().await;
    env.ks("sec", json!({"path": "./secret"})).await;
    assert!(matches!(
        env.reconcile("sec").await.unwrap_err(),
        ReconcileError::Stalled(_)
    ));
    let (_, reason, message) = env.ready("sec").await;
    assert_eq!(reason, "BuildFailed");
    assert_eq!(
        message,
        format!(
            "Secret/{}/db is SOPS encrypted, configuring decryption is required for this secret to be reconciled",
            env.ns
        )
    );
    let secret: Option<k8s_openapi::api::core::v1::Secret> = Api::namespaced(env.client.clone(), &env.ns)
        .get_opt("db")
        .await
        .unwrap();
    assert!(secret.is_none());
}
