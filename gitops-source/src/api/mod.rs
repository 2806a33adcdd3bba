//! `source.toolkit.fluxcd.io/v1` API types.

mod gitrepository;

pub use gitrepository::{
    GitRepository, GitRepositoryInclude, GitRepositoryRef, GitRepositorySpec, GitRepositoryStatus,
    GitRepositoryVerification,
};

/// The API group.
pub const GROUP: &str = "source.toolkit.fluxcd.io";
/// The finalizer Flux puts on every object.
pub const FINALIZER: &str = "finalizers.fluxcd.io";

/// The GitRepository CustomResourceDefinition, as Flux ships it.
pub fn gitrepository_crd()
-> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    use kube::CustomResourceExt as _;
    gitops_core::crd::with_flux_defaults(GitRepository::crd())
}
