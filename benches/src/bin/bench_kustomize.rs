//! kustomize benchmark, side by side with the reference `kubectl kustomize` in one run.
//!
//! (a) every ok case of the conformance corpus, (b) a synthetic tree: a base of N objects with generators
//! and patches under M overlays, each overlay built on its own (as M Flux Kustomizations would). Both tools
//! run as processes, timed from spawn to exit, each run repeated under `/usr/bin/time` for its peak RSS
//! (see `gitops_benches::timed`); wall time and peak RSS are reported with their ratios. A last run
//! builds the overlays in-process on 1 and 2 threads to show that builds scale (no global build lock).
//!
//! Usage: `cargo build --release -p gitops-examples -p gitops-benches &&
//!         target/release/bench-kustomize [--objects 2000] [--overlays 40] [--kubectl PATH] [--corpus DIR]`

#![allow(clippy::print_stdout)]

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// Runs `cmd` and returns its wall time and peak RSS; fails if it fails.
fn timed(cmd: &[&str]) -> anyhow::Result<gitops_benches::Run> {
    gitops_benches::timed(cmd, None, &[])
}

fn generate(root: &Path, objects: usize, overlays: usize) -> anyhow::Result<Vec<PathBuf>> {
    let base = root.join("base");
    std::fs::create_dir_all(&base)?;
    let mut res = String::new();
    let per = objects / 3;
    for i in 0..per {
        write!(
            res,
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i}\n  labels:\n    app: app{i}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: app{i}\n  template:\n    metadata:\n      labels:\n        app: app{i}\n    spec:\n      containers:\n      - name: main\n        image: registry.example.com/team/app{i}:1.0.0\n        ports:\n        - containerPort: 8080\n        envFrom:\n        - configMapRef:\n            name: settings\n        volumeMounts:\n        - name: config\n          mountPath: /etc/app\n      volumes:\n      - name: config\n        configMap:\n          name: app{i}-config\n---\n"
        )?;
        write!(
            res,
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: app{i}\nspec:\n  selector:\n    app: app{i}\n  ports:\n  - port: 80\n    targetPort: 8080\n---\n"
        )?;
        write!(
            res,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app{i}-config\ndata:\n  config.yaml: |\n    level: info\n    id: {i}\n---\n"
        )?;
    }
    std::fs::write(base.join("resources.yaml"), res)?;
    std::fs::write(
        base.join("settings.env"),
        "LOG_LEVEL=info\nREGION=eu-west-1\nFEATURE_X=true\n",
    )?;
    std::fs::write(
        base.join("kustomization.yaml"),
        "resources:\n- resources.yaml\nconfigMapGenerator:\n- name: settings\n  envs:\n  - settings.env\ncommonLabels:\n  team: platform\n",
    )?;
    let mut dirs = Vec::new();
    for o in 0..overlays {
        let d = root.join(format!("overlay{o:02}"));
        std::fs::create_dir_all(&d)?;
        std::fs::write(
            d.join("kustomization.yaml"),
            format!(
                "resources:\n- ../base\nnamespace: tenant{o}\nnamePrefix: t{o}-\ncommonLabels:\n  tenant: t{o}\ncommonAnnotations:\n  owner: tenant{o}\nimages:\n- name: registry.example.com/team/app1\n  newTag: 2.0.{o}\nreplicas:\n- name: app2\n  count: 3\nconfigMapGenerator:\n- name: settings\n  behavior: merge\n  literals:\n  - TENANT=t{o}\npatches:\n- target:\n    kind: Deployment\n  patch: |-\n    - op: add\n      path: /spec/template/spec/containers/0/env\n      value:\n      - name: TENANT\n        value: t{o}\n- patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: app0\n    spec:\n      template:\n        spec:\n          containers:\n          - name: main\n            resources:\n              limits:\n                memory: 256Mi\n"
            ),
        )?;
        dirs.push(d);
    }
    Ok(dirs)
}

fn compare(label: &str, dirs: &[PathBuf], ours: &Path, kubectl: &Path) -> anyhow::Result<()> {
    let (mut ow, mut kw, mut op, mut kp) = (Duration::ZERO, Duration::ZERO, 0u64, 0u64);
    for d in dirs {
        let d = d.to_string_lossy();
        let o = timed(&[&ours.to_string_lossy(), "kustomize", "build", &d])?;
        let k = timed(&[&kubectl.to_string_lossy(), "kustomize", &d])?;
        ow += o.wall;
        kw += k.wall;
        op = op.max(o.peak_kib);
        kp = kp.max(k.peak_kib);
    }
    println!(
        "{label}: {} builds  gitops-rs {:.2}s peak {} MiB | kubectl kustomize {:.2}s peak {} MiB | speed {:.1}x, memory {:.2} of reference",
        dirs.len(),
        ow.as_secs_f64(),
        op / 1024,
        kw.as_secs_f64(),
        kp / 1024,
        kw.as_secs_f64() / ow.as_secs_f64().max(1e-9),
        op as f64 / kp.max(1) as f64
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut objects, mut overlays) = (2000usize, 40usize);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut kubectl = std::env::var_os("GITOPS_REFERENCE_KUBECTL")
        .map_or_else(|| root.join(".tools/bin/kubectl"), PathBuf::from);
    let mut corpus = root.join("../shared/conformance/kustomize/cases");
    while let Some(a) = args.next() {
        let mut val = || args.next().context("missing value");
        match a.as_str() {
            "--objects" => objects = val()?.parse()?,
            "--overlays" => overlays = val()?.parse()?,
            "--kubectl" => kubectl = val()?.into(),
            "--corpus" => corpus = val()?.into(),
            other => bail!("unknown argument {other}"),
        }
    }
    let ours = std::env::current_exe()?.with_file_name("gitops");
    anyhow::ensure!(
        ours.exists(),
        "{} not found: build gitops-examples in the same profile",
        ours.display()
    );
    anyhow::ensure!(
        kubectl.exists(),
        "reference kubectl not found at {} (scripts/install-reference-tools.sh)",
        kubectl.display()
    );

    if corpus.is_dir() {
        let mut dirs = Vec::new();
        let mut cases: Vec<_> = std::fs::read_dir(&corpus)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        cases.sort();
        for c in cases {
            if c.join("expected.yaml").exists() {
                let bd = std::fs::read_to_string(c.join("build-dir"))?;
                dirs.push(c.join("input").join(bd.trim()));
            }
        }
        compare("(a) conformance corpus", &dirs, &ours, &kubectl)?;
    } else {
        println!("(a) skipped: corpus not found at {}", corpus.display());
    }

    let tmp = tempfile::tempdir()?;
    let dirs = generate(tmp.path(), objects, overlays)?;
    compare(
        &format!("(b) synthetic: {overlays} overlays over {objects} objects"),
        &dirs,
        &ours,
        &kubectl,
    )?;

    // In-process builds on 1 and 2 threads: builds share nothing, so they scale with cores.
    for threads in [1usize, 2] {
        let t = Instant::now();
        std::thread::scope(|s| {
            for chunk in dirs.chunks(dirs.len().div_ceil(threads)) {
                s.spawn(move || {
                    for d in chunk {
                        gitops_kustomize::build_to_string(Path::new("/"), d).expect("build");
                    }
                });
            }
        });
        println!(
            "(c) in-process, {threads} thread(s): {} builds in {:.2}s",
            dirs.len(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
