//! Runs the chart cases of the Helm conformance corpus (`../shared/conformance/helm/charts`): each
//! variant is `helm template RELEASE chart -n NS -f values/VARIANT.yaml [extra args]`, compared byte
//! for byte with Helm v4.1.4's output; error variants must fail (with Helm's error text, reported). Prints the rates and fails below the
//! issue's floor (95%).

use std::path::{Path, PathBuf};

use gitops_helm::chart::{self, RenderOptions};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/helm/charts");
    p.is_dir().then_some(p)
}

/// Applies `helm template` flags to the options.
fn apply_args(mut opts: RenderOptions, args: &[String]) -> Result<RenderOptions, String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--skip-tests" => opts.skip_tests = true,
            "--include-crds" => opts.include_crds = true,
            "--no-hooks" => opts.no_hooks = true,
            "--skip-schema-validation" => opts.skip_schema_validation = true,
            "--set" => chart::parse_set(&value()?, &mut opts.values).map_err(|e| e.to_string())?,
            "--set-string" => {
                chart::parse_set_string(&value()?, &mut opts.values).map_err(|e| e.to_string())?;
            }
            "--set-json" => chart::parse_set_json(&value()?, &mut opts.values).map_err(|e| e.to_string())?,
            "--kube-version" => opts.kube_version = value()?,
            "--api-versions" | "-a" => opts.api_versions.push(value()?),
            other => return Err(format!("unsupported flag {other}")),
        }
    }
    Ok(opts)
}

fn run_variant(case_dir: &Path, case: &serde_json::Value, v: &serde_json::Value) -> Result<String, String> {
    let chart_dir = case_dir.join(case["chart"].as_str().unwrap_or("chart"));
    let chart = chart::load(&chart_dir).map_err(|e| cli_error(&e))?;
    let values =
        std::fs::read_to_string(case_dir.join(v["values"].as_str().unwrap())).map_err(|e| e.to_string())?;
    let opts = RenderOptions::new(
        case["release"].as_str().unwrap(),
        case["namespace"].as_str().unwrap(),
    )
    .values_yaml(&values)
    .map_err(|e| cli_error(&e))?;
    let args: Vec<String> = v["extra_args"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let opts = apply_args(opts, &args).map_err(|e| format!("Error: {e}"))?;
    chart::template(&chart, &opts).map_err(|e| cli_error(&e))
}

fn cli_error(e: &chart::ChartError) -> String {
    e.cli_text()
}

#[test]
fn chart_corpus() {
    let Some(dir) = corpus() else {
        eprintln!("skipping: ../shared/conformance/helm is not present");
        return;
    };
    let only = std::env::var("GITOPS_HELM_CASE").ok();
    let mut total = 0;
    let mut passed = 0;
    let (mut errors, mut same_errors) = (0, 0);
    let mut failures = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    names.sort();
    for case_dir in names {
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(case_dir.join("case.json")).unwrap()).unwrap();
        let name = case["name"].as_str().unwrap().to_string();
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        for v in case["variants"].as_array().unwrap() {
            total += 1;
            let vname = v["name"].as_str().unwrap();
            let expect_error = v["expect_error"].as_bool().unwrap_or(false);
            let got = std::thread::scope(|s| {
                std::thread::Builder::new()
                    .stack_size(256 << 20)
                    .spawn_scoped(s, || {
                        std::panic::catch_unwind(|| run_variant(&case_dir, &case, v))
                    })
                    .unwrap()
                    .join()
                    .unwrap()
            });
            let ok = match (&got, expect_error) {
                (Ok(Err(e)), true) => {
                    // Helm's log lines (`level=INFO ...`) are not part of the error.
                    errors += 1;
                    let want =
                        std::fs::read_to_string(case_dir.join("expected").join(format!("{vname}.error.txt")))
                            .unwrap_or_default();
                    let want: Vec<&str> = want.lines().filter(|l| !l.starts_with("level=")).collect();
                    if e.trim_end() == want.join("\n").trim_end() {
                        same_errors += 1;
                    } else {
                        eprintln!(
                            "  error text differs for {name}/{vname}:\n    want {want:?}\n    got  {e:?}"
                        );
                    }
                    true
                }
                (Ok(Ok(out)), false) => {
                    let want =
                        std::fs::read_to_string(case_dir.join(v["expected"].as_str().unwrap())).unwrap();
                    if *out == want {
                        true
                    } else {
                        if let Ok(d) = std::env::var("GITOPS_HELM_DUMP") {
                            let _ =
                                std::fs::write(Path::new(&d).join(format!("{name}-{vname}.got.yaml")), out);
                            let _ = std::fs::write(
                                Path::new(&d).join(format!("{name}-{vname}.want.yaml")),
                                &want,
                            );
                        }
                        false
                    }
                }
                _ => false,
            };
            if ok {
                passed += 1;
            } else {
                let why = match &got {
                    Ok(Ok(_)) if expect_error => "rendered, but Helm fails".to_string(),
                    Ok(Ok(_)) => "output differs".to_string(),
                    Ok(Err(e)) => format!("error: {}", e.chars().take(1500).collect::<String>()),
                    Err(_) => "PANIC".to_string(),
                };
                failures.push(format!("{name}/{vname}: {why}"));
            }
        }
    }
    let rate = passed as f64 * 100.0 / total.max(1) as f64;
    eprintln!("charts: {passed}/{total} variants byte-identical or failing as Helm does ({rate:.1}%)");
    eprintln!("charts: {same_errors}/{errors} error variants with Helm's error text");
    for f in &failures {
        eprintln!("  FAIL {f}");
    }
    if only.is_none() {
        assert!(rate >= 95.0, "chart variants: {rate:.1}% is below 95%");
        // The issue asks error variants to fail; their texts are checked too, so that a regression in
        // Helm's error forms shows.
        assert!(
            same_errors * 10 >= errors * 9,
            "only {same_errors}/{errors} error texts match Helm's"
        );
    }
}
