//! Health as kstatus computes it, with Flux's overrides: whether an object has reached its desired state.

use std::fmt;

use serde_json::Value;

/// An object's status in kstatus terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// It has reached the state its spec asks for.
    Current,
    /// It is still getting there.
    InProgress,
    /// It will not get there without a change (failed Job, exceeded progress deadline, `Stalled=True`).
    Failed,
    /// It is being deleted.
    Terminating,
    /// It does not exist.
    NotFound,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Current => "Current",
            Self::InProgress => "InProgress",
            Self::Failed => "Failed",
            Self::Terminating => "Terminating",
            Self::NotFound => "NotFound",
        })
    }
}

/// A status with the reason for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The status.
    pub status: Status,
    /// Why, in words.
    pub message: String,
}

impl Health {
    fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn current() -> Self {
        Self::new(Status::Current, "Resource is current")
    }
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn condition_is(obj: &Value, type_: &str, status: &str) -> bool {
    condition(obj, type_).is_some_and(|c| c["status"] == status)
}

fn int(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// Computes the health of `obj` (a full object as the API returns it).
pub fn health_of(obj: &Value) -> Health {
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return Health::new(Status::Terminating, "Resource is being deleted");
    }
    let kind = obj["kind"].as_str().unwrap_or_default();
    let group = obj["apiVersion"]
        .as_str()
        .and_then(|v| v.rsplit_once('/'))
        .map_or("", |(g, _)| g);
    // Generic rules first.
    if let Some(generation) = obj.pointer("/metadata/generation").and_then(Value::as_i64) {
        let observed = obj.pointer("/status/observedGeneration").and_then(Value::as_i64);
        let uses_observed = obj.pointer("/status/observedGeneration").is_some()
            || matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet");
        if uses_observed && observed != Some(generation) {
            return Health::new(
                Status::InProgress,
                format!(
                    "{kind} generation is {generation}, but latest observed generation is {}",
                    observed.unwrap_or(0)
                ),
            );
        }
    }
    if condition_is(obj, "Stalled", "True") {
        let msg = condition(obj, "Stalled")
            .and_then(|c| c["message"].as_str())
            .unwrap_or("Stalled");
        return Health::new(Status::Failed, msg);
    }
    if condition_is(obj, "Reconciling", "True") {
        let msg = condition(obj, "Reconciling")
            .and_then(|c| c["message"].as_str())
            .unwrap_or("Reconciling");
        return Health::new(Status::InProgress, msg);
    }
    match (group, kind) {
        ("apps", "Deployment") => deployment(obj),
        ("apps", "StatefulSet") => statefulset(obj),
        ("apps", "DaemonSet") => daemonset(obj),
        ("apps", "ReplicaSet") => replicaset(obj),
        ("batch", "Job") => job(obj),
        ("", "Pod") => pod(obj),
        ("", "PersistentVolumeClaim") => {
            if obj.pointer("/status/phase").and_then(Value::as_str) == Some("Bound") {
                Health::current()
            } else {
                Health::new(Status::InProgress, "PVC is not Bound")
            }
        }
        ("", "Service") => {
            let lb = obj.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer");
            if lb
                && obj
                    .pointer("/spec/clusterIP")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            {
                Health::new(Status::InProgress, "ClusterIP not set")
            } else {
                Health::current()
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if condition_is(obj, "NamesAccepted", "False") {
                Health::new(Status::Failed, "CRD names not accepted")
            } else if condition_is(obj, "Established", "True") {
                Health::current()
            } else {
                Health::new(Status::InProgress, "CRD is not Established")
            }
        }
        ("", "Namespace") => {
            if obj.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating") {
                Health::new(Status::Terminating, "Namespace is terminating")
            } else {
                Health::current()
            }
        }
        _ => generic(obj),
    }
}

/// Any other object: the `Ready` condition when there is one.
fn generic(obj: &Value) -> Health {
    match condition(obj, "Ready") {
        Some(c) if c["status"] == "True" => Health::current(),
        Some(c) => Health::new(
            Status::InProgress,
            c["message"].as_str().unwrap_or("Ready condition is not True"),
        ),
        None => Health::current(),
    }
}

fn deployment(obj: &Value) -> Health {
    let spec = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    if let Some(p) = condition(obj, "Progressing")
        && p["reason"] == "ProgressDeadlineExceeded"
    {
        return Health::new(
            Status::Failed,
            p["message"].as_str().unwrap_or("Progress deadline exceeded"),
        );
    }
    let (replicas, updated, ready, available) = (
        int(obj, "/status/replicas"),
        int(obj, "/status/updatedReplicas"),
        int(obj, "/status/readyReplicas"),
        int(obj, "/status/availableReplicas"),
    );
    if updated < spec {
        return Health::new(Status::InProgress, format!("Updated: {updated}/{spec}"));
    }
    if replicas > updated {
        return Health::new(
            Status::InProgress,
            format!("Pending termination: {}", replicas - updated),
        );
    }
    if available < updated {
        return Health::new(Status::InProgress, format!("Available: {available}/{updated}"));
    }
    if ready < spec {
        return Health::new(Status::InProgress, format!("Ready: {ready}/{spec}"));
    }
    let has_deadline = obj.pointer("/spec/progressDeadlineSeconds").is_some();
    if has_deadline
        && !condition(obj, "Progressing").is_some_and(|p| p["reason"] == "NewReplicaSetAvailable")
        && condition(obj, "Progressing").is_some()
    {
        return Health::new(Status::InProgress, "Deployment is progressing");
    }
    if !condition_is(obj, "Available", "True") {
        return Health::new(Status::InProgress, "Deployment not Available");
    }
    Health::new(
        Status::Current,
        format!("Deployment is available. Replicas: {replicas}"),
    )
}

fn statefulset(obj: &Value) -> Health {
    if obj.pointer("/spec/updateStrategy/type").and_then(Value::as_str) == Some("OnDelete") {
        return Health::current();
    }
    let spec = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let (replicas, ready, current) = (
        int(obj, "/status/replicas"),
        int(obj, "/status/readyReplicas"),
        int(obj, "/status/currentReplicas"),
    );
    if replicas < spec {
        return Health::new(Status::InProgress, format!("Replicas: {replicas}/{spec}"));
    }
    if ready < spec {
        return Health::new(Status::InProgress, format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        return Health::new(
            Status::InProgress,
            format!("Pending termination: {}", replicas - spec),
        );
    }
    if let Some(partition) = obj
        .pointer("/spec/updateStrategy/rollingUpdate/partition")
        .and_then(Value::as_i64)
    {
        let updated = int(obj, "/status/updatedReplicas");
        if updated < spec - partition {
            return Health::new(
                Status::InProgress,
                format!("updated: {updated}/{}", spec - partition),
            );
        }
        return Health::new(
            Status::Current,
            format!("Partition rollout complete. updated: {updated}"),
        );
    }
    if current < spec {
        return Health::new(Status::InProgress, format!("current: {current}/{spec}"));
    }
    let cur = obj.pointer("/status/currentRevision");
    if cur != obj.pointer("/status/updateRevision") {
        return Health::new(
            Status::InProgress,
            "Waiting for updated revision to match current",
        );
    }
    Health::new(
        Status::Current,
        format!("All replicas scheduled as expected. Replicas: {replicas}"),
    )
}

fn daemonset(obj: &Value) -> Health {
    if obj.pointer("/status/observedGeneration").is_none() {
        return Health::new(Status::InProgress, "DaemonSet status not yet observed");
    }
    let desired = int(obj, "/status/desiredNumberScheduled");
    for (field, what) in [
        ("/status/currentNumberScheduled", "Current"),
        ("/status/updatedNumberScheduled", "Updated"),
        ("/status/numberAvailable", "Available"),
        ("/status/numberReady", "Ready"),
    ] {
        let n = int(obj, field);
        if n < desired {
            return Health::new(Status::InProgress, format!("{what}: {n}/{desired}"));
        }
    }
    Health::new(
        Status::Current,
        format!("All replicas scheduled as expected. Replicas: {desired}"),
    )
}

fn replicaset(obj: &Value) -> Health {
    let spec = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let (ready, available) = (
        int(obj, "/status/readyReplicas"),
        int(obj, "/status/availableReplicas"),
    );
    if ready < spec {
        return Health::new(Status::InProgress, format!("Ready: {ready}/{spec}"));
    }
    if available < spec {
        return Health::new(Status::InProgress, format!("Available: {available}/{spec}"));
    }
    Health::new(
        Status::Current,
        format!("ReplicaSet is available. Replicas: {spec}"),
    )
}

/// Flux's Job rule: complete is current, failed is failed, suspended is current, running is in progress.
fn job(obj: &Value) -> Health {
    if condition_is(obj, "Failed", "True") {
        let msg = condition(obj, "Failed")
            .and_then(|c| c["message"].as_str())
            .unwrap_or("Job failed");
        return Health::new(Status::Failed, msg);
    }
    if condition_is(obj, "Complete", "True") {
        return Health::new(Status::Current, "Job Completed");
    }
    if obj.pointer("/spec/suspend") == Some(&Value::Bool(true)) {
        return Health::new(Status::Current, "Job is suspended");
    }
    Health::new(Status::InProgress, "Job in progress")
}

fn pod(obj: &Value) -> Health {
    match obj.pointer("/status/phase").and_then(Value::as_str) {
        Some("Succeeded") => Health::new(Status::Current, "Pod has completed successfully"),
        Some("Failed") => Health::new(Status::Current, "Pod has completed, but not successfully"),
        Some("Running") if condition_is(obj, "Ready", "True") => Health::new(Status::Current, "Pod is Ready"),
        _ => {
            let crashing = obj
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| {
                    c.pointer("/state/waiting/reason").and_then(Value::as_str) == Some("CrashLoopBackOff")
                });
            if crashing {
                Health::new(Status::Failed, "Pod is in CrashLoopBackOff")
            } else {
                Health::new(Status::InProgress, "Pod is not Ready")
            }
        }
    }
}

/// One of Flux's `healthCheckExprs`: CEL expressions over `self` deciding the health of a kind that has no
/// built-in rule.
pub struct HealthExpr {
    api_version: String,
    kind: Option<String>,
    current: cel::Program,
    failed: Option<cel::Program>,
    in_progress: Option<cel::Program>,
}

impl std::fmt::Debug for HealthExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthExpr")
            .field("api_version", &self.api_version)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

fn compile(what: &str, expr: &str) -> Result<cel::Program, String> {
    cel::Program::compile(expr).map_err(|e| format!("invalid {what} expression {expr:?}: {e}"))
}

impl HealthExpr {
    /// Compiles the expressions for objects of `api_version` (and `kind`, when given).
    ///
    /// # Errors
    /// An expression that is not valid CEL, named in the message.
    pub fn new(
        api_version: &str,
        kind: Option<&str>,
        current: &str,
        failed: Option<&str>,
        in_progress: Option<&str>,
    ) -> Result<Self, String> {
        Ok(Self {
            api_version: api_version.to_owned(),
            kind: kind.map(str::to_owned),
            current: compile("current", current)?,
            failed: failed.map(|e| compile("failed", e)).transpose()?,
            in_progress: in_progress.map(|e| compile("inProgress", e)).transpose()?,
        })
    }

    fn matches(&self, obj: &Value) -> bool {
        obj["apiVersion"] == self.api_version.as_str()
            && self.kind.as_deref().is_none_or(|k| obj["kind"] == k)
    }

    /// The health these expressions give `obj`: `inProgress` is tried first, then `failed`, then `current`;
    /// when none holds the object is in progress. An expression that cannot be evaluated (a missing field
    /// without `has()`) counts as false.
    fn evaluate(&self, obj: &Value) -> Health {
        let mut ctx = cel::Context::default();
        let Ok(this) = cel::to_value(obj) else {
            return Health::new(Status::InProgress, "object cannot be evaluated");
        };
        if ctx.add_variable("self", this).is_err() {
            return Health::new(Status::InProgress, "object cannot be evaluated");
        }
        let holds = |p: &cel::Program| matches!(p.execute(&ctx), Ok(cel::Value::Bool(true)));
        if self.in_progress.as_ref().is_some_and(holds) {
            return Health::new(Status::InProgress, "inProgress expression holds");
        }
        if self.failed.as_ref().is_some_and(holds) {
            return Health::new(Status::Failed, "failed expression holds");
        }
        if holds(&self.current) {
            return Health::current();
        }
        Health::new(Status::InProgress, "current expression does not hold yet")
    }
}

/// [`health_of`], with `exprs` deciding the objects they match (after the generic deletion and
/// observedGeneration rules).
pub fn health_with(obj: &Value, exprs: &[HealthExpr]) -> Health {
    let Some(expr) = exprs.iter().find(|e| e.matches(obj)) else {
        return health_of(obj);
    };
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return Health::new(Status::Terminating, "Resource is being deleted");
    }
    if let (Some(g), Some(o)) = (
        obj.pointer("/metadata/generation").and_then(Value::as_i64),
        obj.pointer("/status/observedGeneration").and_then(Value::as_i64),
    ) && g != o
    {
        return Health::new(
            Status::InProgress,
            format!("generation is {g}, but latest observed generation is {o}"),
        );
    }
    expr.evaluate(obj)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deploy(status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "generation": 2},
               "spec": {"replicas": 2, "progressDeadlineSeconds": 600}, "status": status})
    }

    #[test]
    fn deployments() {
        let ready = deploy(
            json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
            "availableReplicas": 2, "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}),
        );
        assert_eq!(health_of(&ready).status, Status::Current);
        let old = deploy(json!({"observedGeneration": 1}));
        assert_eq!(health_of(&old).status, Status::InProgress);
        assert!(health_of(&old).message.contains("observed generation is 1"));
        let failed = deploy(json!({"observedGeneration": 2, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet \"web-1\" has timed out progressing."}]}));
        let h = health_of(&failed);
        assert_eq!(h.status, Status::Failed);
        assert!(h.message.contains("timed out"));
    }

    #[test]
    fn jobs_follow_flux() {
        let job = |conds: Value| json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {}, "status": {"conditions": conds}});
        assert_eq!(health_of(&job(json!([]))).status, Status::InProgress);
        assert_eq!(
            health_of(&job(json!([{"type": "Complete", "status": "True"}]))).status,
            Status::Current
        );
        assert_eq!(
            health_of(&job(
                json!([{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}])
            ))
            .status,
            Status::Failed
        );
    }

    #[test]
    fn generic_and_simple_kinds() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(health_of(&cm).status, Status::Current);
        let cr = |conds: Value| {
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "generation": 1},
                                      "status": {"observedGeneration": 1, "conditions": conds}})
        };
        assert_eq!(
            health_of(&cr(json!([{"type": "Ready", "status": "True"}]))).status,
            Status::Current
        );
        assert_eq!(
            health_of(&cr(json!([{"type": "Ready", "status": "False"}]))).status,
            Status::InProgress
        );
        assert_eq!(
            health_of(&cr(json!([{"type": "Stalled", "status": "True"}]))).status,
            Status::Failed
        );
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x"},
                         "status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert_eq!(health_of(&crd).status, Status::Current);
        let gone = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "deletionTimestamp": "2026-01-01T00:00:00Z"}});
        assert_eq!(health_of(&gone).status, Status::Terminating);
    }

    #[test]
    fn cel_health_expressions_follow_flux_order() {
        let e = HealthExpr::new(
            "example.com/v1",
            Some("Widget"),
            "has(self.status) && self.status.phase == 'Ready'",
            Some("has(self.status) && self.status.phase == 'Broken'"),
            Some("has(self.status) && self.status.phase == 'Starting'"),
        )
        .unwrap();
        let w = |phase: &str| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": {"phase": phase}});
        let exprs = [e];
        assert_eq!(health_with(&w("Ready"), &exprs).status, Status::Current);
        assert_eq!(health_with(&w("Broken"), &exprs).status, Status::Failed);
        assert_eq!(health_with(&w("Starting"), &exprs).status, Status::InProgress);
        assert_eq!(health_with(&w("Other"), &exprs).status, Status::InProgress);
        let bare = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}});
        assert_eq!(health_with(&bare, &exprs).status, Status::InProgress);
        // Other kinds keep the built-in rules.
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(health_with(&cm, &exprs).status, Status::Current);
        let err = HealthExpr::new("example.com/v1", None, "self.status.(", None, None).unwrap_err();
        assert!(err.contains("invalid current expression"), "{err}");
    }
}
