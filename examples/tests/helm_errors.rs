//! `gitops helm template` fails as `helm template` v4.1.4 does, with the same stderr: Helm's
//! `execution error at (...)` for `fail`/`required`, its multi-line trace for execution errors whose
//! chain it can read (includes, nested templates), Go's one-line form for the others, Go's node
//! positions and texts, parse errors, manifest YAML errors, and the `--debug` hint. Side by side with
//! the reference helm; skips without it.

#![allow(missing_docs)]

mod support;

use std::process::Command;

const HELPERS: &str = r#"{{- define "bad" }}{{ .Values.a.b.c }}{{ end }}{{- define "f" }}{{ fail "inner boom" }}{{ end }}{{- define "t" }}{{ tpl "{{ .x.y.z }}" . }}{{ end }}"#;

const CASES: &[&str] = &[
    r#"{{ fail "boom" }}"#,
    r#"{{ required "need x" .Values.x }}"#,
    "{{ .Values.a.b.c }}",
    "{{ .Values.a.b.c.d.e.f.g.h.i }}",
    r#"{{ include "nope" . }}"#,
    "a: {{ 1 | add1 | index . }}",
    r#"{{ template "x" }}"#,
    r#"{{ template "x" (dict "a" 1) }}"#,
    r#"{{ include "bad" . }}"#,
    r#"{{ include "f" . }}"#,
    r#"{{ include "t" . }}"#,
    "{{ $x := .Values }}{{ $x.a.b }}",
    "{{ (.Values).a.b }}",
    r#"{{ tpl "{{ if }}" . }}"#,
    r#"{{ tpl "{{ fail \"x\" }}" . }}"#,
    r#"{{ index .Values "a" "b" }}"#,
    "{{ toYaml .Values.x | nindent 4 | index . }}",
    r#"{{ printf "%s" (index .Values "a" "b") }}"#,
    r#"{{ block "blk" . }}{{ .Values.q.r }}{{ end }}"#,
    "{{ with .Values.a }}{{ .b.c }}{{ end }}",
    "{{ len .Values.nope.nope }}",
    "{{ if }}",
    "a: [",
    "a: b: c",
    "just text",
    r#"{{ getHostByName "example.com" | quote }}"#,
];

#[test]
fn errors_match_helm() {
    let Some(helm) = support::reference_helm() else {
        eprintln!("skipping: reference helm v4.1.4 is not installed");
        return;
    };
    let mut differ = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let chart = support::chart(dir.path(), &[("_h.tpl", HELPERS), ("cm.yaml", case)]);
        let want = support::helm(&helm, &dir.path().join("home"))
            .args(["template", "r"])
            .arg(&chart)
            .output()
            .unwrap();
        let got = Command::new(env!("CARGO_BIN_EXE_gitops"))
            .args(["helm", "template", "r"])
            .arg(&chart)
            .output()
            .unwrap();
        if (got.status.success(), &got.stdout, &got.stderr)
            != (want.status.success(), &want.stdout, &want.stderr)
        {
            differ.push(format!(
                "case {i} {case:?}:\n  helm: {}\n  ours: {}",
                String::from_utf8_lossy(&want.stderr),
                String::from_utf8_lossy(&got.stderr)
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
