//! Controllers benchmark, after flux-benchmark's "Mean Time To Production": N Kustomizations on one
//! GitRepository, each applying a Deployment, ServiceAccount, Service and Ingress into its own namespace,
//! reconciled to Ready by `gitops controllers` (the source and kustomize controllers in one process, as
//! deployed) on the embedded API server (simulated workload controllers make the Deployments
//! available). Reports the time until every Kustomization is Ready and the peak memory of the
//! controllers' process and, separately, of the API server (`gitops testkit serve`); both are child
//! processes of this driver, which serves Git and polls for readiness. Then the change latency:
//! commits with a 1 s GitRepository interval and no webhook, time from push to applied, p50 and max.
//!
//! Flux v2.9 for reference (flux-benchmark RESULTS.md): 1,000 Kustomizations in 4m13s, 223 MiB, on a
//! 16-core kind cluster.
//!
//! Usage: `cargo build --release -p gitops-examples -p gitops-benches &&
//!         target/release/bench-controllers [--kustomizations 1000] [--commits 10] [--gitops PATH]`

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use gitops_kustomize::api::{Kustomization, kustomization_crd};
use gitops_source::api::gitrepository_crd;
use gitops_testkit::git::GitServer;
use kube::{
    Api, Client,
    api::{DynamicObject, ListParams, Patch, PatchParams, PostParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::json;

const APP: &[(&str, &str)] = &[
    (
        "app/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: podinfo}}\n  template:\n    metadata: {labels: {app: podinfo}}\n    spec:\n      serviceAccountName: podinfo\n      containers:\n      - name: podinfo\n        image: ghcr.io/stefanprodan/podinfo:6.9.0\n        ports: [{containerPort: 9898, protocol: TCP}]\n        env: [{name: REVISION, value: \"1\"}]\n",
    ),
    (
        "app/serviceaccount.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: podinfo\n",
    ),
    (
        "app/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: podinfo\nspec:\n  selector: {app: podinfo}\n  ports: [{port: 9898, targetPort: 9898, protocol: TCP}]\n",
    ),
    (
        "app/ingress.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: podinfo\nspec:\n  rules:\n  - host: podinfo.example.com\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend: {service: {name: podinfo, port: {number: 9898}}}\n",
    ),
];

async fn ready_count(client: &Client, revision_suffix: Option<&str>) -> anyhow::Result<usize> {
    let list = Api::<Kustomization>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    Ok(list
        .items
        .iter()
        .filter(|k| {
            let Some(st) = &k.status else { return false };
            let ready = st
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            ready
                && revision_suffix.is_none_or(|s| {
                    st.last_applied_revision
                        .as_deref()
                        .is_some_and(|r| r.ends_with(s))
                })
        })
        .count())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let mut n = 1000usize;
    let mut commits = 10usize;
    let mut gitops = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/gitops");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| anyhow::anyhow!("{a} needs a value"));
        match a.as_str() {
            "--kustomizations" => n = val()?.parse()?,
            "--commits" => commits = val()?.parse()?,
            "--gitops" => gitops = val()?.into(),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    anyhow::ensure!(
        gitops.exists(),
        "{} not found (cargo build --release -p gitops-examples)",
        gitops.display()
    );
    let tmp = tempfile::tempdir()?;
    let kubeconfig = tmp.path().join("kubeconfig");
    let mut api_server = tokio::process::Command::new(&gitops)
        .args(["testkit", "serve", "--simulate-workloads", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let api_pid = api_server.id().map(|p| p.to_string()).unwrap_or_default();
    let started = Instant::now();
    while !kubeconfig.exists() {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(10),
            "the API server did not start"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig)?;
    let client = Client::try_from(kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?)?;
    let crds: Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = Api::all(client.clone());
    for crd in [gitrepository_crd(), kustomization_crd()] {
        crds.create(&PostParams::default(), &crd).await?;
    }
    let git = GitServer::start("bench").await?;
    for (path, text) in APP {
        git.write(path, text)?;
    }
    git.commit("podinfo")?;
    let put = |api_version: &'static str,
               kind: &'static str,
               ns: String,
               name: String,
               spec: serde_json::Value| {
        let client = client.clone();
        async move {
            let (g, v) = api_version.split_once('/').unwrap_or(("", api_version));
            let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(g, v, kind));
            let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &ar);
            let obj = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec});
            api.patch(&name, &PatchParams::apply("bench"), &Patch::Apply(&obj))
                .await
        }
    };
    put(
        "source.toolkit.fluxcd.io/v1",
        "GitRepository",
        "default".into(),
        "podinfo".into(),
        json!({"url": git.url(), "interval": "1s", "ref": {"branch": "main"}}),
    )
    .await?;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    for i in 0..n {
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": format!("app-{i}")}}))?,
            )
            .await?;
        put(
            "kustomize.toolkit.fluxcd.io/v1",
            "Kustomization",
            "default".into(),
            format!("app-{i}"),
            json!({"interval": "60m", "path": "./app", "prune": true, "wait": true, "timeout": "5m",
                   "targetNamespace": format!("app-{i}"), "sourceRef": {"kind": "GitRepository", "name": "podinfo"}}),
        )
        .await?;
    }
    println!("{n} Kustomizations (Deployment, ServiceAccount, Service, Ingress each) on one GitRepository");
    let t = Instant::now();
    let mut controllers = tokio::process::Command::new(&gitops)
        .arg("controllers")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--storage-path")
        .arg(tmp.path().join("controllers"))
        .args([
            "--storage-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--health-addr",
            "",
        ])
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let controllers_pid = controllers.id().map(|p| p.to_string()).unwrap_or_default();
    loop {
        let ready = ready_count(&client, None).await?;
        if ready == n {
            break;
        }
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(600),
            "only {ready}/{n} Ready after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_ready = t.elapsed();
    println!(
        "all {n} Ready in {:.1}s ({:.0} Kustomizations/s); peak memory: controllers {} MiB, API server {} MiB",
        all_ready.as_secs_f64(),
        n as f64 / all_ready.as_secs_f64(),
        gitops_benches::peak_rss_mib(&controllers_pid),
        gitops_benches::peak_rss_mib(&api_pid),
    );
    // Change latency with polling only: the GitRepository's 1 s interval, no webhook.
    let mut latencies = Vec::new();
    let mut all_latencies = Vec::new();
    for c in 0..commits {
        git.write(
            APP[0].0,
            &APP[0].1.replace("value: \"1\"", &format!("value: \"{}\"", c + 2)),
        )?;
        let sha = git.commit(&format!("revision {}", c + 2))?;
        let t = Instant::now();
        loop {
            let done = Api::<Kustomization>::namespaced(client.clone(), "default")
                .get("app-0")
                .await?
                .status
                .and_then(|s| s.last_applied_revision)
                .is_some_and(|r| r.ends_with(&sha));
            if done {
                break;
            }
            anyhow::ensure!(
                t.elapsed() < Duration::from_secs(60),
                "commit {sha} not applied in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        latencies.push(t.elapsed());
        // Every Kustomization on this revision before the next commit.
        while ready_count(&client, Some(&sha)).await? < n {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        all_latencies.push(t.elapsed());
    }
    if !latencies.is_empty() {
        latencies.sort();
        all_latencies.sort();
        println!(
            "change latency over {commits} commits (push -> applied, 1 s interval, no webhook): first Kustomization p50 {} ms, max {} ms; all {n} p50 {} ms, max {} ms",
            latencies[latencies.len() / 2].as_millis(),
            latencies[latencies.len() - 1].as_millis(),
            all_latencies[all_latencies.len() / 2].as_millis(),
            all_latencies[all_latencies.len() - 1].as_millis()
        );
    }
    println!(
        "controllers' peak memory over the whole run: {} MiB",
        gitops_benches::peak_rss_mib(&controllers_pid)
    );
    let _ = controllers.kill().await;
    let _ = api_server.kill().await;
    Ok(())
}
