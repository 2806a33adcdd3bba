//! What the example binaries share: the controller flags and main loop behind `gitops controllers`,
//! `source-controller` and `kustomize-controller`, and loading a kubeconfig.

pub mod controllers;

use std::path::Path;

use anyhow::Context as _;

/// The runtime the binaries run on: a worker per core, and at most four threads for blocking work (file
/// I/O, Git, builds). More would not build faster on the cores there are, and each thread that allocates
/// at the same time as others may get a malloc arena of its own, which a long-running controller then
/// carries as fragmentation.
///
/// # Errors
/// The runtime cannot start (no threads).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(4)
        .build()
}

/// The client configuration from `kubeconfig`, or else from `$KUBECONFIG`, `~/.kube/config` or the
/// in-cluster service account.
///
/// # Errors
/// The file cannot be read or holds no usable context, or no configuration is found.
pub async fn kube_config(kubeconfig: Option<&Path>) -> anyhow::Result<kube::Config> {
    let config = match kubeconfig {
        Some(p) => {
            let kc =
                kube::config::Kubeconfig::read_from(p).with_context(|| format!("reading {}", p.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("loading {}", p.display()))?
        }
        None => kube::Config::infer().await.context("finding a kubeconfig")?,
    };
    Ok(config)
}
