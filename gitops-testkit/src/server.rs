//! The HTTP side: discovery, resource endpoints, watches and `Status` errors.

// Handlers answer with a ready HTTP response in both arms; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::atomic::{AtomicU64, Ordering},
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::{Body, Bytes},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};
use tokio::{net::TcpListener, sync::oneshot};

use crate::{
    registry::{self, ApiResource},
    ssa,
    store::{Event, Key, Store},
};

struct State {
    resources: std::sync::RwLock<Vec<ApiResource>>,
    store: Mutex<Store>,
    addr: SocketAddr,
    /// Simulated workload controllers (off by default).
    simulate: std::sync::atomic::AtomicBool,
    /// Requests served: reads, writes, dry-run writes.
    counts: [AtomicU64; 3],
    /// Users requests impersonated (`Impersonate-User`), for tests of multi-tenancy.
    impersonated: Mutex<std::collections::BTreeSet<String>>,
}

/// How many requests a [`TestApiServer`] has served, by what they could do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestCounts {
    /// GET requests (discovery, get, list, watch).
    pub reads: u64,
    /// POST, PUT, PATCH and DELETE requests that may change state.
    pub writes: u64,
    /// Writes with `dryRun=All`, which never change state.
    pub dry_runs: u64,
}

impl RequestCounts {
    /// The requests served since `earlier` was taken.
    #[must_use]
    pub fn since(self, earlier: RequestCounts) -> RequestCounts {
        RequestCounts {
            reads: self.reads - earlier.reads,
            writes: self.writes - earlier.writes,
            dry_runs: self.dry_runs - earlier.dry_runs,
        }
    }
}

/// A running embedded API server; stops when dropped.
pub struct TestApiServer {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for TestApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApiServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl TestApiServer {
    /// Starts a server on `127.0.0.1` with a free port, with the namespaces `default`, `kube-system`,
    /// `kube-public` and `kube-node-lease`.
    ///
    /// # Errors
    /// The port cannot be bound.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(0).await
    }

    /// Starts a server on `127.0.0.1:port` (0 for any free port).
    ///
    /// # Errors
    /// The port cannot be bound.
    pub async fn start_on(port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            resources: std::sync::RwLock::new(registry::builtin()),
            store: Mutex::new(Store::new()),
            addr,
            simulate: std::sync::atomic::AtomicBool::new(false),
            counts: Default::default(),
            impersonated: Mutex::default(),
        });
        {
            let mut s = state
                .store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let rv = s.next_rv();
                let uid = s.uid();
                let obj = json!({
                    "apiVersion": "v1", "kind": "Namespace",
                    "metadata": { "name": ns, "uid": uid, "resourceVersion": rv.to_string(), "creationTimestamp": now(),
                                  "labels": { "kubernetes.io/metadata.name": ns } },
                    "spec": { "finalizers": ["kubernetes"] }, "status": { "phase": "Active" }
                });
                let key = Key {
                    group: String::new(),
                    plural: "namespaces".into(),
                    namespace: String::new(),
                    name: ns.into(),
                };
                s.objects.insert(key, Arc::new(obj));
            }
        }
        let (stop, stopped) = oneshot::channel();
        let st = state.clone();
        let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let st = st.clone();
            async move { handle(&st, &method, &uri, &headers, &body) }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            state,
            stop: Some(stop),
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig for this server (context `gitops-testkit`, no credentials).
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gitops-testkit\n  cluster:\n    server: {}\ncontexts:\n- name: gitops-testkit\n  context:\n    cluster: gitops-testkit\n    user: gitops-testkit\n    namespace: default\ncurrent-context: gitops-testkit\nusers:\n- name: gitops-testkit\n  user: {{}}\n",
            self.url()
        )
    }

    /// Turns the simulated workload controllers on or off. When on, Deployments, StatefulSets, DaemonSets
    /// and ReplicaSets become available right after each write (all replicas ready, `Available=True`,
    /// `observedGeneration` current), and Jobs complete; the annotation
    /// `testkit.gitops-rs.io/simulate: fail` makes a workload fail instead (`ProgressDeadlineExceeded`,
    /// Job `Failed=True`), and `testkit.gitops-rs.io/simulate: pending` leaves it progressing.
    pub fn simulate_workloads(&self, on: bool) {
        self.state.simulate.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// The users requests have impersonated (`Impersonate-User`), sorted. The server has no RBAC, so
    /// impersonation changes nothing else; tests use this to check a client asked for it.
    pub fn impersonated_users(&self) -> Vec<String> {
        self.state
            .impersonated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// How many requests have been served so far.
    pub fn request_counts(&self) -> RequestCounts {
        let c = |i: usize| self.state.counts[i].load(Ordering::Relaxed);
        RequestCounts {
            reads: c(0),
            writes: c(1),
            dry_runs: c(2),
        }
    }

    /// Number of objects stored (all kinds).
    pub fn object_count(&self) -> usize {
        self.state
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .objects
            .len()
    }
}

fn resources(st: &State) -> Vec<ApiResource> {
    st.resources
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

fn status(code: StatusCode, reason: &str, message: String, details: Value) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": details, "code": code.as_u16()
    });
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok_json(code: StatusCode, v: &Value) -> Response {
    (code, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

/// `plural.group` as the API names a resource in messages (`plural` for the core group).
fn qualified(res: &ApiResource) -> String {
    if res.group.is_empty() {
        res.plural.clone()
    } else {
        format!("{}.{}", res.plural, res.group)
    }
}

fn not_found(res: &ApiResource, name: &str) -> Response {
    let what = qualified(res);
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{what} \"{name}\" not found"),
        json!({ "name": name, "group": res.group, "kind": res.plural }),
    )
}

fn query(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn discovery_list(st: &State, group: &str, version: &str) -> Value {
    let mut out = Vec::new();
    for r in resources(st)
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let verbs = verbs(r);
        out.push(json!({
            "name": r.plural, "singularName": r.kind.to_lowercase(), "namespaced": r.namespaced, "kind": r.kind,
            "verbs": verbs, "shortNames": registry::short_names(&r.plural),
        }));
        if r.status {
            out.push(json!({ "name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced,
                "kind": r.kind, "verbs": ["get", "patch", "update"] }));
        }
    }
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out })
}

/// The verbs a resource serves.
fn verbs(r: &ApiResource) -> Vec<&'static str> {
    if r.listable {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    } else {
        vec!["create"]
    }
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`): every group, version and
/// resource in one response, for `/api` (`core`) or `/apis`, as kubectl asks for it first.
fn aggregated_discovery(st: &State, core: bool) -> Value {
    let all = resources(st);
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for r in all.iter().filter(|r| r.group.is_empty() == core) {
        match groups.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, vs)) if !vs.contains(&r.version.as_str()) => vs.push(&r.version),
            Some(_) => {}
            None => groups.push((&r.group, vec![&r.version])),
        }
    }
    groups.sort_by_key(|(g, _)| *g);
    let items: Vec<Value> = groups
        .into_iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .into_iter()
                .map(|v| {
                    let resources: Vec<Value> = all
                        .iter()
                        .filter(|r| r.group == g && r.version == v)
                        .map(|r| {
                            let kind = json!({ "group": g, "version": v, "kind": r.kind });
                            let mut res = json!({
                                "resource": r.plural, "responseKind": kind,
                                "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                                "singularResource": r.kind.to_lowercase(), "verbs": verbs(r),
                            });
                            let short = registry::short_names(&r.plural);
                            if !short.is_empty() {
                                res["shortNames"] = json!(short);
                            }
                            if r.status {
                                res["subresources"] = json!([{ "subresource": "status", "responseKind": kind,
                                                                "verbs": ["get", "patch", "update"] }]);
                            }
                            res
                        })
                        .collect();
                    json!({ "version": v, "resources": resources, "freshness": "Current" })
                })
                .collect();
            json!({ "metadata": { "name": g, "creationTimestamp": null }, "versions": versions })
        })
        .collect();
    json!({ "kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items })
}

/// The media type of aggregated discovery responses.
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the client accepts aggregated discovery (v2).
fn wants_aggregated(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|t| t.replace(' ', "").starts_with(AGGREGATED)))
}

fn aggregated_response(v: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, AGGREGATED)],
        v.to_string(),
    )
        .into_response()
}

fn groups(st: &State) -> Value {
    let all = resources(st);
    let mut by_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in all.iter().filter(|r| !r.group.is_empty()) {
        let v = by_group.entry(&r.group).or_default();
        if !v.contains(&r.version.as_str()) {
            v.push(&r.version);
        }
    }
    let groups: Vec<Value> = by_group
        .into_iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| json!({ "groupVersion": format!("{g}/{v}"), "version": v }))
                .collect();
            json!({ "name": g, "versions": versions, "preferredVersion": versions[0] })
        })
        .collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

/// `/openapi/v3`: one document per group version.
fn openapi_index(st: &State) -> Value {
    let mut paths = Map::new();
    for r in &resources(st) {
        let p = if r.group.is_empty() {
            format!("api/{}", r.version)
        } else {
            format!("apis/{}/{}", r.group, r.version)
        };
        paths.insert(
            p.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{p}?hash=gitops-testkit") }),
        );
    }
    json!({ "paths": paths })
}

/// The OpenAPI v3 document of one group version: the operations with their group-version-kind and the
/// query parameters clients probe for (`fieldValidation`, `dryRun`, `fieldManager`, so kubectl uses
/// server-side field validation), and the schemas of its kinds, built-in or custom, with every definition
/// they refer to (descriptions left out).
fn openapi_doc(st: &State, gv_path: &str) -> Option<Value> {
    let (group, version) = match gv_path.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => (String::new(), (*v).to_owned()),
        ["apis", g, v] => ((*g).to_owned(), (*v).to_owned()),
        _ => return None,
    };
    let mut paths = Map::new();
    let params = json!([
        { "name": "fieldValidation", "in": "query", "schema": { "type": "string" } },
        { "name": "fieldManager", "in": "query", "schema": { "type": "string" } },
        { "name": "dryRun", "in": "query", "schema": { "type": "string" } }
    ]);
    let mut any = false;
    for r in resources(st)
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        any = true;
        let gvk = json!({ "group": r.group, "version": r.version, "kind": r.kind });
        let op = |action: &str| json!({ "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": action, "parameters": params });
        let base = if r.group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let coll = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{base}/{}", r.plural)
        };
        paths.insert(coll.clone(), json!({ "get": op("list"), "post": op("post") }));
        paths.insert(
            format!("{coll}/{{name}}"),
            json!({ "get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete") }),
        );
    }
    let mut schemas =
        crate::openapi::builtin_schemas(crate::openapi::Dialect::V3, |g, v| g == group && v == version);
    let custom = crd_schemas(st, crate::openapi::Dialect::V3, |g, v| g == group && v == version);
    if !custom.is_empty() {
        schemas.extend(
            crate::openapi::builtin_schemas(crate::openapi::Dialect::V3, |g, v| g.is_empty() && v == "v1")
                .into_iter()
                .filter(|(n, _)| n.starts_with("io.k8s.apimachinery.pkg.apis.meta.v1.")),
        );
        schemas.extend(custom);
    }
    any.then(|| json!({ "openapi": "3.0.0", "info": { "title": "Kubernetes", "version": "v1.35.0" }, "paths": paths, "components": { "schemas": schemas } }))
}

/// `/openapi/v2`: one Swagger 2.0 document with the schemas of every kind served, built-in and custom.
fn openapi_v2(st: &State) -> Value {
    let served: std::collections::HashSet<(String, String)> =
        resources(st).into_iter().map(|r| (r.group, r.version)).collect();
    let mut defs = crate::openapi::builtin_schemas(crate::openapi::Dialect::V2, |g, v| {
        served.contains(&(g.to_owned(), v.to_owned()))
    });
    defs.extend(crd_schemas(st, crate::openapi::Dialect::V2, |_, _| true));
    json!({ "swagger": "2.0", "info": { "title": "Kubernetes", "version": "v1.35.0" }, "paths": {}, "definitions": defs })
}

/// The schemas of the custom resources served at the group versions `keep` selects, named as the API
/// server names them (`<reversed group>.<version>.<Kind>`), so that `kubectl explain` works for them;
/// `metadata` refers to `ObjectMeta` as on a real server.
fn crd_schemas(
    st: &State,
    dialect: crate::openapi::Dialect,
    keep: impl Fn(&str, &str) -> bool,
) -> Map<String, Value> {
    let mut out = Map::new();
    let s = st.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for (k, crd) in &s.objects {
        if k.plural != "customresourcedefinitions" {
            continue;
        }
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for v in crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|v| v["served"] == true && v["name"].as_str().is_some_and(|n| keep(group, n)))
        {
            let version = v["name"].as_str().unwrap_or_default();
            let (name, schema) = openapi_definition(crd, group, version, v, dialect);
            out.insert(name, schema);
        }
    }
    out
}

/// One served version of a CRD as an OpenAPI definition: `(name, schema)`.
fn openapi_definition(
    crd: &Value,
    group: &str,
    version: &str,
    v: &Value,
    dialect: crate::openapi::Dialect,
) -> (String, Value) {
    let kind = crd
        .pointer("/spec/names/kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut schema = v
        .pointer("/schema/openAPIV3Schema")
        .cloned()
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    if let Some(m) = schema.as_object_mut() {
        let props = m.entry("properties").or_insert_with(|| json!({}));
        if let Some(p) = props.as_object_mut() {
            p.entry("apiVersion").or_insert_with(|| json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
            p.entry("kind").or_insert_with(|| json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
            p.insert("metadata".into(), crate::openapi::object_meta_property(dialect));
        }
        m.insert(
            "x-kubernetes-group-version-kind".into(),
            json!([{ "group": group, "version": version, "kind": kind }]),
        );
    }
    let reversed: Vec<&str> = group.split('.').rev().collect();
    (format!("{}.{version}.{kind}", reversed.join(".")), schema)
}

/// A parsed resource path.
struct Target {
    res: ApiResource,
    namespace: String,
    name: Option<String>,
    sub: Option<String>,
}

fn parse_target(st: &State, parts: &[&str]) -> Option<Result<Target, Response>> {
    let (group, version, rest) = match parts {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, r @ ..] if !r.is_empty() => ((*ns).to_owned(), r),
        r => (String::new(), r),
    };
    let (plural, name, sub) = match rest {
        [p] => (*p, None, None),
        [p, n] => (*p, Some((*n).to_owned()), None),
        [p, n, s] => (*p, Some((*n).to_owned()), Some((*s).to_owned())),
        _ => {
            return Some(Err(status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource".into(),
                json!({}),
            )));
        }
    };
    let Some(res) = resources(st)
        .into_iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
    else {
        return Some(Err(status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource".into(),
            json!({}),
        )));
    };
    Some(Ok(Target {
        res,
        namespace,
        name,
        sub,
    }))
}

fn handle(st: &Arc<State>, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Response {
    let counter = match *method {
        Method::GET | Method::HEAD => 0,
        _ if uri
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "dryRun=All")) =>
        {
            2
        }
        _ => 1,
    };
    st.counts[counter].fetch_add(1, Ordering::Relaxed);
    if let Some(user) = headers.get("impersonate-user").and_then(|v| v.to_str().ok()) {
        st.impersonated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(user.to_owned());
    }
    let path = uri.path().trim_end_matches('/');
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        ["version"] => {
            return ok_json(
                StatusCode::OK,
                &json!({"major": "1", "minor": "35", "gitVersion": "v1.35.0+gitops-testkit",
                "gitCommit": "", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "", "compiler": "rust", "platform": "linux/amd64"}),
            );
        }
        ["healthz"] | ["readyz"] | ["livez"] => return (StatusCode::OK, "ok").into_response(),
        ["api"] if wants_aggregated(headers) => return aggregated_response(&aggregated_discovery(st, true)),
        ["apis"] if wants_aggregated(headers) => {
            return aggregated_response(&aggregated_discovery(st, false));
        }
        ["api"] => {
            return ok_json(
                StatusCode::OK,
                &json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": st.addr.to_string()}]}),
            );
        }
        ["apis"] => return ok_json(StatusCode::OK, &groups(st)),
        ["openapi", "v3"] => return ok_json(StatusCode::OK, &openapi_index(st)),
        ["openapi", "v2"] => {
            // The document is served as JSON only: a client that takes nothing but gnostic's protobuf
            // form (kubectl's `--output=plaintext-openapiv2`) is told so instead of handed bytes it
            // cannot parse.
            let accept = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("*/*");
            if !accept.split(',').any(|a| {
                let a = a.split(';').next().unwrap_or("").trim();
                a == "*/*" || a == "application/*" || a == "application/json"
            }) {
                return status(
                    StatusCode::NOT_ACCEPTABLE,
                    "NotAcceptable",
                    format!("only application/json is supported for /openapi/v2 (accept: {accept:?})"),
                    json!({}),
                );
            }
            return ok_json(StatusCode::OK, &openapi_v2(st));
        }
        ["openapi", "v3", rest @ ..] => {
            let gv = rest.join("/");
            return match openapi_doc(st, &gv) {
                Some(doc) => ok_json(StatusCode::OK, &doc),
                None => status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("no OpenAPI document for {gv}"),
                    json!({}),
                ),
            };
        }
        ["api", v] => return ok_json(StatusCode::OK, &discovery_list(st, "", v)),
        ["apis", g, v] if resources(st).iter().any(|r| r.group == *g && r.version == *v) => {
            return ok_json(StatusCode::OK, &discovery_list(st, g, v));
        }
        _ => {}
    }
    let target = match parse_target(st, &parts) {
        Some(Ok(t)) => t,
        Some(Err(resp)) => return resp,
        None => {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource".into(),
                json!({}),
            );
        }
    };
    let q = query(uri);
    match (method.as_str(), &target.name) {
        ("GET", None) if q.get("watch").is_some_and(|w| w == "true" || w == "1") => watch(st, &target, &q),
        ("GET", None) => list(st, &target, &q),
        ("GET", Some(name)) => get(st, &target, name),
        ("POST", None) => create(st, &target, headers, body, &q),
        ("PUT", Some(name)) => update(st, &target, name, headers, body, &q),
        ("PATCH", Some(name)) => patch(st, &target, name, headers, body, &q),
        ("DELETE", Some(name)) => delete(st, &target, name, body, &q),
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{method} is not supported here"),
            json!({}),
        ),
    }
}

fn key(t: &Target, name: &str) -> Key {
    Key {
        group: t.res.group.clone(),
        plural: t.res.plural.clone(),
        namespace: t.namespace.clone(),
        name: name.to_owned(),
    }
}

fn with_type(t: &Target, mut obj: Value) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(t.res.group_version()));
        m.insert("kind".into(), Value::String(t.res.kind.clone()));
    }
    obj
}

fn get(st: &State, t: &Target, name: &str) -> Response {
    let s = st.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match s.objects.get(&key(t, name)) {
        Some(o) => ok_json(StatusCode::OK, &with_type(t, Value::clone(o))),
        None => not_found(&t.res, name),
    }
}

fn label_selector_matches(sel: &str, obj: &Value) -> bool {
    static NONE: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    let labels = obj
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .unwrap_or(&NONE);
    // Malformed selectors are refused before any object is matched (`bad_selector`).
    gitops_core::labels::selector_matches(sel, labels).unwrap_or(false)
}

/// A 400 for a `labelSelector` the API server could not parse, as it answers before listing anything.
fn bad_selector(q: &BTreeMap<String, String>) -> Option<Response> {
    let sel = q.get("labelSelector")?;
    let e = gitops_core::labels::selector_matches(sel, &Map::new()).err()?;
    Some(status(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!("unable to parse requirement: {e}"),
        json!({}),
    ))
}

fn field_selector_matches(sel: &str, obj: &Value) -> bool {
    sel.split(',').filter(|t| !t.is_empty()).all(|term| {
        let (k, v, neg) = match term.split_once("!=") {
            Some((k, v)) => (k, v, true),
            None => match term.split_once("==").or_else(|| term.split_once('=')) {
                Some((k, v)) => (k, v, false),
                None => return true,
            },
        };
        let ptr = format!("/{}", k.replace('.', "/"));
        let actual = obj.pointer(&ptr).and_then(Value::as_str).unwrap_or_default();
        (actual == v) != neg
    })
}

fn selected(q: &BTreeMap<String, String>, t: &Target, k: &Key, o: &Value) -> bool {
    k.group == t.res.group
        && k.plural == t.res.plural
        && (t.namespace.is_empty() || k.namespace == t.namespace)
        && q.get("labelSelector")
            .is_none_or(|s| label_selector_matches(s, o))
        && q.get("fieldSelector")
            .is_none_or(|s| field_selector_matches(s, o))
}

fn list(st: &State, t: &Target, q: &BTreeMap<String, String>) -> Response {
    if let Some(r) = bad_selector(q) {
        return r;
    }
    let s = st.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let items: Vec<Value> = s
        .objects
        .iter()
        .filter(|(k, o)| selected(q, t, k, o))
        .map(|(_, o)| with_type(t, Value::clone(o)))
        .collect();
    ok_json(
        StatusCode::OK,
        &json!({ "kind": format!("{}List", t.res.kind), "apiVersion": t.res.group_version(),
                 "metadata": { "resourceVersion": s.rv.to_string() }, "items": items }),
    )
}

fn watch(st: &Arc<State>, t: &Target, q: &BTreeMap<String, String>) -> Response {
    if let Some(r) = bad_selector(q) {
        return r;
    }
    let (initial, rx) = {
        let s = st.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let rx = s.events.subscribe();
        let from: u64 = q.get("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
        let initial: Vec<Value> = if from == 0 {
            let mut evs: Vec<Value> = s
                .objects
                .iter()
                .filter(|(k, o)| selected(q, t, k, o))
                .map(|(_, o)| json!({ "type": "ADDED", "object": with_type(t, Value::clone(o)) }))
                .collect();
            // Watch-list (sendInitialEvents): a bookmark marks the end of the initial state.
            if q.get("sendInitialEvents").is_some_and(|v| v == "true") {
                evs.push(json!({ "type": "BOOKMARK", "object": {
                    "kind": t.res.kind, "apiVersion": t.res.group_version(),
                    "metadata": { "resourceVersion": s.rv.to_string(), "annotations": { "k8s.io/initial-events-end": "true" } } } }));
            }
            evs
        } else {
            match s.since(from) {
                Some(evs) => evs
                    .into_iter()
                    .filter(|e| selected(q, t, &e.key, &e.object))
                    .map(|e| json!({ "type": e.kind, "object": &*e.object }))
                    .collect(),
                None => vec![json!({ "type": "ERROR", "object": {
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": format!("too old resource version: {from}"), "reason": "Expired", "code": 410 } })],
            }
        };
        (initial, rx)
    };
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1800);
    let (qc, res) = (q.clone(), t.res.clone());
    let namespace = t.namespace.clone();
    let stream = async_stream(
        initial,
        move |ev: &Event| {
            let tt = Target {
                res: res.clone(),
                namespace: namespace.clone(),
                name: None,
                sub: None,
            };
            selected(&qc, &tt, &ev.key, &ev.object).then(|| json!({ "type": ev.kind, "object": &*ev.object }))
        },
        timeout,
        rx,
    );
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Lines of watch events: the initial ones, then live ones until the timeout.
///
/// `rx` was subscribed under the store lock when `initial` was taken, so no event falls between them. A
/// watcher too slow to keep up ends its watch instead of silently missing events, as the API server closes
/// a lagging watch: the client resumes from the last resourceVersion it saw.
fn async_stream(
    initial: Vec<Value>,
    filter: impl Fn(&Event) -> Option<Value> + Send + 'static,
    timeout: u64,
    mut rx: tokio::sync::broadcast::Receiver<Event>,
) -> tokio_stream::wrappers::ReceiverStream<Result<Bytes, std::io::Error>> {
    let (tx, out) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    tokio::spawn(async move {
        for v in initial {
            if tx.send(Ok(Bytes::from(format!("{v}\n")))).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(timeout);
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Ok(ev) => if let Some(v) = filter(&ev)
                        && tx.send(Ok(Bytes::from(format!("{v}\n")))).await.is_err()
                    {
                        return;
                    },
                    Err(_) => return,
                },
                () = tokio::time::sleep_until(deadline) => return,
                () = tx.closed() => return,
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(out)
}

fn unsupported_media(ct: &str) -> Response {
    status(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {ct:?})"
        ),
        json!({}),
    )
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    // Protobuf bodies are decoded for the kinds kubectl's generators send; others get 415.
    if ct.contains("protobuf") {
        return match crate::proto::decode(body) {
            Ok(v) => Ok(v),
            Err(crate::proto::ProtoError::UnsupportedKind(kind)) => Err(status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                format!("protobuf bodies are not supported for {kind}; send application/json"),
                json!({}),
            )),
            Err(crate::proto::ProtoError::Malformed(e)) => Err(status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("the protobuf body cannot be decoded: {e}"),
                json!({}),
            )),
        };
    }
    if !ct.contains("json") && !ct.contains("yaml") {
        return Err(unsupported_media(ct));
    }
    let text = std::str::from_utf8(body).map_err(|_| {
        status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body is not UTF-8".into(),
            json!({}),
        )
    })?;
    let parsed = if ct.contains("yaml") {
        gitops_core::yaml::from_str::<Value>(text).map_err(|e| e.to_string())
    } else {
        serde_json::from_str::<Value>(text).map_err(|e| e.to_string())
    };
    match parsed {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body must be an object".into(),
            json!({}),
        )),
        Err(e) => Err(status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("the body cannot be decoded: {e}"),
            json!({}),
        )),
    }
}

fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && !s.contains('.') && is_dns1123_subdomain(s)
}

fn invalid(t: &Target, name: &str, field: &str, message: String) -> Response {
    status(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        format!("{} \"{name}\" is invalid: {field}: {message}", t.res.kind),
        json!({ "name": name, "group": t.res.group, "kind": t.res.kind,
                "causes": [{ "reason": "FieldValueInvalid", "message": message, "field": field }] }),
    )
}

/// Prunes, defaults and validates a custom resource against its CRD's structural schema for the version
/// requested; built-in kinds pass through.
fn apply_crd_schema(
    s: &Store,
    t: &Target,
    obj: &mut Value,
    old: Option<&Value>,
    name: &str,
) -> Result<(), Response> {
    let Some(crd) = crd_of(s, t) else {
        return Ok(());
    };
    let Some(schema) = crd_schema(&crd, t) else {
        return Ok(());
    };
    let causes = crate::schema::apply(schema, obj, old);
    if causes.is_empty() {
        return Ok(());
    }
    let texts: Vec<String> = causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect();
    let summary = if texts.len() == 1 {
        texts[0].clone()
    } else {
        format!("[{}]", texts.join(", "))
    };
    Err(status(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        format!("{}.{} \"{name}\" is invalid: {summary}", t.res.kind, t.res.group),
        json!({ "name": name, "group": t.res.group, "kind": t.res.kind,
                "causes": causes.iter().map(|c| json!({ "reason": c.reason, "message": c.message, "field": c.field })).collect::<Vec<_>>() }),
    ))
}

/// The CRD defining the target's resource, if it is a custom resource.
fn crd_of(s: &Store, t: &Target) -> Option<Arc<Value>> {
    let crd_key = Key {
        group: "apiextensions.k8s.io".into(),
        plural: "customresourcedefinitions".into(),
        namespace: String::new(),
        name: format!("{}.{}", t.res.plural, t.res.group),
    };
    s.objects.get(&crd_key).cloned()
}

/// The structural schema of the target's version in `crd`.
fn crd_schema<'a>(crd: &'a Value, t: &Target) -> Option<&'a Value> {
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|vs| vs.iter().find(|v| v["name"] == t.res.version.as_str()))
        .and_then(|v| v.pointer("/schema/openAPIV3Schema"))
}

/// The server-side apply type of the target's objects.
fn ssa_type<'a>(t: &Target, crd: Option<&'a Value>) -> ssa::Ty<'a> {
    match crd {
        Some(crd) => ssa::Ty::Root(crd_schema(crd, t)),
        None => ssa::Ty::builtin(&t.res.group, &t.res.kind),
    }
}

/// Who changes an object, for managedFields: the `fieldManager` parameter, else the client's name from
/// its User-Agent, as the API server derives it.
fn field_manager(q: &BTreeMap<String, String>, headers: &HeaderMap) -> String {
    if let Some(m) = q.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|m| !m.is_empty())
        .unwrap_or("unknown")
        .to_owned()
}

/// How a write records field ownership.
enum Op<'a> {
    /// An update by this manager: it takes what it changed.
    Update(&'a str),
    /// A server-side apply whose managedFields are already computed.
    Applied,
}

/// Records the ownership of a write from `old` (`None`: a create) to `new`.
fn track(s: &Store, t: &Target, old: Option<&Value>, new: &mut Value, op: &Op<'_>) {
    let Op::Update(manager) = op else { return };
    let crd = crd_of(s, t);
    let gv = t.res.group_version();
    let now = now();
    let req = ssa::Request {
        manager,
        api_version: &gv,
        scope: scope(t),
        now: &now,
    };
    ssa::track_update(old, new, ssa_type(t, crd.as_deref()), &req);
}

fn scope(t: &Target) -> ssa::Scope {
    if t.sub.as_deref() == Some("status") {
        ssa::Scope::Status
    } else {
        ssa::Scope::Main {
            status_subresource: t.res.status,
        }
    }
}

/// Checks the name and that type and namespace in the body agree with the request.
fn validate(st: &State, s: &Store, t: &Target, obj: &Value, name: &str) -> Result<(), Response> {
    if let Some(av) = obj.get("apiVersion").and_then(Value::as_str)
        && av != t.res.group_version()
    {
        return Err(status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                t.res.group_version()
            ),
            json!({}),
        ));
    }
    if let Some(k) = obj.get("kind").and_then(Value::as_str)
        && k != t.res.kind
    {
        return Err(status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                t.res.kind
            ),
            json!({}),
        ));
    }
    let rbac = t.res.group == "rbac.authorization.k8s.io";
    let ok = if t.res.kind == "Namespace" {
        is_dns1123_label(name)
    } else if rbac {
        !name.is_empty() && !name.contains('/')
    } else {
        is_dns1123_subdomain(name)
    };
    if !ok {
        return Err(invalid(
            t,
            name,
            "metadata.name",
            format!(
                "Invalid value: \"{name}\": a lowercase RFC 1123 {} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
                if t.res.kind == "Namespace" {
                    "label"
                } else {
                    "subdomain"
                }
            ),
        ));
    }
    if t.res.namespaced {
        if let Some(ns) = obj.pointer("/metadata/namespace").and_then(Value::as_str)
            && !ns.is_empty()
            && ns != t.namespace
        {
            return Err(status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request"
                    .into(),
                json!({}),
            ));
        }
        let ns_key = Key {
            group: String::new(),
            plural: "namespaces".into(),
            namespace: String::new(),
            name: t.namespace.clone(),
        };
        if !s.objects.contains_key(&ns_key) {
            let _ = st;
            return Err(status(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("namespaces \"{}\" not found", t.namespace),
                json!({ "name": t.namespace, "kind": "namespaces" }),
            ));
        }
    }
    Ok(())
}

/// Pod templates live here in the workload kinds.
const POD_SPECS: &[(&str, &str, &str)] = &[
    ("", "Pod", "/spec"),
    ("apps", "Deployment", "/spec/template/spec"),
    ("apps", "StatefulSet", "/spec/template/spec"),
    ("apps", "DaemonSet", "/spec/template/spec"),
    ("apps", "ReplicaSet", "/spec/template/spec"),
    ("batch", "Job", "/spec/template/spec"),
    ("batch", "CronJob", "/spec/jobTemplate/spec/template/spec"),
];

/// Some of the defaulting the API server does for built-in kinds: the `protocol` of container and Service
/// ports (a list-map key), a Service's type, session affinity, target ports and a cluster IP allocated
/// from 10.96.0.0/12 (kept on updates; changing it is refused, as it is immutable).
fn default_builtin(
    s: &mut Store,
    t: &Target,
    obj: &mut Value,
    old: Option<&Value>,
    name: &str,
) -> Result<(), Response> {
    default_list_keys(t, obj);
    if t.res.group.is_empty() && t.res.kind == "Service" {
        service_defaults(s, t, obj, old, name)?;
    }
    workload_defaults(t, obj);
    Ok(())
}

/// Inserts `key: value` into the object at `ptr` (when it is one) unless the key is there.
fn default_at(obj: &mut Value, ptr: &str, key: &str, value: Value) {
    if let Some(m) = obj.pointer_mut(ptr).and_then(Value::as_object_mut) {
        m.entry(key).or_insert(value);
    }
}

/// The defaults of k8s.io/kubernetes' `pkg/apis/{core,apps,batch}/v1/defaults.go` for workloads and the
/// pod templates they hold, so that objects read back look as on a real cluster (and dry-run results
/// carry the same fields a real API server adds).
fn workload_defaults(t: &Target, obj: &mut Value) {
    let (group, kind) = (t.res.group.as_str(), t.res.kind.as_str());
    if let Some((_, _, ptr)) = POD_SPECS.iter().find(|(g, k, _)| *g == group && *k == kind)
        && let Some(spec) = obj.pointer_mut(ptr)
    {
        pod_spec_defaults(spec);
        if kind == "Pod" {
            default_at(obj, "/spec", "enableServiceLinks", json!(true));
        }
    }
    match (group, kind) {
        ("apps", "Deployment") => {
            default_at(obj, "/spec", "replicas", json!(1));
            default_at(obj, "/spec", "revisionHistoryLimit", json!(10));
            default_at(obj, "/spec", "progressDeadlineSeconds", json!(600));
            strategy_defaults(
                obj,
                "strategy",
                json!({"maxUnavailable": "25%", "maxSurge": "25%"}),
            );
        }
        ("apps", "StatefulSet") => {
            default_at(obj, "/spec", "replicas", json!(1));
            default_at(obj, "/spec", "revisionHistoryLimit", json!(10));
            default_at(obj, "/spec", "podManagementPolicy", json!("OrderedReady"));
            strategy_defaults(obj, "updateStrategy", json!({"partition": 0}));
            default_at(
                obj,
                "/spec",
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            for pvc in items_mut(obj.pointer_mut("/spec/volumeClaimTemplates")) {
                default_at(pvc, "/spec", "volumeMode", json!("Filesystem"));
            }
        }
        ("apps", "DaemonSet") => {
            default_at(obj, "/spec", "revisionHistoryLimit", json!(10));
            strategy_defaults(obj, "updateStrategy", json!({"maxUnavailable": 1, "maxSurge": 0}));
        }
        ("apps", "ReplicaSet") => default_at(obj, "/spec", "replicas", json!(1)),
        ("batch", "Job") => job_spec_defaults(obj.pointer_mut("/spec")),
        ("batch", "CronJob") => {
            default_at(obj, "/spec", "concurrencyPolicy", json!("Allow"));
            default_at(obj, "/spec", "suspend", json!(false));
            default_at(obj, "/spec", "successfulJobsHistoryLimit", json!(3));
            default_at(obj, "/spec", "failedJobsHistoryLimit", json!(1));
            job_spec_defaults(obj.pointer_mut("/spec/jobTemplate/spec"));
        }
        ("", "PersistentVolumeClaim") => default_at(obj, "/spec", "volumeMode", json!("Filesystem")),
        _ => {}
    }
}

/// A workload's update strategy `spec.<field>`: `RollingUpdate` when it or its type is missing, and for
/// that type the rolling update's parameters from `rolling`, each where unset.
fn strategy_defaults(obj: &mut Value, field: &str, rolling: Value) {
    default_at(obj, "/spec", field, json!({}));
    let strategy = format!("/spec/{field}");
    default_at(obj, &strategy, "type", json!("RollingUpdate"));
    if obj.pointer(&format!("{strategy}/type")) != Some(&json!("RollingUpdate")) {
        return;
    }
    default_at(obj, &strategy, "rollingUpdate", json!({}));
    let update = format!("{strategy}/rollingUpdate");
    for (k, v) in rolling.as_object().into_iter().flatten() {
        default_at(obj, &update, k, v.clone());
    }
}

/// The items of a list value (none when it is missing or not a list).
fn items_mut(list: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
    list.and_then(Value::as_array_mut).into_iter().flatten()
}

/// A Job's spec: one pod at a time, one completion (when neither is set), six retries, not suspended,
/// failed pods replaced once terminated (once failed with a pod failure policy).
fn job_spec_defaults(spec: Option<&mut Value>) {
    let Some(spec) = spec.and_then(Value::as_object_mut) else {
        return;
    };
    if !spec.contains_key("completions") && !spec.contains_key("parallelism") {
        spec.insert("completions".into(), json!(1));
    }
    spec.entry("parallelism").or_insert(json!(1));
    spec.entry("backoffLimit").or_insert(json!(6));
    spec.entry("completionMode").or_insert(json!("NonIndexed"));
    spec.entry("suspend").or_insert(json!(false));
    let replacement = if spec.contains_key("podFailurePolicy") {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    spec.entry("podReplacementPolicy").or_insert(json!(replacement));
}

/// A pod spec and its containers and volumes.
fn pod_spec_defaults(spec: &mut Value) {
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    m.entry("restartPolicy").or_insert(json!("Always"));
    m.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
    m.entry("terminationGracePeriodSeconds").or_insert(json!(30));
    m.entry("securityContext").or_insert(json!({}));
    m.entry("schedulerName").or_insert(json!("default-scheduler"));
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for c in items_mut(m.get_mut(list)).filter_map(Value::as_object_mut) {
            c.entry("terminationMessagePath")
                .or_insert(json!("/dev/termination-log"));
            c.entry("terminationMessagePolicy").or_insert(json!("File"));
            if !c.contains_key("imagePullPolicy") {
                let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
                c.insert("imagePullPolicy".into(), json!(pull_policy(image)));
            }
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                if let Some(p) = c.get_mut(probe).and_then(Value::as_object_mut) {
                    p.entry("timeoutSeconds").or_insert(json!(1));
                    p.entry("periodSeconds").or_insert(json!(10));
                    p.entry("successThreshold").or_insert(json!(1));
                    p.entry("failureThreshold").or_insert(json!(3));
                }
            }
            for env in items_mut(c.get_mut("env")) {
                default_at(env, "/valueFrom/fieldRef", "apiVersion", json!("v1"));
            }
        }
    }
    for v in items_mut(m.get_mut("volumes")) {
        default_at(v, "/secret", "defaultMode", json!(420));
        default_at(v, "/configMap", "defaultMode", json!(420));
        default_at(v, "/projected", "defaultMode", json!(420));
        default_at(v, "/downwardAPI", "defaultMode", json!(420));
    }
}

/// `Always` for an image without a tag or tagged `latest` (and no digest), `IfNotPresent` otherwise.
fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    // A tag follows the last ':' after the last '/' (a registry's port comes before it).
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

/// Defaults list-map keys (port `protocol`s), which server-side apply needs on applied configurations
/// too, so that an item without the key matches the stored item with it.
fn default_list_keys(t: &Target, obj: &mut Value) {
    if let Some((_, _, ptr)) = POD_SPECS
        .iter()
        .find(|(g, k, _)| *g == t.res.group && *k == t.res.kind)
        && let Some(spec) = obj.pointer_mut(ptr)
    {
        for list in ["containers", "initContainers"] {
            for c in items_mut(spec.get_mut(list)) {
                for p in items_mut(c.get_mut("ports")) {
                    if let Some(p) = p.as_object_mut() {
                        p.entry("protocol").or_insert_with(|| json!("TCP"));
                    }
                }
            }
        }
    }
    if t.res.group.is_empty()
        && t.res.kind == "Service"
        && let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut)
    {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            p.entry("protocol").or_insert_with(|| json!("TCP"));
        }
    }
}

/// A Service's defaults: type `ClusterIP`, session affinity, target ports, and a cluster IP allocated from
/// 10.96.0.0/12, kept on updates that leave it out and refused when changed (it is immutable).
fn service_defaults(
    s: &mut Store,
    t: &Target,
    obj: &mut Value,
    old: Option<&Value>,
    name: &str,
) -> Result<(), Response> {
    let old_ip = old.and_then(|o| o.pointer("/spec/clusterIP")).cloned();
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let ty = spec.entry("type").or_insert_with(|| json!("ClusterIP")).clone();
    spec.entry("sessionAffinity").or_insert_with(|| json!("None"));
    for p in items_mut(spec.get_mut("ports")) {
        if let Some(p) = p.as_object_mut()
            && let Some(port) = p.get("port").cloned()
        {
            p.entry("targetPort").or_insert(port);
        }
    }
    if ty != "ExternalName" {
        match (old_ip, spec.get("clusterIP").cloned()) {
            (Some(was), Some(now)) if was != now && now != "" => {
                return Err(invalid(
                    t,
                    name,
                    "spec.clusterIP",
                    format!("Invalid value: {now}: field is immutable"),
                ));
            }
            (Some(was), _) => {
                spec.insert("clusterIP".into(), was.clone());
                spec.insert("clusterIPs".into(), json!([was]));
            }
            (None, Some(ip)) if ip != "" => {
                spec.entry("clusterIPs").or_insert_with(|| json!([ip]));
            }
            (None, _) => {
                let n = s.next_service_ip();
                let ip = format!("10.96.{}.{}", n / 254, n % 254 + 1);
                spec.insert("clusterIP".into(), json!(ip));
                spec.insert("clusterIPs".into(), json!([ip]));
            }
        }
        spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
        spec.entry("ipFamilyPolicy")
            .or_insert_with(|| json!("SingleStack"));
        spec.entry("internalTrafficPolicy")
            .or_insert_with(|| json!("Cluster"));
    }
    Ok(())
}

/// A Secret's `stringData` is write-only: the API folds it into `data`, base64-encoded, and stores no
/// `stringData`.
fn fold_string_data(t: &Target, obj: &mut Value) {
    use base64::Engine as _;
    if !t.res.group.is_empty() || t.res.kind != "Secret" {
        return;
    }
    let Some(m) = obj.as_object_mut() else { return };
    let Some(Value::Object(string_data)) = m.remove("stringData") else {
        return;
    };
    let data = m.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    if let Some(d) = data.as_object_mut() {
        for (k, v) in string_data {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            d.insert(
                k,
                Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    }
}

/// The 422 the API returns when an update changes a field that cannot change: the data of an immutable
/// ConfigMap or Secret, a workload's selector, a Job's selector or template.
fn immutable_changed(t: &Target, old: &Value, new: &Value) -> Option<Response> {
    let name = old
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let fields: &[&str] = match (t.res.group.as_str(), t.res.kind.as_str()) {
        ("", "ConfigMap" | "Secret") if old["immutable"] == true => {
            if new["immutable"] != true {
                return Some(invalid(
                    t,
                    name,
                    "immutable",
                    "Forbidden: field is immutable when `immutable` is set".into(),
                ));
            }
            &["data", "binaryData"]
        }
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => &["spec.selector"],
        ("batch", "Job") => &["spec.selector", "spec.template"],
        _ => &[],
    };
    for f in fields {
        let ptr = format!("/{}", f.replace('.', "/"));
        let (a, b) = (old.pointer(&ptr), new.pointer(&ptr));
        if a.is_some() && a != b {
            let message = if t.res.kind == "ConfigMap" || t.res.kind == "Secret" {
                "Forbidden: field is immutable when `immutable` is set".to_owned()
            } else {
                format!(
                    "Invalid value: {}: field is immutable",
                    b.map_or_else(|| "null".to_owned(), Value::to_string)
                )
            };
            return Some(invalid(t, name, f, message));
        }
    }
    None
}

fn dry_run(q: &BTreeMap<String, String>) -> bool {
    q.get("dryRun").is_some_and(|v| v == "All")
}

fn meta(obj: &mut Value) -> &mut Map<String, Value> {
    let m = obj.as_object_mut().expect("objects are validated as mappings");
    let meta = m.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut().expect("just made an object")
}

fn create(
    st: &State,
    t: &Target,
    headers: &HeaderMap,
    body: &Bytes,
    q: &BTreeMap<String, String>,
) -> Response {
    let obj = match parse_body(headers, body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let manager = field_manager(q, headers);
    let mut s = st.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    insert_new(st, &mut s, t, obj, q, &Op::Update(&manager))
}

fn insert_new(
    st: &State,
    s: &mut Store,
    t: &Target,
    mut obj: Value,
    q: &BTreeMap<String, String>,
    op: &Op<'_>,
) -> Response {
    let mut name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if name.is_empty()
        && let Some(g) = obj.pointer("/metadata/generateName").and_then(Value::as_str)
    {
        let suffix = &s.uid()[..5];
        name = format!("{g}{suffix}");
    }
    if name.is_empty() {
        return invalid(
            t,
            "",
            "metadata.name",
            "Required value: name or generateName is required".into(),
        );
    }
    if let Err(r) = apply_crd_schema(s, t, &mut obj, None, &name) {
        return r;
    }
    if let Err(r) = validate(st, s, t, &obj, &name) {
        return r;
    }
    let k = key(t, &name);
    if s.objects.contains_key(&k) {
        let what = qualified(&t.res);
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{what} \"{name}\" already exists"),
            json!({ "name": name, "group": t.res.group, "kind": t.res.plural }),
        );
    }
    obj = with_type(t, obj);
    let rv = if dry_run(q) { s.rv } else { s.next_rv() };
    let uid = s.uid();
    {
        let m = meta(&mut obj);
        m.insert("name".into(), Value::String(name.clone()));
        if t.res.namespaced {
            m.insert("namespace".into(), Value::String(t.namespace.clone()));
        }
        m.insert("uid".into(), Value::String(uid));
        m.insert("resourceVersion".into(), Value::String(rv.to_string()));
        m.insert("creationTimestamp".into(), Value::String(now()));
        m.remove("deletionTimestamp");
    }
    if obj.get("spec").is_some() && t.res.kind != "Namespace" {
        meta(&mut obj).insert("generation".into(), json!(1));
    }
    if t.res.status
        && t.res.kind != "Namespace"
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    if t.res.kind == "Namespace" {
        meta(&mut obj)
            .entry("labels")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|l| l.insert("kubernetes.io/metadata.name".into(), Value::String(name.clone())));
        if let Some(m) = obj.as_object_mut() {
            m.insert("spec".into(), json!({ "finalizers": ["kubernetes"] }));
            m.insert("status".into(), json!({ "phase": "Active" }));
        }
    }
    // Defaulting the real API does for Secrets.
    if t.res.kind == "Secret"
        && let Some(m) = obj.as_object_mut()
    {
        m.entry("type").or_insert_with(|| json!("Opaque"));
    }
    if let Err(r) = default_builtin(s, t, &mut obj, None, &name) {
        return r;
    }
    track(s, t, None, &mut obj, op);
    fold_string_data(t, &mut obj);
    if t.res.kind == "CustomResourceDefinition" {
        establish(&mut obj);
    }
    if !dry_run(q) {
        if t.res.kind == "CustomResourceDefinition" {
            register_crd(st, &obj);
        }
        s.put("ADDED", k.clone(), obj.clone(), rv);
        simulate(st, s, k);
    }
    ok_json(StatusCode::CREATED, &obj)
}

/// Stores `new` as the next state of the object at `k` (update semantics), keeping identity fields.
fn replace(
    st: &State,
    s: &mut Store,
    t: &Target,
    old: &Value,
    mut new: Value,
    q: &BTreeMap<String, String>,
    op: &Op<'_>,
) -> Response {
    let k = key(
        t,
        old.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    let status_only = t.sub.as_deref() == Some("status");
    new = with_type(t, new);
    if status_only {
        let mut merged = old.clone();
        if let (Some(m), Some(st)) = (merged.as_object_mut(), new.get("status")) {
            m.insert("status".into(), st.clone());
        }
        new = merged;
    } else if t.res.status
        && let Some(m) = new.as_object_mut()
    {
        match old.get("status") {
            Some(st) => m.insert("status".into(), st.clone()),
            None => m.remove("status"),
        };
    }
    for f in [
        "uid",
        "creationTimestamp",
        "namespace",
        "name",
        "deletionTimestamp",
        "generation",
    ] {
        let v = old.pointer(&format!("/metadata/{f}")).cloned();
        let m = meta(&mut new);
        match v {
            Some(v) => m.insert(f.into(), v),
            None => m.remove(f),
        };
    }
    let spec_changed = old.get("spec") != new.get("spec");
    if spec_changed && new.get("spec").is_some() && t.res.kind != "Namespace" {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        meta(&mut new).insert("generation".into(), json!(g));
    }
    if !status_only && let Some(r) = immutable_changed(t, old, &new) {
        return r;
    }
    if !status_only {
        let name = old
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Err(r) = default_builtin(s, t, &mut new, Some(old), &name) {
            return r;
        }
    }
    track(s, t, Some(old), &mut new, op);
    fold_string_data(t, &mut new);
    let mut cmp_old = old.clone();
    meta(&mut cmp_old).remove("resourceVersion");
    meta(&mut new).remove("resourceVersion");
    if cmp_old == new {
        return ok_json(StatusCode::OK, old);
    }
    let rv = if dry_run(q) { s.rv } else { s.next_rv() };
    meta(&mut new).insert("resourceVersion".into(), Value::String(rv.to_string()));
    // An object being deleted goes once its last finalizer is removed.
    let finalized = new.pointer("/metadata/deletionTimestamp").is_some()
        && new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
    if !dry_run(q) {
        if finalized {
            s.objects.remove(&k);
            s.record("DELETED", k, Arc::new(new.clone()), rv);
            if let Some(uid) = new.pointer("/metadata/uid").and_then(Value::as_str) {
                collect_garbage(s, uid);
            }
        } else {
            if t.res.kind == "CustomResourceDefinition" {
                establish(&mut new);
                register_crd(st, &new);
            }
            s.put("MODIFIED", k.clone(), new.clone(), rv);
            if !status_only {
                simulate(st, s, k);
            }
        }
    }
    ok_json(StatusCode::OK, &new)
}

fn update(
    st: &State,
    t: &Target,
    name: &str,
    headers: &HeaderMap,
    body: &Bytes,
    q: &BTreeMap<String, String>,
) -> Response {
    let mut obj = match parse_body(headers, body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut s = st.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(n) = obj.pointer("/metadata/name").and_then(Value::as_str)
        && n != name
    {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the name of the object does not match the name on the URL".into(),
            json!({}),
        );
    }
    let k = key(t, name);
    let Some(old) = s.objects.get(&k).map(|o| Value::clone(o)) else {
        return not_found(&t.res, name);
    };
    if let Err(r) = apply_crd_schema(&s, t, &mut obj, Some(&old), name) {
        return r;
    }
    if let Err(r) = validate(st, &s, t, &obj, name) {
        return r;
    }
    if let Some(rv) = obj.pointer("/metadata/resourceVersion").and_then(Value::as_str)
        && Some(rv) != old.pointer("/metadata/resourceVersion").and_then(Value::as_str)
    {
        let what = qualified(&t.res);
        return status(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {what} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
            json!({ "name": name, "group": t.res.group, "kind": t.res.plural }),
        );
    }
    let manager = field_manager(q, headers);
    replace(st, &mut s, t, &old, obj, q, &Op::Update(&manager))
}

fn patch(
    st: &State,
    t: &Target,
    name: &str,
    headers: &HeaderMap,
    body: &Bytes,
    q: &BTreeMap<String, String>,
) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut s = st.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let k = key(t, name);
    let old = s.objects.get(&k).map(|o| Value::clone(o));
    let text = String::from_utf8_lossy(body).into_owned();
    let parse = |yaml: bool| -> Result<Value, Response> {
        let r = if yaml {
            gitops_core::yaml::from_str::<Value>(&text).map_err(|e| e.to_string())
        } else {
            serde_json::from_str::<Value>(&text).map_err(|e| e.to_string())
        };
        r.map_err(|e| {
            status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("the patch cannot be decoded: {e}"),
                json!({}),
            )
        })
    };
    if ct.starts_with("application/apply-patch") {
        if q.get("fieldManager").is_none_or(String::is_empty) {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "PATCH, fieldManager is required for apply requests".into(),
                json!({}),
            );
        }
        let p = match parse(true) {
            Ok(p) => p,
            Err(r) => return r,
        };
        return server_side_apply(st, &mut s, t, name, old, p, q);
    }
    let manager = field_manager(q, headers);
    let Some(old) = old else {
        return not_found(&t.res, name);
    };
    let mut new = old.clone();
    if ct.starts_with("application/merge-patch+json") {
        match parse(false) {
            Ok(p) => gitops_kustomize::patches::merge_patch(&mut new, &p),
            Err(r) => return r,
        }
    } else if ct.starts_with("application/strategic-merge-patch+json") {
        match parse(false) {
            Ok(p) => gitops_kustomize::patches::strategic_merge(&mut new, &p, &t.res.group, &t.res.kind),
            Err(r) => return r,
        }
    } else if ct.starts_with("application/json-patch+json") {
        let ops = match serde_json::from_str::<Vec<Value>>(&text) {
            Ok(o) => o,
            Err(e) => {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!("the patch cannot be decoded: {e}"),
                    json!({}),
                );
            }
        };
        if let Err(e) = gitops_kustomize::patches::json_patch(&mut new, &ops) {
            return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", e, json!({}));
        }
    } else {
        return status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})"
            ),
            json!({}),
        );
    }
    if let Err(r) = apply_crd_schema(&s, t, &mut new, Some(&old), name) {
        return r;
    }
    if let Err(r) = validate(st, &s, t, &new, name) {
        return r;
    }
    replace(st, &mut s, t, &old, new, q, &Op::Update(&manager))
}

/// An apply patch: merged into the live object by structured-merge-diff rules, with conflicts against
/// other managers unless `force=true`.
fn server_side_apply(
    st: &State,
    s: &mut Store,
    t: &Target,
    name: &str,
    old: Option<Value>,
    mut config: Value,
    q: &BTreeMap<String, String>,
) -> Response {
    if !config.is_object() {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the apply patch must be a mapping".into(),
            json!({}),
        );
    }
    if let Err(r) = validate(st, s, t, &config, name) {
        return r;
    }
    meta(&mut config).insert("name".into(), Value::String(name.to_owned()));
    default_list_keys(t, &mut config);
    let force = q.get("force").is_some_and(|f| f == "true");
    let manager = q.get("fieldManager").cloned().unwrap_or_default();
    let crd = crd_of(s, t);
    let gv = t.res.group_version();
    let now = now();
    let req = ssa::Request {
        manager: &manager,
        api_version: &gv,
        scope: scope(t),
        now: &now,
    };
    let merged = match ssa::apply(old.as_ref(), &config, ssa_type(t, crd.as_deref()), &req, force) {
        Ok(m) => m,
        Err(c) => {
            let causes: Vec<Value> = c
                .conflicts
                .iter()
                .map(|(m, p)| json!({ "type": "FieldManagerConflict", "message": format!("conflict with {m}"), "field": p }))
                .collect();
            return status(
                StatusCode::CONFLICT,
                "Conflict",
                c.message(),
                json!({ "causes": causes }),
            );
        }
    };
    match old {
        None => insert_new(st, s, t, merged, q, &Op::Applied),
        Some(old) => {
            let mut new = merged;
            if let Err(r) = apply_crd_schema(s, t, &mut new, Some(&old), name) {
                return r;
            }
            if let Err(r) = validate(st, s, t, &new, name) {
                return r;
            }
            replace(st, s, t, &old, new, q, &Op::Applied)
        }
    }
}

/// How dependents are treated when their owner is deleted (`DeleteOptions.propagationPolicy`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Propagation {
    Background,
    Foreground,
    Orphan,
}

fn delete(st: &State, t: &Target, name: &str, body: &Bytes, q: &BTreeMap<String, String>) -> Response {
    // DeleteOptions come in the body (kubectl sends them there) or as query parameters.
    let opts: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!("invalid DeleteOptions: {e}"),
                    json!({}),
                );
            }
        }
    };
    let dry = dry_run(q)
        || opts["dryRun"]
            .as_array()
            .is_some_and(|d| d.iter().any(|v| v == "All"));
    let policy = match q
        .get("propagationPolicy")
        .map(String::as_str)
        .or_else(|| opts["propagationPolicy"].as_str())
    {
        Some("Foreground") => Propagation::Foreground,
        Some("Orphan") => Propagation::Orphan,
        None if opts["orphanDependents"] == true => Propagation::Orphan,
        Some("Background") | None => Propagation::Background,
        Some(other) => {
            return invalid(
                t,
                name,
                "propagationPolicy",
                format!(
                    "Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
                ),
            );
        }
    };
    let mut s = st.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let k = key(t, name);
    let Some(mut obj) = s.objects.get(&k).map(|o| Value::clone(o)) else {
        return not_found(&t.res, name);
    };
    for (field, path) in [
        ("uid", "/metadata/uid"),
        ("resourceVersion", "/metadata/resourceVersion"),
    ] {
        if let Some(want) = opts["preconditions"][field].as_str()
            && obj.pointer(path).and_then(Value::as_str) != Some(want)
        {
            let have = obj.pointer(path).and_then(Value::as_str).unwrap_or_default();
            return status(
                StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: {field}: {want}, {field}: {have}",
                    qualified(&t.res)
                ),
                json!({ "name": name, "group": t.res.group, "kind": t.res.plural }),
            );
        }
    }
    if dry {
        return ok_json(StatusCode::OK, &obj);
    }
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if policy == Propagation::Orphan {
        orphan_dependents(&mut s, &uid);
    }
    let rv = s.next_rv();
    let has_finalizers = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if has_finalizers {
        let m = meta(&mut obj);
        m.entry("deletionTimestamp")
            .or_insert_with(|| Value::String(now()));
        m.insert("resourceVersion".into(), Value::String(rv.to_string()));
        s.put("MODIFIED", k, obj.clone(), rv);
        return ok_json(StatusCode::OK, &obj);
    }
    // Foreground: dependents go before their owner; background: after.
    if policy == Propagation::Foreground {
        collect_garbage(&mut s, &uid);
    }
    s.objects.remove(&k);
    meta(&mut obj).insert("resourceVersion".into(), Value::String(rv.to_string()));
    s.record("DELETED", k, Arc::new(obj.clone()), rv);
    if policy == Propagation::Background {
        collect_garbage(&mut s, &uid);
    }
    if t.res.kind == "CustomResourceDefinition" {
        let (group, plural) = (crd_str(&obj, "/spec/group"), crd_str(&obj, "/spec/names/plural"));
        st.resources
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|r| !(r.group == group && r.plural == plural));
        let owned: Vec<Key> = s
            .objects
            .keys()
            .filter(|x| x.group == group && x.plural == plural)
            .cloned()
            .collect();
        for ok in owned {
            if let Some(o) = s.objects.remove(&ok) {
                let rv = s.next_rv();
                s.record("DELETED", ok, o, rv);
            }
        }
    }
    if t.res.kind == "Namespace" {
        let inside: Vec<Key> = s
            .objects
            .keys()
            .filter(|x| x.namespace == name)
            .cloned()
            .collect();
        for ik in inside {
            if let Some(o) = s.objects.remove(&ik) {
                let rv = s.next_rv();
                s.record("DELETED", ik, o, rv);
            }
        }
    }
    ok_json(
        StatusCode::OK,
        &json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": { "name": name, "group": t.res.group, "kind": t.res.plural, "uid": obj.pointer("/metadata/uid") } }),
    )
}

fn crd_str(obj: &Value, p: &str) -> String {
    obj.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Marks a CustomResourceDefinition accepted and established, as the API server does once its names
/// are accepted.
fn establish(obj: &mut Value) {
    let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let t = now();
    let cond = |ty: &str, reason: &str, msg: &str| json!({ "type": ty, "status": "True", "reason": reason, "message": msg, "lastTransitionTime": t });
    let stored: Vec<Value> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage") == Some(&json!(true)))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    if let Some(m) = obj.as_object_mut() {
        m.insert(
            "status".into(),
            json!({
                "acceptedNames": names,
                "conditions": [
                    cond("NamesAccepted", "NoConflicts", "no conflicts found"),
                    cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                ],
                "storedVersions": stored,
            }),
        );
    }
}

/// Serves the versions of a CustomResourceDefinition (objects are stored once, whatever the version).
fn register_crd(st: &State, crd: &Value) {
    let group = crd_str(crd, "/spec/group");
    let plural = crd_str(crd, "/spec/names/plural");
    let kind = crd_str(crd, "/spec/names/kind");
    let namespaced = crd_str(crd, "/spec/scope") != "Cluster";
    let mut all = st
        .resources
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    all.retain(|r| !(r.group == group && r.plural == plural));
    for v in crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if v.get("served") == Some(&json!(false)) {
            continue;
        }
        all.push(ApiResource {
            group: group.clone(),
            version: v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            kind: kind.clone(),
            plural: plural.clone(),
            namespaced,
            listable: true,
            status: v.pointer("/subresources/status").is_some(),
        });
    }
}

/// What the simulated controllers write into a workload's status, if it is a workload.
fn simulated_status(obj: &Value) -> Option<Value> {
    let kind = obj.get("kind")?.as_str()?;
    let mode = obj
        .pointer("/metadata/annotations/testkit.gitops-rs.io~1simulate")
        .and_then(Value::as_str)
        .unwrap_or("ready");
    let generation = obj
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let replicas = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let t = now();
    let cond = |ty: &str, st: &str, reason: &str, msg: &str| json!({ "type": ty, "status": st, "reason": reason, "message": msg, "lastUpdateTime": t, "lastTransitionTime": t });
    let ready = if mode == "ready" { replicas } else { 0 };
    match kind {
        "Deployment" => {
            let unavailable = || {
                cond(
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                )
            };
            let (avail, progressing) = match mode {
                "fail" => (
                    unavailable(),
                    cond(
                        "Progressing",
                        "False",
                        "ProgressDeadlineExceeded",
                        "ReplicaSet has timed out progressing.",
                    ),
                ),
                "pending" => (
                    unavailable(),
                    cond(
                        "Progressing",
                        "True",
                        "ReplicaSetUpdated",
                        "ReplicaSet is progressing.",
                    ),
                ),
                _ => (
                    cond(
                        "Available",
                        "True",
                        "MinimumReplicasAvailable",
                        "Deployment has minimum availability.",
                    ),
                    cond(
                        "Progressing",
                        "True",
                        "NewReplicaSetAvailable",
                        "ReplicaSet has successfully progressed.",
                    ),
                ),
            };
            Some(
                json!({ "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                "readyReplicas": ready, "availableReplicas": ready, "unavailableReplicas": replicas - ready,
                "conditions": [avail, progressing] }),
            )
        }
        "StatefulSet" => Some(
            json!({ "observedGeneration": generation, "replicas": replicas, "readyReplicas": ready,
            "currentReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": ready,
            "currentRevision": format!("r{generation}"), "updateRevision": format!("r{generation}") }),
        ),
        "ReplicaSet" => Some(
            json!({ "observedGeneration": generation, "replicas": replicas, "readyReplicas": ready,
            "availableReplicas": ready, "fullyLabeledReplicas": replicas }),
        ),
        "DaemonSet" => Some(
            json!({ "observedGeneration": generation, "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
            "updatedNumberScheduled": 1, "numberAvailable": i64::from(mode == "ready"), "numberReady": i64::from(mode == "ready"),
            "numberMisscheduled": 0 }),
        ),
        "Job" => match mode {
            "fail" => Some(
                json!({ "failed": 1, "conditions": [cond("Failed", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit")] }),
            ),
            "pending" => Some(json!({ "active": 1 })),
            _ => Some(json!({ "succeeded": 1, "completionTime": t,
                "conditions": [cond("SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods"),
                               cond("Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods")] })),
        },
        _ => None,
    }
}

/// Keys of the objects that name `uid` among their ownerReferences.
fn dependents_of(s: &Store, uid: &str) -> Vec<Key> {
    s.objects
        .iter()
        .filter(|(_, o)| {
            o.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// Removes the owner `uid` from its dependents' ownerReferences (the `Orphan` propagation policy).
fn orphan_dependents(s: &mut Store, uid: &str) {
    for k in dependents_of(s, uid) {
        let Some(mut o) = s.objects.get(&k).map(|o| Value::clone(o)) else {
            continue;
        };
        let rv = s.next_rv();
        let m = meta(&mut o);
        if let Some(Value::Array(refs)) = m.get_mut("ownerReferences") {
            refs.retain(|r| r["uid"] != uid);
            if refs.is_empty() {
                m.remove("ownerReferences");
            }
        }
        m.insert("resourceVersion".into(), Value::String(rv.to_string()));
        s.put("MODIFIED", k, o, rv);
    }
}

/// The garbage collector, run when the object `uid` is gone: a dependent with another owner still present
/// only loses the dangling reference; one with no owner left is deleted (or marked for deletion while it has
/// finalizers), and its own dependents follow.
fn collect_garbage(s: &mut Store, uid: &str) {
    let mut gone = vec![uid.to_owned()];
    while let Some(uid) = gone.pop() {
        for k in dependents_of(s, &uid) {
            let Some(mut o) = s.objects.get(&k).map(|o| Value::clone(o)) else {
                continue;
            };
            let others_alive = o
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| {
                    refs.iter().any(|r| {
                        r["uid"] != uid.as_str()
                            && s.objects
                                .values()
                                .any(|x| x.pointer("/metadata/uid") == Some(&r["uid"]))
                    })
                });
            let rv = s.next_rv();
            let has_finalizers = o
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty());
            let m = meta(&mut o);
            m.insert("resourceVersion".into(), Value::String(rv.to_string()));
            if others_alive {
                if let Some(Value::Array(refs)) = m.get_mut("ownerReferences") {
                    refs.retain(|r| r["uid"] != uid.as_str());
                }
                s.put("MODIFIED", k, o, rv);
            } else if has_finalizers {
                m.entry("deletionTimestamp")
                    .or_insert_with(|| Value::String(now()));
                s.put("MODIFIED", k, o, rv);
            } else {
                if let Some(u) = m.get("uid").and_then(Value::as_str) {
                    gone.push(u.to_owned());
                }
                s.objects.remove(&k);
                s.record("DELETED", k, Arc::new(o), rv);
            }
        }
    }
}

/// A status with its timestamps removed, for comparing what a controller would observe.
fn without_times(status: &Value) -> Value {
    let mut v = status.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("completionTime");
        if let Some(Value::Array(cs)) = m.get_mut("conditions") {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                c.remove("lastUpdateTime");
                c.remove("lastTransitionTime");
            }
        }
    }
    v
}

/// Runs the simulated workload controllers on the object at `k`, when they are on.
fn simulate(st: &State, s: &mut Store, k: Key) {
    if !st.simulate.load(std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let Some(obj) = s.objects.get(&k).map(|o| Value::clone(o)) else {
        return;
    };
    let Some(status) = simulated_status(&obj) else {
        return;
    };
    // Unchanged apart from timestamps: leave it, as a controller would (no event, no new resourceVersion).
    if obj.get("status").map(without_times) == Some(without_times(&status)) {
        return;
    }
    let mut new = obj;
    let rv = s.next_rv();
    if let Some(m) = new.as_object_mut() {
        m.insert("status".into(), status);
    }
    meta(&mut new).insert("resourceVersion".into(), Value::String(rv.to_string()));
    s.put("MODIFIED", k, new, rv);
}
