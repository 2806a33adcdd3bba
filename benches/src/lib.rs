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
    /// Peak resident memory in KiB (from `/usr/bin/time -f %M`, in a second run).
    pub peak_kib: u64,
    /// Its standard output.
    pub stdout: Vec<u8>,
}

/// Runs `cmd` (program and arguments) in `dir` with extra `env` and returns its wall time, peak RSS and
/// output; fails if it fails.
///
/// The time is that of the command spawned directly, from spawn to exit: under `/usr/bin/time` it
/// would include the wrapper's own start (some 2 ms here), a constant that hides the difference between
/// two fast tools. The peak comes from a second run of the same command under `/usr/bin/time`.
pub fn timed(
    cmd: &[impl AsRef<std::ffi::OsStr>],
    dir: Option<&std::path::Path>,
    env: &[(&str, &str)],
) -> anyhow::Result<Run> {
    use anyhow::Context as _;
    let (wall, stdout) = wall_time(cmd, dir, env)?;
    let mem = command("/usr/bin/time".as_ref(), dir, env)
        .args(["-f", "%M"])
        .args(cmd)
        .output()
        .context("running /usr/bin/time")?;
    if !mem.status.success() {
        anyhow::bail!(
            "{:?} failed: {}",
            shown(cmd),
            String::from_utf8_lossy(&mem.stderr)
        );
    }
    let err = String::from_utf8_lossy(&mem.stderr);
    let last = err.lines().last().unwrap_or_default();
    let peak_kib: u64 = last
        .trim()
        .parse()
        .with_context(|| format!("peak RSS from {last:?}"))?;
    Ok(Run {
        wall,
        peak_kib,
        stdout,
    })
}

/// [`timed`]'s wall time and output alone, without the second run for the peak.
pub fn wall_time(
    cmd: &[impl AsRef<std::ffi::OsStr>],
    dir: Option<&std::path::Path>,
    env: &[(&str, &str)],
) -> anyhow::Result<(std::time::Duration, Vec<u8>)> {
    use anyhow::Context as _;
    let (program, args) = cmd.split_first().context("an empty command")?;
    let mut c = command(program.as_ref(), dir, env);
    c.args(args);
    let start = std::time::Instant::now();
    let out = c.output().with_context(|| format!("running {:?}", shown(cmd)))?;
    let wall = start.elapsed();
    if !out.status.success() {
        anyhow::bail!(
            "{:?} failed: {}",
            shown(cmd),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((wall, out.stdout))
}

fn command(
    program: &std::ffi::OsStr,
    dir: Option<&std::path::Path>,
    env: &[(&str, &str)],
) -> std::process::Command {
    let mut c = std::process::Command::new(program);
    c.envs(env.iter().copied());
    if let Some(d) = dir {
        c.current_dir(d);
    }
    c
}

fn shown(cmd: &[impl AsRef<std::ffi::OsStr>]) -> Vec<String> {
    cmd.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect()
}
