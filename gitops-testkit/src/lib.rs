//! An embedded Kubernetes API server for tests and demos.
//!
//! [`TestApiServer::start`] serves the real Kubernetes HTTP API on a loopback port in milliseconds: discovery,
//! create/get/list/watch/update/patch/delete for the built-in kinds, namespaces, the status subresource,
//! resourceVersion with optimistic concurrency, generation, uid, generateName, dry-run, label and field
//! selectors, watch resume, and the API's `Status` errors. It writes a kubeconfig that real kubectl uses.
//!
//! Deleting honours DeleteOptions (body or query): dry run, preconditions, and ownerReference garbage
//! collection with the Background (default), Foreground and Orphan propagation policies.
//!
//! CustomResourceDefinitions are established at once and serve every served version from one store. Custom
//! resources go through their version's structural schema on every write: unknown fields are pruned,
//! defaults filled in, and types, `required`, `enum`, `pattern`, lengths and bounds validated (422 with one
//! cause per field); CEL rules are not evaluated.
//!
//! [`TestApiServer::simulate_workloads`] turns on simulated controllers: Deployments, StatefulSets,
//! ReplicaSets and DaemonSets report their replicas ready for the current generation and Jobs complete, so
//! health checks (kstatus, `kubectl wait`) have something real to wait for. The annotation
//! `testkit.gitops-rs.io/simulate: fail` or `pending` makes a workload fail or stay progressing.
//!
//! Not yet: server-side apply with managed fields (apply patches are merged strategically), CEL validation
//! rules, OpenAPI schemas, protobuf request bodies beyond Namespace, ConfigMap,
//! Secret and ServiceAccount (so `kubectl create namespace|configmap|secret|serviceaccount` work, while
//! `kubectl create deployment` and the other generators get 415; `kubectl apply` and `create -f` send JSON
//! and work for every kind), Pods and the other controllers (ReplicaSets are not created for Deployments).

#[rustfmt::skip]
mod builtin;
mod proto;
mod registry;
mod schema;
mod server;
mod store;

pub use registry::ApiResource;
pub use server::TestApiServer;
