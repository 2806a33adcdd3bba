//! What the side-by-side tests with the reference helm share.

use std::{path::PathBuf, process::Command};

/// The reference helm v4.1.4, if installed.
pub(crate) fn reference_helm() -> Option<PathBuf> {
    gitops_testkit::reference::helm(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
}

/// A `helm` command that keeps its configuration in `home` and talks to no cluster unless told.
pub(crate) fn helm(bin: &std::path::Path, home: &std::path::Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env("HELM_CONFIG_HOME", home)
        .env("HELM_CACHE_HOME", home)
        .env("HELM_DATA_HOME", home)
        .env("KUBECONFIG", "/dev/null");
    cmd
}

/// A chart directory named `c` under `dir` with the given templates.
pub(crate) fn chart(dir: &std::path::Path, templates: &[(&str, &str)]) -> PathBuf {
    let chart = dir.join("c");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    )
    .unwrap();
    for (name, text) in templates {
        std::fs::write(chart.join("templates").join(name), text).unwrap();
    }
    chart
}
