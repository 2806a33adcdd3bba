//! Server-side apply with Flux's semantics: where manifests meet a cluster.
//!
//! [`SsaApplier`] implements [`gitops_core::Applier`] on a [`kube::Client`] the way Flux's `ssa` package
//! does: objects are applied in stages (CRDs, Namespaces and ClusterRoles, waited for until ready; then
//! `*Class` kinds; then the rest), each is dry-run first and written only when it drifted, ownership is
//! taken from kubectl so manual edits are reverted, the `kustomize.toolkit.fluxcd.io/ssa` annotation
//! (`Override`, `Merge`, `IfNotPresent`, `Ignore`) and `force` (recreate on immutable-field changes) are
//! honoured, and every object gets its own result instead of the apply stopping at the first failure.
//!
//! [`Inventory`] keeps what an apply owns in Flux's format; [`SsaApplier::prune`] deletes what left it,
//! namespaced objects before their Namespaces and custom resources before their CRDs, and never objects
//! without the owner labels. [`health_of`] is kstatus with Flux's overrides and [`SsaApplier::wait`]
//! polls it; [`SsaApplier::diff`] shows what an apply would change, with Secret values masked.

mod applier;
mod diff;
mod health;
mod inventory;
mod stage;

pub use applier::{
    Config, FORCE_KEY, ObjectDiff, ObjectError, OverrideManager, PRUNE_KEY, RECONCILE_KEY, SSA_KEY,
    SsaApplier, WaitError, display,
};
pub use diff::unified_diff;
pub use health::{Health, HealthExpr, Status, health_of, health_with};
pub use inventory::{Entry, Inventory};
pub use stage::Stage;
