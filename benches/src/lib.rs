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
