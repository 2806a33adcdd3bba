//! `gitops helm template`: prints what `helm template` prints, and fails as it does.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use gitops_helm::chart::{self, RenderOptions};

#[derive(Subcommand)]
pub(crate) enum HelmCommand {
    /// Render a chart locally and print the manifests, as `helm template` does.
    // Flags may repeat, as Helm's (pflag) do.
    #[command(args_override_self = true)]
    Template(TemplateArgs),
}

#[derive(Args)]
pub(crate) struct TemplateArgs {
    /// The release name.
    release: String,
    /// The chart: a directory or a .tgz file.
    chart: PathBuf,
    /// The release namespace.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Values files, merged in order.
    #[arg(short = 'f', long = "values")]
    values: Vec<PathBuf>,
    /// Values as `a.b=c,d=e` (typed: numbers, booleans, null).
    #[arg(long = "set")]
    set: Vec<String>,
    /// Values as `a.b=c`, always strings.
    #[arg(long = "set-string")]
    set_string: Vec<String>,
    /// Values as `a.b=<JSON>`.
    #[arg(long = "set-json")]
    set_json: Vec<String>,
    /// Print the CRDs from crds/ directories too.
    #[arg(long)]
    include_crds: bool,
    /// Leave out test hooks.
    #[arg(long)]
    skip_tests: bool,
    /// Leave out all hooks.
    #[arg(long)]
    no_hooks: bool,
    /// The Kubernetes version for .Capabilities.KubeVersion.
    #[arg(long, default_value = "v1.35.0")]
    kube_version: String,
    /// Extra API versions for .Capabilities.APIVersions.
    #[arg(short = 'a', long = "api-versions")]
    api_versions: Vec<String>,
    /// Do not validate values against values.schema.json.
    #[arg(long)]
    skip_schema_validation: bool,
    /// `client` renders offline; `server` reads the cluster: `lookup` returns its objects and
    /// `.Capabilities` its version and API versions.
    #[arg(long, default_value = "client", num_args = 0..=1, default_missing_value = "client",
          value_parser = ["client", "server", "unset"])]
    dry_run: String,
    /// Kubeconfig file for `--dry-run=server` (default: $KUBECONFIG, ~/.kube/config or the in-cluster
    /// config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

pub(crate) fn run(cmd: HelmCommand) -> ExitCode {
    let HelmCommand::Template(args) = cmd;
    // The render thread prints and ends the process: taking down its large stack and the threads it
    // started, only to exit right after, is wasted work.
    gitops_helm::with_render_stack(move || {
        let code = match template(args) {
            Ok(out) => {
                use std::io::Write as _;
                let mut stdout = std::io::stdout().lock();
                let ok = stdout
                    .write_all(out.as_bytes())
                    .and_then(|()| stdout.flush())
                    .is_ok();
                i32::from(!ok)
            }
            Err(e) => {
                eprintln!("{e}");
                1
            }
        };
        std::process::exit(code)
    })
}

fn template(args: TemplateArgs) -> Result<String, String> {
    let chart = chart::load(&args.chart).map_err(|e| e.cli_text())?;
    let mut opts = RenderOptions::new(&args.release, &args.namespace);
    // The process prints the render and exits: freeing what it built would only delay that.
    opts.exit_after = true;
    for f in &args.values {
        let text = std::fs::read_to_string(f).map_err(|e| format!("Error: open {}: {e}", f.display()))?;
        opts = opts
            .values_yaml(&text)
            .map_err(|e| format!("Error: {}: {e}", f.display()))?;
    }
    for s in &args.set {
        chart::parse_set(s, &mut opts.values)
            .map_err(|e| format!("Error: failed parsing --set data: {e}"))?;
    }
    for s in &args.set_string {
        chart::parse_set_string(s, &mut opts.values)
            .map_err(|e| format!("Error: failed parsing --set-string data: {e}"))?;
    }
    for s in &args.set_json {
        chart::parse_set_json(s, &mut opts.values)
            .map_err(|e| format!("Error: failed parsing --set-json data: {e}"))?;
    }
    opts.include_crds = args.include_crds;
    opts.skip_tests = args.skip_tests;
    opts.no_hooks = args.no_hooks;
    opts.kube_version = if args.kube_version.starts_with('v') {
        args.kube_version
    } else {
        format!("v{}", args.kube_version)
    };
    opts.api_versions = args.api_versions;
    opts.skip_schema_validation = args.skip_schema_validation;
    if args.dry_run == "server" {
        opts = opts.with_cluster(std::sync::Arc::new(KubeCluster::connect(
            args.kubeconfig.as_deref(),
        )?));
    }
    let out = chart::template(&chart, &opts).map_err(|e| e.cli_text());
    // The process ends once the output is written: freeing the chart and its parsed templates (some
    // 100,000 allocations for a large chart) would be wasted work.
    std::mem::forget(chart);
    out
}

/// A cluster reached through kube-rs, for `--dry-run=server`. Renders are synchronous, so requests run
/// on a runtime of their own.
struct KubeCluster {
    rt: tokio::runtime::Runtime,
    client: kube::Client,
}

impl KubeCluster {
    fn connect(kubeconfig: Option<&std::path::Path>) -> Result<KubeCluster, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let client = rt.block_on(async {
            let config = gitops_examples::kube_config(kubeconfig).await?;
            kube::Client::try_from(config).map_err(anyhow::Error::from)
        });
        let client = client.map_err(|e| format!("Error: Kubernetes cluster unreachable: {e:#}"))?;
        Ok(KubeCluster { rt, client })
    }
}

impl gitops_helm::chart::Cluster for KubeCluster {
    fn lookup(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<serde_json::Value>, String> {
        use kube::{
            Api,
            api::{DynamicObject, ListParams},
            core::GroupVersionKind,
            discovery::Scope,
        };
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.rt.block_on(async {
            let gvk = GroupVersionKind::gvk(group, version, kind);
            let (ar, caps) = kube::discovery::pinned_kind(&self.client, &gvk)
                .await
                .map_err(|e| {
                    format!("unable to get apiresource from unstructured: {api_version}, Kind={kind}: {e}")
                })?;
            let api: Api<DynamicObject> = if caps.scope == Scope::Namespaced && !namespace.is_empty() {
                Api::namespaced_with(self.client.clone(), namespace, &ar)
            } else {
                Api::all_with(self.client.clone(), &ar)
            };
            let typed = |mut v: serde_json::Value| {
                v["apiVersion"] = serde_json::json!(api_version);
                v["kind"] = serde_json::json!(kind);
                v
            };
            if name.is_empty() {
                let list = api
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| e.to_string())?;
                let items = list
                    .items
                    .into_iter()
                    .map(|o| serde_json::to_value(o).map(typed))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                return Ok(Some(serde_json::json!({
                    "apiVersion": api_version,
                    "kind": format!("{kind}List"),
                    "metadata": {"resourceVersion": list.metadata.resource_version.unwrap_or_default()},
                    "items": items,
                })));
            }
            match api.get_opt(name).await.map_err(|e| e.to_string())? {
                Some(o) => Ok(Some(typed(serde_json::to_value(o).map_err(|e| e.to_string())?))),
                None => Ok(None),
            }
        })
    }

    fn capabilities(&self) -> Result<gitops_helm::chart::ClusterCapabilities, String> {
        self.rt.block_on(async {
            let info = self
                .client
                .apiserver_version()
                .await
                .map_err(|e| format!("could not get server version from Kubernetes: {e}"))?;
            let discovery = kube::Discovery::new(self.client.clone())
                .run()
                .await
                .map_err(|e| format!("could not get apiVersions from Kubernetes: {e}"))?;
            let mut api_versions = Vec::new();
            for group in discovery.groups() {
                for version in group.versions() {
                    let gv = if group.name().is_empty() {
                        version.to_owned()
                    } else {
                        format!("{}/{version}", group.name())
                    };
                    for (ar, _) in group.versioned_resources(version) {
                        api_versions.push(format!("{gv}/{}", ar.kind));
                    }
                    api_versions.push(gv);
                }
            }
            Ok(gitops_helm::chart::ClusterCapabilities {
                git_version: info.git_version,
                major: info.major,
                minor: info.minor,
                api_versions,
            })
        })
    }
}
