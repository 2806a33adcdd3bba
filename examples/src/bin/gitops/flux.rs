//! The flux-like verbs: `create`, `get`, `reconcile`, `suspend`, `resume`, `build kustomization` and the
//! all-in-one `controllers` mode.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use gitops_kustomize::api::Kustomization;
use gitops_source::{api::GitRepository, controller::REQUESTED_AT};
use kube::{
    Api, Client, ResourceExt as _,
    api::{ListParams, Patch, PatchParams},
};
use serde_json::{Value, json};

/// Which kind a verb acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    /// GitRepository (`source git`).
    #[value(name = "source-git")]
    SourceGit,
    /// Kustomization.
    Kustomization,
}

impl Kind {
    fn api_version(self) -> &'static str {
        match self {
            Self::SourceGit => "source.toolkit.fluxcd.io/v1",
            Self::Kustomization => "kustomize.toolkit.fluxcd.io/v1",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Self::SourceGit => "GitRepository",
            Self::Kustomization => "Kustomization",
        }
    }
}

/// Options of `create source git`.
#[derive(clap::Args)]
pub(crate) struct CreateSourceGit {
    /// Object name.
    pub(crate) name: String,
    /// Repository URL (http, https or ssh).
    #[arg(long)]
    pub(crate) url: String,
    /// Branch (default `master` when no other reference is given).
    #[arg(long)]
    pub(crate) branch: Option<String>,
    /// Tag.
    #[arg(long)]
    pub(crate) tag: Option<String>,
    /// Semver range over tags.
    #[arg(long)]
    pub(crate) tag_semver: Option<String>,
    /// Commit SHA.
    #[arg(long)]
    pub(crate) commit: Option<String>,
    /// Secret with credentials.
    #[arg(long)]
    pub(crate) secret_ref: Option<String>,
    /// How often to check for new commits.
    #[arg(long, default_value = "1m")]
    pub(crate) interval: String,
    /// `.sourceignore`-syntax patterns.
    #[arg(long)]
    pub(crate) ignore_paths: Option<String>,
}

/// Options of `create kustomization`.
#[derive(clap::Args)]
pub(crate) struct CreateKustomization {
    /// Object name.
    pub(crate) name: String,
    /// The source, `[Kind/]name[.namespace]` (Kind defaults to GitRepository).
    #[arg(long)]
    pub(crate) source: String,
    /// Path in the source.
    #[arg(long, default_value = "./")]
    pub(crate) path: String,
    /// Delete objects that left the source.
    #[arg(long)]
    pub(crate) prune: bool,
    /// How often to reconcile.
    #[arg(long, default_value = "1m")]
    pub(crate) interval: String,
    /// Namespace set on every namespaced object.
    #[arg(long)]
    pub(crate) target_namespace: Option<String>,
    /// Wait for every applied object to be healthy.
    #[arg(long)]
    pub(crate) wait: bool,
    /// Timeout of build, apply and health checks (`spec.timeout`).
    #[arg(long)]
    pub(crate) health_check_timeout: Option<String>,
    /// Kustomizations that must be ready first, `name[.namespace]`.
    #[arg(long)]
    pub(crate) depends_on: Vec<String>,
}

fn name_ns(s: &str) -> (String, Option<String>) {
    match s.split_once('.') {
        Some((n, ns)) => (n.to_owned(), Some(ns.to_owned())),
        None => (s.to_owned(), None),
    }
}

/// The GitRepository `create source git` makes.
pub(crate) fn source_git_object(o: &CreateSourceGit, namespace: &str) -> Value {
    let mut reference = serde_json::Map::new();
    for (k, v) in [
        ("branch", &o.branch),
        ("tag", &o.tag),
        ("semver", &o.tag_semver),
        ("commit", &o.commit),
    ] {
        if let Some(v) = v {
            reference.insert(k.into(), json!(v));
        }
    }
    if reference.is_empty() {
        reference.insert("branch".into(), json!("master"));
    }
    let mut spec = json!({"interval": o.interval, "ref": reference, "url": o.url});
    if let Some(s) = &o.secret_ref {
        spec["secretRef"] = json!({"name": s});
    }
    if let Some(i) = &o.ignore_paths {
        spec["ignore"] = json!(i);
    }
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
           "metadata": {"name": o.name, "namespace": namespace}, "spec": spec})
}

/// The Kustomization `create kustomization` makes.
pub(crate) fn kustomization_object(o: &CreateKustomization, namespace: &str) -> anyhow::Result<Value> {
    let (kind, rest) = match o.source.split_once('/') {
        Some((k, r)) => (k.to_owned(), r),
        None => ("GitRepository".to_owned(), o.source.as_str()),
    };
    if !["GitRepository", "OCIRepository", "Bucket", "ExternalArtifact"].contains(&kind.as_str()) {
        bail!(
            "--source: unsupported kind {kind:?}, expected GitRepository, OCIRepository, Bucket or ExternalArtifact"
        );
    }
    let (name, ns) = name_ns(rest);
    let mut source_ref = json!({"kind": kind, "name": name});
    if let Some(ns) = ns {
        source_ref["namespace"] = json!(ns);
    }
    let mut spec = json!({"interval": o.interval, "path": o.path, "prune": o.prune, "sourceRef": source_ref});
    if let Some(t) = &o.target_namespace {
        spec["targetNamespace"] = json!(t);
    }
    if o.wait {
        spec["wait"] = json!(true);
    }
    if let Some(t) = &o.health_check_timeout {
        spec["timeout"] = json!(t);
    }
    if !o.depends_on.is_empty() {
        spec["dependsOn"] = o
            .depends_on
            .iter()
            .map(|d| {
                let (n, ns) = name_ns(d);
                match ns {
                    Some(ns) => json!({"name": n, "namespace": ns}),
                    None => json!({"name": n}),
                }
            })
            .collect();
    }
    Ok(
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
              "metadata": {"name": o.name, "namespace": namespace}, "spec": spec}),
    )
}

/// Prints `obj` as YAML (`--export`) or applies it.
pub(crate) async fn create(obj: Value, export: bool, kubeconfig: Option<&Path>) -> anyhow::Result<()> {
    if export {
        std::io::Write::write_all(
            &mut std::io::stdout().lock(),
            gitops_core::yaml::to_string_multi(&[obj]).as_bytes(),
        )?;
        return Ok(());
    }
    let client = crate::apply::client(kubeconfig).await?;
    let kind = obj["kind"].as_str().unwrap_or_default().to_owned();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    let ns = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let api = dynamic(
        &client,
        obj["apiVersion"].as_str().unwrap_or_default(),
        &kind,
        &ns,
    );
    api.patch(&name, &PatchParams::apply("gitops").force(), &Patch::Apply(&obj))
        .await
        .with_context(|| format!("applying {kind} {ns}/{name}"))?;
    eprintln!("✔ {kind} {ns}/{name} created");
    Ok(())
}

fn dynamic(client: &Client, api_version: &str, kind: &str, ns: &str) -> Api<kube::api::DynamicObject> {
    let (g, v) = api_version.split_once('/').unwrap_or(("", api_version));
    let ar = kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(g, v, kind));
    Api::namespaced_with(client.clone(), ns, &ar)
}

fn ready_of(
    conditions: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>,
) -> (String, String) {
    conditions
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map_or(("Unknown".into(), String::new()), |c| {
            (c.status.clone(), c.message.clone())
        })
}

/// `get sources git` / `get kustomizations`: Flux's table.
#[allow(clippy::print_stdout)]
pub(crate) async fn get(
    kind: Kind,
    namespace: &str,
    all: bool,
    kubeconfig: Option<&Path>,
) -> anyhow::Result<()> {
    let client = crate::apply::client(kubeconfig).await?;
    let mut rows: Vec<[String; 6]> = Vec::new();
    match kind {
        Kind::SourceGit => {
            let api: Api<GitRepository> = if all {
                Api::all(client)
            } else {
                Api::namespaced(client, namespace)
            };
            for r in api
                .list(&ListParams::default())
                .await
                .context("listing GitRepositories")?
                .items
            {
                let st = r.status.as_ref();
                let (ready, msg) = ready_of(st.and_then(|s| s.conditions.as_ref()));
                let rev = st
                    .and_then(|s| s.artifact.as_ref())
                    .map(|a| a.revision.to_string())
                    .unwrap_or_default();
                rows.push([
                    r.namespace().unwrap_or_default(),
                    r.name_any(),
                    rev,
                    titled(r.spec.suspend == Some(true)),
                    ready,
                    msg,
                ]);
            }
        }
        Kind::Kustomization => {
            let api: Api<Kustomization> = if all {
                Api::all(client)
            } else {
                Api::namespaced(client, namespace)
            };
            for k in api
                .list(&ListParams::default())
                .await
                .context("listing Kustomizations")?
                .items
            {
                let st = k.status.as_ref();
                let (ready, msg) = ready_of(st.and_then(|s| s.conditions.as_ref()));
                let rev = st
                    .and_then(|s| s.last_applied_revision.clone())
                    .unwrap_or_default();
                rows.push([
                    k.namespace().unwrap_or_default(),
                    k.name_any(),
                    rev,
                    titled(k.spec.suspend == Some(true)),
                    ready,
                    msg,
                ]);
            }
        }
    }
    let header = ["NAMESPACE", "NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"];
    let skip = usize::from(!all);
    let mut widths = [0usize; 6];
    for r in rows
        .iter()
        .map(|r| r.each_ref().map(String::as_str))
        .chain(std::iter::once(header))
    {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 6]| {
        cells
            .iter()
            .zip(widths)
            .skip(skip)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("\t")
            .trim_end()
            .to_owned()
    };
    println!("{}", line(header));
    for r in &rows {
        println!("{}", line(r.each_ref().map(String::as_str)));
    }
    Ok(())
}

fn titled(b: bool) -> String {
    if b { "True" } else { "False" }.into()
}

/// Annotates the object with `reconcile.fluxcd.io/requestedAt` and waits until the controller handled it
/// and it is Ready. Returns the revision it reports.
async fn request_and_wait(
    client: &Client,
    kind: Kind,
    ns: &str,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<String> {
    let token = jiff::Timestamp::now().to_string();
    let api = dynamic(client, kind.api_version(), kind.kind(), ns);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {REQUESTED_AT: token}}})),
    )
    .await
    .with_context(|| format!("annotating {} {ns}/{name}", kind.kind()))?;
    eprintln!("► annotating {} {name} in {ns} namespace", kind.kind());
    eprintln!("◎ waiting for {} reconciliation", kind.kind());
    let deadline = Instant::now() + timeout;
    loop {
        let obj = serde_json::to_value(api.get(name).await?)?;
        let st = &obj["status"];
        let handled = st["lastHandledReconcileAt"].as_str() == Some(token.as_str());
        let ready = st["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready");
        if handled {
            match ready {
                Some(c) if c["status"] == "True" => {
                    let rev = match kind {
                        Kind::SourceGit => st["artifact"]["revision"].as_str(),
                        Kind::Kustomization => st["lastAppliedRevision"].as_str(),
                    };
                    return Ok(rev.unwrap_or_default().to_owned());
                }
                Some(c) if c["status"] == "False" => {
                    bail!(
                        "{} reconciliation failed: {}",
                        kind.kind(),
                        c["message"].as_str().unwrap_or_default()
                    );
                }
                _ => {}
            }
        }
        if Instant::now() > deadline {
            bail!(
                "timed out after {timeout:?} waiting for {} {ns}/{name} (are the controllers running?)",
                kind.kind()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `reconcile source git|kustomization NAME [--with-source]`.
pub(crate) async fn reconcile(
    kind: Kind,
    name: &str,
    ns: &str,
    with_source: bool,
    timeout: Duration,
    kubeconfig: Option<&Path>,
) -> anyhow::Result<()> {
    let client = crate::apply::client(kubeconfig).await?;
    if kind == Kind::Kustomization && with_source {
        let ks = Api::<Kustomization>::namespaced(client.clone(), ns)
            .get(name)
            .await
            .with_context(|| format!("getting Kustomization {ns}/{name}"))?;
        let sref = &ks.spec.source_ref;
        if sref.kind != "GitRepository" {
            bail!("--with-source: {} sources are not supported yet", sref.kind);
        }
        let sns = sref.namespace.clone().unwrap_or_else(|| ns.to_owned());
        let rev = request_and_wait(&client, Kind::SourceGit, &sns, &sref.name, timeout).await?;
        eprintln!("✔ fetched revision {rev}");
    }
    let rev = request_and_wait(&client, kind, ns, name, timeout).await?;
    match kind {
        Kind::SourceGit => eprintln!("✔ fetched revision {rev}"),
        Kind::Kustomization => eprintln!("✔ applied revision {rev}"),
    }
    Ok(())
}

/// `suspend` / `resume`: sets `spec.suspend`; resume then reconciles and waits.
pub(crate) async fn set_suspend(
    kind: Kind,
    name: &str,
    ns: &str,
    suspend: bool,
    timeout: Duration,
    kubeconfig: Option<&Path>,
) -> anyhow::Result<()> {
    let client = crate::apply::client(kubeconfig).await?;
    dynamic(&client, kind.api_version(), kind.kind(), ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": suspend}})),
        )
        .await
        .with_context(|| format!("patching {} {ns}/{name}", kind.kind()))?;
    if suspend {
        eprintln!("✔ {} {ns}/{name} suspended", kind.kind());
        return Ok(());
    }
    eprintln!("► resuming {} {name} in {ns} namespace", kind.kind());
    let rev = request_and_wait(&client, kind, ns, name, timeout).await?;
    eprintln!("✔ {} {ns}/{name} reconciled, revision {rev}", kind.kind());
    Ok(())
}

/// `build kustomization --path DIR [--kustomization-file F]`: the objects a Kustomization would apply,
/// built offline with its spec's build options and inline `postBuild.substitute` variables.
pub(crate) fn build_kustomization(path: &Path, file: Option<&Path>) -> anyhow::Result<()> {
    let spec: Option<Kustomization> = match file {
        Some(f) => {
            let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            Some(gitops_core::yaml::from_str(&text).with_context(|| format!("parsing {}", f.display()))?)
        }
        None => None,
    };
    let mut opts = gitops_kustomize::BuildOptions::flux();
    if let Some(ks) = &spec {
        opts.namespace.clone_from(&ks.spec.target_namespace);
        opts.name_prefix.clone_from(&ks.spec.name_prefix);
        opts.name_suffix.clone_from(&ks.spec.name_suffix);
        opts.components = ks.spec.components.clone().unwrap_or_default();
        for p in ks.spec.patches.iter().flatten() {
            opts.patches
                .push(serde_json::from_value(serde_json::to_value(p)?)?);
        }
        for i in ks.spec.images.iter().flatten() {
            opts.images
                .push(serde_json::from_value(serde_json::to_value(i)?)?);
        }
    }
    let dir = std::fs::canonicalize(path)
        .with_context(|| format!("kustomization path not found: {}", path.display()))?;
    let mut objects = gitops_kustomize::build_with(Path::new("/"), &dir, &opts)?;
    if let Some(vars) = spec
        .as_ref()
        .and_then(|k| k.spec.post_build.as_ref())
        .and_then(|p| p.substitute.as_ref())
    {
        let vars = gitops_kustomize::substitute::merge_sources(&[], vars)?;
        gitops_kustomize::substitute::substitute(&mut objects, &vars, false)?;
    }
    std::io::Write::write_all(
        &mut std::io::stdout().lock(),
        gitops_core::yaml::to_string_multi(&objects).as_bytes(),
    )?;
    Ok(())
}

/// `diff kustomization NAME --path DIR`: what the Kustomization would change if its path held `DIR`,
/// Secret values masked, and (with `spec.prune`) what it would prune. Returns whether nothing would.
pub(crate) async fn diff_kustomization(
    name: &str,
    ns: &str,
    path: &Path,
    kubeconfig: Option<&Path>,
) -> anyhow::Result<bool> {
    use gitops_kustomize::controller::{
        ArtifactCache, FIELD_MANAGER, KustomizationReconciler, NAME_LABEL, NAMESPACE_LABEL,
    };
    let client = crate::apply::client(kubeconfig).await?;
    let ks = Api::<Kustomization>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .with_context(|| format!("getting Kustomization {ns}/{name}"))?;
    let dir = std::fs::canonicalize(path)
        .with_context(|| format!("kustomization path not found: {}", path.display()))?;
    let scratch = tempfile::tempdir()?;
    let reconciler = KustomizationReconciler::new(
        client.clone(),
        std::sync::Arc::new(ArtifactCache::new(scratch.path(), None)),
    );
    let objects = reconciler
        .build_local(&ks, &dir)
        .await
        .map_err(|m| anyhow::anyhow!("building {}: {m}", dir.display()))?;
    let mut config = gitops_apply::Config::default()
        .owner_label(NAME_LABEL, name)
        .owner_label(NAMESPACE_LABEL, ns);
    if let Some(t) = &ks.spec.target_namespace {
        config = config.default_namespace(t);
    }
    let applier = gitops_apply::SsaApplier::with_config(client, config);
    let (diffs, failed) = applier
        .diff(&objects, &gitops_core::ApplyOptions::new(FIELD_MANAGER))
        .await?;
    let previous = ks.spec.prune.then(|| {
        ks.status
            .as_ref()
            .map(gitops_kustomize::controller::inventory_of)
            .unwrap_or_default()
    });
    crate::apply::print_diffs(&diffs, &failed, previous.as_ref())
}

/// Which controller `controllers --only` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Only {
    /// The source-controller (GitRepositories, artifact server).
    SourceController,
    /// The kustomize-controller (Kustomizations; artifacts fetched over HTTP).
    KustomizeController,
}
