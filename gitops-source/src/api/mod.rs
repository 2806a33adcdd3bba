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
    let mut crd = GitRepository::crd();
    crd.spec.names.list_kind = Some("GitRepositoryList".into());
    // `+kubebuilder:default:={"observedGeneration":-1}` on the status field.
    for v in &mut crd.spec.versions {
        if let Some(status) = v
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .and_then(|s| s.properties.as_mut())
            .and_then(|p| p.get_mut("status"))
        {
            status.default = Some(
                k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSON(
                    serde_json::json!({ "observedGeneration": -1 }),
                ),
            );
        }
    }
    crd
}
