//! The Kustomization CRD generated from the Rust types matches Flux's v1 CRD field for field.

#![allow(missing_docs)]

#[test]
fn kustomization_crd_matches_flux_v1() {
    let ours = serde_json::to_value(gitops_kustomize::api::kustomization_crd()).unwrap();
    match gitops_testkit::flux_crds::compare(&ours, "kustomize.toolkit.fluxcd.io_kustomizations.yaml", "v1") {
        None => eprintln!("skipping: Flux's CRDs (../shared/reference/flux-crds) are not present"),
        Some(Err(diffs)) => panic!("differs from Flux:\n{diffs}"),
        Some(Ok(())) => {}
    }
}

#[test]
fn the_comparison_notices_differences() {
    let ours = serde_json::to_value(gitops_kustomize::api::kustomization_crd()).unwrap();
    if let Some(r) =
        gitops_testkit::flux_crds::compare(&ours, "source.toolkit.fluxcd.io_gitrepositories.yaml", "v1")
    {
        let diffs = r.unwrap_err();
        assert!(
            diffs.contains("names.kind") && diffs.contains("flux only: spec.url"),
            "{diffs}"
        );
    }
}
