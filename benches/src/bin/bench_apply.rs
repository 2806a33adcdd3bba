//! Apply benchmark, side by side with the reference `kubectl apply --server-side` in one run, both against
//! the same embedded API server: N objects (ConfigMaps and Deployments) created, then re-applied
//! unchanged. Reports wall time and the API requests each tool made (reads, writes, dry runs), and the
//! ratios.
//!
//! Usage: `cargo build --release -p gitops-examples -p gitops-benches &&
//!         target/release/bench-apply [--objects 1000] [--kubectl PATH] [--gitops PATH]`

#![allow(clippy::print_stdout)]

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use gitops_testkit::{RequestCounts, TestApiServer};

fn manifests(dir: &Path, n: usize) -> anyhow::Result<()> {
    let mut text = String::new();
    for i in 0..n {
        if i % 5 == 4 {
            text.push_str(&format!(
                "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  labels: {{app: app-{i}}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: app-{i}}}}}\n  template:\n    metadata: {{labels: {{app: app-{i}}}}}\n    spec:\n      containers:\n      - name: app\n        image: ghcr.io/example/app:1.{i}\n        ports: [{{containerPort: 8080, protocol: TCP}}]\n        env: [{{name: MODE, value: fast}}, {{name: INDEX, value: \"{i}\"}}]\n"
            ));
        } else {
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg-{i}\n  labels: {{app: cfg-{i}}}\ndata:\n  key: value-{i}\n  config.yaml: |\n    a: 1\n    b: {i}\n"
            ));
        }
    }
    std::fs::write(dir.join("objects.yaml"), text)?;
    Ok(())
}

struct Sample {
    wall: Duration,
    requests: RequestCounts,
}

async fn run(server: &TestApiServer, args: Vec<String>) -> anyhow::Result<Sample> {
    let before = server.request_counts();
    let t = Instant::now();
    let out = tokio::process::Command::new(&args[0])
        .args(&args[1..])
        .output()
        .await?;
    let wall = t.elapsed();
    anyhow::ensure!(
        out.status.success(),
        "{} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(Sample {
        wall,
        requests: server.request_counts().since(before),
    })
}

fn line(label: &str, ours: &Sample, theirs: &Sample) {
    let r = |s: &Sample| {
        format!(
            "{:.2}s, {} reads / {} writes / {} dry runs",
            s.wall.as_secs_f64(),
            s.requests.reads,
            s.requests.writes,
            s.requests.dry_runs
        )
    };
    println!(
        "{label}: gitops apply {} | kubectl apply --server-side {} | time ratio {:.2}",
        r(ours),
        r(theirs),
        ours.wall.as_secs_f64() / theirs.wall.as_secs_f64().max(1e-9)
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut n = 1000;
    let mut kubectl = std::env::var_os("GITOPS_REFERENCE_KUBECTL")
        .map_or_else(|| root.join(".tools/bin/kubectl"), PathBuf::from);
    let mut gitops = root.join("target/release/gitops");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| anyhow::anyhow!("{a} needs a value"));
        match a.as_str() {
            "--objects" => n = val()?.parse()?,
            "--kubectl" => kubectl = val()?.into(),
            "--gitops" => gitops = val()?.into(),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    anyhow::ensure!(
        kubectl.exists(),
        "reference kubectl not found at {} (scripts/install-reference-tools.sh)",
        kubectl.display()
    );
    anyhow::ensure!(
        gitops.exists(),
        "{} not found (cargo build --release -p gitops-examples)",
        gitops.display()
    );
    let server = TestApiServer::start().await?;
    let tmp = tempfile::tempdir()?;
    let kc = tmp.path().join("kubeconfig");
    std::fs::write(&kc, server.kubeconfig())?;
    let dir = tmp.path().join("manifests");
    std::fs::create_dir(&dir)?;
    manifests(&dir, n)?;
    for ns in ["ours", "reference"] {
        run(
            &server,
            vec![
                kubectl.display().to_string(),
                "--kubeconfig".into(),
                kc.display().to_string(),
                "create".into(),
                "namespace".into(),
                ns.into(),
            ],
        )
        .await?;
    }
    let d = dir.display().to_string();
    let ours = || {
        vec![
            gitops.display().to_string(),
            "apply".into(),
            d.clone(),
            "--name".into(),
            "bench".into(),
            "--namespace".into(),
            "ours".into(),
            "--kubeconfig".into(),
            kc.display().to_string(),
        ]
    };
    let theirs = || {
        vec![
            kubectl.display().to_string(),
            "--kubeconfig".into(),
            kc.display().to_string(),
            "apply".into(),
            "--server-side".into(),
            "--field-manager=bench".into(),
            "-n".into(),
            "reference".into(),
            "-f".into(),
            d.clone(),
        ]
    };
    println!("{n} objects ({} Deployments, the rest ConfigMaps)", n / 5);
    let (o, t) = (run(&server, ours()).await?, run(&server, theirs()).await?);
    line("create", &o, &t);
    let (o, t) = (run(&server, ours()).await?, run(&server, theirs()).await?);
    line("re-apply unchanged", &o, &t);
    Ok(())
}
