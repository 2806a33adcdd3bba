//! Git source benchmark, side by side with `git clone --depth 1` + `tar czf` in one run.
//!
//! Generates a repository (default: 20,000 files, about 200 MB, 500 commits), then times a full fetch and
//! package with [`GitSource`] against the git CLI, and the unchanged-revision check. Prints ratios.
//! Usage: `cargo run --release -p gitops-benches --bin bench-git [-- FILES FILE_KIB COMMITS RUNS]`.

#![allow(clippy::print_stdout)]

use std::{
    io::Write,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use gitops_core::{FetchOutcome, FetchRequest, Source as _};
use gitops_source::git::{GitReference, GitSource};

fn generate(dir: &Path, files: usize, file_kib: usize, commits: usize) -> anyhow::Result<()> {
    let st = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(dir)
        .status()?;
    anyhow::ensure!(st.success());
    let mut fi = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()?;
    let mut w = std::io::BufWriter::new(fi.stdin.take().unwrap());
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut text = |len: usize| -> Vec<u8> {
        // Text-like content that compresses about as well as YAML does.
        let words = [
            &b"apiVersion: "[..],
            b"kind: ",
            b"metadata:\n",
            b"  name: ",
            b"value-",
            b"spec:\n",
            b"  replicas: ",
            b"image: ",
        ];
        let mut out = Vec::with_capacity(len + 32);
        while out.len() < len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            out.extend_from_slice(words[(seed % 8) as usize]);
            out.extend_from_slice(format!("{:x}\n", seed % 100_000).as_bytes());
        }
        out.truncate(len);
        out
    };
    for c in 0..commits {
        writeln!(
            w,
            "commit refs/heads/main\ncommitter Bench <b@example.com> {} +0000\ndata 6\ncommit",
            1_600_000_000 + c
        )?;
        let touched: Vec<usize> = if c == 0 {
            (0..files).collect()
        } else {
            (0..20).map(|i| (c * 37 + i * 997) % files).collect()
        };
        for f in touched {
            let data = text(file_kib * 1024);
            writeln!(
                w,
                "M 100644 inline dir{:03}/file{f:05}.yaml\ndata {}",
                f % 200,
                data.len()
            )?;
            w.write_all(&data)?;
            writeln!(w)?;
        }
    }
    drop(w);
    anyhow::ensure!(fi.wait()?.success(), "git fast-import failed");
    Ok(())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let files = args.first().copied().unwrap_or(20_000);
    let kib = args.get(1).copied().unwrap_or(10);
    let commits = args.get(2).copied().unwrap_or(500);
    let runs = args.get(3).copied().unwrap_or(3);
    let tmp = tempfile::tempdir()?;
    let repo = tmp.path().join("repo.git");
    let t = Instant::now();
    generate(&repo, files, kib, commits)?;
    println!(
        "generated {files} files x {kib} KiB, {commits} commits in {:.1?}",
        t.elapsed()
    );
    let url = format!("file://{}", repo.display());
    let rt = tokio::runtime::Runtime::new()?;
    let src = GitSource::new(&url, GitReference::branch("main"));

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let mut last = None;
    for i in 0..runs {
        let work = tempfile::tempdir()?;
        let t = Instant::now();
        let out =
            rt.block_on(src.fetch(&FetchRequest::new(work.path()).with_timeout(Duration::from_secs(600))))?;
        ours.push(t.elapsed());
        if let FetchOutcome::Fetched(f) = out {
            if i == 0 {
                println!("gitops-rs artifact: {} bytes, {}", f.size, f.digest);
            }
            last = Some(f.revision);
        }

        let work = tempfile::tempdir()?;
        let t = Instant::now();
        let st = Command::new("git")
            .args(["clone", "-q", "--depth", "1", "--branch", "main", &url])
            .arg(work.path().join("c"))
            .status()?;
        anyhow::ensure!(st.success());
        let st = Command::new("tar")
            .args(["czf", "../a.tar.gz", "--exclude=.git", "."])
            .current_dir(work.path().join("c"))
            .status()?;
        anyhow::ensure!(st.success());
        theirs.push(t.elapsed());
    }
    let (o, g) = (median(ours), median(theirs));
    println!(
        "fetch+package   gitops-rs {o:.2?}   git clone --depth 1 + tar czf {g:.2?}   ratio {:.2}",
        o.as_secs_f64() / g.as_secs_f64()
    );

    let mut checks = Vec::new();
    for _ in 0..runs.max(5) {
        let work = tempfile::tempdir()?;
        let t = Instant::now();
        let out =
            rt.block_on(src.fetch(&FetchRequest::new(work.path()).with_last_revision(last.as_ref())))?;
        checks.push(t.elapsed());
        anyhow::ensure!(
            matches!(out, FetchOutcome::Unchanged(_)),
            "expected an unchanged revision"
        );
    }
    println!(
        "unchanged-revision check   gitops-rs {:.2?} (median of {})",
        median(checks.clone()),
        checks.len()
    );
    Ok(())
}
