//! `gitops apply` and `gitops diff`: manifests from a directory or stdin, applied with gitops-apply and
//! tracked by an inventory ConfigMap.

use std::{
    io::Read as _,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, bail};
use gitops_apply::{Config, Inventory, SsaApplier, display};
use gitops_core::{Action, ApplyOptions, ChangeSet, ObjectId};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::{Value, json};

/// What both commands take.
#[derive(clap::Args)]
pub(crate) struct Target {
    /// A directory (built with kustomize when it holds a kustomization, else every .yaml, .yml and
    /// .json file in it), a file, or `-` for standard input.
    pub(crate) path: String,
    /// Name of this set of manifests: the inventory ConfigMap's name and the owner label's value.
    #[arg(long)]
    pub(crate) name: String,
    /// Namespace of the inventory ConfigMap, and of namespaced objects that name none.
    #[arg(long, default_value = "default")]
    pub(crate) namespace: String,
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config or the in-cluster config).
    #[arg(long)]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Server-side apply field manager.
    #[arg(long, default_value = "gitops")]
    pub(crate) field_manager: String,
    /// Delete objects that left the set since the last apply.
    #[arg(long)]
    pub(crate) prune: bool,
}

/// The label naming which set an object belongs to.
const OWNER_NAME: &str = "apply.gitops-rs.io/name";
/// The label naming the namespace of that set.
const OWNER_NAMESPACE: &str = "apply.gitops-rs.io/namespace";
/// The inventory ConfigMap's data key.
const INVENTORY_KEY: &str = "inventory";

/// Reads every manifest under `path`, naming the file of any that does not parse.
fn read_manifests(path: &str) -> anyhow::Result<Vec<Value>> {
    let limits = gitops_core::yaml::Limits::default();
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
        return flatten(gitops_core::yaml::from_str_multi(&text, &limits).context("parsing standard input")?);
    }
    let p = Path::new(path);
    if p.is_dir() {
        let kustomized = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
            .iter()
            .any(|f| p.join(f).is_file());
        if kustomized {
            return gitops_kustomize::build(Path::new("/"), p)
                .with_context(|| format!("building {}", p.display()));
        }
        let mut files = Vec::new();
        collect_files(p, &mut files)?;
        files.sort();
        let mut out = Vec::new();
        for f in files {
            out.extend(read_file(&f, &limits)?);
        }
        return Ok(out);
    }
    read_file(p, &limits)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        let path = e.path();
        let ft = e.file_type()?;
        if ft.is_dir() {
            collect_files(&path, out)?;
        } else if ft.is_file()
            && path
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"))
        {
            out.push(path);
        }
    }
    Ok(())
}

fn read_file(f: &Path, limits: &gitops_core::yaml::Limits) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
    let docs = gitops_core::yaml::from_str_multi(&text, limits)
        .with_context(|| format!("parsing {}", f.display()))?;
    flatten(docs).with_context(|| format!("in {}", f.display()))
}

/// Expands `List` kinds into their items; every document must be a mapping.
fn flatten(docs: Vec<Value>) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for (i, d) in docs.into_iter().enumerate() {
        if !d.is_object() {
            bail!("document {} is not a mapping", i + 1);
        }
        let is_list = d["kind"].as_str().is_some_and(|k| k.ends_with("List")) && d["items"].is_array();
        if is_list {
            out.extend(d["items"].as_array().into_iter().flatten().cloned());
        } else {
            out.push(d);
        }
    }
    Ok(out)
}

/// The client configuration from `kubeconfig`, or the default one.
pub(crate) async fn config(kubeconfig: Option<&Path>) -> anyhow::Result<kube::Config> {
    gitops_examples::kube_config(kubeconfig).await
}

pub(crate) async fn client(kubeconfig: Option<&Path>) -> anyhow::Result<Client> {
    Client::try_from(config(kubeconfig).await?).context("creating the Kubernetes client")
}

fn applier(t: &Target, client: Client) -> SsaApplier {
    let config = Config::default()
        .owner_label(OWNER_NAME, &t.name)
        .owner_label(OWNER_NAMESPACE, &t.namespace)
        .default_namespace(&t.namespace)
        .poll_interval(Duration::from_millis(500));
    SsaApplier::with_config(client, config)
}

fn inventory_api(client: &Client, t: &Target) -> Api<k8s_openapi::api::core::v1::ConfigMap> {
    Api::namespaced(client.clone(), &t.namespace)
}

async fn load_inventory(client: &Client, t: &Target) -> anyhow::Result<Inventory> {
    let cm = inventory_api(client, t)
        .get_opt(&t.name)
        .await
        .with_context(|| format!("reading the inventory ConfigMap {}/{}", t.namespace, t.name))?;
    let Some(text) = cm.and_then(|c| c.data).and_then(|mut d| d.remove(INVENTORY_KEY)) else {
        return Ok(Inventory::default());
    };
    serde_json::from_str(&text)
        .with_context(|| format!("parsing the inventory in ConfigMap {}/{}", t.namespace, t.name))
}

async fn save_inventory(client: &Client, t: &Target, inv: &Inventory, manager: &str) -> anyhow::Result<()> {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": t.name, "namespace": t.namespace, "labels": {OWNER_NAME: t.name, OWNER_NAMESPACE: t.namespace}},
        "data": {INVENTORY_KEY: serde_json::to_string(inv)?}});
    inventory_api(client, t)
        .patch(&t.name, &PatchParams::apply(manager).force(), &Patch::Apply(&cm))
        .await
        .with_context(|| format!("saving the inventory ConfigMap {}/{}", t.namespace, t.name))?;
    Ok(())
}

#[allow(clippy::print_stdout)]
fn report(cs: &ChangeSet) {
    for c in &cs.changes {
        println!("{} {}", display(&c.id), c.action);
    }
    for (_, e) in &cs.failed {
        eprintln!("error: {e}");
    }
}

/// `gitops apply`: exit status 0 only when every object applied (and, with `--wait`, became healthy).
pub(crate) async fn apply(t: Target, wait: bool, timeout: Duration) -> anyhow::Result<bool> {
    let objects = read_manifests(&t.path)?;
    let client = client(t.kubeconfig.as_deref()).await?;
    let applier = applier(&t, client.clone());
    let previous = load_inventory(&client, &t).await?;
    let opts = ApplyOptions::new(&t.field_manager);
    let (cs, inventory) = applier.sync(&objects, &previous, t.prune, &opts).await?;
    report(&cs);
    if inventory != previous {
        save_inventory(&client, &t, &inventory, &t.field_manager).await?;
    }
    if !cs.is_ok() {
        return Ok(false);
    }
    if wait {
        let ids: Vec<(ObjectId, String)> = cs
            .changes
            .iter()
            .filter(|c| matches!(c.action, Action::Created | Action::Configured | Action::Unchanged))
            .map(|c| (c.id.clone(), c.version.clone()))
            .collect();
        eprintln!("waiting for {} objects to become ready", ids.len());
        if let Err(e) = applier.wait(&ids, timeout).await {
            eprintln!("error: {e}");
            return Ok(false);
        }
        eprintln!("all objects are ready");
    }
    Ok(true)
}

/// `gitops diff`: prints what `gitops apply` would change. Returns whether nothing would.
pub(crate) async fn diff(t: Target) -> anyhow::Result<bool> {
    let objects = read_manifests(&t.path)?;
    let client = client(t.kubeconfig.as_deref()).await?;
    let applier = applier(&t, client.clone());
    let opts = ApplyOptions::new(&t.field_manager);
    let (diffs, failed) = applier.diff(&objects, &opts).await?;
    let previous = if t.prune {
        Some(load_inventory(&client, &t).await?)
    } else {
        None
    };
    print_diffs(&diffs, &failed, previous.as_ref())
}

/// Prints what would be created, what drifted (with its diff) and, given the previous inventory, what
/// would be pruned. Returns whether nothing would change.
///
/// # Errors
/// Some objects could not be compared (each is printed).
#[allow(clippy::print_stdout)]
pub(crate) fn print_diffs(
    diffs: &[gitops_apply::ObjectDiff],
    failed: &[(ObjectId, gitops_core::BoxError)],
    previous: Option<&Inventory>,
) -> anyhow::Result<bool> {
    let mut same = true;
    for d in diffs {
        if matches!(d.action, Action::Created | Action::Configured) {
            same = false;
            let verb = if d.action == Action::Created {
                "created"
            } else {
                "drifted"
            };
            println!("► {} {verb}", display(&d.id));
            if let Some(text) = &d.diff {
                print!("{text}");
            }
        }
    }
    if let Some(previous) = previous {
        let mut desired = Inventory::default();
        for id in diffs.iter().map(|d| &d.id).chain(failed.iter().map(|(id, _)| id)) {
            desired.insert(id, "");
        }
        for (id, _) in previous.stale(&desired) {
            same = false;
            println!("► {} deleted", display(&id));
        }
    }
    for (_, e) in failed {
        eprintln!("error: {e}");
    }
    if !failed.is_empty() {
        bail!("{} objects could not be compared", failed.len());
    }
    Ok(same)
}
