//! The flux-like verbs end to end: CRDs installed with `gitops apply`, the `source-controller` and
//! `kustomize-controller` binaries running as processes against the embedded API server, and create /
//! reconcile / get / suspend / resume / build driving them; the controllers' metrics and probes scraped.

#![allow(missing_docs)]

use std::{
    io::Write as _,
    path::Path,
    process::{Command, Stdio},
};

use gitops_testkit::{TestApiServer, git::GitServer};

fn gitops(kc: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitops"));
    cmd.args(args);
    if args[0] != "build" {
        cmd.arg("--kubeconfig").arg(kc);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn create_reconcile_get_suspend_resume_build() {
    let Ok(git) = GitServer::start("app").await else {
        eprintln!("skipping: needs git");
        return;
    };
    let server = TestApiServer::start().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let kc = tmp.path().join("kubeconfig");
    std::fs::write(&kc, server.kubeconfig()).unwrap();
    git.write(
        "deploy/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  greeting: ${GREETING:=hello}\n",
    )
    .unwrap();
    let first = git.commit("first").unwrap();

    tokio::task::block_in_place(|| {
        let crds = Command::new(env!("CARGO_BIN_EXE_gitops"))
            .arg("crds")
            .output()
            .unwrap();
        let (ok, out, err) = gitops(
            &kc,
            &["apply", "-", "--name", "flux-crds"],
            Some(&String::from_utf8_lossy(&crds.stdout)),
        );
        assert!(ok, "{out}{err}");
        let (ok, out, err) = gitops(
            &kc,
            &["apply", "-", "--name", "flux-system"],
            Some("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n"),
        );
        assert!(ok, "{out}{err}");
        // source-controller and kustomize-controller as two processes with their own storage: artifacts
        // travel over HTTP between them.
        let spawn = |bin: &str, log: &str| {
            Kill(
                Command::new(bin)
                    .args(["--leader-election-namespace", "default"])
                    .args(["--metrics-addr", "127.0.0.1:0", "--health-addr", "127.0.0.1:0"])
                    .args(["--storage-addr", "127.0.0.1:0", "--storage-path"])
                    .arg(tmp.path().join(format!("{log}.storage")))
                    .arg("--kubeconfig")
                    .arg(&kc)
                    .stderr(std::fs::File::create(tmp.path().join(log)).unwrap())
                    .spawn()
                    .unwrap(),
            )
        };
        let _sources = spawn(env!("CARGO_BIN_EXE_source-controller"), "sources.log");
        let _kustomizations = spawn(env!("CARGO_BIN_EXE_kustomize-controller"), "ks-1.log");
        // A second kustomize-controller replica waits for the Lease instead of working too.
        let _standby = spawn(env!("CARGO_BIN_EXE_kustomize-controller"), "ks-2.log");

        let (ok, _, err) = gitops(
            &kc,
            &[
                "create",
                "source",
                "git",
                "app",
                "--url",
                git.url(),
                "--branch",
                "main",
                "--interval",
                "1m",
            ],
            None,
        );
        assert!(ok, "{err}");
        let (ok, _, err) = gitops(
            &kc,
            &[
                "create",
                "kustomization",
                "app",
                "--source",
                "app",
                "--path",
                "./deploy",
                "--prune",
                "--interval",
                "10m",
                "--target-namespace",
                "default",
            ],
            None,
        );
        assert!(ok, "{err}");
        let (ok, _, err) = gitops(
            &kc,
            &[
                "reconcile",
                "kustomization",
                "app",
                "--with-source",
                "--timeout",
                "30s",
            ],
            None,
        );
        assert!(ok, "{err}");
        assert!(
            err.contains(&format!("✔ applied revision main@sha1:{first}")),
            "{err}"
        );

        let (ok, out, err) = gitops(&kc, &["get", "kustomizations"], None);
        assert!(ok, "{err}");
        let row = out.lines().find(|l| l.starts_with("app")).unwrap_or_default();
        assert!(
            row.contains(&first) && row.contains("False") && row.contains("True"),
            "{out}"
        );
        let (ok, out, _) = gitops(&kc, &["get", "sources", "git", "-A"], None);
        assert!(
            ok && out.starts_with("NAMESPACE") && out.contains("flux-system"),
            "{out}"
        );

        // Suspended: a new revision waits; resumed: it is applied.
        let (ok, _, err) = gitops(&kc, &["suspend", "kustomization", "app"], None);
        assert!(ok, "{err}");
        let (_, out, _) = gitops(&kc, &["get", "ks"], None);
        assert!(
            out.lines().any(|l| l.starts_with("app") && l.contains("True")),
            "{out}"
        );
        git.write(
            "deploy/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  greeting: bonjour\n",
        )
        .unwrap();
        let second = git.commit("second").unwrap();
        let (ok, _, err) = gitops(
            &kc,
            &["reconcile", "source", "git", "app", "--timeout", "30s"],
            None,
        );
        assert!(ok && err.contains(&second), "{err}");
        let (ok, _, err) = gitops(&kc, &["resume", "kustomization", "app", "--timeout", "30s"], None);
        assert!(ok, "{err}");
        assert!(err.contains(&format!("revision main@sha1:{second}")), "{err}");

        // Offline build with the Kustomization's substitution.
        let ks = tmp.path().join("ks.yaml");
        std::fs::write(
            &ks,
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: app}\nspec:\n  interval: 1m\n  prune: true\n  sourceRef: {kind: GitRepository, name: app}\n  targetNamespace: staging\n  postBuild:\n    substitute: {GREETING: hola}\n",
        )
        .unwrap();
        git.write("deploy/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  greeting: ${GREETING:=hello}\n").unwrap();
        let dir = git.work_dir().join("deploy");
        let (ok, out, err) = gitops(
            &kc,
            &[
                "build",
                "kustomization",
                "app",
                "--path",
                dir.to_str().unwrap(),
                "--kustomization-file",
                ks.to_str().unwrap(),
            ],
            None,
        );
        assert!(ok, "{err}");
        assert!(
            out.contains("greeting: hola") && out.contains("namespace: staging"),
            "{out}"
        );

        // diff kustomization: the local checkout against what the cluster runs.
        let run_diff = || {
            let out = Command::new(env!("CARGO_BIN_EXE_gitops"))
                .args([
                    "diff",
                    "kustomization",
                    "app",
                    "--path",
                    dir.to_str().unwrap(),
                    "--kubeconfig",
                ])
                .arg(&kc)
                .output()
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        };
        let (code, out) = run_diff();
        assert_eq!(code, Some(1), "{out}");
        assert!(
            out.contains("► ConfigMap/default/settings drifted") && out.contains("-  greeting: bonjour"),
            "{out}"
        );
        git.write(
            "deploy/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  greeting: bonjour\n",
        )
        .unwrap();
        let (code, out) = run_diff();
        assert_eq!((code, out.as_str()), (Some(0), ""));

        // Exactly one kustomize-controller replica led.
        let leading = ["ks-1.log", "ks-2.log"]
            .iter()
            .filter(|f| {
                std::fs::read_to_string(tmp.path().join(f))
                    .unwrap()
                    .contains("\nleading\n")
            })
            .count();
        assert_eq!(leading, 1);

        // Metrics and probes, as Prometheus and the kubelet read them.
        let log = |f: &str| std::fs::read_to_string(tmp.path().join(f)).unwrap();
        let (leader, standby) = if log("ks-1.log").contains("\nleading\n") {
            ("ks-1.log", "ks-2.log")
        } else {
            ("ks-2.log", "ks-1.log")
        };
        let (status, metrics) = get(&log(leader), "metrics", "/metrics");
        assert_eq!(status, 200);
        for want in [
            "gotk_reconcile_duration_seconds_count{kind=\"Kustomization\",name=\"app\",namespace=\"flux-system\"} ",
            "controller_runtime_reconcile_total{controller=\"kustomization\",result=\"requeue_after\"} ",
            "controller_runtime_max_concurrent_reconciles{controller=\"kustomization\"} 8",
            "process_resident_memory_bytes ",
        ] {
            assert!(metrics.contains(want), "no {want} in\n{metrics}");
        }
        assert!(!metrics.contains("GitRepository"), "{metrics}");
        let (_, metrics) = get(&log("sources.log"), "metrics", "/metrics");
        assert!(
            metrics.contains("gotk_reconcile_duration_seconds_count{kind=\"GitRepository\",name=\"app\",namespace=\"flux-system\"} "),
            "{metrics}"
        );
        assert_eq!(get(&log(leader), "health probes", "/readyz").0, 200);
        assert_eq!(get(&log(standby), "health probes", "/healthz").0, 200);
        // The standby has not started its controllers, so it is alive but not ready.
        assert_eq!(get(&log(standby), "health probes", "/readyz").0, 503);
    });
}

/// GETs `path` from the address a controller's log says it serves `what` at: (status, body).
fn get(log: &str, what: &str, path: &str) -> (u16, String) {
    use std::io::Read as _;
    let prefix = format!("serving {what} at http://");
    let addr = log
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {what} address in\n{log}"));
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
