//! What the example binaries share: the controller flags and main loop behind `gitops controllers`,
//! `source-controller` and `kustomize-controller`, and loading a kubeconfig.

pub mod controllers;

use std::path::Path;

use anyhow::Context as _;

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
