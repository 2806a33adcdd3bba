//! Differential test against the reference `helm template` (v4.1.4): the corpus charts rendered with
//! generated `--set` overrides (booleans flipped, numbers and strings changed, on scalar values the chart
//! declares) must print exactly what Helm prints, or both must fail.
//! `GITOPS_HELM_DIFF_CASES` sets how many variants run (default 40).

use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_helm::chart::{self, RenderOptions};

fn reference_helm() -> Option<PathBuf> {
    gitops_testkit::reference::helm(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
}

/// Scalar leaves of a values document, as `--set` paths.
fn leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, v) in o {
                if k.contains(['.', ',', '=', '[', '\\', ' ']) || k.is_empty() {
                    continue;
                }
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&p, v, out);
            }
        }
        serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {
            out.push((prefix.to_string(), v.clone()));
        }
        serde_json::Value::String(s) if !s.contains([',', '{', '}', '\\', '=']) && s.len() < 40 => {
            out.push((prefix.to_string(), v.clone()));
        }
        _ => {}
    }
}

#[test]
fn set_overrides_match_helm() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/helm/charts");
    let Some(helm) = reference_helm() else {
        eprintln!("skipping: reference helm v4.1.4 not found (scripts/install-reference-tools.sh)");
        return;
    };
    if !corpus.is_dir() {
        eprintln!("skipping: ../shared/conformance/helm is not present");
        return;
    }
    let cases: usize = std::env::var("GITOPS_HELM_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let home = tempfile::tempdir().unwrap();
    let charts = [
        "podinfo",
        "ingress-nginx",
        "grafana",
        "bitnami-redis",
        "prometheus",
        "synthetic-subcharts",
        "bitnami-postgresql",
    ];
    let mut seed: u64 = 0x2545f4914f6cdd1d;
    let mut rnd = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let (mut same, mut total, mut failures) = (0, 0, Vec::new());
    for i in 0..cases {
        let name = charts[i % charts.len()];
        let dir = corpus.join(name);
        let Ok(text) = std::fs::read_to_string(dir.join("chart/values.yaml")) else {
            continue;
        };
        let values: serde_json::Value =
            gitops_core::yaml::from_str_with(&text, &gitops_helm::funcs::helm_yaml_limits())
                .unwrap_or_default();
        let mut ls = Vec::new();
        leaves("", &values, &mut ls);
        if ls.is_empty() {
            continue;
        }
        let mut sets = Vec::new();
        for _ in 0..3 {
            let (path, v) = &ls[rnd(ls.len())];
            let new = match v {
                serde_json::Value::Bool(b) => (!b).to_string(),
                serde_json::Value::Number(n) => {
                    (n.as_f64().unwrap_or(0.0) as i64 + 1 + rnd(5) as i64).to_string()
                }
                _ => ["changed", "x-y", "01", "true", "null", "1.5"][rnd(6)].to_string(),
            };
            sets.push(format!("{path}={new}"));
        }
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
        let (release, ns) = (
            case["release"].as_str().unwrap().to_string(),
            case["namespace"].as_str().unwrap().to_string(),
        );
        let values_file = dir.join(case["variants"][0]["values"].as_str().unwrap());
        // The variant's own flags too (podinfo's tests have random names: --skip-tests).
        let extra: Vec<String> = case["variants"][0]["extra_args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        let skip_tests = extra.iter().any(|a| a == "--skip-tests");
        let mut cmd = Command::new(&helm);
        cmd.current_dir(&dir)
            .args(["template", &release, "chart", "-n", &ns, "-f"])
            .arg(&values_file)
            .args(&extra);
        for s in &sets {
            cmd.args(["--set", s]);
        }
        for k in ["HELM_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_DATA_HOME"] {
            cmd.env(k, home.path());
        }
        cmd.env("KUBECONFIG", "/dev/null");
        let want = cmd.output().unwrap();
        let vtext = std::fs::read_to_string(&values_file).unwrap();
        let sets2 = sets.clone();
        let chart_dir = dir.join("chart");
        let got = gitops_helm::with_render_stack(move || {
            let c = chart::load(&chart_dir).map_err(|e| e.to_string())?;
            let mut o = RenderOptions::new(&release, &ns)
                .values_yaml(&vtext)
                .map_err(|e| e.to_string())?;
            o.skip_tests = skip_tests;
            for s in &sets2 {
                chart::parse_set(s, &mut o.values).map_err(|e| e.to_string())?;
            }
            chart::template(&c, &o).map_err(|e| e.to_string())
        });
        let ok = match (&got, want.status.success()) {
            (Ok(out), true) => out.as_bytes() == want.stdout,
            (Err(_), false) => true,
            _ => false,
        };
        if !ok && want.status.success() && cmd.output().is_ok_and(|again| again.stdout != want.stdout) {
            // Helm itself is not deterministic here (randAlphaNum and friends): not comparable.
            continue;
        }
        total += 1;
        if ok {
            same += 1;
        } else {
            let first_diff = match &got {
                Ok(out) => {
                    let w = String::from_utf8_lossy(&want.stdout);
                    out.lines()
                        .zip(w.lines())
                        .enumerate()
                        .find(|(_, (a, b))| a != b)
                        .map(|(n, (a, b))| format!("line {}: ours {a:?} helm {b:?}", n + 1))
                        .unwrap_or_else(|| "lengths differ".into())
                }
                Err(e) => format!("we fail ({e}), helm renders"),
            };
            let helm_err = String::from_utf8_lossy(&want.stderr);
            failures.push(format!(
                "{name} --set {}: {first_diff} {}",
                sets.join(" --set "),
                if want.status.success() {
                    String::new()
                } else {
                    format!("(helm fails: {})", helm_err.trim())
                }
            ));
        }
    }
    eprintln!("differential: {same}/{total} --set variants identical to helm template v4.1.4");
    for f in &failures {
        eprintln!("  DIFF {f}");
    }
    assert!(
        failures.is_empty(),
        "{} of {total} variants differ from helm",
        failures.len()
    );
}

/// The built-in objects as templates see them (printed, as JSON and as YAML) match helm's, on a chart
/// with metadata, dependencies (alias, tags, import-values), annotations and files.
#[test]
fn builtin_objects_match_helm() {
    let Some(helm) = reference_helm() else {
        eprintln!("skipping: reference helm v4.1.4 not found (scripts/install-reference-tools.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let files: &[(&str, &str)] = &[
        (
            "Chart.yaml",
            "apiVersion: v2\nname: objs\nversion: 0.1.0\nappVersion: \"1.0\"\ndescription: d\nkeywords: [a, b]\nmaintainers:\n- name: m\n  email: e@x\nsources: [s]\nannotations:\n  x: y\n  n: 3\ndependencies:\n- name: sub\n  version: 0.1.0\n  condition: sub.enabled\n  tags: [t]\n  alias: al\n  import-values: [x, {child: a, parent: b}]\n",
        ),
        (
            "values.yaml",
            "a: 1\nbig: 1000000\nf: 1.5\nlist: [1, two, null]\n",
        ),
        ("files/one.txt", "1\n2\n"),
        (
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
        ),
        ("charts/sub/values.yaml", "exports:\n  x: {ex: 1}\na: {k: v}\n"),
        (
            "charts/sub/templates/s.yaml",
            "# {{ .Chart | toJson }}\n# {{ .Chart }}\n# {{ .Values | toJson }}\n# {{ .Template | toJson }}\n",
        ),
        (
            "templates/t.yaml",
            "# {{ .Chart | toJson }}\n# {{ .Chart }}\n# {{ .Chart.Annotations.x }} {{ .Chart.Name }}\n# {{ .Capabilities | toJson }}\n# {{ .Capabilities.KubeVersion }} {{ .Capabilities.KubeVersion | quote }} {{ .Capabilities.HelmVersion }}\n# {{ .Release | toJson }} {{ .Release }}\n# {{ .Template | toJson }}\n# {{ .Values | toJson }}\n# {{ .Values }}\n# {{ .Values | toYaml | nindent 2 }}\n# {{ .Values | toYamlPretty | nindent 2 }}\n# {{ .Files.Glob \"files/*\" | toJson }} {{ .Files.Lines \"files/one.txt\" }}\n# {{ .Subcharts.al.Values | toJson }}\n",
        ),
    ];
    for (name, text) in files {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(&helm);
    cmd.current_dir(root).args(["template", "rel", ".", "-n", "ns"]);
    for k in ["HELM_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_DATA_HOME"] {
        cmd.env(k, home.path());
    }
    let want = cmd.env("KUBECONFIG", "/dev/null").output().unwrap();
    assert!(want.status.success(), "{}", String::from_utf8_lossy(&want.stderr));
    let path = root.to_path_buf();
    let got = gitops_helm::with_render_stack(move || {
        let c = chart::load(&path).map_err(|e| e.to_string())?;
        chart::template(&c, &RenderOptions::new("rel", "ns")).map_err(|e| e.to_string())
    })
    .unwrap();
    assert_eq!(got, String::from_utf8_lossy(&want.stdout));
}
