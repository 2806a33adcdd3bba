//! Helm rendering benchmark, side by side with the reference `helm template` (v4.1.4) in one run.
//!
//! (a) the largest visible chart of the conformance corpus (bitnami-kube-prometheus, default values),
//! each tool run `--runs` times alternately, medians reported; (b) every variant of the corpus that
//! renders, each tool run `--corpus-runs` times alternately per variant, the sum of the variants'
//! medians and the largest peak RSS. Both tools run as processes, timed from spawn to exit (process
//! start included); a run of each is repeated under `/usr/bin/time` for its peak memory (see
//! `gitops_benches::timed`). Outputs of gitops are checked against Helm's expected output as they go.
//!
//! Usage: `cargo build --profile release-lto -p gitops-examples --bin gitops &&
//!         cargo build --release -p gitops-benches --bin bench-helm &&
//!         target/release/bench-helm [--runs 7] [--corpus-runs 3] [--helm PATH] [--gitops PATH]
//!         [--corpus DIR] [--each]`
//!
//! The `gitops` measured is the shipped build (`target/release-lto/gitops`) when there is one, else
//! `target/release/gitops`; the report names it. `--each` prints every variant's medians and peaks as
//! (b) goes.

#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use gitops_benches::{timed, wall_time};

fn median<T: Copy + Ord>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

struct Variant {
    dir: PathBuf,
    args: Vec<String>,
    expected: PathBuf,
}

fn variants(corpus: &Path) -> anyhow::Result<Vec<(String, Variant)>> {
    let mut out = Vec::new();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    for dir in cases {
        let case: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("case.json"))?)?;
        for v in case["variants"].as_array().into_iter().flatten() {
            if v["expect_error"].as_bool().unwrap_or(false) {
                continue;
            }
            let mut args = vec![
                "template".to_string(),
                case["release"].as_str().unwrap_or("r").to_string(),
                case["chart"].as_str().unwrap_or("chart").to_string(),
                "-n".into(),
                case["namespace"].as_str().unwrap_or("default").to_string(),
                "-f".into(),
                v["values"].as_str().unwrap_or_default().to_string(),
            ];
            args.extend(
                v["extra_args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().map(str::to_string)),
            );
            let name = format!(
                "{}/{}",
                case["name"].as_str().unwrap_or_default(),
                v["name"].as_str().unwrap_or_default()
            );
            let expected = dir.join(v["expected"].as_str().unwrap_or_default());
            out.push((
                name,
                Variant {
                    dir: dir.clone(),
                    args,
                    expected,
                },
            ));
        }
    }
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    let mut runs = 7;
    let mut corpus_runs = 3;
    let mut helm = PathBuf::from(".tools/bin/helm");
    let shipped = PathBuf::from("target/release-lto/gitops");
    let mut gitops = if shipped.exists() {
        shipped
    } else {
        PathBuf::from("target/release/gitops")
    };
    let mut corpus = PathBuf::from("../shared/conformance/helm/charts");
    let mut each = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().context("--runs N")?.parse()?,
            "--corpus-runs" => corpus_runs = args.next().context("--corpus-runs N")?.parse()?,
            "--helm" => helm = args.next().context("--helm PATH")?.into(),
            "--gitops" => gitops = args.next().context("--gitops PATH")?.into(),
            "--corpus" => corpus = args.next().context("--corpus DIR")?.into(),
            "--each" => each = true,
            other => bail!("unknown argument {other}"),
        }
    }
    if runs == 0 || corpus_runs == 0 {
        bail!("--runs and --corpus-runs take a count of at least 1");
    }
    let helm = std::fs::canonicalize(&helm)
        .with_context(|| format!("{} (run scripts/install-reference-tools.sh)", helm.display()))?;
    let gitops = std::fs::canonicalize(&gitops).with_context(|| {
        format!(
            "{} (cargo build --profile release-lto -p gitops-examples --bin gitops)",
            gitops.display()
        )
    })?;
    let home = tempfile::tempdir()?;
    let h = home.path().to_string_lossy().to_string();
    let helm_env = [
        ("HELM_CONFIG_HOME", h.as_str()),
        ("HELM_CACHE_HOME", h.as_str()),
        ("HELM_DATA_HOME", h.as_str()),
        ("KUBECONFIG", "/dev/null"),
    ];
    let all = variants(&corpus).with_context(|| format!("reading {}", corpus.display()))?;

    let cmd = |bin: &Path, v: &Variant, is_helm: bool| -> Vec<String> {
        let mut c = vec![bin.display().to_string()];
        if !is_helm {
            c.push("helm".into());
        }
        c.extend(v.args.iter().cloned());
        c
    };

    // (a) the largest chart.
    let (name, big) = all
        .iter()
        .find(|(n, _)| n == "bitnami-kube-prometheus/default")
        .context("bitnami-kube-prometheus/default in the corpus")?;
    let (mut gw, mut gm, mut hw, mut hm) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let g = timed(&cmd(&gitops, big, false), Some(&big.dir), &[])?;
        if g.stdout != std::fs::read(&big.expected)? {
            bail!("gitops output for {name} differs from Helm's");
        }
        let hr = timed(&cmd(&helm, big, true), Some(&big.dir), &helm_env)?;
        gw.push(g.wall);
        gm.push(g.peak_kib);
        hw.push(hr.wall);
        hm.push(hr.peak_kib);
    }
    let (gw, gm, hw, hm) = (median(gw), median(gm), median(hw), median(hm));
    println!("gitops: {}", gitops.display());
    println!("(a) {name}, median of {runs} runs each (process start included):");
    report("ms", "peak", (gw, gm), (hw, hm));

    // (b) the whole corpus.
    let (mut gt, mut ht, mut gpk, mut hpk, mut same) = (Duration::ZERO, Duration::ZERO, 0, 0, 0);
    for (name, v) in &all {
        let (g_cmd, h_cmd) = (cmd(&gitops, v, false), cmd(&helm, v, true));
        let g = timed(&g_cmd, Some(&v.dir), &[])?;
        if g.stdout == std::fs::read(&v.expected)? {
            same += 1;
        }
        let hr = timed(&h_cmd, Some(&v.dir), &helm_env)?;
        let (mut gw, mut hw) = (vec![g.wall], vec![hr.wall]);
        for _ in 1..corpus_runs {
            gw.push(wall_time(&g_cmd, Some(&v.dir), &[])?.0);
            hw.push(wall_time(&h_cmd, Some(&v.dir), &helm_env)?.0);
        }
        let (gw, hw) = (median(gw), median(hw));
        if each {
            println!(
                "    {name:<50} {:>7.1} ms {:>6.1} MiB | helm {:>7.1} ms {:>6.1} MiB",
                gw.as_secs_f64() * 1e3,
                g.peak_kib as f64 / 1024.0,
                hw.as_secs_f64() * 1e3,
                hr.peak_kib as f64 / 1024.0
            );
        }
        gt += gw;
        ht += hw;
        gpk = gpk.max(g.peak_kib);
        hpk = hpk.max(hr.peak_kib);
    }
    println!(
        "(b) whole corpus, {} variants that render ({same} byte-identical to Helm's output), median of \
         {corpus_runs} runs each:",
        all.len()
    );
    report("ms total", "largest peak", (gt, gpk), (ht, hpk));
    Ok(())
}

/// Prints both tools' time and peak memory (KiB) and the ratios between them.
fn report(time: &str, peak: &str, (gw, gm): (Duration, u64), (hw, hm): (Duration, u64)) {
    for (tool, wall, kib) in [("gitops helm template", gw, gm), ("helm template", hw, hm)] {
        println!(
            "    {tool:<20}  {:>8.1} {time}  {peak} {:>6.1} MiB",
            wall.as_secs_f64() * 1e3,
            kib as f64 / 1024.0
        );
    }
    println!(
        "    speed-up {:.1}x, memory ratio {:.3}",
        hw.as_secs_f64() / gw.as_secs_f64(),
        gm as f64 / hm as f64
    );
}
