//! Flux-compatible sources for gitops-rs.
//!
//! - [`git::GitSource`] implements [`gitops_core::Source`] for Git repositories (`file`, `git`, `http(s)`,
//!   `ssh`), producing reproducible `.tar.gz` artifacts with Flux's layout and ignore rules.
//! - [`storage::Storage`] keeps artifacts under `<kind>/<namespace>/<name>/<file>` with atomic writes,
//!   `latest.tar.gz` symlinks and garbage collection; [`server`] serves it over HTTP.
//! - [`api`] holds the `source.toolkit.fluxcd.io/v1` types.

pub mod api;
pub mod archive;
pub mod controller;
pub mod git;
pub mod ignore;
pub mod server;
pub mod storage;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
