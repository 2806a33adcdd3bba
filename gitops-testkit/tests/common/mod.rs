//! Shared by the integration tests of this crate.

use std::path::PathBuf;

/// The reference kubectl: `$GITOPS_REFERENCE_KUBECTL`, else the one `scripts/install-reference-tools.sh`
/// puts in `.tools/bin`.
pub(crate) fn reference_kubectl() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("GITOPS_REFERENCE_KUBECTL").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/kubectl")),
    ];
    candidates.into_iter().flatten().find(|p| p.exists())
}
