//! `gitops apply` and `gitops diff` end to end against the embedded API server: the CLI contract of
//! issue 5 (one line per object, inventory ConfigMap, prune, wait, exit status, masked diffs).

#![allow(missing_docs)]

use std::{path::Path, process::Command};

use gitops_testkit::TestApiServer;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn gitops(kubeconfig: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_gitops"))
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
";

#[tokio::test(flavor = "multi_thread")]
async fn apply_prune_wait_and_diff_through_the_cli() {
    let server = TestApiServer::start().await.unwrap();
    server.simulate_workloads(true);
    let tmp = tempfile::tempdir().unwrap();
    let kc = tmp.path().join("kubeconfig");
    std::fs::write(&kc, server.kubeconfig()).unwrap();
    let dir = tmp.path().join("manifests");
    std::fs::create_dir(&dir).unwrap();
    write(
        &dir,
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    );
    write(
        &dir,
        "config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\ndata:\n  mode: fast\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: shop\nstringData:\n  password: hunter2\n",
    );
    write(
        &dir,
        "deploy.yaml",
        &DEPLOY.replace("name: web\n", "name: web\n  namespace: shop\n"),
    );
    let d = dir.to_str().unwrap();

    let r = gitops(&kc, &["apply", d, "--name", "shop", "--wait", "--timeout", "30s"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "Namespace/shop created\nConfigMap/shop/settings created\nSecret/shop/creds created\nDeployment/shop/web created\n"
    );
    assert!(r.stderr.contains("all objects are ready"), "{}", r.stderr);

    // Nothing changed: unchanged, and diff says so with status 0.
    let r = gitops(&kc, &["apply", d, "--name", "shop"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.lines().all(|l| l.ends_with(" unchanged")),
        "{}",
        r.stdout
    );
    let r = gitops(&kc, &["diff", d, "--name", "shop", "--prune"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);

    // A changed Secret and a removed ConfigMap: diff shows both, masking the values, exit 1.
    write(
        &dir,
        "config.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: shop\nstringData:\n  password: s3cr3t\n",
    );
    let r = gitops(&kc, &["diff", d, "--name", "shop", "--prune"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("► Secret/shop/creds drifted"), "{}", r.stdout);
    assert!(
        r.stdout.contains("► ConfigMap/shop/settings deleted"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("hunter2") && !r.stdout.contains("s3cr3t"),
        "{}",
        r.stdout
    );

    let r = gitops(&kc, &["apply", d, "--name", "shop", "--prune"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("Secret/shop/creds configured\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("ConfigMap/shop/settings deleted\n"),
        "{}",
        r.stdout
    );

    // A failing Deployment: apply succeeds, --wait fails naming it.
    write(
        &dir,
        "deploy.yaml",
        &DEPLOY.replace(
            "name: web\n",
            "name: web\n  namespace: shop\n  annotations: {testkit.gitops-rs.io/simulate: fail}\n",
        ),
    );
    let r = gitops(&kc, &["apply", d, "--name", "shop", "--wait", "--timeout", "30s"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Deployment/shop/web failed"), "{}", r.stderr);

    // Bad input: a document without a kind, named with its file; nothing else is touched.
    write(
        &dir,
        "broken.yaml",
        "apiVersion: v1\nmetadata:\n  name: x\n  namespace: shop\n",
    );
    let r = gitops(&kc, &["apply", d, "--name", "shop", "--prune"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("kind is required"), "{}", r.stderr);
    assert!(!r.stdout.contains("deleted"), "{}", r.stdout);
    std::fs::remove_file(dir.join("broken.yaml")).unwrap();
    write(&dir, "broken.yaml", "kind: [unclosed\n");
    let r = gitops(&kc, &["apply", d, "--name", "shop"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("broken.yaml"), "{}", r.stderr);
}
