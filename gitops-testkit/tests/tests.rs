//! The embedded API server over real HTTP, and real kubectl against it.

#![allow(missing_docs)]

mod common;

use gitops_testkit::TestApiServer;
use serde_json::{Value, json};

/// A minimal HTTP/1.1 client: one request per connection.
async fn req(s: &TestApiServer, method: &str, path: &str, ct: &str, body: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
    let r = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    c.write_all(r.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    c.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code: u16 = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (code, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((len, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
    out
}

const JSON: &str = "application/json";

fn cm(name: &str, ns: &str) -> String {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": {"a": "1"}}).to_string()
}

#[tokio::test]
async fn crud_conflicts_and_status_errors() {
    let s = TestApiServer::start().await.unwrap();
    let base = "/api/v1/namespaces/default/configmaps";
    let (code, created) = req(&s, "POST", base, JSON, &cm("a", "default")).await;
    assert_eq!(code, 201);
    assert!(created["metadata"]["uid"].is_string() && created["metadata"]["creationTimestamp"].is_string());
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();

    let (code, st) = req(&s, "POST", base, JSON, &cm("a", "default")).await;
    assert_eq!((code, st["reason"].as_str()), (409, Some("AlreadyExists")));
    let (code, st) = req(&s, "GET", &format!("{base}/nope"), JSON, "").await;
    assert_eq!(
        (code, st["reason"].as_str(), st["kind"].as_str()),
        (404, Some("NotFound"), Some("Status"))
    );
    let (code, st) = req(&s, "POST", base, JSON, &cm("Bad_Name", "default")).await;
    assert_eq!((code, st["reason"].as_str()), (422, Some("Invalid")));
    assert_eq!(st["details"]["causes"][0]["field"], "metadata.name");
    let (code, _) = req(
        &s,
        "POST",
        "/api/v1/namespaces/missing/configmaps",
        JSON,
        &cm("x", "missing"),
    )
    .await;
    assert_eq!(code, 404);
    let (code, st) = req(&s, "POST", base, JSON, "{not json").await;
    assert_eq!((code, st["reason"].as_str()), (400, Some("BadRequest")));
    let (code, _) = req(&s, "PATCH", &format!("{base}/a"), "application/xml", "<x/>").await;
    assert_eq!(code, 415);
    let (code, _) = req(
        &s,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        JSON,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}).to_string(),
    )
    .await;
    assert_eq!(code, 400);

    // Optimistic concurrency: an update with a stale resourceVersion is refused.
    let mut upd: Value = serde_json::from_str(&cm("a", "default")).unwrap();
    upd["metadata"]["resourceVersion"] = json!(rv);
    upd["data"]["a"] = json!("2");
    let (code, v) = req(&s, "PUT", &format!("{base}/a"), JSON, &upd.to_string()).await;
    assert_eq!(code, 200);
    assert_ne!(v["metadata"]["resourceVersion"], json!(rv));
    let (code, st) = req(&s, "PUT", &format!("{base}/a"), JSON, &upd.to_string()).await;
    assert_eq!((code, st["reason"].as_str()), (409, Some("Conflict")));

    // An unchanged update keeps the resourceVersion.
    let (_, cur) = req(&s, "GET", &format!("{base}/a"), JSON, "").await;
    let (_, again) = req(&s, "PUT", &format!("{base}/a"), JSON, &cur.to_string()).await;
    assert_eq!(
        again["metadata"]["resourceVersion"],
        cur["metadata"]["resourceVersion"]
    );

    // Dry-run persists nothing; generateName works.
    let (code, _) = req(
        &s,
        "POST",
        &format!("{base}?dryRun=All"),
        JSON,
        &cm("dry", "default"),
    )
    .await;
    assert_eq!(code, 201);
    let (code, _) = req(&s, "GET", &format!("{base}/dry"), JSON, "").await;
    assert_eq!(code, 404);
    let generated =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}).to_string();
    let (code, v) = req(&s, "POST", base, JSON, &generated).await;
    assert_eq!(code, 201);
    assert!(v["metadata"]["name"].as_str().unwrap().starts_with("gen-"));

    // Label selectors.
    let (_, _) = req(
        &s,
        "PATCH",
        &format!("{base}/a"),
        "application/merge-patch+json",
        r#"{"metadata":{"labels":{"app":"x"}}}"#,
    )
    .await;
    let (_, list) = req(&s, "GET", &format!("{base}?labelSelector=app%3Dx"), JSON, "").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (_, list) = req(&s, "GET", &format!("{base}?labelSelector=app%21%3Dx"), JSON, "").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "only the generated one"
    );
    // Set requirements: commas inside the parentheses belong to the set.
    let (_, list) = req(
        &s,
        "GET",
        &format!("{base}?labelSelector=app%20in%20(y%2Cx)"),
        JSON,
        "",
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    let (_, list) = req(
        &s,
        "GET",
        &format!("{base}?labelSelector=app%20notin%20(y%2Cx)"),
        JSON,
        "",
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    let (code, v) = req(&s, "GET", &format!("{base}?labelSelector=app%20in%20x"), JSON, "").await;
    assert_eq!((code, v["reason"].as_str()), (400, Some("BadRequest")), "{v}");
}

#[tokio::test]
async fn generation_status_finalizers_and_namespaces() {
    let s = TestApiServer::start().await.unwrap();
    let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        "status": {"replicas": 9}});
    let url = "/apis/apps/v1/namespaces/default/deployments";
    let (_, v) = req(&s, "POST", url, JSON, &dep.to_string()).await;
    assert_eq!(v["metadata"]["generation"], 1);
    assert!(
        v.get("status").is_none(),
        "status is not set through the main resource"
    );
    // Status through the subresource does not bump generation; spec changes do.
    let (_, v) = req(
        &s,
        "PATCH",
        &format!("{url}/web/status"),
        "application/merge-patch+json",
        r#"{"status":{"readyReplicas":1}}"#,
    )
    .await;
    assert_eq!(
        (
            v["metadata"]["generation"].as_i64(),
            v["status"]["readyReplicas"].as_i64()
        ),
        (Some(1), Some(1))
    );
    let (_, v) = req(
        &s,
        "PATCH",
        &format!("{url}/web"),
        "application/merge-patch+json",
        r#"{"spec":{"replicas":3},"status":{"readyReplicas":7}}"#,
    )
    .await;
    assert_eq!(
        (
            v["metadata"]["generation"].as_i64(),
            v["status"]["readyReplicas"].as_i64()
        ),
        (Some(2), Some(1))
    );
    // Strategic merge keeps other containers.
    let (_, v) = req(
        &s,
        "PATCH",
        &format!("{url}/web"),
        "application/strategic-merge-patch+json",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox"}]}}}}"#,
    )
    .await;
    assert_eq!(
        v["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Finalizers hold deletion until removed.
    let cmf =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f", "finalizers": ["x/y"]}})
            .to_string();
    let cms = "/api/v1/namespaces/default/configmaps";
    req(&s, "POST", cms, JSON, &cmf).await;
    let (code, v) = req(&s, "DELETE", &format!("{cms}/f"), JSON, "").await;
    assert_eq!(code, 200);
    assert!(v["metadata"]["deletionTimestamp"].is_string());
    let (code, _) = req(
        &s,
        "PATCH",
        &format!("{cms}/f"),
        "application/json-patch+json",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = req(&s, "GET", &format!("{cms}/f"), JSON, "").await;
    assert_eq!(code, 404);

    // Deleting a namespace deletes its contents.
    req(
        &s,
        "POST",
        "/api/v1/namespaces",
        JSON,
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"tmp"}}"#,
    )
    .await;
    req(
        &s,
        "POST",
        "/api/v1/namespaces/tmp/configmaps",
        JSON,
        &cm("c", "tmp"),
    )
    .await;
    req(&s, "DELETE", "/api/v1/namespaces/tmp", JSON, "").await;
    let (_, list) = req(&s, "GET", "/api/v1/configmaps", JSON, "").await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["metadata"]["namespace"] != "tmp")
    );
}

#[tokio::test]
async fn watch_resumes_from_a_resource_version() {
    let s = TestApiServer::start().await.unwrap();
    let base = "/api/v1/namespaces/default/configmaps";
    let (_, a) = req(&s, "POST", base, JSON, &cm("w1", "default")).await;
    let rv = a["metadata"]["resourceVersion"].as_str().unwrap().to_owned();
    req(&s, "POST", base, JSON, &cm("w2", "default")).await;
    req(&s, "DELETE", &format!("{base}/w1"), JSON, "").await;
    let (code, body) = req(
        &s,
        "GET",
        &format!("{base}?watch=true&resourceVersion={rv}&timeoutSeconds=1"),
        JSON,
        "",
    )
    .await;
    assert_eq!(code, 200);
    let lines: Vec<Value> = body
        .as_str()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(String, String)> = lines
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["object"]["metadata"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("ADDED".to_owned(), "w2".to_owned()),
            ("DELETED".to_owned(), "w1".to_owned())
        ]
    );
}

mod kubectl {
    use std::process::Command;

    use super::*;
    use crate::common::reference_kubectl;

    #[tokio::test(flavor = "multi_thread")]
    async fn real_kubectl_works_against_it() {
        let Some(k) = reference_kubectl() else {
            eprintln!("skipping: reference kubectl is not installed");
            return;
        };
        let s = TestApiServer::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kc = dir.path().join("kubeconfig");
        std::fs::write(&kc, s.kubeconfig()).unwrap();
        let manifest = dir.path().join("m.yaml");
        std::fs::write(
            &manifest,
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: demo\ndata:\n  a: b\n",
        )
        .unwrap();
        let run = |args: &[&str]| {
            let out = Command::new(&k)
                .env("KUBECONFIG", &kc)
                .args(args)
                .output()
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
            )
        };
        let k2 = |args: &'static [&'static str]| {
            let run = &run;
            tokio::task::block_in_place(|| run(args))
        };
        let m = manifest.to_str().unwrap().to_owned();
        let (ok, out) = tokio::task::block_in_place(|| run(&["apply", "-f", &m]));
        assert!(ok && out.contains("configmap/app created"), "{out}");
        let (ok, out) = tokio::task::block_in_place(|| run(&["apply", "-f", &m]));
        assert!(ok && out.contains("configmap/app unchanged"), "{out}");
        let (ok, out) = tokio::task::block_in_place(|| run(&["apply", "--server-side", "-f", &m]));
        assert!(ok && out.contains("serverside-applied"), "{out}");
        let (ok, out) = tokio::task::block_in_place(|| run(&["apply", "--dry-run=server", "-f", &m]));
        assert!(ok && out.contains("server dry run"), "{out}");
        for (args, want) in [
            (&["get", "ns"][..], "demo"),
            (&["-n", "demo", "get", "cm", "app", "-o", "yaml"][..], "a: b"),
            (
                &["-n", "demo", "get", "configmaps", "-o", "json"][..],
                "\"items\"",
            ),
            (&["-n", "demo", "label", "cm", "app", "x=y"][..], "labeled"),
            (&["-n", "demo", "annotate", "cm", "app", "n=v"][..], "annotated"),
            (
                &[
                    "-n",
                    "demo",
                    "patch",
                    "cm",
                    "app",
                    "--type",
                    "merge",
                    "-p",
                    "{\"data\":{\"c\":\"d\"}}",
                ][..],
                "patched",
            ),
            (
                &["-n", "demo", "get", "cm", "app", "-o", "jsonpath={.data.c}"][..],
                "d",
            ),
            (&["-n", "demo", "describe", "cm", "app"][..], "Namespace:    demo"),
            (
                &[
                    "-n",
                    "demo",
                    "patch",
                    "cm",
                    "app",
                    "--type",
                    "json",
                    "-p",
                    "[{\"op\":\"add\",\"path\":\"/metadata/finalizers\",\"value\":[]}]",
                ][..],
                "patched",
            ),
            (
                &[
                    "-n",
                    "demo",
                    "create",
                    "deployment",
                    "web",
                    "--image=nginx",
                    "--dry-run=client",
                    "-o",
                    "yaml",
                ][..],
                "kind: Deployment",
            ),
            (
                &["-n", "demo", "delete", "cm", "app", "--dry-run=server"][..],
                "(server dry run)",
            ),
            (
                &["-n", "demo", "get", "cm", "app", "-o", "name"][..],
                "configmap/app",
            ),
            (&["-n", "demo", "delete", "cm", "app"][..], "deleted"),
            (&["delete", "ns", "demo"][..], "deleted"),
            // kubectl's generators send protobuf bodies.
            (&["create", "namespace", "made"][..], "namespace/made created"),
            (
                &["-n", "made", "create", "configmap", "lit", "--from-literal=k=v"][..],
                "configmap/lit created",
            ),
            (
                &["-n", "made", "get", "cm", "lit", "-o", "jsonpath={.data.k}"][..],
                "v",
            ),
            (
                &[
                    "-n",
                    "made",
                    "create",
                    "secret",
                    "generic",
                    "sec",
                    "--from-literal=p=q",
                ][..],
                "secret/sec created",
            ),
            (
                &[
                    "-n",
                    "made",
                    "get",
                    "secret",
                    "sec",
                    "-o",
                    "jsonpath={.data.p} {.type}",
                ][..],
                "cQ== Opaque",
            ),
            (
                &["-n", "made", "create", "serviceaccount", "robot"][..],
                "serviceaccount/robot created",
            ),
            // Every built-in kind decodes from protobuf: a pointer set to zero stays, omitempty zeros go.
            (
                &[
                    "-n",
                    "made",
                    "create",
                    "deployment",
                    "web",
                    "--image=nginx",
                    "--replicas=0",
                    "--port=80",
                ][..],
                "deployment.apps/web created",
            ),
            (
                &[
                    "-n",
                    "made",
                    "get",
                    "deploy",
                    "web",
                    "-o",
                    "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].ports[0].containerPort} {.spec.selector.matchLabels.app}",
                ][..],
                "0 80 web",
            ),
            (
                &[
                    "-n",
                    "made",
                    "create",
                    "job",
                    "once",
                    "--image=busybox",
                    "--",
                    "echo",
                    "hi",
                ][..],
                "job.batch/once created",
            ),
            (
                &[
                    "-n",
                    "made",
                    "get",
                    "job",
                    "once",
                    "-o",
                    "jsonpath={.spec.template.spec.containers[0].command}",
                ][..],
                "[\"echo\",\"hi\"]",
            ),
            (
                &[
                    "-n",
                    "made",
                    "create",
                    "service",
                    "clusterip",
                    "front",
                    "--tcp=80:8080",
                ][..],
                "service/front created",
            ),
            (
                &[
                    "-n",
                    "made",
                    "get",
                    "svc",
                    "front",
                    "-o",
                    "jsonpath={.spec.ports[0].targetPort}",
                ][..],
                "8080",
            ),
            (
                &[
                    "-n",
                    "made",
                    "create",
                    "role",
                    "reader",
                    "--verb=get,list",
                    "--resource=pods",
                ][..],
                "role.rbac.authorization.k8s.io/reader created",
            ),
            (
                &[
                    "-n",
                    "made",
                    "create",
                    "pdb",
                    "budget",
                    "--selector=app=web",
                    "--min-available=50%",
                ][..],
                "poddisruptionbudget.policy/budget created",
            ),
            (
                &[
                    "-n",
                    "made",
                    "get",
                    "pdb",
                    "budget",
                    "-o",
                    "jsonpath={.spec.minAvailable}",
                ][..],
                "50%",
            ),
            (
                &[
                    "-n",
                    "made",
                    "run",
                    "one",
                    "--image=nginx",
                    "--env=A=b",
                    "--labels=x=y",
                ][..],
                "pod/one created",
            ),
            (
                &["-n", "made", "create", "quota", "q", "--hard=cpu=1,pods=2"][..],
                "resourcequota/q created",
            ),
            (
                &[
                    "-n",
                    "made",
                    "get",
                    "quota",
                    "q",
                    "-o",
                    "jsonpath={.spec.hard.cpu}",
                ][..],
                "1",
            ),
            (&["delete", "ns", "made"][..], "deleted"),
            // explain reads the built-in schemas through OpenAPI v3.
            (
                &["explain", "deployment.spec.replicas"][..],
                "FIELD: replicas <integer>",
            ),
            (
                &["explain", "pods.spec.containers"][..],
                "FIELD: containers <[]Container>",
            ),
            (
                &["explain", "pods.spec.containers"][..],
                "name\t<string> -required-",
            ),
            (
                &[
                    "explain",
                    "cronjobs.spec.jobTemplate.spec.template.spec.volumes.emptyDir",
                ][..],
                "medium\t<string>",
            ),
        ] {
            let (ok, out) = k2(args);
            assert!(ok && out.contains(want), "kubectl {args:?}: {out}");
        }
        // kubectl wait sees a condition set through the status subresource (watch-list with bookmarks).
        let dep = dir.path().join("d.yaml");
        std::fs::write(&dep, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  selector:\n    matchLabels: {a: b}\n  template:\n    metadata:\n      labels: {a: b}\n    spec:\n      containers:\n      - name: c\n        image: nginx\n").unwrap();
        let d = dep.to_str().unwrap().to_owned();
        let (ok, out) = tokio::task::block_in_place(|| run(&["apply", "-f", &d]));
        assert!(ok, "{out}");
        let (ok, out) = k2(&[
            "patch",
            "deploy",
            "web",
            "--subresource=status",
            "--type=merge",
            "-p",
            "{\"status\":{\"conditions\":[{\"type\":\"Available\",\"status\":\"True\"}]}}",
        ]);
        assert!(ok, "{out}");
        let (ok, out) = k2(&["wait", "--for=condition=Available", "deploy/web", "--timeout=10s"]);
        assert!(ok && out.contains("condition met"), "{out}");
        // With the simulated controllers on, a new rollout completes by itself.
        s.simulate_workloads(true);
        let (ok, out) = k2(&["set", "image", "deploy/web", "c=nginx:2"]);
        assert!(ok, "{out}");
        let (ok, out) = k2(&["rollout", "status", "deploy/web", "--timeout=10s"]);
        assert!(ok && out.contains("successfully rolled out"), "{out}");
    }
}

#[tokio::test]
async fn custom_resource_definitions_serve_new_kinds() {
    let s = TestApiServer::start().await.unwrap();
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                 "versions": [
                    {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}, "subresources": {"status": {}}},
                    {"name": "v1beta1", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object"}}}
                 ]}
    });
    let (code, v) = req(
        &s,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        JSON,
        &crd.to_string(),
    )
    .await;
    assert_eq!(code, 201);
    let established = v["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Established" && c["status"] == "True");
    assert!(established);
    let (code, disc) = req(&s, "GET", "/apis/example.com/v1", JSON, "").await;
    assert_eq!(code, 200);
    assert!(
        disc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "widgets/status")
    );
    let w = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}});
    let (code, _) = req(
        &s,
        "POST",
        "/apis/example.com/v1/namespaces/default/widgets",
        JSON,
        &w.to_string(),
    )
    .await;
    assert_eq!(code, 201);
    // The same object through the other served version.
    let (code, v) = req(
        &s,
        "GET",
        "/apis/example.com/v1beta1/namespaces/default/widgets/w",
        JSON,
        "",
    )
    .await;
    assert_eq!(
        (code, v["apiVersion"].as_str()),
        (200, Some("example.com/v1beta1"))
    );
    // Deleting the definition removes the kind and its objects.
    req(
        &s,
        "DELETE",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
        JSON,
        "",
    )
    .await;
    let (code, _) = req(
        &s,
        "GET",
        "/apis/example.com/v1/namespaces/default/widgets/w",
        JSON,
        "",
    )
    .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn simulated_controllers_make_workloads_ready_or_fail() {
    let s = TestApiServer::start().await.unwrap();
    let dep = |name: &str, mode: Option<&str>| {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
        if let Some(m) = mode {
            d["metadata"]["annotations"] = json!({"testkit.gitops-rs.io/simulate": m});
        }
        d.to_string()
    };
    let url = "/apis/apps/v1/namespaces/default/deployments";
    // Off by default: nothing writes status.
    req(&s, "POST", url, JSON, &dep("off", None)).await;
    let (_, v) = req(&s, "GET", &format!("{url}/off"), JSON, "").await;
    assert!(v.get("status").is_none(), "{v}");

    s.simulate_workloads(true);
    req(&s, "POST", url, JSON, &dep("ok", None)).await;
    req(&s, "POST", url, JSON, &dep("bad", Some("fail"))).await;
    let cond = |v: &Value, ty: &str| {
        v["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == ty))
            .map(|c| {
                (
                    c["status"].as_str().unwrap().to_owned(),
                    c["reason"].as_str().unwrap().to_owned(),
                )
            })
    };
    let (_, v) = req(&s, "GET", &format!("{url}/ok"), JSON, "").await;
    assert_eq!(v["status"]["availableReplicas"], 2);
    assert_eq!(v["status"]["observedGeneration"], 1);
    assert_eq!(
        cond(&v, "Available"),
        Some(("True".into(), "MinimumReplicasAvailable".into()))
    );
    let (_, v) = req(&s, "GET", &format!("{url}/bad"), JSON, "").await;
    assert_eq!(
        cond(&v, "Progressing"),
        Some(("False".into(), "ProgressDeadlineExceeded".into()))
    );

    // A spec change bumps generation and the controller observes it.
    let (_, v) = req(
        &s,
        "PATCH",
        &format!("{url}/ok"),
        "application/merge-patch+json",
        r#"{"spec":{"replicas":3}}"#,
    )
    .await;
    assert_eq!(v["metadata"]["generation"], 2);
    let (_, v) = req(&s, "GET", &format!("{url}/ok"), JSON, "").await;
    assert_eq!(
        (
            v["status"]["observedGeneration"].as_i64(),
            v["status"]["readyReplicas"].as_i64()
        ),
        (Some(2), Some(3))
    );

    // Jobs complete or fail; kinds without a controller are left alone.
    let job = |name: &str, mode: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default",
            "annotations": {"testkit.gitops-rs.io/simulate": mode}},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}})
        .to_string()
    };
    let jobs = "/apis/batch/v1/namespaces/default/jobs";
    req(&s, "POST", jobs, JSON, &job("done", "ready")).await;
    req(&s, "POST", jobs, JSON, &job("broken", "fail")).await;
    let (_, v) = req(&s, "GET", &format!("{jobs}/done"), JSON, "").await;
    assert_eq!(
        cond(&v, "Complete"),
        Some(("True".into(), "CompletionsReached".into()))
    );
    let (_, v) = req(&s, "GET", &format!("{jobs}/broken"), JSON, "").await;
    assert_eq!(
        cond(&v, "Failed"),
        Some(("True".into(), "BackoffLimitExceeded".into()))
    );
    req(
        &s,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        JSON,
        &cm("c", "default"),
    )
    .await;
    let (_, v) = req(&s, "GET", "/api/v1/namespaces/default/configmaps/c", JSON, "").await;
    assert!(v.get("status").is_none());
}

/// A watcher that stops reading while thousands of events pass is cut off, never handed a stream with
/// events silently missing: what it does receive is every change in order, with no gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lagging_watch_ends_instead_of_skipping_events() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = std::sync::Arc::new(TestApiServer::start().await.unwrap());
    let (_, list) = req(&s, "GET", "/api/v1/namespaces/default/configmaps", JSON, "").await;
    let from = list["metadata"]["resourceVersion"].as_str().unwrap().to_owned();
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut watch = sock.connect(s.addr()).await.unwrap();
    let get = format!(
        "GET /api/v1/namespaces/default/configmaps?watch=true&resourceVersion={from}&timeoutSeconds=60 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    watch.write_all(get.as_bytes()).await.unwrap();
    // 8,000 changes of 2 KiB each: more than the socket buffers and the event channel hold.
    let total = 8000;
    let payload = "x".repeat(2048);
    let mut tasks = Vec::new();
    for w in 0..4 {
        let (s, payload) = (s.clone(), payload.clone());
        tasks.push(tokio::spawn(async move {
            for i in (w..total).step_by(4) {
                let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("c{i}"), "namespace": "default"}, "data": {"p": payload}});
                let (code, _) = req(
                    &s,
                    "POST",
                    "/api/v1/namespaces/default/configmaps",
                    JSON,
                    &body.to_string(),
                )
                .await;
                assert_eq!(code, 201);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut buf = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(30), watch.read_to_end(&mut buf))
        .await
        .expect("the lagging watch must end")
        .unwrap();
    let text = String::from_utf8_lossy(&buf);
    let body = dechunk(text.split_once("\r\n\r\n").unwrap().1);
    let rvs: Vec<u64> = body
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["object"]["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let first: u64 = from.parse::<u64>().unwrap() + 1;
    assert!(
        !rvs.is_empty() && rvs.len() < total,
        "the watch was expected to lag: {} events",
        rvs.len()
    );
    assert!(
        rvs.iter().enumerate().all(|(i, rv)| *rv == first + i as u64),
        "events missing from a watch: {} received, first {:?}, last {:?}",
        rvs.len(),
        rvs.first(),
        rvs.last()
    );
}

/// Names in the DELETED events after resourceVersion `from`, in order (a one-second watch).
async fn deleted_since(s: &TestApiServer, url: &str, from: &str) -> Vec<String> {
    let (_, w) = req(
        s,
        "GET",
        &format!("{url}?watch=true&resourceVersion={from}&timeoutSeconds=1"),
        JSON,
        "",
    )
    .await;
    w.as_str()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "DELETED")
        .map(|e| e["object"]["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn garbage_collection_follows_the_propagation_policy() {
    let s = TestApiServer::start().await.unwrap();
    let cms = "/api/v1/namespaces/default/configmaps";
    // owner -> child -> grandchild; `shared` is also owned by `other`.
    let make = |name: &str, owners: &[&Value]| {
        let refs: Vec<Value> = owners
            .iter()
            .map(|o| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": o["metadata"]["name"], "uid": o["metadata"]["uid"]}))
            .collect();
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default", "ownerReferences": refs}})
            .to_string()
    };
    let names = |list: &Value| {
        let mut n: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    let tree = |prefix: &'static str| {
        let s = &s;
        async move {
            let (_, owner) = req(s, "POST", cms, JSON, &make(&format!("{prefix}owner"), &[])).await;
            let (_, other) = req(s, "POST", cms, JSON, &make(&format!("{prefix}other"), &[])).await;
            let (_, child) = req(s, "POST", cms, JSON, &make(&format!("{prefix}child"), &[&owner])).await;
            req(
                s,
                "POST",
                cms,
                JSON,
                &make(&format!("{prefix}grandchild"), &[&child]),
            )
            .await;
            req(
                s,
                "POST",
                cms,
                JSON,
                &make(&format!("{prefix}shared"), &[&owner, &other]),
            )
            .await;
            owner
        }
    };

    // Dry run (DeleteOptions in the body, as kubectl sends them) and a failed precondition delete nothing.
    let owner = tree("b-").await;
    let (code, _) = req(
        &s,
        "DELETE",
        &format!("{cms}/b-owner"),
        JSON,
        r#"{"dryRun":["All"]}"#,
    )
    .await;
    assert_eq!(code, 200);
    let (code, v) = req(
        &s,
        "DELETE",
        &format!("{cms}/b-owner"),
        JSON,
        r#"{"preconditions":{"uid":"nope"}}"#,
    )
    .await;
    assert_eq!((code, v["reason"].as_str()), (409, Some("Conflict")), "{v}");
    let (_, list) = req(&s, "GET", cms, JSON, "").await;
    assert_eq!(names(&list).len(), 5);

    // Background (the default): the owner's subtree goes; `shared` keeps its other owner.
    let (_, list) = req(&s, "GET", cms, JSON, "").await;
    let from = list["metadata"]["resourceVersion"].as_str().unwrap().to_owned();
    let (code, _) = req(&s, "DELETE", &format!("{cms}/b-owner"), JSON, "").await;
    assert_eq!(code, 200);
    let (_, list) = req(&s, "GET", cms, JSON, "").await;
    assert_eq!(names(&list), ["b-other", "b-shared"]);
    let shared = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metadata"]["name"] == "b-shared")
        .unwrap();
    let refs = shared["metadata"]["ownerReferences"].as_array().unwrap();
    assert_eq!(refs.len(), 1);
    assert_ne!(refs[0]["uid"], owner["metadata"]["uid"]);
    let order = deleted_since(&s, cms, &from).await;
    assert_eq!(order.first().map(String::as_str), Some("b-owner"), "{order:?}");

    // Foreground: dependents are deleted before their owner.
    tree("f-").await;
    let (_, list) = req(&s, "GET", cms, JSON, "").await;
    let from = list["metadata"]["resourceVersion"].as_str().unwrap().to_owned();
    req(
        &s,
        "DELETE",
        &format!("{cms}/f-owner"),
        JSON,
        r#"{"propagationPolicy":"Foreground"}"#,
    )
    .await;
    let order = deleted_since(&s, cms, &from).await;
    assert_eq!(order.last().map(String::as_str), Some("f-owner"), "{order:?}");
    assert_eq!(order.len(), 3, "{order:?}");

    // Orphan: dependents stay, without the reference.
    tree("o-").await;
    req(
        &s,
        "DELETE",
        &format!("{cms}/o-owner?propagationPolicy=Orphan"),
        JSON,
        "",
    )
    .await;
    let (_, child) = req(&s, "GET", &format!("{cms}/o-child"), JSON, "").await;
    assert!(child["metadata"].get("ownerReferences").is_none(), "{child}");
    let (_, grandchild) = req(&s, "GET", &format!("{cms}/o-grandchild"), JSON, "").await;
    assert_eq!(
        grandchild["metadata"]["ownerReferences"].as_array().map(Vec::len),
        Some(1)
    );

    let (code, v) = req(
        &s,
        "DELETE",
        &format!("{cms}/o-other?propagationPolicy=Sideways"),
        JSON,
        "",
    )
    .await;
    assert_eq!((code, v["reason"].as_str()), (422, Some("Invalid")), "{v}");
}

#[tokio::test]
async fn custom_resources_are_pruned_defaulted_and_validated() {
    let s = TestApiServer::start().await.unwrap();
    let schema = json!({"type": "object", "properties": {
        "spec": {"type": "object", "required": ["url"], "properties": {
            "url": {"type": "string"},
            "interval": {"type": "string", "default": "1m"},
            "provider": {"type": "string", "enum": ["generic", "aws"]}}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "repos.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "repos", "singular": "repo", "kind": "Repo", "listKind": "RepoList"},
                 "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": schema}}]}
    });
    let (code, _) = req(
        &s,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        JSON,
        &crd.to_string(),
    )
    .await;
    assert_eq!(code, 201);
    let url = "/apis/example.com/v1/namespaces/default/repos";
    let repo = |spec: Value| {
        json!({"apiVersion": "example.com/v1", "kind": "Repo", "metadata": {"name": "r"}, "spec": spec, "junk": 1}).to_string()
    };
    let (code, v) = req(&s, "POST", url, JSON, &repo(json!({"provider": "gcp"}))).await;
    assert_eq!((code, v["reason"].as_str()), (422, Some("Invalid")), "{v}");
    let msg = v["message"].as_str().unwrap();
    assert!(msg.starts_with("Repo.example.com \"r\" is invalid: ["), "{msg}");
    assert!(
        msg.contains("spec.url: Required value") && msg.contains("spec.provider: Unsupported value: \"gcp\""),
        "{msg}"
    );
    assert_eq!(v["details"]["causes"].as_array().map(Vec::len), Some(2), "{v}");

    let (code, v) = req(
        &s,
        "POST",
        url,
        JSON,
        &repo(json!({"url": "https://x", "unknown": true})),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["spec"], json!({"url": "https://x", "interval": "1m"}));
    assert!(v.get("junk").is_none());
    // Updates go through the schema too.
    let (code, v) = req(
        &s,
        "PATCH",
        &format!("{url}/r"),
        "application/merge-patch+json",
        r#"{"spec":{"url":7}}"#,
    )
    .await;
    assert_eq!(code, 422, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("spec.url in body must be of type string"),
        "{v}"
    );
}

#[tokio::test]
async fn aggregated_discovery_lists_every_resource_in_one_response() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestApiServer::start().await.unwrap();
    let get = |path: &'static str| {
        let addr = s.addr();
        async move {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            let r = format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAccept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json\r\n\r\n"
            );
            c.write_all(r.as_bytes()).await.unwrap();
            let mut buf = Vec::new();
            c.read_to_end(&mut buf).await.unwrap();
            let text = String::from_utf8_lossy(&buf).into_owned();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
                dechunk(body)
            } else {
                body.to_owned()
            };
            (head.to_owned(), serde_json::from_str::<Value>(&body).unwrap())
        }
    };
    let (head, apis) = get("/apis").await;
    assert!(
        head.contains("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"),
        "{head}"
    );
    assert_eq!(apis["kind"], "APIGroupDiscoveryList");
    let apps = apis["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "apps")
        .unwrap();
    let deploy = apps["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "deployments")
        .unwrap();
    assert_eq!(deploy["responseKind"]["kind"], "Deployment");
    assert_eq!(deploy["scope"], "Namespaced");
    assert_eq!(deploy["subresources"][0]["subresource"], "status");
    let (_, core) = get("/api").await;
    assert_eq!(core["items"][0]["metadata"]["name"], "");
    assert!(
        core["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resource"] == "configmaps")
    );
}

#[tokio::test]
async fn openapi_documents_carry_built_in_and_custom_schemas() {
    let s = TestApiServer::start().await.unwrap();
    let (code, v3) = req(&s, "GET", "/openapi/v3/apis/apps/v1", "", "").await;
    assert_eq!(code, 200);
    let schemas = &v3["components"]["schemas"];
    assert_eq!(
        schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"][0]["kind"],
        "Deployment"
    );
    assert_eq!(
        schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["template"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.PodTemplateSpec"
    );
    // Every reference resolves inside the document.
    let text = v3.to_string();
    for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap();
        assert!(schemas.get(name).is_some(), "dangling reference {name}");
    }

    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object"}}}}}]}
    });
    let (code, _) = req(
        &s,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        "application/json",
        &crd.to_string(),
    )
    .await;
    assert_eq!(code, 201);
    let (_, v3) = req(&s, "GET", "/openapi/v3/apis/example.com/v1", "", "").await;
    let widget = &v3["components"]["schemas"]["com.example.v1.Widget"];
    assert_eq!(
        widget["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert!(v3["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].is_object());

    let (code, v2) = req(&s, "GET", "/openapi/v2", "", "").await;
    assert_eq!(code, 200);
    assert_eq!(v2["swagger"], "2.0");
    let defs = &v2["definitions"];
    assert_eq!(
        defs["io.k8s.api.core.v1.Pod"]["properties"]["spec"]["$ref"],
        "#/definitions/io.k8s.api.core.v1.PodSpec"
    );
    assert_eq!(
        defs["com.example.v1.Widget"]["properties"]["metadata"]["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
}

#[tokio::test]
async fn workloads_are_defaulted_as_by_the_api_server() {
    let s = TestApiServer::start().await.unwrap();
    let deploy = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
            "containers": [
                {"name": "c", "image": "nginx", "livenessProbe": {"httpGet": {"path": "/", "port": 80}}},
                {"name": "d", "image": "registry:5000/app:1.2"}
            ],
            "volumes": [{"name": "s", "secret": {"secretName": "x"}}]}}}
    });
    let (code, v) = req(
        &s,
        "POST",
        "/apis/apps/v1/namespaces/default/deployments",
        "application/json",
        &deploy.to_string(),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    let spec = &v["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(pod["schedulerName"], "default-scheduler");
    assert_eq!(pod["securityContext"], json!({}));
    assert_eq!(pod["containers"][0]["imagePullPolicy"], "Always");
    assert_eq!(pod["containers"][1]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(
        pod["containers"][0]["terminationMessagePath"],
        "/dev/termination-log"
    );
    assert_eq!(pod["containers"][0]["livenessProbe"]["failureThreshold"], 3);
    assert_eq!(pod["volumes"][0]["secret"]["defaultMode"], 420);
    assert!(
        pod.get("enableServiceLinks").is_none(),
        "only Pods get enableServiceLinks"
    );

    // Values given are kept, and a Recreate strategy gets no rolling update parameters.
    let mut recreate = deploy.clone();
    recreate["metadata"]["name"] = json!("other");
    recreate["spec"]["replicas"] = json!(0);
    recreate["spec"]["strategy"] = json!({"type": "Recreate"});
    let (_, v) = req(
        &s,
        "POST",
        "/apis/apps/v1/namespaces/default/deployments",
        "application/json",
        &recreate.to_string(),
    )
    .await;
    assert_eq!(v["spec"]["replicas"], 0);
    assert_eq!(v["spec"]["strategy"], json!({"type": "Recreate"}));

    // An update strategy given without its type is a rolling update, parameters filled in.
    let ds = json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "updateStrategy": {"rollingUpdate": {"maxUnavailable": 2}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}
    });
    let (code, v) = req(
        &s,
        "POST",
        "/apis/apps/v1/namespaces/default/daemonsets",
        "application/json",
        &ds.to_string(),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(
        v["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2, "maxSurge": 0}})
    );

    let job = json!({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj", "namespace": "default"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox:1"}]}}}}}
    });
    let (code, v) = req(
        &s,
        "POST",
        "/apis/batch/v1/namespaces/default/cronjobs",
        "application/json",
        &job.to_string(),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["spec"]["concurrencyPolicy"], "Allow");
    assert_eq!(v["spec"]["successfulJobsHistoryLimit"], 3);
    let js = &v["spec"]["jobTemplate"]["spec"];
    assert_eq!(
        (
            js["completions"].clone(),
            js["parallelism"].clone(),
            js["backoffLimit"].clone()
        ),
        (json!(1), json!(1), json!(6))
    );
    assert_eq!(js["template"]["spec"]["restartPolicy"], "OnFailure");
}
