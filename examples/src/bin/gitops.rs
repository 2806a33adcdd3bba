//! `gitops`: the command-line entry point of gitops-rs.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use gitops_core::{FetchOutcome, FetchRequest, Source as _};
#[path = "gitops/apply.rs"]
mod apply;
#[path = "gitops/demo.rs"]
mod demo;
#[path = "gitops/flux.rs"]
mod flux;
#[path = "gitops/helm.rs"]
mod helm;

use gitops_source::{
    git::{GitAuth, GitReference, GitSource},
    storage::{ObjectKey, Storage},
};

/// Small blocks from per-thread free lists (see gitops-alloc): rendering a large chart allocates tens of
/// thousands of them on several threads.
#[global_allocator]
static ALLOCATOR: gitops_alloc::ThreadCache = gitops_alloc::ThreadCache;

/// The command line, with all commands (`Cli<Command>`) or only the helm ones (`Cli<HelmOnly>`).
#[derive(Parser)]
#[command(name = "gitops", version, about = "Flux-compatible GitOps toolkit")]
struct Cli<C: Subcommand> {
    #[command(subcommand)]
    command: C,
}

/// `gitops helm ...`, which is also parsed on its own: building the whole command tree to render a chart
/// paged in the code of every other command, a megabyte of the budget `gitops helm template` has.
#[derive(Subcommand)]
enum HelmOnly {
    /// Helm operations.
    Helm {
        #[command(subcommand)]
        command: helm::HelmCommand,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Fetch a source into a Flux-compatible artifact.
    Source {
        #[command(subcommand)]
        kind: SourceKind,
    },
    /// Print the CustomResourceDefinitions as YAML.
    Crds,
    /// The embedded Kubernetes API server.
    Testkit {
        #[command(subcommand)]
        command: TestkitCommand,
    },
    #[command(flatten)]
    Helm(HelmOnly),
    /// Kustomize operations.
    Kustomize {
        #[command(subcommand)]
        command: KustomizeCommand,
    },
    /// Server-side apply manifests as Flux does, keeping an inventory in a ConfigMap; prints one line per
    /// object (`Kind/namespace/name created|configured|unchanged|deleted|skipped`).
    Apply {
        #[command(flatten)]
        target: apply::Target,
        /// Wait until every applied object is healthy (kstatus).
        #[arg(long)]
        wait: bool,
        /// How long --wait waits, e.g. 90s or 5m.
        #[arg(long, default_value = "5m", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Commit to cluster on loopback: an embedded API server, a Git repository and the controllers
    /// in-process; a commit is applied, a change re-applied, a deleted file pruned.
    Demo {
        /// Keep serving after the demo and print a kubeconfig for kubectl.
        #[arg(long)]
        keep_running: bool,
        /// Where --keep-running writes the kubeconfig (default: a temporary file).
        #[arg(long)]
        kubeconfig_out: Option<PathBuf>,
    },
    /// Create a source or Kustomization in the cluster, or print it with --export.
    Create {
        #[command(subcommand)]
        what: CreateCommand,
        /// Print the object as YAML instead of applying it.
        #[arg(long, global = true)]
        export: bool,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// List sources or Kustomizations with their revision and Ready status.
    Get {
        #[command(subcommand)]
        what: GetCommand,
        /// In every namespace.
        #[arg(short = 'A', long, global = true)]
        all_namespaces: bool,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Ask for a reconcile now and wait for it.
    Reconcile {
        #[command(subcommand)]
        what: NamedCommand,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Stop reconciling an object.
    Suspend {
        #[command(subcommand)]
        what: NamedCommand,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Reconcile a suspended object again, and wait for it.
    Resume {
        #[command(subcommand)]
        what: NamedCommand,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Build what a Kustomization would apply, offline.
    Build {
        #[command(subcommand)]
        what: BuildCommand,
    },
    /// Run the source and kustomize controllers in this process against a cluster, serving artifacts.
    Controllers {
        /// Run only the source-controller or only the kustomize-controller.
        #[arg(long, value_enum)]
        only: Option<flux::Only>,
        #[command(flatten)]
        flags: gitops_examples::controllers::Flags,
    },
    /// Print what `gitops apply` would change, Secret values masked; exit status 1 when something would.
    #[command(args_conflicts_with_subcommands = true)]
    Diff {
        #[command(subcommand)]
        what: Option<DiffCommand>,
        #[command(flatten)]
        target: Option<apply::Target>,
    },
}

/// Where the objects are.
#[derive(clap::Args)]
struct ClusterArgs {
    /// Namespace of the object.
    #[arg(short, long, global = true, default_value = "flux-system")]
    namespace: String,
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config or the in-cluster config).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// How long to wait for a reconcile.
    #[arg(long, global = true, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
}

#[derive(Subcommand)]
enum CreateCommand {
    /// A source.
    Source {
        #[command(subcommand)]
        kind: CreateSourceKind,
    },
    /// A Kustomization.
    Kustomization(flux::CreateKustomization),
}

#[derive(Subcommand)]
enum CreateSourceKind {
    /// A GitRepository.
    Git(flux::CreateSourceGit),
}

#[derive(Subcommand)]
enum GetCommand {
    /// Sources.
    Sources {
        #[command(subcommand)]
        kind: GetSourceKind,
    },
    /// Kustomizations.
    #[command(alias = "ks")]
    Kustomizations,
}

#[derive(Subcommand)]
enum GetSourceKind {
    /// GitRepositories.
    Git,
}

#[derive(Subcommand)]
enum NamedCommand {
    /// A source.
    Source {
        #[command(subcommand)]
        kind: NamedSourceKind,
    },
    /// A Kustomization.
    #[command(alias = "ks")]
    Kustomization {
        /// Its name.
        name: String,
        /// Reconcile its source first (reconcile only).
        #[arg(long)]
        with_source: bool,
    },
}

#[derive(Subcommand)]
enum NamedSourceKind {
    /// A GitRepository.
    Git {
        /// Its name.
        name: String,
    },
}

impl NamedCommand {
    fn target(&self) -> (flux::Kind, &str, bool) {
        match self {
            Self::Source {
                kind: NamedSourceKind::Git { name },
            } => (flux::Kind::SourceGit, name, false),
            Self::Kustomization { name, with_source } => (flux::Kind::Kustomization, name, *with_source),
        }
    }
}

#[derive(Subcommand)]
enum DiffCommand {
    /// What a Kustomization in the cluster would change if its path held a local directory.
    #[command(alias = "ks")]
    Kustomization {
        /// Its name.
        name: String,
        /// The local directory to build in place of its path.
        #[arg(long)]
        path: PathBuf,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
}

#[derive(Subcommand)]
enum BuildCommand {
    /// A Kustomization.
    #[command(alias = "ks")]
    Kustomization {
        /// Its name (for messages).
        name: String,
        /// The directory to build.
        #[arg(long)]
        path: PathBuf,
        /// A Kustomization manifest whose build options and postBuild.substitute apply.
        #[arg(long)]
        kustomization_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TestkitCommand {
    /// Serve the embedded API server until interrupted.
    Serve {
        /// Port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Write a kubeconfig for the server here.
        #[arg(long)]
        kubeconfig_out: Option<PathBuf>,
        /// Run the simulated workload controllers (Deployments become Available, Jobs complete).
        #[arg(long)]
        simulate_workloads: bool,
    },
}

#[derive(Subcommand)]
enum KustomizeCommand {
    /// Build a kustomization directory and print the result, as `kustomize build` does.
    Build {
        /// The directory holding kustomization.yaml.
        dir: PathBuf,
        /// Nothing outside this directory may be read (default: the file system root).
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
}

#[derive(Subcommand)]
enum SourceKind {
    /// Fetch a Git repository and print `{"revision","digest","path","size"}` as JSON.
    Git(Box<GitArgs>),
}

#[derive(clap::Args)]
#[group(id = "reference", multiple = false)]
struct RefArgs {
    /// Branch to check out (default `master`).
    #[arg(long, group = "reference")]
    branch: Option<String>,
    /// Tag to check out.
    #[arg(long, group = "reference")]
    tag: Option<String>,
    /// Semver range over tags.
    #[arg(long, group = "reference")]
    semver: Option<String>,
    /// Commit SHA to check out.
    #[arg(long, group = "reference")]
    commit: Option<String>,
    /// Full ref name, e.g. refs/pull/1/head.
    #[arg(long = "ref-name", group = "reference")]
    ref_name: Option<String>,
}

#[derive(clap::Args)]
struct GitArgs {
    /// Repository URL: file://, git://, http(s):// or ssh://.
    url: String,
    #[command(flatten)]
    reference: RefArgs,
    /// `.sourceignore`-syntax patterns (replace the default excludes).
    #[arg(long)]
    ignore: Option<String>,
    /// Storage directory; the artifact goes to `<out>/gitrepository/<namespace>/<name>/<commit>.tar.gz`.
    #[arg(long)]
    out: PathBuf,
    /// Object name used in the storage path.
    #[arg(long, default_value = "source")]
    name: String,
    /// Object namespace used in the storage path.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Address the storage is served at, for the artifact URL.
    #[arg(long, default_value = "localhost:9090")]
    storage_adv_addr: String,
    /// Basic-auth user name (password from GITOPS_GIT_PASSWORD).
    #[arg(long)]
    username: Option<String>,
    /// SSH private key file.
    #[arg(long)]
    identity_file: Option<PathBuf>,
    /// known_hosts file for SSH host key verification.
    #[arg(long)]
    known_hosts: Option<PathBuf>,
    /// Timeout, e.g. 60s.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    timeout: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("invalid duration {s:?}")),
    }
}

async fn source_git(args: Box<GitArgs>) -> anyhow::Result<()> {
    let args = *args;
    let r = args.reference;
    let mut reference = GitReference::default();
    reference.branch = r.branch;
    reference.tag = r.tag;
    reference.semver = r.semver;
    reference.commit = r.commit;
    reference.name = r.ref_name;
    let auth = if let Some(key) = &args.identity_file {
        let identity = std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
        let known_hosts = match &args.known_hosts {
            Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            None => String::new(),
        };
        GitAuth::Ssh {
            identity,
            known_hosts,
        }
    } else if let Some(username) = args.username {
        let password = std::env::var("GITOPS_GIT_PASSWORD").context("GITOPS_GIT_PASSWORD is not set")?;
        GitAuth::Basic { username, password }
    } else if let Ok(token) = std::env::var("GITOPS_GIT_BEARER_TOKEN") {
        GitAuth::Bearer { token }
    } else {
        GitAuth::None
    };
    let source = GitSource::new(args.url, reference)
        .with_auth(auth)
        .with_ignore(args.ignore);
    let storage = Storage::new(&args.out, &args.storage_adv_addr)?;
    let key = ObjectKey::new("GitRepository", &args.namespace, &args.name);
    let scratch = storage.scratch_dir()?;
    let req = FetchRequest::new(scratch.path()).with_timeout(args.timeout);
    let file = match source.fetch(&req).await? {
        FetchOutcome::Fetched(file) => file,
        FetchOutcome::Unchanged(rev) => anyhow::bail!("unexpected unchanged revision {rev}"),
        _ => anyhow::bail!("unexpected fetch outcome"),
    };
    let name = file
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .context("artifact file name")?
        .to_owned();
    let artifact = storage.store(&key, &file, &name)?;
    let out = serde_json::json!({
        "revision": artifact.revision.to_string(),
        "digest": artifact.digest.to_string(),
        "path": storage.local_path(&artifact).display().to_string(),
        "size": artifact.size,
        "url": artifact.url,
    });
    #[allow(clippy::print_stdout)]
    {
        println!("{out}");
    }
    Ok(())
}

fn kustomize_build(root: &std::path::Path, dir: &std::path::Path) -> anyhow::Result<()> {
    let out = gitops_kustomize::build_to_string(root, dir)?;
    std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes())?;
    Ok(())
}

async fn serve(port: u16, kubeconfig_out: Option<PathBuf>, simulate_workloads: bool) -> anyhow::Result<()> {
    let server = gitops_testkit::TestApiServer::start_on(port).await?;
    server.simulate_workloads(simulate_workloads);
    match kubeconfig_out {
        Some(p) => {
            std::fs::write(&p, server.kubeconfig()).with_context(|| format!("writing {}", p.display()))?;
        }
        None => {
            #[allow(clippy::print_stdout)]
            {
                print!("{}", server.kubeconfig());
            }
        }
    }
    eprintln!("serving the Kubernetes API at {} (Ctrl-C to stop)", server.url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}

fn crds() -> anyhow::Result<()> {
    let crds = [
        serde_json::to_value(gitops_source::api::gitrepository_crd())?,
        serde_json::to_value(gitops_kustomize::api::kustomization_crd())?,
    ];
    std::io::Write::write_all(
        &mut std::io::stdout().lock(),
        gitops_core::yaml::to_string_multi(&crds).as_bytes(),
    )?;
    Ok(())
}

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == "helm") {
        let HelmOnly::Helm { command } = Cli::<HelmOnly>::parse().command;
        return helm::run(command);
    }
    let cli = Cli::<Command>::parse();
    // Rendering charts needs no runtime, and logs nothing.
    let cli = match cli.command {
        Command::Helm(HelmOnly::Helm { command }) => return helm::run(command),
        command => Cli { command },
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GITOPS_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match gitops_examples::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let is_diff = matches!(cli.command, Command::Diff { .. });
    let result = rt.block_on(async {
        match cli.command {
            Command::Apply {
                target,
                wait,
                timeout,
            } => {
                return apply::apply(target, wait, timeout)
                    .await
                    .map(|ok| if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
            }
            Command::Diff { what, target } => {
                let same = match (what, target) {
                    (Some(DiffCommand::Kustomization { name, path, cluster }), _) => {
                        flux::diff_kustomization(
                            &name,
                            &cluster.namespace,
                            &path,
                            cluster.kubeconfig.as_deref(),
                        )
                        .await
                    }
                    (None, Some(target)) => apply::diff(target).await,
                    (None, None) => Err(anyhow::anyhow!(
                        "nothing to diff: give a path, or `kustomization NAME --path DIR`"
                    )),
                };
                return same.map(|same| {
                    if same {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                });
            }
            Command::Source {
                kind: SourceKind::Git(args),
            } => source_git(args).await,
            Command::Crds => crds(),
            Command::Create {
                what,
                export,
                cluster,
            } => {
                let obj = match what {
                    CreateCommand::Source {
                        kind: CreateSourceKind::Git(o),
                    } => flux::source_git_object(&o, &cluster.namespace),
                    CreateCommand::Kustomization(o) => flux::kustomization_object(&o, &cluster.namespace)?,
                };
                flux::create(obj, export, cluster.kubeconfig.as_deref()).await
            }
            Command::Get {
                what,
                all_namespaces,
                cluster,
            } => {
                let kind = match what {
                    GetCommand::Sources {
                        kind: GetSourceKind::Git,
                    } => flux::Kind::SourceGit,
                    GetCommand::Kustomizations => flux::Kind::Kustomization,
                };
                flux::get(
                    kind,
                    &cluster.namespace,
                    all_namespaces,
                    cluster.kubeconfig.as_deref(),
                )
                .await
            }
            Command::Reconcile { what, cluster } => {
                let (kind, name, with_source) = what.target();
                flux::reconcile(
                    kind,
                    name,
                    &cluster.namespace,
                    with_source,
                    cluster.timeout,
                    cluster.kubeconfig.as_deref(),
                )
                .await
            }
            Command::Suspend { what, cluster } => {
                let (kind, name, _) = what.target();
                flux::set_suspend(
                    kind,
                    name,
                    &cluster.namespace,
                    true,
                    cluster.timeout,
                    cluster.kubeconfig.as_deref(),
                )
                .await
            }
            Command::Resume { what, cluster } => {
                let (kind, name, _) = what.target();
                flux::set_suspend(
                    kind,
                    name,
                    &cluster.namespace,
                    false,
                    cluster.timeout,
                    cluster.kubeconfig.as_deref(),
                )
                .await
            }
            Command::Build {
                what:
                    BuildCommand::Kustomization {
                        name: _,
                        path,
                        kustomization_file,
                    },
            } => flux::build_kustomization(&path, kustomization_file.as_deref()),
            Command::Controllers { only, flags } => {
                use gitops_kustomize::controller::Role;
                let role = match only {
                    None => Role::All,
                    Some(flux::Only::SourceController) => Role::Sources,
                    Some(flux::Only::KustomizeController) => Role::Kustomizations,
                };
                gitops_examples::controllers::run(flags, role).await
            }
            Command::Demo {
                keep_running,
                kubeconfig_out,
            } => demo::run(keep_running, kubeconfig_out.as_deref()).await,
            Command::Testkit {
                command:
                    TestkitCommand::Serve {
                        port,
                        kubeconfig_out,
                        simulate_workloads,
                    },
            } => serve(port, kubeconfig_out, simulate_workloads).await,
            Command::Kustomize {
                command: KustomizeCommand::Build { dir, root },
            } => kustomize_build(&root, &dir),
            Command::Helm(_) => unreachable!("handled before the runtime starts"),
        }
        .map(|()| ExitCode::SUCCESS)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // One line: the error and its causes.
            let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", chain.join(": "));
            // `diff` keeps 1 for "differences found", as kubectl diff does.
            if is_diff {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
