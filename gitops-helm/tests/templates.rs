//! Runs the template cases of the Helm conformance corpus (`../shared/conformance/helm/templates`):
//! Go `text/template` cases with the built-in functions only, and Sprig and Helm function cases rendered
//! as Helm renders them. Prints the pass rates and fails below the floor (98%).

use std::path::{Path, PathBuf};
use std::rc::Rc;

use gitops_helm::template::{Limits, MissingKey, Templates, Value, execute};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/helm/templates");
    p.is_dir().then_some(p)
}

struct Case {
    name: String,
    kind: String,
    template: String,
    data: serde_json::Value,
    expected: Option<String>,
    expect_error: bool,
}

fn load(file: &Path) -> Vec<Case> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Case {
                name: v["name"].as_str().unwrap().to_string(),
                kind: v["kind"].as_str().unwrap().to_string(),
                template: v["template"].as_str().unwrap().to_string(),
                data: v["data"].clone(),
                expected: v["expected"].as_str().map(str::to_string),
                expect_error: v["expect_error"].as_bool().unwrap_or(false),
            }
        })
        .collect()
}

/// Runs one case; `Ok(output)` or `Err(error)`.
fn run(case: &Case) -> Result<String, String> {
    match case.kind.as_str() {
        "exec" | "parse" => {
            let mut set = Templates::new(Rc::new(Default::default()), MissingKey::Invalid);
            set.parse(&case.name, &case.template).map_err(|e| e.to_string())?;
            if case.kind == "parse" {
                return Ok(String::new());
            }
            execute(
                &Rc::new(set),
                &case.name,
                Value::from_json(&case.data),
                Limits::default(),
            )
        }
        _ => gitops_helm::funcs::render_case(&case.template, Value::from_json(&case.data)),
    }
}

fn check(file: &str, floor: f64) {
    let Some(dir) = corpus() else {
        eprintln!("skipping: ../shared/conformance/helm is not present");
        return;
    };
    let cases = load(&dir.join(file));
    let mut failures = Vec::new();
    for case in &cases {
        let got = std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(256 << 20)
                .spawn_scoped(s, || std::panic::catch_unwind(|| run(case)))
                .unwrap()
                .join()
                .unwrap()
        });
        let ok = match (&got, case.expect_error) {
            (Ok(Ok(_)), true) => false,
            (Ok(Err(_)), true) => true,
            (Ok(Ok(out)), false) => case.kind == "parse" || Some(out) == case.expected.as_ref(),
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{}: template {:?} data {} expected {:?} got {:?}",
                case.name,
                case.template,
                case.data,
                if case.expect_error {
                    "an error".to_string()
                } else {
                    format!("{:?}", case.expected)
                },
                got.as_ref().map_err(|_| "PANIC")
            ));
        }
    }
    let passed = cases.len() - failures.len();
    let rate = passed as f64 * 100.0 / cases.len() as f64;
    eprintln!("{file}: {passed}/{} passed ({rate:.1}%)", cases.len());
    for f in &failures {
        eprintln!("  FAIL {f}");
    }
    assert!(rate >= floor, "{file}: {rate:.1}% is below {floor}%");
}

#[test]
fn go_text_template() {
    check("text_template.jsonl", 98.0);
}

#[test]
fn sprig_functions() {
    check("sprig.jsonl", 98.0);
}

#[test]
fn helm_functions() {
    check("helm_funcs.jsonl", 98.0);
}

/// Mutations of every corpus template (bytes dropped, doubled, swapped for template punctuation) must
/// parse or fail cleanly, and execute or fail cleanly: never panic, never run away.
#[test]
fn mutated_corpus_never_panics() {
    let Some(dir) = corpus() else {
        eprintln!("skipping: ../shared/conformance/helm is not present");
        return;
    };
    let mut cases = Vec::new();
    for f in ["text_template.jsonl", "sprig.jsonl", "helm_funcs.jsonl"] {
        cases.extend(load(&dir.join(f)));
    }
    let inserts = [
        "{{", "}}", "(", ")", "|", "$", ".", "\"", "-", " end ", "range", "index", "0",
    ];
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut runs = 0;
    for case in &cases {
        for _ in 0..8 {
            let t = &case.template;
            let mut m = t.clone();
            if !m.is_empty() {
                let mut at = (next() % m.len() as u64) as usize;
                while !m.is_char_boundary(at) {
                    at -= 1;
                }
                match next() % 3 {
                    0 => {
                        let end = (at + 1 + (next() % 4) as usize).min(m.len());
                        let end = (end..=m.len())
                            .find(|i| m.is_char_boundary(*i))
                            .unwrap_or(m.len());
                        m.replace_range(at..end, "");
                    }
                    1 => m.insert_str(at, inserts[(next() % inserts.len() as u64) as usize]),
                    _ => m.insert_str(at, &t[at..]),
                }
            }
            let json = &case.data;
            let outcome = std::thread::scope(|s| {
                std::thread::Builder::new()
                    .stack_size(256 << 20)
                    .spawn_scoped(s, || {
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            let mut set =
                                Templates::new(Rc::new(gitops_helm::funcs::helm_funcs()), MissingKey::Zero);
                            if set.parse("m", &m).is_ok() {
                                let limits = Limits {
                                    max_output: 1 << 20,
                                    max_depth: 100,
                                    max_steps: 100_000,
                                };
                                let _ = execute(&Rc::new(set), "m", Value::from_json(json), limits);
                            }
                        }))
                    })
                    .unwrap()
                    .join()
                    .unwrap()
            });
            assert!(
                outcome.is_ok(),
                "panic on mutated template {m:?} (from {})",
                case.name
            );
            runs += 1;
        }
    }
    eprintln!("{runs} mutated templates parsed and executed without a panic");
}
