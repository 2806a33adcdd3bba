//! The fidelity scenarios, driven through the reference kubectl, against the embedded server by default or
//! against a real cluster when `GITOPS_FIDELITY_KUBECONFIG` names a kubeconfig. Every step waits the way a
//! client of a real API server must (garbage collection and namespace deletion are asynchronous there), so
//! the same assertions hold on both.

#![allow(missing_docs)]

mod common;

use std::{path::PathBuf, process::Command};

use common::reference_kubectl;
use gitops_testkit::TestApiServer;
use serde_json::Value;

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    dir: PathBuf,
}

impl Kubectl {
    /// Runs kubectl; returns success and stdout+stderr.
    fn run(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(&self.bin)
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out) = self.run(args);
        assert!(ok, "kubectl {args:?} failed: {out}");
        out
    }

    /// `kubectl apply -f` of `yaml` (extra args after), returning the output.
    fn apply(&self, yaml: &str, extra: &[&str]) -> (bool, String) {
        let f = self.dir.join("manifest.yaml");
        std::fs::write(&f, yaml).unwrap();
        let mut args = vec!["apply", "-f", f.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }
}

fn cm(ns: &str, name: &str, body: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n{body}")
}

#[tokio::test(flavor = "multi_thread")]
async fn scenarios_hold_on_the_embedded_server_and_on_a_real_cluster() {
    let Some(bin) = reference_kubectl() else {
        eprintln!("skipping: reference kubectl is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_server, kubeconfig) = match std::env::var_os("GITOPS_FIDELITY_KUBECONFIG") {
        Some(p) => (None, PathBuf::from(p)),
        None => {
            let s = TestApiServer::start().await.unwrap();
            let p = dir.path().join("kubeconfig");
            std::fs::write(&p, s.kubeconfig()).unwrap();
            (Some(s), p)
        }
    };
    let k = Kubectl {
        bin,
        kubeconfig,
        dir: dir.path().to_owned(),
    };
    tokio::task::block_in_place(|| scenarios(&k));
}

fn scenarios(k: &Kubectl) {
    let suffix = format!("{:x}", std::process::id());
    let ns = format!("fidelity-{suffix}");
    let ns = ns.as_str();
    k.apply(
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
        &[],
    );

    // Apply, then re-apply unchanged: no change and no new resourceVersion.
    let (ok, out) = k.apply(&cm(ns, "app", "data:\n  a: \"1\"\n  b: \"2\"\n"), &[]);
    assert!(ok && out.contains("configmap/app created"), "{out}");
    let rv1 = k.json(&["-n", ns, "get", "cm", "app"])["metadata"]["resourceVersion"].clone();
    let (ok, out) = k.apply(&cm(ns, "app", "data:\n  a: \"1\"\n  b: \"2\"\n"), &[]);
    assert!(ok && out.contains("configmap/app unchanged"), "{out}");
    let rv2 = k.json(&["-n", ns, "get", "cm", "app"])["metadata"]["resourceVersion"].clone();
    assert_eq!(rv1, rv2, "an unchanged apply must not write");

    // Dry run changes nothing.
    let (ok, out) = k.apply(&cm(ns, "app", "data:\n  a: \"9\"\n"), &["--dry-run=server"]);
    assert!(ok && out.contains("server dry run"), "{out}");
    assert_eq!(k.json(&["-n", ns, "get", "cm", "app"])["data"]["a"], "1");

    // Client-side apply removes a field dropped from the manifest (three-way merge on last-applied).
    let (ok, out) = k.apply(&cm(ns, "app", "data:\n  a: \"1\"\n"), &[]);
    assert!(ok && out.contains("configured"), "{out}");
    let data = k.json(&["-n", ns, "get", "cm", "app"])["data"].clone();
    assert_eq!(data, serde_json::json!({"a": "1"}));

    // Server-side apply of a new object, and of a change to it.
    let (ok, out) = k.apply(
        &cm(ns, "ssa", "data:\n  k: v\n"),
        &["--server-side", "--field-manager=fidelity"],
    );
    assert!(ok && out.contains("serverside-applied"), "{out}");
    let (ok, out) = k.apply(
        &cm(ns, "ssa", "data:\n  k: w\n"),
        &["--server-side", "--field-manager=fidelity"],
    );
    assert!(ok, "{out}");
    assert_eq!(k.json(&["-n", ns, "get", "cm", "ssa"])["data"]["k"], "w");

    // Re-applying unchanged on the server side writes nothing.
    let rv1 = k.json(&["-n", ns, "get", "cm", "ssa"])["metadata"]["resourceVersion"].clone();
    let (ok, out) = k.apply(
        &cm(ns, "ssa", "data:\n  k: w\n"),
        &["--server-side", "--field-manager=fidelity"],
    );
    assert!(ok, "{out}");
    let after = k.json(&["-n", ns, "get", "cm", "ssa", "--show-managed-fields"]);
    assert_eq!(
        after["metadata"]["resourceVersion"], rv1,
        "an unchanged server-side apply must not write"
    );
    let entry = &after["metadata"]["managedFields"][0];
    assert_eq!(entry["manager"], "fidelity");
    assert_eq!(entry["operation"], "Apply");
    assert_eq!(entry["fieldsV1"], serde_json::json!({"f:data": {"f:k": {}}}));

    // A second manager changing a field the first owns conflicts, naming the manager and the field.
    let (ok, out) = k.apply(
        &cm(ns, "ssa", "data:\n  k: x\n"),
        &["--server-side", "--field-manager=intruder"],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("conflict with \"fidelity\"") && out.contains(".data.k"),
        "{out}"
    );
    // With force it takes the field over.
    let (ok, out) = k.apply(
        &cm(ns, "ssa", "data:\n  k: x\n"),
        &["--server-side", "--field-manager=intruder", "--force-conflicts"],
    );
    assert!(ok, "{out}");
    let after = k.json(&["-n", ns, "get", "cm", "ssa", "--show-managed-fields"]);
    assert_eq!(after["data"]["k"], "x");
    let managers: Vec<&str> = after["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["intruder"], "{after}");

    // A field its only owner stops applying is removed; one still owned by another manager stays.
    let (ok, out) = k.apply(
        &cm(ns, "ssa", "data:\n  k: x\n  mine: \"1\"\n  shared: \"1\"\n"),
        &["--server-side", "--field-manager=intruder"],
    );
    assert!(ok, "{out}");
    let (ok, out) = k.apply(
        &cm(ns, "ssa", "data:\n  shared: \"1\"\n"),
        &["--server-side", "--field-manager=fidelity"],
    );
    assert!(ok, "{out}");
    let (ok, out) = k.apply(
        &cm(ns, "ssa", "data:\n  k: x\n"),
        &["--server-side", "--field-manager=intruder"],
    );
    assert!(ok, "{out}");
    let data = k.json(&["-n", ns, "get", "cm", "ssa"])["data"].clone();
    assert_eq!(data, serde_json::json!({"k": "x", "shared": "1"}));

    // An object made by client-side apply can be taken over by server-side apply (kubectl migrates the
    // managed fields), after which the server-side manifest alone decides.
    let (ok, out) = k.apply(&cm(ns, "moved", "data:\n  a: \"1\"\n  b: \"2\"\n"), &[]);
    assert!(ok, "{out}");
    let (ok, out) = k.apply(
        &cm(ns, "moved", "data:\n  a: \"1\"\n"),
        &["--server-side", "--field-manager=kubectl"],
    );
    assert!(ok, "{out}");
    let data = k.json(&["-n", ns, "get", "cm", "moved"])["data"].clone();
    assert_eq!(data, serde_json::json!({"a": "1"}));

    // A Secret's stringData is folded into data, base64-encoded.
    let (ok, out) = k.apply(
        &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: {ns}\nstringData:\n  password: hunter2\n"),
        &["--server-side", "--field-manager=fidelity"],
    );
    assert!(ok, "{out}");
    let secret = k.json(&["-n", ns, "get", "secret", "creds"]);
    assert_eq!(secret["data"], serde_json::json!({"password": "aHVudGVyMg=="}));
    assert!(secret.get("stringData").is_none(), "{secret}");

    // A Service gets the API's defaults and keeps its cluster IP; a Deployment's port without a protocol
    // is keyed with TCP, so server-side applying it twice does not duplicate it.
    let svc = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80}}]\n"
    );
    let (ok, out) = k.apply(&svc, &["--server-side", "--field-manager=fidelity"]);
    assert!(ok, "{out}");
    let s1 = k.json(&["-n", ns, "get", "svc", "web"]);
    assert_eq!(s1["spec"]["type"], "ClusterIP", "{s1}");
    assert_eq!(s1["spec"]["ports"][0]["protocol"], "TCP", "{s1}");
    assert_eq!(s1["spec"]["ports"][0]["targetPort"], 80, "{s1}");
    let ip = s1["spec"]["clusterIP"].as_str().unwrap_or_default().to_owned();
    assert!(!ip.is_empty() && ip != "None", "{s1}");
    let (ok, out) = k.apply(&svc, &["--server-side", "--field-manager=fidelity"]);
    assert!(ok, "{out}");
    assert_eq!(
        k.json(&["-n", ns, "get", "svc", "web"])["spec"]["clusterIP"],
        ip.as_str()
    );
    let deploy = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: web, image: nginx, ports: [{{containerPort: 80}}]}}]\n"
    );
    for _ in 0..2 {
        let (ok, out) = k.apply(&deploy, &["--server-side", "--field-manager=fidelity"]);
        assert!(ok, "{out}");
    }
    let ports =
        k.json(&["-n", ns, "get", "deploy", "web"])["spec"]["template"]["spec"]["containers"][0]["ports"]
            .clone();
    assert_eq!(
        ports,
        serde_json::json!([{"containerPort": 80, "protocol": "TCP"}])
    );

    // An immutable ConfigMap's data cannot change.
    let (ok, out) = k.apply(&cm(ns, "frozen", "immutable: true\ndata:\n  v: \"1\"\n"), &[]);
    assert!(ok, "{out}");
    let (ok, out) = k.apply(&cm(ns, "frozen", "immutable: true\ndata:\n  v: \"2\"\n"), &[]);
    assert!(!ok && out.contains("field is immutable"), "{out}");

    // A CRD, then a custom resource of it: unknown fields pruned, defaults applied, bad values refused.
    let group = format!("f{suffix}.fidelity.gitops-rs.io");
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec:\n            type: object\n            required: [size]\n            x-kubernetes-validations:\n            - {{rule: \"self.size <= 10\", message: \"size must be at most 10\"}}\n            - {{rule: \"self.size >= oldSelf.size\", message: \"size may not shrink\"}}\n            properties:\n              size: {{type: integer, minimum: 1}}\n              color: {{type: string, default: blue}}\n"
    );
    let (ok, out) = k.apply(&crd, &[]);
    assert!(ok, "{out}");
    k.ok(&[
        "wait",
        "--for=condition=Established",
        &format!("crd/gadgets.{group}"),
        "--timeout=60s",
    ]);
    let gadget = |spec: &str| {
        format!(
            "apiVersion: {group}/v1\nkind: Gadget\nmetadata:\n  name: g\n  namespace: {ns}\nspec:\n{spec}"
        )
    };
    let (ok, out) = k.apply(&gadget("  size: 2\n  extra: x\n"), &["--validate=false"]);
    assert!(ok && out.contains("created"), "{out}");
    let spec = k.json(&["-n", ns, "get", &format!("gadgets.{group}"), "g"])["spec"].clone();
    assert_eq!(spec, serde_json::json!({"size": 2, "color": "blue"}));
    let (ok, out) = k.apply(&gadget("  size: 0\n"), &["--validate=false"]);
    assert!(!ok && out.contains("spec.size"), "{out}");
    // kubectl explain reads the CRD's schema through OpenAPI v3.
    let explained = k.ok(&["explain", &format!("gadgets.{group}.spec.size")]);
    assert!(explained.contains("FIELD: size <integer>"), "{explained}");

    // CEL rules of the schema hold too.
    let (ok, out) = k.apply(&gadget("  size: 11\n"), &["--validate=false"]);
    assert!(!ok && out.contains("size must be at most 10"), "{out}");
    // Transition rules compare with the stored object.
    let (ok, out) = k.apply(&gadget("  size: 1\n"), &["--validate=false"]);
    assert!(!ok && out.contains("size may not shrink"), "{out}");
    let (ok, out) = k.apply(&gadget("  size: 3\n"), &["--validate=false"]);
    assert!(ok, "{out}");

    // Finalizers hold an object until they are removed.
    k.apply(
        &cm(
            ns,
            "held",
            "  finalizers: [fidelity.gitops-rs.io/hold]\ndata: {}\n",
        ),
        &[],
    );
    k.ok(&["-n", ns, "delete", "cm", "held", "--wait=false"]);
    let held = k.json(&["-n", ns, "get", "cm", "held"]);
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");
    k.ok(&[
        "-n",
        ns,
        "patch",
        "cm",
        "held",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    k.ok(&["-n", ns, "wait", "--for=delete", "cm/held", "--timeout=60s"]);

    // Garbage collection: a dependent goes with its owner.
    k.apply(&cm(ns, "owner", "data: {}\n"), &[]);
    let uid = k.json(&["-n", ns, "get", "cm", "owner"])["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let dependent = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dependent\n  namespace: {ns}\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: owner, uid: {uid}}}\n"
    );
    k.apply(&dependent, &[]);
    k.ok(&["-n", ns, "delete", "cm", "owner"]);
    k.ok(&["-n", ns, "wait", "--for=delete", "cm/dependent", "--timeout=120s"]);

    // Watch resume: changes after a resourceVersion are replayed.
    let rv = k.json(&["-n", ns, "get", "cm"])["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    k.apply(&cm(ns, "later", "data: {}\n"), &[]);
    let events = k.ok(&[
        "get",
        "--raw",
        &format!("/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=2"),
    ]);
    assert!(
        events
            .lines()
            .any(|l| l.contains("\"ADDED\"") && l.contains("\"name\":\"later\"")),
        "{events}"
    );

    // Deleting the namespace deletes what is in it.
    k.ok(&["delete", "ns", ns, "--wait=false"]);
    k.ok(&["wait", "--for=delete", &format!("ns/{ns}"), "--timeout=180s"]);
    let (ok, out) = k.run(&["-n", ns, "get", "cm", "app"]);
    assert!(!ok && out.contains("NotFound"), "{out}");
    k.ok(&["delete", "crd", &format!("gadgets.{group}")]);
}
