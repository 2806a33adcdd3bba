//! Prometheus metrics of the controllers, under Flux's names, in the text exposition format.
//!
//! The series a Flux controller exports and dashboards query:
//!
//! | series | labels | what |
//! |---|---|---|
//! | `gotk_reconcile_duration_seconds` (histogram) | kind, name, namespace | time spent on one object |
//! | `controller_runtime_reconcile_total` (counter) | controller, result | reconciles, by outcome |
//! | `controller_runtime_reconcile_errors_total` (counter) | controller | failed reconciles |
//! | `controller_runtime_reconcile_time_seconds` (histogram) | controller | time per reconcile |
//! | `controller_runtime_active_workers` (gauge) | controller | reconciles running now |
//! | `controller_runtime_max_concurrent_reconciles` (gauge) | controller | the concurrency limit |
//! | `process_*` | | CPU, resident memory, start time, open descriptors (Linux) |
//!
//! A [`Metrics`] is cheap to clone (all clones record into the same registry), records without
//! allocating once a series exists, and [`Metrics::forget`] drops an object's series when the object is
//! deleted, so a scrape never reports objects that are gone.
//!
//! ```
//! use std::time::Duration;
//! use gitops_core::metrics::{Metrics, Outcome};
//!
//! let m = Metrics::new();
//! m.record("kustomization", "Kustomization", "flux-system", "apps", Duration::from_millis(250), Outcome::Requeue);
//! let text = m.render();
//! assert!(text.contains(r#"gotk_reconcile_duration_seconds_count{kind="Kustomization",name="apps",namespace="flux-system"} 1"#));
//! assert!(text.contains(r#"controller_runtime_reconcile_total{controller="kustomization",result="requeue_after"} 1"#));
//! ```

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

/// Buckets of `gotk_reconcile_duration_seconds`: Flux's `ExponentialBuckets(10e-3, 10, 10)`.
const GOTK_BUCKETS: [f64; 10] = [0.01, 0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7];

/// Buckets of `controller_runtime_reconcile_time_seconds`, as controller-runtime declares them.
const RUNTIME_BUCKETS: [f64; 40] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25,
    1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0,
    50.0, 60.0,
];

/// How a reconcile ended, controller-runtime's `result` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Done, nothing scheduled (`success`).
    Success,
    /// Done, next run scheduled after the interval (`requeue_after`), the usual outcome of a Flux reconcile.
    Requeue,
    /// Failed (`error`); also counted in `controller_runtime_reconcile_errors_total`.
    Error,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Requeue => "requeue_after",
            Self::Error => "error",
        }
    }
}

struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        // Prometheus buckets are cumulative at render time; here each observation lands in its first bucket.
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cumulative += c;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{}\"}} {cumulative}",
                float(*b)
            );
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{{{s}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), float(self.sum));
        let _ = writeln!(out, "{name}_count{} {}", braces(labels), self.count);
    }
}

#[derive(Default)]
struct PerController {
    results: BTreeMap<&'static str, u64>,
    errors: u64,
    time: Option<Histogram>,
    active: i64,
    max_concurrent: Option<u64>,
}

#[derive(Default)]
struct Registry {
    /// kind -> namespace -> name -> histogram: nested, so that recording into an existing series looks
    /// it up by `&str` and allocates nothing.
    objects: BTreeMap<String, BTreeMap<String, BTreeMap<String, Histogram>>>,
    controllers: BTreeMap<String, PerController>,
}

/// The metrics registry of one controller process. See the [module docs](self).
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Mutex<Registry>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves counters that are still meaningful.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one finished reconcile of the object `kind` `namespace`/`name` by `controller` (the
    /// lower-case kind, as controller-runtime names Flux's controllers: `gitrepository`, `kustomization`).
    pub fn record(
        &self,
        controller: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        took: Duration,
        outcome: Outcome,
    ) {
        let secs = took.as_secs_f64();
        let mut r = self.lock();
        let names = slot(slot(&mut r.objects, kind), namespace);
        match names.get_mut(name) {
            Some(h) => h.observe(secs),
            None => {
                let mut h = Histogram::new(&GOTK_BUCKETS);
                h.observe(secs);
                names.insert(name.to_owned(), h);
            }
        }
        let c = slot(&mut r.controllers, controller);
        *c.results.entry(outcome.label()).or_default() += 1;
        if outcome == Outcome::Error {
            c.errors += 1;
        }
        c.time
            .get_or_insert_with(|| Histogram::new(&RUNTIME_BUCKETS))
            .observe(secs);
    }

    /// Drops the series of a deleted object.
    pub fn forget(&self, kind: &str, namespace: &str, name: &str) {
        self.retain(kind, |ns, n| ns != namespace || n != name);
    }

    /// Keeps only the series of `kind` objects for which `keep(namespace, name)` holds: a controller calls
    /// it with what its cache holds, so that objects deleted while it was not looking disappear too.
    pub fn retain(&self, kind: &str, mut keep: impl FnMut(&str, &str) -> bool) {
        let mut r = self.lock();
        let Some(namespaces) = r.objects.get_mut(kind) else {
            return;
        };
        namespaces.retain(|ns, names| {
            names.retain(|name, _| keep(ns, name));
            !names.is_empty()
        });
        if namespaces.is_empty() {
            r.objects.remove(kind);
        }
    }

    /// Marks one more (`delta` 1) or one fewer (`delta` -1) reconcile of `controller` running.
    pub fn active(&self, controller: &str, delta: i64) {
        let mut r = self.lock();
        let c = slot(&mut r.controllers, controller);
        c.active = (c.active + delta).max(0);
    }

    /// Declares how many reconciles `controller` runs at once.
    pub fn max_concurrent(&self, controller: &str, n: u64) {
        let mut r = self.lock();
        slot(&mut r.controllers, controller).max_concurrent = Some(n);
    }

    /// The registry in the Prometheus text exposition format (version 0.0.4).
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 << 10);
        {
            let r = self.lock();
            header(
                &mut out,
                "gotk_reconcile_duration_seconds",
                "The duration in seconds of a GitOps Toolkit resource reconciliation.",
                "histogram",
            );
            for (kind, namespaces) in &r.objects {
                for (ns, names) in namespaces {
                    for (name, h) in names {
                        let labels = format!(
                            "kind=\"{}\",name=\"{}\",namespace=\"{}\"",
                            escape(kind),
                            escape(name),
                            escape(ns)
                        );
                        h.render(&mut out, "gotk_reconcile_duration_seconds", &labels);
                    }
                }
            }
            render_controllers(&mut out, &r.controllers);
        }
        render_process(&mut out);
        out
    }
}

/// The value of `key` in `map`, inserted empty if missing; the key is copied only then.
fn slot<'a, V: Default>(map: &'a mut BTreeMap<String, V>, key: &str) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

fn render_controllers(out: &mut String, controllers: &BTreeMap<String, PerController>) {
    // One sample per controller, where it has a value.
    type Sample = fn(&PerController) -> Option<String>;
    let per_controller: [(&str, &str, &str, Sample); 3] = [
        (
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            "gauge",
            |c| Some(c.active.to_string()),
        ),
        (
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            "gauge",
            |c| c.max_concurrent.map(|n| n.to_string()),
        ),
        (
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller",
            "counter",
            |c| Some(c.errors.to_string()),
        ),
    ];
    for (family, help, kind, sample) in per_controller {
        header(out, family, help, kind);
        for (name, c) in controllers {
            if let Some(v) = sample(c) {
                let _ = writeln!(out, "{family}{{controller=\"{}\"}} {v}", escape(name));
            }
        }
    }
    header(
        out,
        "controller_runtime_reconcile_time_seconds",
        "Length of time per reconciliation per controller",
        "histogram",
    );
    for (name, c) in controllers {
        if let Some(h) = &c.time {
            h.render(
                out,
                "controller_runtime_reconcile_time_seconds",
                &format!("controller=\"{}\"", escape(name)),
            );
        }
    }
    header(
        out,
        "controller_runtime_reconcile_total",
        "Total number of reconciliations per controller",
        "counter",
    );
    for (name, c) in controllers {
        // Every result appears from the first scrape on, so that rate() sees each series start at 0.
        for result in [Outcome::Error, Outcome::Requeue, Outcome::Success].map(Outcome::label) {
            let n = c.results.get(result).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "controller_runtime_reconcile_total{{controller=\"{}\",result=\"{result}\"}} {n}",
                escape(name)
            );
        }
    }
}

/// The standard process collector's series, read from `/proc/self` (absent elsewhere).
fn render_process(out: &mut String) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command, which is in parentheses and may hold spaces.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
    // Times in /proc are in clock ticks: sysconf(_SC_CLK_TCK), 100 on every Linux kernel's user ABI.
    let ticks = 100.0;
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        header(
            out,
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            "counter",
        );
        let _ = writeln!(
            out,
            "process_cpu_seconds_total {}",
            float((utime + stime) / ticks)
        );
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        };
        if let Some(rss) = kib("VmRSS:") {
            header(
                out,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                "gauge",
            );
            let _ = writeln!(out, "process_resident_memory_bytes {}", float(rss * 1024.0));
        }
        if let Some(vsz) = kib("VmSize:") {
            header(
                out,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                "gauge",
            );
            let _ = writeln!(out, "process_virtual_memory_bytes {}", float(vsz * 1024.0));
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        header(
            out,
            "process_open_fds",
            "Number of open file descriptors.",
            "gauge",
        );
        let _ = writeln!(out, "process_open_fds {}", fds.count());
    }
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    });
    if let (Some(boot), Some(start)) = (boot, field(22)) {
        header(
            out,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            "gauge",
        );
        let _ = writeln!(out, "process_start_time_seconds {}", float(boot + start / ticks));
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value escaped as the exposition format wants (backslash, quote, newline).
fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return v.into();
    }
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .into()
}

/// A sample value as Prometheus' Go client prints it (`strconv.FormatFloat(v, 'g', -1, 64)`: `5`, `0.25`,
/// `1e+06`).
fn float(v: f64) -> String {
    crate::yaml::go_format_g(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The samples of `text` whose name and labels start with `prefix`.
    fn samples<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn histograms_are_cumulative_and_end_in_inf() {
        let m = Metrics::new();
        for ms in [5, 50, 500, 5_000] {
            m.record(
                "kustomization",
                "Kustomization",
                "ns",
                "a",
                Duration::from_millis(ms),
                Outcome::Requeue,
            );
        }
        let text = m.render();
        let b = samples(&text, "gotk_reconcile_duration_seconds_bucket{");
        assert_eq!(b.len(), 11, "{text}");
        assert_eq!(
            b[0],
            r#"gotk_reconcile_duration_seconds_bucket{kind="Kustomization",name="a",namespace="ns",le="0.01"} 1"#
        );
        assert_eq!(
            b[2],
            r#"gotk_reconcile_duration_seconds_bucket{kind="Kustomization",name="a",namespace="ns",le="1"} 3"#
        );
        assert!(b[9].contains(r#"le="1e+07"} 4"#), "{}", b[9]);
        assert!(b[10].ends_with(r#"le="+Inf"} 4"#));
        assert!(text.contains(
            "gotk_reconcile_duration_seconds_sum{kind=\"Kustomization\",name=\"a\",namespace=\"ns\"} 5.555\n"
        ));
        let rt = samples(&text, "controller_runtime_reconcile_time_seconds_bucket{");
        assert_eq!(rt.len(), 41);
        assert_eq!(
            rt[0],
            r#"controller_runtime_reconcile_time_seconds_bucket{controller="kustomization",le="0.005"} 1"#
        );
    }

    #[test]
    fn outcomes_errors_and_workers_are_counted() {
        let m = Metrics::new();
        m.max_concurrent("gitrepository", 4);
        m.active("gitrepository", 1);
        m.record(
            "gitrepository",
            "GitRepository",
            "ns",
            "r",
            Duration::ZERO,
            Outcome::Error,
        );
        m.record(
            "gitrepository",
            "GitRepository",
            "ns",
            "r",
            Duration::ZERO,
            Outcome::Requeue,
        );
        let text = m.render();
        for want in [
            r#"controller_runtime_reconcile_total{controller="gitrepository",result="error"} 1"#,
            r#"controller_runtime_reconcile_total{controller="gitrepository",result="requeue_after"} 1"#,
            r#"controller_runtime_reconcile_total{controller="gitrepository",result="success"} 0"#,
            r#"controller_runtime_reconcile_errors_total{controller="gitrepository"} 1"#,
            r#"controller_runtime_active_workers{controller="gitrepository"} 1"#,
            r#"controller_runtime_max_concurrent_reconciles{controller="gitrepository"} 4"#,
        ] {
            assert!(text.lines().any(|l| l == want), "missing {want} in\n{text}");
        }
        // Each family is declared once, before its samples.
        for family in [
            "controller_runtime_reconcile_total",
            "gotk_reconcile_duration_seconds",
        ] {
            assert_eq!(text.matches(&format!("# TYPE {family} ")).count(), 1);
        }
    }

    #[test]
    fn deleted_objects_leave_the_scrape() {
        let m = Metrics::new();
        for name in ["keep", "gone", "lost"] {
            m.record(
                "kustomization",
                "Kustomization",
                "ns",
                name,
                Duration::ZERO,
                Outcome::Requeue,
            );
        }
        m.forget("Kustomization", "ns", "gone");
        m.retain("Kustomization", |_, name| name != "lost");
        let text = m.render();
        assert!(text.contains("name=\"keep\""));
        assert!(
            !text.contains("name=\"gone\"") && !text.contains("name=\"lost\""),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.record("c", "K", "ns", "a\"b\\c\nd", Duration::ZERO, Outcome::Success);
        assert!(m.render().contains(r#"name="a\"b\\c\nd""#));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_metrics_are_read_from_proc() {
        let text = Metrics::new().render();
        for family in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(
                text.contains(&format!("\n{family} ")),
                "missing {family} in\n{text}"
            );
        }
    }
}
