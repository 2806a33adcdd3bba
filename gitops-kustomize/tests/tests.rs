//! Integration tests: bad input, Flux's additions, the Builder trait, parallel builds.

#![allow(missing_docs)]

use std::path::Path;

use gitops_kustomize::{BuildOptions, Error, build, build_with};

fn write(root: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, c).unwrap();
    }
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n";

mod bad_input {
    use super::*;

    fn err(files: &[(&str, &str)], dir: &str) -> String {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), files);
        build(t.path(), &t.path().join(dir)).unwrap_err().to_string()
    }

    #[test]
    fn malformed_yaml_names_file_and_line() {
        let e = err(
            &[
                ("kustomization.yaml", "resources:\n- cm.yaml\n"),
                ("cm.yaml", "a: [\nb: c\n"),
            ],
            ".",
        );
        assert!(e.contains("cm.yaml") && e.contains("line"), "{e}");
    }

    #[test]
    fn unknown_kustomization_field() {
        let e = err(&[("kustomization.yaml", "resourcez:\n- cm.yaml\n")], ".");
        assert!(e.contains("kustomization.yaml") && e.contains("resourcez"), "{e}");
    }

    #[test]
    fn cycles_are_detected() {
        let e = err(
            &[
                ("a/kustomization.yaml", "resources:\n- ../b\n"),
                ("b/kustomization.yaml", "resources:\n- ../a\n"),
            ],
            "a",
        );
        assert!(e.contains("cycle"), "{e}");
    }

    #[test]
    fn missing_files() {
        let e = err(&[("kustomization.yaml", "resources:\n- nope.yaml\n")], ".");
        assert!(e.contains("nope.yaml"), "{e}");
        let e = err(&[("kustomization.yaml", "resources:\n- ../outside\n")], ".");
        assert!(e.contains("not in or below") || e.contains("outside"), "{e}");
    }

    #[test]
    fn paths_escaping_the_root_are_refused() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            &[
                ("secret.yaml", CM),
                ("app/kustomization.yaml", "resources:\n- ../secret.yaml\n"),
            ],
        );
        // A file outside the kustomization's own directory is refused, as with kustomize's load restrictor.
        let e = build(&t.path().join("app"), &t.path().join("app")).unwrap_err();
        assert!(matches!(e, Error::OutsideRoot { .. }), "{e}");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/passwd", t.path().join("app/link.yaml")).unwrap();
            write(
                t.path(),
                &[("app/kustomization.yaml", "resources:\n- link.yaml\n")],
            );
            let e = build(&t.path().join("app"), &t.path().join("app")).unwrap_err();
            assert!(matches!(e, Error::OutsideRoot { .. }), "{e}");
        }
    }

    #[test]
    fn remote_resources_are_refused() {
        let e = err(
            &[(
                "kustomization.yaml",
                "resources:\n- https://github.com/org/repo//deploy?ref=v1\n",
            )],
            ".",
        );
        assert!(e.contains("remote resources are not supported"), "{e}");
    }

    #[test]
    fn duplicate_ids() {
        let e = err(
            &[
                ("kustomization.yaml", "resources:\n- a.yaml\n- b.yaml\n"),
                ("a.yaml", CM),
                ("b.yaml", CM),
            ],
            ".",
        );
        assert!(e.contains("already registered id") && e.contains("b.yaml"), "{e}");
    }
}

mod flux {
    use super::*;

    #[test]
    fn generated_kustomization_takes_every_manifest() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            &[
                ("deploy/cm.yaml", CM),
                (
                    "deploy/nested/svc.yml",
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\n",
                ),
                (
                    "deploy/sub/kustomization.yaml",
                    "resources:\n- s.yaml\nnamePrefix: sub-\n",
                ),
                (
                    "deploy/sub/s.yaml",
                    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n",
                ),
                ("deploy/sub/ignored.yaml", "not: kubernetes\n"),
                ("deploy/README.md", "# docs"),
            ],
        );
        let dir = t.path().join("deploy");
        assert!(matches!(
            build(t.path(), &dir),
            Err(Error::MissingKustomization { .. })
        ));
        let mut opts = BuildOptions::flux();
        opts.namespace = Some("apps".into());
        let objs = build_with(t.path(), &dir, &opts).unwrap();
        let names: Vec<String> = objs
            .iter()
            .map(|o| {
                format!(
                    "{}/{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["namespace"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            names,
            ["ConfigMap/apps/cm", "Secret/apps/sub-s", "Service/apps/svc"]
        );
        // Nothing was written into the source tree.
        assert!(!dir.join("kustomization.yaml").exists());
    }

    #[test]
    fn generated_kustomization_rejects_undecodable_yaml() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), &[("deploy/bad.yaml", "a: [\n")]);
        let e = build_with(t.path(), &t.path().join("deploy"), &BuildOptions::flux()).unwrap_err();
        assert!(e.to_string().contains("bad.yaml"), "{e}");
    }
}

mod trait_impl {
    use std::sync::Arc;

    use gitops_core::{BuildRequest, Builder};
    use gitops_kustomize::KustomizeBuilder;

    use super::*;

    #[tokio::test]
    async fn builds_through_the_trait_in_parallel() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..8 {
            write(
                t.path(),
                &[(
                    &format!("o{i}/kustomization.yaml"),
                    &format!("resources:\n- ../base\nnamePrefix: p{i}-\n"),
                )],
            );
        }
        write(
            t.path(),
            &[
                ("base/kustomization.yaml", "resources:\n- cm.yaml\n"),
                ("base/cm.yaml", CM),
            ],
        );
        let b: Arc<dyn Builder> = Arc::new(KustomizeBuilder::new(BuildOptions::flux()));
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (b, root) = (b.clone(), t.path().to_owned());
            tasks.push(tokio::spawn(async move {
                let path = std::path::PathBuf::from(format!("o{i}"));
                b.build(&BuildRequest::new(&root, &path)).await.unwrap()
            }));
        }
        for (i, task) in tasks.into_iter().enumerate() {
            let out = task.await.unwrap();
            assert_eq!(
                out.objects[0].metadata.name.as_deref(),
                Some(format!("p{i}-cm").as_str())
            );
        }
        let missing = std::path::PathBuf::from("nope");
        let e = b.build(&BuildRequest::new(t.path(), &missing)).await.unwrap_err();
        assert!(!e.is_transient());
    }
}

mod robustness {
    use std::path::PathBuf;

    /// Mutated copies of the conformance inputs (lines dropped, duplicated, truncated, characters flipped)
    /// must give a result or an error, never a panic. The cargo-fuzz target in `fuzz/` goes further.
    #[test]
    fn mutated_corpus_inputs_never_panic() {
        let cases =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/kustomize/cases");
        let Ok(entries) = std::fs::read_dir(&cases) else {
            eprintln!("skipping: ../shared/conformance/kustomize is not present");
            return;
        };
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut rnd = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        let mut runs = 0;
        for e in entries.flatten() {
            let input = e.path().join("input");
            let Ok(bd) = std::fs::read_to_string(e.path().join("build-dir")) else {
                continue;
            };
            let dir = input.join(bd.trim());
            let Ok(text) = std::fs::read_to_string(dir.join("kustomization.yaml")) else {
                continue;
            };
            for _ in 0..6 {
                let t = tempfile::tempdir().unwrap();
                copy_tree(&input, t.path());
                let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
                match rnd(4) {
                    0 if !lines.is_empty() => {
                        lines.remove(rnd(lines.len()));
                    }
                    1 if !lines.is_empty() => {
                        let i = rnd(lines.len());
                        lines.insert(i, lines[i].clone());
                    }
                    2 => lines.truncate(rnd(lines.len() + 1)),
                    _ if !lines.is_empty() => {
                        let i = rnd(lines.len());
                        let mut chars: Vec<char> = lines[i].chars().collect();
                        if !chars.is_empty() {
                            let j = rnd(chars.len());
                            chars[j] = ['{', ':', '-', ' ', '\'', '*', '&', '['][rnd(8)];
                        }
                        lines[i] = chars.into_iter().collect();
                    }
                    _ => {}
                }
                let tdir = t.path().join(bd.trim());
                std::fs::write(tdir.join("kustomization.yaml"), lines.join("\n")).unwrap();
                let _ = gitops_kustomize::build_to_string(t.path(), &tdir);
                runs += 1;
            }
        }
        assert!(runs > 100, "only {runs} mutated builds ran");
    }

    fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let dest = to.join(e.file_name());
            if e.path().is_dir() {
                std::fs::create_dir_all(&dest).unwrap();
                copy_tree(&e.path(), &dest);
            } else {
                std::fs::copy(e.path(), dest).unwrap();
            }
        }
    }
}

mod in_memory {
    use std::{path::Path, sync::Arc};

    use gitops_kustomize::{BuildOptions, MemFs, build_fs};

    #[test]
    fn builds_from_memory() {
        let mut fs = MemFs::new();
        fs.insert(
            "app/base/kustomization.yaml",
            "resources:\n- cm.yaml\nconfigMapGenerator:\n- name: gen\n  literals:\n  - a=b\n",
        )
        .insert("app/base/cm.yaml", super::CM)
        .insert(
            "app/prod/kustomization.yaml",
            "resources:\n- ../base\nnamePrefix: prod-\n",
        )
        .insert("app/plain/x.yaml", super::CM);
        let fs = Arc::new(fs);
        let objs = build_fs(
            fs.clone(),
            Path::new("/app"),
            Path::new("/app/prod"),
            &BuildOptions::new(),
        )
        .unwrap();
        let names: Vec<&str> = objs
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["prod-cm", "prod-gen-4h2mbtbbt6"]); // as kubectl kustomize names it
        let objs = build_fs(
            fs.clone(),
            Path::new("/app"),
            Path::new("/app/plain"),
            &BuildOptions::flux(),
        )
        .unwrap();
        assert_eq!(objs.len(), 1);
        let e = build_fs(
            fs,
            Path::new("/app/prod"),
            Path::new("/app/prod"),
            &BuildOptions::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not in or below"), "{e}");
    }
}

/// A kind-specific spec in `configurations:` narrows the default it shadows (kustomize's FsSlice merge);
/// a spec on another path adds to the defaults. Expected output checked against kubectl v1.35.2.
#[test]
fn configured_field_specs_shadow_the_defaults() {
    let t = tempfile::tempdir().unwrap();
    let objs = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n---\napiVersion: local/v1\nkind: Foo\nmetadata:\n  name: f\n";
    let build_with_config = |config: &str| {
        write(
            t.path(),
            &[
                (
                    "kustomization.yaml",
                    "resources: [r.yaml]\nnamePrefix: p-\ncommonLabels: {a: b}\nconfigurations: [c.yaml]\n",
                ),
                ("r.yaml", objs),
                ("c.yaml", config),
            ],
        );
        gitops_kustomize::build_to_string(t.path(), t.path()).unwrap()
    };
    let out = build_with_config("namePrefix:\n- path: metadata/name\n  kind: Foo\n- path: metadata/name\n");
    assert!(out.contains("name: cm\n") && out.contains("name: p-f\n"), "{out}");
    let out = build_with_config("commonLabels:\n- path: metadata/labels\n  kind: Foo\n  create: true\n");
    assert_eq!(out.matches("a: b").count(), 1, "{out}");
    assert!(out.contains("name: p-cm\n"), "{out}");
    let out = build_with_config("namePrefix:\n- path: spec/x\n  kind: Foo\n");
    assert!(
        out.contains("name: p-cm\n") && out.contains("name: p-f\n"),
        "{out}"
    );
}
