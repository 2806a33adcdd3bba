//! Flux's condition types, reasons and the kstatus-compliant helpers that set them.
//!
//! While working an object has `Reconciling=True` and `Ready=Unknown`; on success `Ready=True`; when it
//! cannot make progress until its spec changes `Stalled=True` and `Ready=False`.

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Condition, jiff::Timestamp};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Condition types.
pub mod types {
    /// The object is in its desired state.
    pub const READY: &str = "Ready";
    /// The controller is working on the object (present only while True).
    pub const RECONCILING: &str = "Reconciling";
    /// The controller cannot make progress until the spec changes (present only while True).
    pub const STALLED: &str = "Stalled";
    /// The applied objects passed their health checks.
    pub const HEALTHY: &str = "Healthy";
    /// The source's artifact is in storage.
    pub const ARTIFACT_IN_STORAGE: &str = "ArtifactInStorage";
    /// The stored artifact is older than the upstream revision.
    pub const ARTIFACT_OUTDATED: &str = "ArtifactOutdated";
    /// The upstream's signature was verified.
    pub const SOURCE_VERIFIED: &str = "SourceVerified";
    /// Fetching from the upstream failed.
    pub const FETCH_FAILED: &str = "FetchFailed";
    /// Building the artifact failed.
    pub const BUILD_FAILED: &str = "BuildFailed";
    /// A storage operation failed.
    pub const STORAGE_OPERATION_FAILED: &str = "StorageOperationFailed";
    /// An included repository is not available.
    pub const INCLUDE_UNAVAILABLE: &str = "IncludeUnavailable";
}

/// Condition reasons.
pub mod reasons {
    /// Generic success.
    pub const SUCCEEDED: &str = "Succeeded";
    /// Generic failure.
    pub const FAILED: &str = "Failed";
    /// Work is under way.
    pub const PROGRESSING: &str = "Progressing";
    /// Work is under way again after a failure.
    pub const PROGRESSING_WITH_RETRY: &str = "ProgressingWithRetry";
    /// The object is suspended.
    pub const SUSPENDED: &str = "Suspended";
    /// A dependency is not ready.
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    /// A reference was refused by the multi-tenancy lockdown.
    pub const ACCESS_DENIED: &str = "AccessDenied";
    /// A path in the spec is invalid.
    pub const INVALID_PATH: &str = "InvalidPath";
    /// A URL in the spec is invalid.
    pub const INVALID_URL: &str = "InvalidURL";
    /// Insecure connections are not allowed.
    pub const INSECURE_CONNECTIONS_DISALLOWED: &str = "InsecureConnectionsDisallowed";
    /// The connection type is not supported.
    pub const UNSUPPORTED_CONNECTION_TYPE: &str = "UnsupportedConnectionType";
    /// Pruning failed.
    pub const PRUNE_FAILED: &str = "PruneFailed";
    /// The source artifact could not be fetched or verified.
    pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
    /// The build failed.
    pub const BUILD_FAILED: &str = "BuildFailed";
    /// Health checks failed.
    pub const HEALTH_CHECK_FAILED: &str = "HealthCheckFailed";
    /// Health checks were canceled.
    pub const HEALTH_CHECK_CANCELED: &str = "HealthCheckCanceled";
    /// The reconciliation succeeded.
    pub const RECONCILIATION_SUCCEEDED: &str = "ReconciliationSucceeded";
    /// The reconciliation failed.
    pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
    /// A CEL expression is invalid.
    pub const INVALID_CEL_EXPRESSION: &str = "InvalidCELExpression";
    /// A feature gate is disabled.
    pub const FEATURE_GATE_DISABLED: &str = "FeatureGateDisabled";
    /// The URL in a source spec is invalid.
    pub const URL_INVALID: &str = "URLInvalid";
    /// Authentication with the upstream failed.
    pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
    /// A Git operation succeeded.
    pub const GIT_OPERATION_SUCCEEDED: &str = "GitOperationSucceeded";
    /// A Git operation failed.
    pub const GIT_OPERATION_FAILED: &str = "GitOperationFailed";
    /// Writing the archive failed.
    pub const ARCHIVE_OPERATION_FAILED: &str = "ArchiveOperationFailed";
    /// The stored artifact is up to date.
    pub const ARTIFACT_UP_TO_DATE: &str = "ArtifactUpToDate";
    /// A new upstream revision was found.
    pub const NEW_REVISION: &str = "NewRevision";
}

/// Status values of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `True`.
    True,
    /// `False`.
    False,
    /// `Unknown`.
    Unknown,
}

impl Status {
    /// The string Kubernetes uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

/// Reading and setting conditions on a `status.conditions` list.
pub trait Conditions {
    /// The condition of type `type_`, if present.
    fn get_condition(&self, type_: &str) -> Option<&Condition>;

    /// Sets a condition; `lastTransitionTime` moves only when the status changes.
    fn set_condition(
        &mut self,
        type_: &str,
        status: Status,
        reason: &str,
        message: &str,
        observed_generation: Option<i64>,
    );

    /// Removes the condition of type `type_`.
    fn remove_condition(&mut self, type_: &str);

    /// Whether the condition `type_` is present with status True.
    fn is_true(&self, type_: &str) -> bool {
        self.get_condition(type_).is_some_and(|c| c.status == "True")
    }

    /// Whether the condition `type_` is present with status False.
    fn is_false(&self, type_: &str) -> bool {
        self.get_condition(type_).is_some_and(|c| c.status == "False")
    }

    /// `Reconciling=True` with `reason`, and `Ready=Unknown` with the same reason and message.
    fn mark_reconciling(&mut self, reason: &str, message: &str, generation: Option<i64>) {
        self.set_condition(types::RECONCILING, Status::True, reason, message, generation);
        self.set_condition(types::READY, Status::Unknown, reason, message, generation);
    }

    /// `Ready=True`; removes `Reconciling` and `Stalled`.
    fn mark_ready(&mut self, reason: &str, message: &str, generation: Option<i64>) {
        self.remove_condition(types::RECONCILING);
        self.remove_condition(types::STALLED);
        self.set_condition(types::READY, Status::True, reason, message, generation);
    }

    /// `Ready=False` for a failure that may go away on retry; removes `Reconciling` and `Stalled`.
    fn mark_failed(&mut self, reason: &str, message: &str, generation: Option<i64>) {
        self.remove_condition(types::RECONCILING);
        self.remove_condition(types::STALLED);
        self.set_condition(types::READY, Status::False, reason, message, generation);
    }

    /// `Stalled=True` and `Ready=False`: no retry until the spec changes; removes `Reconciling`.
    fn mark_stalled(&mut self, reason: &str, message: &str, generation: Option<i64>) {
        self.remove_condition(types::RECONCILING);
        self.set_condition(types::STALLED, Status::True, reason, message, generation);
        self.set_condition(types::READY, Status::False, reason, message, generation);
    }
}

impl Conditions for Vec<Condition> {
    fn get_condition(&self, type_: &str) -> Option<&Condition> {
        self.iter().find(|c| c.type_ == type_)
    }

    fn set_condition(
        &mut self,
        type_: &str,
        status: Status,
        reason: &str,
        message: &str,
        observed_generation: Option<i64>,
    ) {
        let status = status.as_str();
        if let Some(c) = self.iter_mut().find(|c| c.type_ == type_) {
            if c.status != status {
                c.last_transition_time = Time(Timestamp::now());
                c.status = status.to_owned();
            }
            reason.clone_into(&mut c.reason);
            message.clone_into(&mut c.message);
            c.observed_generation = observed_generation;
        } else {
            self.push(Condition {
                type_: type_.to_owned(),
                status: status.to_owned(),
                reason: reason.to_owned(),
                message: message.to_owned(),
                observed_generation,
                last_transition_time: Time(Timestamp::now()),
            });
        }
    }

    fn remove_condition(&mut self, type_: &str) {
        self.retain(|c| c.type_ != type_);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kstatus_transitions() {
        let mut c: Vec<Condition> = Vec::new();
        c.mark_reconciling(reasons::PROGRESSING, "fetching", Some(1));
        assert!(c.is_true(types::RECONCILING));
        assert_eq!(c.get_condition(types::READY).unwrap().status, "Unknown");

        c.mark_stalled(reasons::INVALID_URL, "bad url", Some(1));
        assert!(c.get_condition(types::RECONCILING).is_none());
        assert!(c.is_true(types::STALLED));
        assert!(c.is_false(types::READY));

        c.mark_ready(reasons::SUCCEEDED, "stored artifact", Some(2));
        assert!(c.get_condition(types::STALLED).is_none());
        assert!(c.is_true(types::READY));
        assert_eq!(
            c.get_condition(types::READY).unwrap().observed_generation,
            Some(2)
        );
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut c: Vec<Condition> = Vec::new();
        c.set_condition(types::READY, Status::True, "A", "a", None);
        let t0 = c[0].last_transition_time.clone();
        std::thread::sleep(std::time::Duration::from_millis(2));
        c.set_condition(types::READY, Status::True, "B", "b", None);
        assert_eq!(c[0].last_transition_time, t0);
        assert_eq!(c[0].reason, "B");
        c.set_condition(types::READY, Status::False, "C", "c", None);
        assert_ne!(c[0].last_transition_time, t0);
    }
}
