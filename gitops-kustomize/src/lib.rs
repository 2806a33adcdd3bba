//! A kustomize v5 build engine: what `kustomize build` does, without plugins or network.
//!
//! [`build`] builds a directory on disk; nothing outside `root` is read, remote resources are refused.
//! Output is printed with [`gitops_core::yaml::to_string_multi`], byte-compatible with kustomize.

mod build;
mod builder;
mod crds;
mod error;
mod fieldpath;
mod fieldspec;
mod fs;
mod generators;
#[rustfmt::skip]
mod k8s_tables;
pub mod kustomization;
mod nameref;
mod openapi;
mod patch;
mod plugins;
mod replacements;
mod resource;
mod sort;
pub mod substitute;
mod transformers;
mod vars;

pub use build::{BuildOptions, build, build_fs, build_to_string, build_with};
pub use builder::KustomizeBuilder;
pub use error::{Error, Result};
pub use fs::{DiskFs, EntryKind, FileSystem, MemFs};
