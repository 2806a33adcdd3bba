//! The GitRepository reconciler: one call fetches the upstream, stores the artifact and writes the
//! object's status as Flux's source-controller does. Binaries decide when to call it.

use std::{sync::Arc, time::Duration};

use gitops_core::{
    FetchOutcome, FetchRequest, Revision, Source as _, SourceError,
    conditions::{Conditions as _, reasons, types},
};
use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::Condition};
use kube::{
    Api, Client, ResourceExt as _,
    api::{Patch, PatchParams},
};

use crate::{
    api::GitRepository,
    git::{GitAuth, GitReference, GitSource},
    storage::{ObjectKey, Storage},
};

/// The annotation asking for a reconcile now (`flux reconcile` sets it to a timestamp).
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";
/// The field manager of status writes, as Flux names it.
pub const STATUS_MANAGER: &str = "gotk-source-controller";

/// Why a reconcile failed; the object's Ready condition says the same.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// Fetching or storing failed; retried after `interval`.
    #[error("{0}")]
    Failed(String),
    /// The API server refused a read or the status write.
    #[error("API request failed")]
    Client(#[source] kube::Error),
}

/// Parses a Go duration as Flux writes them (`1m30s`, `500ms`, `1h`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += Duration::from_secs_f64(n * unit);
        rest = &rest[u_end..];
    }
    Some(total)
}

/// Reconciles GitRepositories into a [`Storage`].
#[derive(Clone)]
pub struct GitRepositoryReconciler {
    client: Client,
    storage: Arc<Storage>,
}

impl std::fmt::Debug for GitRepositoryReconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitRepositoryReconciler").finish_non_exhaustive()
    }
}

impl GitRepositoryReconciler {
    /// A reconciler writing statuses through `client` and artifacts into `storage`.
    pub fn new(client: Client, storage: Arc<Storage>) -> Self {
        Self { client, storage }
    }

    /// The storage artifacts go to.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    async fn auth(&self, repo: &GitRepository, ns: &str) -> Result<GitAuth, String> {
        let Some(r) = &repo.spec.secret_ref else {
            return Ok(GitAuth::None);
        };
        let secret = Api::<Secret>::namespaced(self.client.clone(), ns)
            .get(&r.name)
            .await
            .map_err(|e| format!("failed to get secret '{ns}/{}': {e}", r.name))?;
        let data = secret.data.unwrap_or_default();
        let get = |k: &str| data.get(k).map(|v| String::from_utf8_lossy(&v.0).into_owned());
        Ok(
            if let (Some(identity), known_hosts) = (get("identity"), get("known_hosts")) {
                GitAuth::Ssh {
                    identity,
                    known_hosts: known_hosts.unwrap_or_default(),
                }
            } else if let Some(token) = get("bearerToken") {
                GitAuth::Bearer { token }
            } else if let (Some(username), Some(password)) = (get("username"), get("password")) {
                GitAuth::Basic { username, password }
            } else {
                GitAuth::None
            },
        )
    }

    /// Fetches `repo`'s upstream, stores a new artifact when the revision moved, and writes the status.
    /// Returns when to reconcile again (`spec.interval`).
    ///
    /// # Errors
    /// [`ReconcileError::Failed`] when fetching or storing failed (the status says why);
    /// [`ReconcileError::Client`] when the status could not be written.
    pub async fn reconcile(&self, repo: &GitRepository) -> Result<Duration, ReconcileError> {
        let interval = parse_duration(&repo.spec.interval).unwrap_or(Duration::from_secs(60));
        if repo.spec.suspend == Some(true) {
            return Ok(interval);
        }
        let ns = repo.namespace().unwrap_or_default();
        let name = repo.name_any();
        let generation = repo.metadata.generation;
        let mut status = repo.status.clone().unwrap_or_default();
        let mut conditions: Vec<Condition> = status.conditions.take().unwrap_or_default();
        let outcome = self.fetch(repo, &ns, &name, status.artifact.as_ref()).await;
        let result = match outcome {
            Ok(artifact) => {
                let msg = format!("stored artifact for revision '{}'", artifact.revision);
                conditions.set_condition(
                    types::ARTIFACT_IN_STORAGE,
                    gitops_core::conditions::Status::True,
                    reasons::SUCCEEDED,
                    &msg,
                    generation,
                );
                conditions.remove_condition(types::FETCH_FAILED);
                conditions.mark_ready(reasons::SUCCEEDED, &msg, generation);
                status.artifact = Some(artifact);
                status.observed_generation = generation;
                status.observed_ignore.clone_from(&repo.spec.ignore);
                Ok(interval)
            }
            Err((reason, msg, stalled)) => {
                conditions.set_condition(
                    types::FETCH_FAILED,
                    gitops_core::conditions::Status::True,
                    reason,
                    &msg,
                    generation,
                );
                if stalled {
                    conditions.mark_stalled(reason, &msg, generation);
                    status.observed_generation = generation;
                } else {
                    conditions.mark_failed(reason, &msg, generation);
                }
                Err(ReconcileError::Failed(msg))
            }
        };
        if let Some(at) = repo.annotations().get(REQUESTED_AT) {
            status.last_handled_reconcile_at = Some(at.clone());
        }
        status.conditions = Some(conditions);
        Api::<GitRepository>::namespaced(self.client.clone(), &ns)
            .patch_status(
                &name,
                &PatchParams::apply(STATUS_MANAGER).force(),
                &Patch::Apply(serde_json::json!({
                    "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                    "metadata": {"name": name, "namespace": ns},
                    "status": status,
                })),
            )
            .await
            .map_err(ReconcileError::Client)?;
        result
    }

    /// Fetches and stores; on failure, `(reason, message, stalled)`.
    async fn fetch(
        &self,
        repo: &GitRepository,
        ns: &str,
        name: &str,
        current: Option<&gitops_core::Artifact>,
    ) -> Result<gitops_core::Artifact, (&'static str, String, bool)> {
        let auth = self
            .auth(repo, ns)
            .await
            .map_err(|m| (reasons::AUTHENTICATION_FAILED, m, false))?;
        let reference = repo
            .spec
            .reference
            .as_ref()
            .map_or_else(|| GitReference::branch("master"), GitReference::from);
        let source = GitSource::new(repo.spec.url.clone(), reference)
            .with_auth(auth)
            .with_ignore(repo.spec.ignore.clone());
        let timeout = repo
            .spec
            .timeout
            .as_deref()
            .and_then(parse_duration)
            .unwrap_or(Duration::from_secs(60));
        let stored = current.filter(|a| self.storage.exists(a));
        let last: Option<&Revision> = stored.map(|a| &a.revision);
        let scratch = self
            .storage
            .scratch_dir()
            .map_err(|e| (types::STORAGE_OPERATION_FAILED, e.to_string(), false))?;
        let req = FetchRequest::new(scratch.path())
            .with_last_revision(last)
            .with_timeout(timeout);
        let outcome = source.fetch(&req).await.map_err(|e| {
            let stalled = matches!(
                e,
                SourceError::InvalidUrl { .. } | SourceError::RevisionNotFound { .. }
            );
            let reason = match e {
                SourceError::Authentication { .. } => reasons::AUTHENTICATION_FAILED,
                SourceError::InvalidUrl { .. } => reasons::URL_INVALID,
                _ => reasons::GIT_OPERATION_FAILED,
            };
            let chain = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": ");
            (reason, chain, stalled)
        })?;
        match outcome {
            FetchOutcome::Unchanged(_) => stored.cloned().ok_or_else(|| {
                (
                    types::STORAGE_OPERATION_FAILED,
                    "stored artifact vanished".into(),
                    false,
                )
            }),
            FetchOutcome::Fetched(file) => {
                let key = ObjectKey::new("GitRepository", ns, name);
                let file_name = file
                    .path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("artifact.tar.gz")
                    .to_owned();
                let artifact = self
                    .storage
                    .store(&key, &file, &file_name)
                    .map_err(|e| (types::STORAGE_OPERATION_FAILED, e.to_string(), false))?;
                let _ = self.storage.gc(&key);
                Ok(artifact)
            }
            _ => Err((
                reasons::GIT_OPERATION_FAILED,
                "unexpected fetch outcome".into(),
                false,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("5d"), None);
    }
}
