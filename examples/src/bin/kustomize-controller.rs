//! Flux's kustomize-controller: reconciles Kustomizations, with artifacts downloaded from the source-controller.
//!
//! `kustomize-controller --help` lists the flags; the reconcile logic lives in gitops-source and
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
    about = "Reconciles Kustomizations, with artifacts downloaded from the source-controller (Flux's kustomize-controller)."
)]
struct Cli {
    #[command(flatten)]
    flags: Flags,
}

fn main() -> std::process::ExitCode {
    main_of(Role::Kustomizations, Cli::parse().flags)
}
