//! Finding the reference tools the differential tests and benchmarks compare with: helm v4.1.4 and
//! kubectl v1.35 (`scripts/install-reference-tools.sh` puts them in `.tools/bin` of the workspace).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The reference helm v4.1.4: `GITOPS_REFERENCE_HELM`, or `.tools/bin/helm` under `workspace`; `None`
/// when neither is that version.
pub fn helm(workspace: &Path) -> Option<PathBuf> {
    find(
        std::env::var_os("GITOPS_REFERENCE_HELM").map(PathBuf::from),
        workspace.join(".tools/bin/helm"),
        &["version", "--short"],
        "v4.1.4",
    )
}

/// The first of `env` and `default` that runs and prints `version` (at the start of a line) for
/// `args`.
fn find(env: Option<PathBuf>, default: PathBuf, args: &[&str], version: &str) -> Option<PathBuf> {
    [env, Some(default)].into_iter().flatten().find(|p| {
        Command::new(p).args(args).output().is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with(version))
        })
    })
}
