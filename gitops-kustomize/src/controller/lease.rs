//! Leader election with a `coordination.k8s.io/v1` Lease, as controller-runtime does it: one replica
//! holds the Lease and renews it; the others wait until it expires.

use std::time::Duration;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{Api, Client, api::PostParams};
use tokio::{sync::watch, task::JoinHandle};

/// How a Lease is held.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// Who this replica is (unique per process).
    pub identity: String,
    /// How long a Lease stays valid without renewal (default 15 s).
    pub duration: Duration,
    /// How often the holder renews it (default 5 s).
    pub renew_every: Duration,
    /// How often a waiting replica tries again (default 2 s).
    pub retry_every: Duration,
}

impl LeaseConfig {
    /// controller-runtime's timings for the Lease `namespace/name`, held as `identity`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
            retry_every: Duration::from_secs(2),
        }
    }

    /// Sets the three timings at once.
    #[must_use]
    pub fn timings(mut self, duration: Duration, renew_every: Duration, retry_every: Duration) -> Self {
        self.duration = duration;
        self.renew_every = renew_every;
        self.retry_every = retry_every;
        self
    }
}

/// Leadership, while held: renewed in the background; [`Leadership::lost`] turns true when a renewal
/// failed for longer than the Lease duration (the holder must then stop working). Dropping it stops the
/// renewals, and the Lease expires.
#[derive(Debug)]
pub struct Leadership {
    lost: watch::Receiver<bool>,
    renewer: JoinHandle<()>,
}

impl Leadership {
    /// Turns true once leadership is lost.
    pub fn lost(&self) -> watch::Receiver<bool> {
        self.lost.clone()
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

/// Tries once to take or renew the Lease; `Ok(true)` when this replica holds it afterwards.
async fn try_hold(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<bool, kube::Error> {
    // The Lease counts whole seconds; round up so a short duration is not zero.
    let secs = i32::try_from(cfg.duration.as_millis().div_ceil(1000)).unwrap_or(i32::MAX);
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(cfg.name.clone()),
                namespace: Some(cfg.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(secs),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let mine = spec.holder_identity.as_deref() == Some(cfg.identity.as_str());
    let expired = match (&spec.renew_time, spec.lease_duration_seconds) {
        (Some(t), Some(d)) => {
            let until = t.0 + Duration::from_secs(u64::try_from(d).unwrap_or(0));
            until < Timestamp::now()
        }
        _ => true,
    };
    if !mine && !expired && spec.holder_identity.as_deref().is_some_and(|h| !h.is_empty()) {
        return Ok(false);
    }
    if !mine {
        spec.holder_identity = Some(cfg.identity.clone());
        spec.acquire_time = Some(now());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.lease_duration_seconds = Some(secs);
    spec.renew_time = Some(now());
    // The resourceVersion read above makes this a compare-and-swap: a competing writer gets 409.
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Waits until this replica holds the Lease, then keeps renewing it in the background.
///
/// # Errors
/// The API server refused a request other than a lost race.
pub async fn acquire(client: Client, cfg: LeaseConfig) -> Result<Leadership, kube::Error> {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    while !try_hold(&api, &cfg).await? {
        tokio::time::sleep(cfg.retry_every).await;
    }
    let (tx, lost) = watch::channel(false);
    let renewer = tokio::spawn(async move {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(cfg.renew_every).await;
            match try_hold(&api, &cfg).await {
                Ok(true) => last_ok = tokio::time::Instant::now(),
                Ok(false) => {
                    let _ = tx.send(true);
                    return;
                }
                Err(e) => {
                    tracing::warn!("renewing Lease {}/{}: {e}", cfg.namespace, cfg.name);
                    if last_ok.elapsed() > cfg.duration {
                        let _ = tx.send(true);
                        return;
                    }
                }
            }
        }
    });
    Ok(Leadership { lost, renewer })
}
