//! Traits and shared types of gitops-rs, the Flux CD toolkit as embeddable Rust crates.
//!
//! | trait | does | implemented in |
//! |---|---|---|
//! | [`Source`] | fetches a revision of an upstream into an artifact file | `gitops-source` |
//! | [`Builder`] | renders a directory into Kubernetes objects | `gitops-kustomize`, `gitops-helm` |
//! | [`Applier`] | applies and deletes objects | `gitops-apply` |
//! | [`Notifier`] | delivers events | `gitops-notify` |
//!
//! All four are object safe, so controllers pick implementations at run time as `Arc<dyn Source>` and so on.
//! The shared wire types ([`Artifact`], [`Revision`], [`Digest`], [`Event`], [`ObjectId`], conditions)
//! serialize exactly as Flux's, and [`yaml`] is the one place YAML is parsed.

mod apply;
mod artifact;
mod build;
pub mod conditions;
pub mod crd;
mod digest;
mod error;
mod event;
pub mod labels;
pub mod metrics;
mod notify;
mod object_ref;
mod revision;
pub mod semver;
mod source;
pub mod yaml;

pub use apply::{Action, Applier, ApplyError, ApplyOptions, Change, ChangeSet, ObjectId, ObjectIdError};
pub use artifact::{Artifact, ArtifactFile};
pub use build::{BuildError, BuildOutput, BuildRequest, Builder};
pub use digest::{Algorithm, Digest, DigestError, DigestWriter, to_hex};
pub use error::{BoxError, OtherError};
pub use event::{Event, Severity};
pub use notify::{Notifier, NotifyError};
pub use object_ref::{
    CrossNamespaceSourceReference, LocalObjectReference, NamespacedObjectReference, SecretKeyReference,
};
pub use revision::Revision;
pub use source::{FetchOutcome, FetchRequest, Source, SourceError};

/// Re-exported so implementors name the same versions this crate uses.
pub use async_trait::async_trait;
