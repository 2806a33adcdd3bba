//! Flux's source-controller: reconciles GitRepositories into artifacts, served over HTTP.
//!
//! `source-controller --help` lists the flags; the reconcile logic lives in gitops-source and
//! gitops-kustomize, this binary only reads flags and runs it.

use clap::Parser;
use gitops_examples::controllers::{Flags, main_of};
use gitops_kustomize::controller::Role;

/// Small blocks from per-thread free lists (see gitops-alloc), as in the `gitops` binary.
#[global_allocator]
static ALLOCATOR: gitops_alloc::ThreadCache = gitops_alloc::ThreadCache;

#[derive(Parser)]
#[command(
    version,
    about = "Reconciles GitRepositories into artifacts, served over HTTP (Flux's source-controller)."
)]
struct Cli {
    #[command(flatten)]
    flags: Flags,
}

fn main() -> std::process::ExitCode {
    main_of(Role::Sources, Cli::parse().flags)
}
