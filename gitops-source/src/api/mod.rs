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
