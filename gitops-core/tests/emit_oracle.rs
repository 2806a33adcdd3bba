//! Differential test of the YAML emitter against the reference `kubectl kustomize` (kustomize v5.7.1).
//!
//! Skips with a notice when the reference kubectl is not installed (`scripts/test.sh` installs it into
//! `.tools/bin`).

#![allow(missing_docs)]

use std::{path::PathBuf, process::Command};

use gitops_core::yaml;

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

/// Documents exercising quoting, folding, block scalars, key order and numbers.
fn corpus() -> String {
    let mut docs = vec![include_str!("data/emit_edge_cases.yaml").to_owned()];
    // Generated strings: every printable ASCII character in leading, middle and trailing position, and
    // long texts around the folding column.
    let mut data = String::new();
    for (i, c) in (' '..='~').enumerate() {
        let q = |s: String| serde_json::to_string(&s).unwrap();
        data.push_str(&format!("  lead{i}: {}\n", q(format!("{c}x"))));
        data.push_str(&format!("  mid{i}: {}\n", q(format!("a{c} b"))));
        data.push_str(&format!("  trail{i}: {}\n", q(format!("x{c}"))));
    }
    for n in [70, 75, 79, 80, 81, 85, 120, 200] {
        let words: Vec<String> = (0..n / 5).map(|i| format!("w{i:03}")).collect();
        data.push_str(&format!("  fold{n}: \"{}\"\n", words.join(" ")));
        data.push_str(&format!("  foldq{n}: \"'{}\"\n", words.join(" ")));
        data.push_str(&format!("  foldd{n}: \"\\t{}\"\n", words.join(" ")));
    }
    docs.push(format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: zz-generated\ndata:\n{data}"
    ));
    docs.join("---\n")
}

#[test]
fn emitter_matches_kustomize_byte_for_byte() {
    let Some(kubectl) = reference_kubectl() else {
        eprintln!("skipping: reference kubectl v1.35 (kustomize v5.7.1) is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = corpus();
    std::fs::write(dir.path().join("in.yaml"), &input).unwrap();
    std::fs::write(dir.path().join("kustomization.yaml"), "resources:\n- in.yaml\n").unwrap();
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = String::from_utf8(out.stdout).unwrap();
    let values = yaml::from_str_multi(&input, &yaml::Limits::default()).unwrap();
    let ours = yaml::to_string_multi(&values);
    if ours != expected {
        let diff: Vec<String> = ours
            .lines()
            .zip(expected.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(10)
            .map(|(i, (a, b))| format!("line {}: ours {a:?}\n          want {b:?}", i + 1))
            .collect();
        panic!("emitter differs from kustomize:\n{}", diff.join("\n"));
    }
}
