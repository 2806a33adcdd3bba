//! The controllers' main: flags as Flux's controllers spell them, leader election, the artifact server,
//! `/metrics`, `/healthz` and `/readyz`, and a clean stop on Ctrl-C or SIGTERM.

use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;
use gitops_core::metrics::Metrics;
use gitops_kustomize::controller::{
    Controllers, Role, lease,
    ops::{self, Readiness},
};
use tokio::net::TcpListener;

/// The flags every controller binary takes.
#[derive(clap::Args, Debug, Clone)]
pub struct Flags {
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config or the in-cluster config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Where artifacts and the unpacked-artifact cache live.
    #[arg(long, default_value = "/tmp/gitops-controllers")]
    pub storage_path: PathBuf,
    /// Address the artifact server listens on (source-controller).
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub storage_addr: String,
    /// Address written into artifact URLs (default: the listening address).
    #[arg(long)]
    pub storage_adv_addr: Option<String>,
    /// Refuse sources and dependencies in other namespaces (multi-tenancy lockdown).
    #[arg(long)]
    pub no_cross_namespace_refs: bool,
    /// Only work while holding this process's Lease in this namespace, so that one of several replicas
    /// is active.
    #[arg(long)]
    pub leader_election_namespace: Option<String>,
    /// Address of the Prometheus `/metrics` endpoint (Go style `:8080` means every interface; empty
    /// turns it off).
    #[arg(long, default_value = ":8080")]
    pub metrics_addr: String,
    /// Address of the `/healthz` and `/readyz` probes (empty turns them off).
    #[arg(long, default_value = ":9440")]
    pub health_addr: String,
    /// How many Kustomizations are reconciled at once.
    #[arg(long, default_value_t = 8)]
    pub concurrent: usize,
}

/// `host:port` from Go's `:port` spelling.
fn listen_addr(addr: &str) -> String {
    if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_owned()
    }
}

async fn bind(addr: &str, what: &str) -> anyhow::Result<Option<TcpListener>> {
    if addr.is_empty() {
        return Ok(None);
    }
    let l = TcpListener::bind(listen_addr(addr))
        .await
        .with_context(|| format!("binding the {what} to {addr}"))?;
    Ok(Some(l))
}

/// Runs the controllers of `role` until Ctrl-C or SIGTERM (or, under leader election, until the Lease is
/// lost, which is an error).
///
/// # Errors
/// No cluster configuration, an address that cannot be bound, leader election failing or lost.
pub async fn run(flags: Flags, role: Role) -> anyhow::Result<()> {
    let client_config = crate::kube_config(flags.kubeconfig.as_deref()).await?;
    let client = kube::Client::try_from(client_config.clone()).context("creating the Kubernetes client")?;
    let lease_name = match role {
        Role::Sources => "gitops-source-controller",
        Role::Kustomizations => "gitops-kustomize-controller",
        _ => "gitops-controllers",
    };
    // Probes and metrics answer while waiting for the Lease: a standby replica is alive, just not ready.
    let metrics = Metrics::new();
    let readiness = Readiness::new();
    for (addr, what) in [
        (&flags.metrics_addr, "metrics"),
        (&flags.health_addr, "health probes"),
    ] {
        if let Some(l) = bind(addr, what).await? {
            eprintln!("serving {what} at http://{}", l.local_addr()?);
            tokio::spawn(ops::serve(l, metrics.clone(), readiness.clone()));
        }
    }
    let leadership = match &flags.leader_election_namespace {
        Some(ns) => {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
            let identity = format!("{host}_{}", std::process::id());
            eprintln!("waiting for Lease {ns}/{lease_name} as {identity}");
            let l = lease::acquire(client.clone(), lease::LeaseConfig::new(ns, lease_name, identity))
                .await
                .with_context(|| format!("leader election on Lease {ns}/{lease_name}"))?;
            eprintln!("leading");
            Some(l)
        }
        None => None,
    };
    // The kustomize-controller alone serves no artifacts: it downloads them from the source-controller.
    let adv = if role == Role::Kustomizations {
        flags
            .storage_adv_addr
            .clone()
            .unwrap_or_else(|| flags.storage_addr.clone())
    } else {
        let listener = bind(&flags.storage_addr, "artifact server")
            .await?
            .context("--storage-addr must not be empty")?;
        let adv = match &flags.storage_adv_addr {
            Some(a) => a.clone(),
            None => listener.local_addr()?.to_string(),
        };
        let storage = gitops_source::storage::Storage::new(flags.storage_path.join("artifacts"), &adv)?;
        eprintln!("serving artifacts at {}", storage.url_of(""));
        tokio::spawn(gitops_source::server::serve(listener, storage));
        adv
    };
    let storage = gitops_source::storage::Storage::new(flags.storage_path.join("artifacts"), &adv)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let controllers = Controllers::new(
        client,
        storage,
        &flags.storage_path.join("cache"),
        Duration::from_millis(200),
    )
    .with_role(role)
    .with_concurrency(flags.concurrent)
    .with_no_cross_namespace_refs(flags.no_cross_namespace_refs)
    .with_client_config(client_config)
    .with_metrics(metrics)
    .with_readiness(readiness);
    let running = tokio::spawn(controllers.run(stop_rx));
    eprintln!("controllers running ({role:?}; Ctrl-C to stop)");
    let mut lost = leadership.as_ref().map(lease::Leadership::lost);
    let lost_leadership = async {
        match lost.as_mut() {
            Some(rx) => {
                let _ = rx.wait_for(|l| *l).await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let result = tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(anyhow::Error::from),
        () = terminated() => Ok(()),
        () = lost_leadership => Err(anyhow::anyhow!("leadership lost")),
    };
    let _ = stop_tx.send(true);
    let _ = running.await;
    result
}

/// SIGTERM, how Kubernetes stops a pod.
async fn terminated() {
    #[cfg(unix)]
    if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        s.recv().await;
        return;
    }
    std::future::pending::<()>().await;
}

/// The `main` of a single-controller binary: tracing to stderr, a runtime, [`run`], exit status 1 with a
/// one-line error.
pub fn main_of(role: Role, flags: Flags) -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GITOPS_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = crate::runtime()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run(flags, role)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
