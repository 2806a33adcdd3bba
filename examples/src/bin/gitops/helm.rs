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
}

pub(crate) fn run(cmd: HelmCommand) -> ExitCode {
    let HelmCommand::Template(args) = cmd;
    match gitops_helm::with_render_stack(move || template(args)) {
        Ok(out) => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            let ok = stdout
                .write_all(out.as_bytes())
                .and_then(|()| stdout.flush())
                .is_ok();
            // The process ends here: freeing the rendered text and the chart is wasted work.
            std::mem::forget(out);
            if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn template(args: TemplateArgs) -> Result<String, String> {
    let chart = chart::load(&args.chart).map_err(|e| e.to_string())?;
    let mut opts = RenderOptions::new(&args.release, &args.namespace);
    for f in &args.values {
        let text = std::fs::read_to_string(f).map_err(|e| format!("open {}: {e}", f.display()))?;
        opts = opts
            .values_yaml(&text)
            .map_err(|e| format!("{}: {e}", f.display()))?;
    }
    for s in &args.set {
        chart::parse_set(s, &mut opts.values).map_err(|e| format!("failed parsing --set data: {e}"))?;
    }
    for s in &args.set_string {
        chart::parse_set_string(s, &mut opts.values)
            .map_err(|e| format!("failed parsing --set-string data: {e}"))?;
    }
    for s in &args.set_json {
        chart::parse_set_json(s, &mut opts.values)
            .map_err(|e| format!("failed parsing --set-json data: {e}"))?;
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
    chart::template(&chart, &opts).map_err(|e| e.to_string())
}
