//! Differential tests against the reference `kubectl kustomize` (kustomize v5.7.1) on generated inputs.
//!
//! Each case is a random but valid overlay over a random base; both tools build it and the outputs must be
//! byte-identical. Skips with a notice when the reference kubectl is not installed.

#![allow(missing_docs, clippy::print_stdout)]

use std::{fmt::Write as _, path::PathBuf, process::Command};

/// A small deterministic generator (xorshift), so failures reproduce from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn reference_kubectl() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("GITOPS_REFERENCE_KUBECTL").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/kubectl")),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["version", "--client"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("Kustomize Version: v5.7.1"))
    })
}

const WORDS: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "web", "api", "db", "cache", "worker", "x1", "a10", "a2",
];
const VALUES: &[&str] = &[
    "true",
    "1",
    "yes",
    "on",
    "1.0",
    "v1.2.3",
    "hello world",
    "",
    "a: b",
    "0777",
    "-x",
    "null",
];

fn base(r: &mut Rng) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut names = Vec::new();
    for i in 0..(2 + r.below(5)) {
        let name = format!("{}-{i}", r.pick(WORDS));
        names.push(name.clone());
        match r.below(3) {
            0 => write!(
                out,
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels:\n    app: {name}\nspec:\n  replicas: {}\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n      - name: main\n        image: {}:{}\n        env:\n        - name: V\n          value: {:?}\n        envFrom:\n        - configMapRef:\n            name: settings\n",
                r.below(5),
                r.pick(&["nginx", "registry.local:5000/team/app", "busybox"]),
                r.pick(&["1.0", "latest", "2"]),
                r.pick(VALUES)
            ),
            1 => write!(out, "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n    app: {name}\n  ports:\n  - port: {}\n", 80 + r.below(1000)),
            _ => write!(out, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: {:?}\n  n{}: {:?}\n", r.pick(VALUES), r.below(20), r.pick(VALUES)),
        }
        .unwrap();
        out.push_str("---\n");
    }
    (out, names)
}

fn overlay(r: &mut Rng, names: &[String]) -> String {
    let mut k = String::from("resources:\n- ../base\n");
    if r.chance(60) {
        writeln!(k, "namePrefix: {}-", r.pick(WORDS)).unwrap();
    }
    if r.chance(40) {
        writeln!(k, "nameSuffix: -{}", r.pick(WORDS)).unwrap();
    }
    if r.chance(60) {
        writeln!(k, "namespace: {}", r.pick(WORDS)).unwrap();
    }
    if r.chance(60) {
        writeln!(k, "commonLabels:\n  {}: {:?}", r.pick(WORDS), r.pick(VALUES)).unwrap();
    }
    if r.chance(50) {
        writeln!(
            k,
            "commonAnnotations:\n  note/{}: {:?}",
            r.pick(WORDS),
            r.pick(VALUES)
        )
        .unwrap();
    }
    if r.chance(50) {
        writeln!(k, "images:\n- name: nginx\n  newTag: \"{}\"", r.below(100)).unwrap();
    }
    if r.chance(40) {
        writeln!(
            k,
            "replicas:\n- name: {}\n  count: {}",
            names[r.below(names.len() as u64) as usize],
            r.below(9)
        )
        .unwrap();
    }
    k.push_str("configMapGenerator:\n- name: settings\n  literals:\n");
    for _ in 0..(1 + r.below(3)) {
        writeln!(
            k,
            "  - {}={}",
            r.pick(WORDS),
            r.pick(&["x", "1", "true", "a b", "é"])
        )
        .unwrap();
    }
    if r.chance(50) {
        k.push_str("patches:\n- target:\n    kind: Deployment\n  patch: |-\n    - op: add\n      path: /metadata/annotations\n      value:\n        patched: \"yes\"\n");
    }
    k
}

#[test]
fn random_overlays_match_reference_kustomize() {
    let Some(kubectl) = reference_kubectl() else {
        eprintln!("skipping: reference kubectl v1.35 (kustomize v5.7.1) is not installed");
        return;
    };
    let cases: u64 = std::env::var("GITOPS_DIFF_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    for seed in 1..=cases {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let t = tempfile::tempdir().unwrap();
        let (b, names) = base(&mut r);
        std::fs::create_dir_all(t.path().join("base")).unwrap();
        std::fs::create_dir_all(t.path().join("overlay")).unwrap();
        std::fs::write(t.path().join("base/resources.yaml"), b).unwrap();
        std::fs::write(
            t.path().join("base/kustomization.yaml"),
            "resources:\n- resources.yaml\n",
        )
        .unwrap();
        std::fs::write(
            t.path().join("overlay/kustomization.yaml"),
            overlay(&mut r, &names),
        )
        .unwrap();
        let dir = t.path().join("overlay");
        let reference = Command::new(&kubectl)
            .arg("kustomize")
            .arg(&dir)
            .output()
            .unwrap();
        let ours = gitops_kustomize::build_to_string(t.path(), &dir);
        match (reference.status.success(), ours) {
            (true, Ok(out)) => {
                let want = String::from_utf8(reference.stdout).unwrap();
                if out != want {
                    let kust = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
                    panic!(
                        "seed {seed}: output differs\n--- kustomization\n{kust}\n--- reference\n{want}\n--- ours\n{out}"
                    );
                }
            }
            (false, Err(_)) => {}
            (ok, res) => {
                let kust = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
                panic!(
                    "seed {seed}: reference success={ok} ({}), ours={:?}\n--- kustomization\n{kust}",
                    String::from_utf8_lossy(&reference.stderr).trim(),
                    res.map(|_| "ok")
                );
            }
        }
    }
    println!("{cases} generated overlays built byte-identically to kustomize v5.7.1");
}
