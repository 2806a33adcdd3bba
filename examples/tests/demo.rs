//! `gitops demo`, the README's first command, runs to the end: a commit applied, a change re-applied, a
//! deleted file pruned, exit status 0.

#![allow(missing_docs)]

use std::process::Command;

#[test]
fn the_demo_applies_a_change_and_prunes_a_deletion() {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("skipping: the demo needs git");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_gitops"))
        .arg("demo")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "[1] commit ",
        "Deployment/demo/web                      Current     Deployment is available. Replicas: 2",
        "Deployment/demo/web has 3 replicas",
        "Service/demo/web pruned",
        "inventory (3 objects):",
        "demo finished in",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
}
