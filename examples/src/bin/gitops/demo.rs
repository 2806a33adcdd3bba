//! `gitops demo`: commit to cluster, end to end, on loopback. An embedded API server, a Git repository
//! served over HTTP, the source and kustomize controllers in-process; a commit is applied, a change is
//! re-applied, a removed file is pruned. After each commit the demo annotates the GitRepository with
//! `reconcile.fluxcd.io/requestedAt`, as a push webhook receiver would; without it the change would land
//! within the GitRepository's 1 s interval anyway.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use gitops_apply::{Status, display, health_of};
use gitops_core::ObjectId;
use gitops_kustomize::api::{Kustomization, kustomization_crd};
use gitops_source::{api::gitrepository_crd, storage::Storage};
use gitops_testkit::{TestApiServer, git::GitServer};
use kube::{
    Api, Client,
    api::{DynamicObject, Patch, PatchParams, PostParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::{Value, json};

use gitops_kustomize::controller::Controllers;

const BASE_KUSTOMIZATION: &str = "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- deployment.yaml
- service.yaml
configMapGenerator:
- name: web-config
  literals:
  - GREETING=hello
";

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ghcr.io/stefanprodan/podinfo:6.9.0
        ports: [{containerPort: 9898, protocol: TCP}]
        envFrom: [{configMapRef: {name: web-config}}]
";

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 9898, protocol: TCP}]
";

const OVERLAY: &str = "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: demo
resources:
- namespace.yaml
- ../../base
patches:
- target: {kind: Deployment, name: web}
  patch: |
    - op: replace
      path: /spec/replicas
      value: 2
";

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n";

async fn client_for(server: &TestApiServer) -> anyhow::Result<Client> {
    let kc = kube::config::Kubeconfig::from_yaml(&server.kubeconfig())?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await?;
    Ok(Client::try_from(cfg)?)
}

fn say(msg: impl AsRef<str>) {
    #[allow(clippy::print_stdout)]
    {
        println!("{}", msg.as_ref());
    }
}

async fn ks_status(client: &Client) -> anyhow::Result<Option<Value>> {
    let ks = Api::<Kustomization>::namespaced(client.clone(), "flux-system")
        .get_opt("demo")
        .await?;
    Ok(ks.map(|k| serde_json::to_value(k.status).unwrap_or_default()))
}

/// Waits until the Kustomization applied `revision_suffix` (a commit SHA) and is Ready.
async fn wait_applied(client: &Client, sha: &str, timeout: Duration) -> anyhow::Result<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = ks_status(client).await? {
            let applied = st["lastAppliedRevision"].as_str().unwrap_or_default();
            let ready = st["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready");
            if applied.ends_with(sha) && ready.is_some_and(|c| c["status"] == "True") {
                return Ok(st);
            }
            if Instant::now() > deadline {
                let msg = ready
                    .and_then(|c| c["message"].as_str())
                    .unwrap_or("no Ready condition");
                bail!("revision {sha} was not applied in {timeout:?}: {msg}");
            }
        } else if Instant::now() > deadline {
            bail!("the Kustomization has no status after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn print_objects(client: &Client, status: &Value) -> anyhow::Result<()> {
    let entries = status["inventory"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    say(format!("inventory ({} objects):", entries.len()));
    for e in entries {
        let (Some(id), Some(v)) = (e["id"].as_str(), e["v"].as_str()) else {
            continue;
        };
        let Ok(id) = id.parse::<ObjectId>() else { continue };
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(&id.group, v, &id.kind));
        let api: Api<DynamicObject> = if id.namespace.is_empty() {
            Api::all_with(client.clone(), &ar)
        } else {
            Api::namespaced_with(client.clone(), &id.namespace, &ar)
        };
        let health = match api.get_opt(&id.name).await? {
            Some(o) => health_of(&serde_json::to_value(o)?),
            None => gitops_apply::Health {
                status: Status::NotFound,
                message: "not found".into(),
            },
        };
        say(format!(
            "  {:<40} {:<11} {}",
            display(&id),
            health.status.to_string(),
            health.message
        ));
    }
    Ok(())
}

/// Server-side applies one object of `flux-system`.
async fn apply_object(
    client: &Client,
    api_version: &str,
    kind: &str,
    name: &str,
    spec: Value,
) -> anyhow::Result<()> {
    let (g, v) = api_version.split_once('/').unwrap_or(("", api_version));
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(g, v, kind));
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "flux-system", &ar);
    let obj = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": "flux-system"}, "spec": spec});
    api.patch(name, &PatchParams::apply("demo"), &Patch::Apply(&obj))
        .await
        .with_context(|| format!("creating {kind} {name}"))?;
    Ok(())
}

/// Asks for a reconcile of the GitRepository now, as a push webhook receiver or `flux reconcile` does.
async fn notify_push(client: &Client) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now().to_string();
    Api::<gitops_source::api::GitRepository>::namespaced(client.clone(), "flux-system")
        .patch(
            "demo",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {gitops_source::controller::REQUESTED_AT: now}}}),
            ),
        )
        .await?;
    Ok(())
}

fn write_app(git: &GitServer) -> anyhow::Result<()> {
    git.write("apps/base/kustomization.yaml", BASE_KUSTOMIZATION)?
        .write("apps/base/deployment.yaml", DEPLOYMENT)?
        .write("apps/base/service.yaml", SERVICE)?
        .write("apps/overlays/demo/kustomization.yaml", OVERLAY)?
        .write("apps/overlays/demo/namespace.yaml", NAMESPACE)?;
    Ok(())
}

/// Runs the demo; with `keep_running`, serves until Ctrl-C after it.
pub(crate) async fn run(keep_running: bool, kubeconfig_out: Option<&Path>) -> anyhow::Result<()> {
    let started = Instant::now();
    let server = TestApiServer::start()
        .await
        .context("starting the embedded API server")?;
    server.simulate_workloads(true);
    let client = client_for(&server).await?;
    say(format!("API server        {}", server.url()));

    let git = GitServer::start("demo")
        .await
        .context("starting the Git server (the demo needs the git program: apt install git)")?;
    write_app(&git)?;
    let first = git.commit("demo app")?;
    say(format!(
        "Git repository    {} (main@sha1:{})",
        git.url(),
        &first[..12]
    ));

    let tmp = tempfile::tempdir()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let storage = Storage::new(tmp.path().join("storage"), &listener.local_addr()?.to_string())?;
    let serving = storage.clone();
    tokio::spawn(async move { gitops_source::server::serve(listener, serving).await });
    say(format!("artifact storage  {}", storage.url_of("")));

    // The CRDs, then the two objects a Flux user would commit.
    let crds: Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = Api::all(client.clone());
    for crd in [gitrepository_crd(), kustomization_crd()] {
        crds.create(&PostParams::default(), &crd)
            .await
            .context("creating the CRDs")?;
    }
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}});
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .create(&PostParams::default(), &serde_json::from_value(ns)?)
        .await?;
    apply_object(
        &client,
        "source.toolkit.fluxcd.io/v1",
        "GitRepository",
        "demo",
        json!({"url": git.url(), "interval": "1s", "ref": {"branch": "main"}}),
    )
    .await?;
    apply_object(
        &client,
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization",
        "demo",
        json!({"interval": "10m", "path": "./apps/overlays/demo", "prune": true, "wait": true, "timeout": "30s",
               "sourceRef": {"kind": "GitRepository", "name": "demo"}}),
    )
    .await?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let controllers = Controllers::new(
        client.clone(),
        storage,
        &tmp.path().join("cache"),
        Duration::from_millis(100),
    );
    let running = tokio::spawn(controllers.run(stop_rx));

    let t = Instant::now();
    let st = wait_applied(&client, &first, Duration::from_secs(60)).await?;
    say(format!(
        "\n[1] commit {} applied in {} ms: {}",
        &first[..12],
        t.elapsed().as_millis(),
        st["lastAppliedRevision"].as_str().unwrap_or_default()
    ));
    print_objects(&client, &st).await?;

    // A change: three replicas and a new greeting.
    git.write(
        "apps/overlays/demo/kustomization.yaml",
        &OVERLAY.replace("value: 2", "value: 3"),
    )?
    .write(
        "apps/base/kustomization.yaml",
        &BASE_KUSTOMIZATION.replace("hello", "bonjour"),
    )?;
    let second = git.commit("three replicas, French")?;
    let t = Instant::now();
    notify_push(&client).await?;
    let st = wait_applied(&client, &second, Duration::from_secs(60)).await?;
    let replicas = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), "demo")
        .get("web")
        .await?
        .spec
        .replicas
        .unwrap_or_default();
    say(format!(
        "\n[2] commit {} (replicas 2 -> 3, new config) applied in {} ms; Deployment/demo/web has {replicas} replicas",
        &second[..12],
        t.elapsed().as_millis()
    ));
    print_objects(&client, &st).await?;

    // A deletion: the Service leaves Git and the cluster.
    git.remove("apps/base/service.yaml")?.write(
        "apps/base/kustomization.yaml",
        &BASE_KUSTOMIZATION
            .replace("hello", "bonjour")
            .replace("- service.yaml\n", ""),
    )?;
    let third = git.commit("no more Service")?;
    let t = Instant::now();
    notify_push(&client).await?;
    let st = wait_applied(&client, &third, Duration::from_secs(60)).await?;
    let service = Api::<k8s_openapi::api::core::v1::Service>::namespaced(client.clone(), "demo")
        .get_opt("web")
        .await?;
    if service.is_some() {
        bail!("Service/demo/web was not pruned");
    }
    say(format!(
        "\n[3] commit {} (service.yaml deleted) applied in {} ms; Service/demo/web pruned",
        &third[..12],
        t.elapsed().as_millis()
    ));
    print_objects(&client, &st).await?;
    say(format!(
        "\ndemo finished in {:.1} s",
        started.elapsed().as_secs_f64()
    ));

    if keep_running {
        let path = match kubeconfig_out {
            Some(p) => p.to_owned(),
            None => tmp.path().join("kubeconfig"),
        };
        std::fs::write(&path, server.kubeconfig())?;
        say(format!(
            "\nstill running; try: kubectl --kubeconfig {} get kustomizations,gitrepositories -A\ncommit to {} (working copy {}) and watch it apply; Ctrl-C to stop",
            path.display(),
            git.url(),
            git.work_dir().display()
        ));
        tokio::signal::ctrl_c().await?;
    }
    let _ = stop_tx.send(true);
    let _ = running.await;
    Ok(())
}
