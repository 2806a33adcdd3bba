//! What Flux's CustomResourceDefinitions add to the ones `kube`'s derive generates.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{CustomResourceDefinition, JSON};

/// Sets `spec.names.listKind` to `<Kind>List` and gives every version's `status` the default
/// `{"observedGeneration": -1}` (Flux's `+kubebuilder:default` on the status field).
pub fn with_flux_defaults(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    crd.spec.names.list_kind = Some(format!("{}List", crd.spec.names.kind));
    for v in &mut crd.spec.versions {
        if let Some(status) = v
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .and_then(|s| s.properties.as_mut())
            .and_then(|p| p.get_mut("status"))
        {
            status.default = Some(JSON(serde_json::json!({ "observedGeneration": -1 })));
        }
    }
    crd
}
