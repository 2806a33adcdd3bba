//! Renders a chart as `gitops helm template` does and prints how long each step took to stderr (a
//! profiling aid: the command without the rest of the gitops binary, which builds in a fraction of the
//! time).
//!
//! `cargo run --release -p gitops-helm --example template_timed -- CHART [-f VALUES]... [RELEASE [NAMESPACE]]`

#![allow(clippy::print_stdout)] // the rendered chart is its output

use std::time::Instant;

use gitops_helm::chart::{self, RenderOptions};

/// Small blocks from per-thread free lists (see gitops-alloc): rendering a large chart allocates tens of
/// thousands of them on several threads.
#[global_allocator]
static ALLOCATOR: gitops_alloc::ThreadCache = gitops_alloc::ThreadCache;

fn main() {
    let mut args = std::env::args().skip(1);
    let chart_dir = args.next().expect("a chart directory or archive");
    let (mut values, mut names) = (Vec::new(), Vec::new());
    while let Some(a) = args.next() {
        if a == "-f" {
            values.push(args.next().expect("-f FILE"));
        } else {
            names.push(a);
        }
    }
    let release = names.first().map_or("release", String::as_str).to_owned();
    let namespace = names.get(1).map_or("default", String::as_str).to_owned();
    let out = gitops_helm::with_render_stack(move || {
        let t = Instant::now();
        let chart = chart::load(std::path::Path::new(&chart_dir)).expect("chart loads");
        let loaded = t.elapsed();
        let mut opts = RenderOptions::new(&release, &namespace);
        opts.exit_after = true;
        for f in &values {
            opts = opts
                .values_yaml(&std::fs::read_to_string(f).expect("values file"))
                .expect("values parse");
        }
        let t = Instant::now();
        let out = chart::template(&chart, &opts).expect("chart renders");
        let rendered = t.elapsed();
        let t = Instant::now();
        drop(chart);
        eprintln!(
            "load {loaded:?}, render {rendered:?}, drop {:?}, {} bytes",
            t.elapsed(),
            out.len()
        );
        // Resident memory by kind (heap and stacks, or pages of the binary and libraries).
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let rss: Vec<&str> = status
            .lines()
            .filter(|l| l.starts_with("VmHWM") || l.starts_with("RssAnon") || l.starts_with("RssFile"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .map(|l| &*l.leak())
            .collect();
        eprintln!("{}", rss.join(", "));
        if std::env::var_os("SMAPS").is_some() {
            let sm = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
            let mut name = String::new();
            for l in sm.lines() {
                if l.contains('-')
                    && l.chars().next().is_some_and(|c| c.is_ascii_hexdigit())
                    && !l.contains(':')
                    || l.contains(" r")
                        && l.chars().next().is_some_and(|c| c.is_ascii_hexdigit())
                        && l.split_whitespace().count() >= 5
                {
                    name = l.to_string();
                } else if let Some(kb) = l.strip_prefix("Rss:") {
                    let kb: u64 = kb.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0);
                    if kb >= 64 {
                        eprintln!("{kb:>8} {name}");
                    }
                }
            }
        }
        out
    });
    print!("{out}");
}
