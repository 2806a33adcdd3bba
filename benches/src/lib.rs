//! Helpers the benchmark binaries share.

/// Peak resident memory (`VmHWM`) of process `pid` (`"self"` for this one), in MiB; 0 when unknown.
pub fn peak_rss_mib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

/// One process run: wall time, peak RSS and what it printed.
pub struct Run {
    /// Wall time, process start included.
    pub wall: std::time::Duration,
    /// Peak resident memory in KiB (from `/usr/bin/time -f %M`).
    pub peak_kib: u64,
    /// Its standard output.
    pub stdout: Vec<u8>,
}

/// Runs `cmd` (program and arguments) under `/usr/bin/time` in `dir` with extra `env`, and returns its
/// wall time, peak RSS and output; fails if it fails.
pub fn timed(
    cmd: &[impl AsRef<std::ffi::OsStr>],
    dir: Option<&std::path::Path>,
    env: &[(&str, &str)],
) -> anyhow::Result<Run> {
    use anyhow::Context as _;
    let start = std::time::Instant::now();
    let mut c = std::process::Command::new("/usr/bin/time");
    c.args(["-f", "%M"]).args(cmd).envs(env.iter().copied());
    if let Some(d) = dir {
        c.current_dir(d);
    }
    let out = c.output().context("running /usr/bin/time")?;
    let wall = start.elapsed();
    if !out.status.success() {
        let shown: Vec<String> = cmd
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        anyhow::bail!("{shown:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    let peak_kib: u64 = last
        .trim()
        .parse()
        .with_context(|| format!("peak RSS from {last:?}"))?;
    Ok(Run {
        wall,
        peak_kib,
        stdout: out.stdout,
    })
}
