//! The event controllers send to the notification controller, in Flux's JSON shape.

use std::collections::BTreeMap;

use k8s_openapi::{api::core::v1::ObjectReference, apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use serde::{Deserialize, Serialize};

/// Severity of an [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Normal operation.
    Info,
    /// A failure.
    Error,
    /// Noise: recorded as a Kubernetes Event only, never forwarded.
    Trace,
}

/// An event as `POST`ed to the notification controller (Flux `event/v1beta1.Event`).
///
/// Field names and order match Flux's JSON, so existing receivers and providers parse it unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The object this event is about.
    pub involved_object: ObjectReference,
    /// `info` or `error`.
    pub severity: Severity,
    /// When the event was recorded.
    pub timestamp: Time,
    /// Human-readable description.
    pub message: String,
    /// Machine-readable, CamelCase reason.
    pub reason: String,
    /// Extra data, keys `<group>/<key>` such as `kustomize.toolkit.fluxcd.io/revision`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Name of the controller that emitted the event, e.g. `kustomize-controller`.
    pub reporting_controller: String,
    /// Instance of the controller, e.g. the pod name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reporting_instance: String,
}

impl Event {
    /// A new event about `object`, stamped now.
    pub fn new(
        object: ObjectReference,
        severity: Severity,
        reason: impl Into<String>,
        message: impl Into<String>,
        reporting_controller: impl Into<String>,
    ) -> Self {
        Self {
            involved_object: object,
            severity,
            timestamp: Time(Timestamp::now()),
            message: message.into(),
            reason: reason.into(),
            metadata: BTreeMap::new(),
            reporting_controller: reporting_controller.into(),
            reporting_instance: String::new(),
        }
    }

    /// Adds a metadata entry.
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_matches_flux() {
        let mut e = Event::new(
            ObjectReference {
                kind: Some("Kustomization".into()),
                namespace: Some("flux-system".into()),
                name: Some("apps".into()),
                uid: Some("7d0cdc51-ddcf-4743-b223-83ca5c699632".into()),
                api_version: Some("kustomize.toolkit.fluxcd.io/v1".into()),
                resource_version: Some("56921".into()),
                ..Default::default()
            },
            Severity::Info,
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:5394cb7f48332b2de7c17dd8b8384bbc84b7e738",
            "kustomize-controller",
        )
        .with_metadata(
            "kustomize.toolkit.fluxcd.io/revision",
            "main@sha1:5394cb7f48332b2de7c17dd8b8384bbc84b7e738",
        );
        e.timestamp = Time("2022-10-28T07:26:19Z".parse().unwrap());
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "involvedObject": {
                    "kind": "Kustomization",
                    "namespace": "flux-system",
                    "name": "apps",
                    "uid": "7d0cdc51-ddcf-4743-b223-83ca5c699632",
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                    "resourceVersion": "56921"
                },
                "severity": "info",
                "timestamp": "2022-10-28T07:26:19Z",
                "message": "Applied revision: main@sha1:5394cb7f48332b2de7c17dd8b8384bbc84b7e738",
                "reason": "ReconciliationSucceeded",
                "metadata": {
                    "kustomize.toolkit.fluxcd.io/revision": "main@sha1:5394cb7f48332b2de7c17dd8b8384bbc84b7e738"
                },
                "reportingController": "kustomize-controller"
            })
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
    }
}
