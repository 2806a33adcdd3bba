//! SsaApplier against the embedded API server: apply, drift, ownership, annotations, stages, health,
//! prune and diff, as Flux's kustomize-controller relies on them.

#![allow(missing_docs)]

use std::time::Duration;

use gitops_apply::{Config, Inventory, SsaApplier, Status, WaitError};
use gitops_core::{Action, ApplyOptions, ChangeSet, ObjectId};
use gitops_testkit::TestApiServer;
use kube::{
    Api, Client,
    api::{DynamicObject, Patch, PatchParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::{Value, json};

async fn client(server: &TestApiServer) -> Client {
    let kc = kube::config::Kubeconfig::from_yaml(&server.kubeconfig()).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    Client::try_from(cfg).unwrap()
}

async fn setup() -> (TestApiServer, Client, SsaApplier) {
    let server = TestApiServer::start().await.unwrap();
    let client = client(&server).await;
    let config = Config::default()
        .poll_interval(Duration::from_millis(50))
        .stage_timeout(Duration::from_secs(10))
        .owner_label("apply.gitops-rs.io/name", "test")
        .default_namespace("default");
    let applier = SsaApplier::with_config(client.clone(), config);
    (server, client, applier)
}

fn opts() -> ApplyOptions {
    ApplyOptions::new("gitops-apply")
}

fn cm(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": data})
}

fn actions(cs: &ChangeSet) -> Vec<String> {
    cs.changes
        .iter()
        .map(|c| format!("{} {}", gitops_apply::display(&c.id), c.action))
        .collect()
}

fn failures(cs: &ChangeSet) -> Vec<String> {
    cs.failed.iter().map(|(_, e)| e.to_string()).collect()
}

async fn get(client: &Client, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
    let (g, v) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(g, v, kind));
    let api: Api<DynamicObject> = if ns.is_empty() {
        Api::all_with(client.clone(), &ar)
    } else {
        Api::namespaced_with(client.clone(), ns, &ar)
    };
    api.get_opt(name)
        .await
        .unwrap()
        .map(|o| serde_json::to_value(o).unwrap())
}

async fn cm_data(client: &Client, name: &str) -> Option<Value> {
    get(client, "v1", "ConfigMap", "default", name)
        .await
        .map(|o| o["data"].clone())
}

#[tokio::test]
async fn apply_reapply_and_prune_what_left_the_set() {
    let (server, client, applier) = setup().await;
    let set = vec![cm("a", json!({"k": "1"})), cm("b", json!({"k": "2"}))];
    let (cs, inv) = applier
        .sync(&set, &Inventory::default(), true, &opts())
        .await
        .unwrap();
    assert_eq!(
        actions(&cs),
        ["ConfigMap/default/a created", "ConfigMap/default/b created"]
    );
    assert_eq!(
        serde_json::to_value(&inv).unwrap(),
        json!({"entries": [{"id": "default_a__ConfigMap", "v": "v1"}, {"id": "default_b__ConfigMap", "v": "v1"}]})
    );
    let rv =
        get(&client, "v1", "ConfigMap", "default", "a").await.unwrap()["metadata"]["resourceVersion"].clone();

    // Unchanged: nothing written, not even a request that could write.
    let before = server.request_counts();
    let (cs, inv) = applier.sync(&set, &inv, true, &opts()).await.unwrap();
    let after = server.request_counts();
    assert_eq!(after.writes, before.writes, "{before:?} -> {after:?}");
    assert_eq!(after.dry_runs - before.dry_runs, 2);
    assert_eq!(
        actions(&cs),
        ["ConfigMap/default/a unchanged", "ConfigMap/default/b unchanged"]
    );
    let again = get(&client, "v1", "ConfigMap", "default", "a").await.unwrap();
    assert_eq!(again["metadata"]["resourceVersion"], rv);
    assert_eq!(again["metadata"]["labels"]["apply.gitops-rs.io/name"], "test");

    // b left the set: pruned; a changed: configured.
    let (cs, inv) = applier
        .sync(&[cm("a", json!({"k": "9"}))], &inv, true, &opts())
        .await
        .unwrap();
    assert_eq!(
        actions(&cs),
        ["ConfigMap/default/a configured", "ConfigMap/default/b deleted"]
    );
    assert_eq!(cm_data(&client, "b").await, None);
    assert_eq!(cm_data(&client, "a").await, Some(json!({"k": "9"})));
    assert_eq!(inv.entries.len(), 1);
}

#[tokio::test]
async fn prune_spares_what_it_did_not_apply_and_what_opts_out() {
    let (_s, client, applier) = setup().await;
    let mut keep = cm("keep", json!({}));
    keep["metadata"]["annotations"] = json!({"kustomize.toolkit.fluxcd.io/prune": "disabled"});
    let (_, inv) = applier
        .sync(&[keep, cm("go", json!({}))], &Inventory::default(), true, &opts())
        .await
        .unwrap();
    // An object someone else made, named in a (tampered) inventory: never deleted.
    let other: Api<DynamicObject> = Api::default_namespaced_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap")),
    );
    other
        .patch(
            "foreign",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(cm("foreign", json!({}))),
        )
        .await
        .unwrap();
    let mut tampered = inv.clone();
    tampered.insert(&"default_foreign__ConfigMap".parse::<ObjectId>().unwrap(), "v1");
    let (cs, _) = applier.sync(&[], &tampered, true, &opts()).await.unwrap();
    let mut got = actions(&cs);
    got.sort();
    assert_eq!(
        got,
        [
            "ConfigMap/default/foreign skipped",
            "ConfigMap/default/go deleted",
            "ConfigMap/default/keep skipped"
        ]
    );
    assert!(cm_data(&client, "foreign").await.is_some());
    assert!(cm_data(&client, "keep").await.is_some());
}

#[tokio::test]
async fn ssa_annotations_decide_how_objects_are_applied() {
    let (_s, client, applier) = setup().await;
    let with = |name: &str, policy: &str, data: Value| {
        let mut o = cm(name, data);
        o["metadata"]["annotations"] = json!({"kustomize.toolkit.fluxcd.io/ssa": policy});
        o
    };
    applier
        .apply_all_staged(
            &[
                with("once", "IfNotPresent", json!({"v": "1"})),
                with("merged", "Merge", json!({"v": "1"})),
            ],
            &opts(),
        )
        .await
        .unwrap();
    // Someone adds a key with kubectl to both.
    for name in ["once", "merged"] {
        let api: Api<DynamicObject> = Api::default_namespaced_with(
            client.clone(),
            &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap")),
        );
        api.patch(
            name,
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"extra": "x"}})),
        )
        .await
        .unwrap();
    }
    let cs = applier
        .apply_all_staged(
            &[
                with("once", "IfNotPresent", json!({"v": "2"})),
                with("merged", "Merge", json!({"v": "2"})),
                with("ignored", "Ignore", json!({"v": "1"})),
            ],
            &opts(),
        )
        .await
        .unwrap();
    assert!(cs.is_ok(), "{:?}", failures(&cs));
    let mut got = actions(&cs);
    got.sort();
    assert_eq!(
        got,
        [
            "ConfigMap/default/ignored skipped",
            "ConfigMap/default/merged configured",
            "ConfigMap/default/once skipped"
        ]
    );
    assert_eq!(
        cm_data(&client, "once").await,
        Some(json!({"v": "1", "extra": "x"}))
    );
    assert_eq!(
        cm_data(&client, "merged").await,
        Some(json!({"v": "2", "extra": "x"}))
    );
    assert_eq!(cm_data(&client, "ignored").await, None);
}

#[tokio::test]
async fn manual_edits_and_other_managers_are_overridden() {
    let (server, client, applier) = setup().await;
    let dir = tempdir();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig()).unwrap();
    applier
        .apply_all_staged(&[cm("app", json!({"a": "1"}))], &opts())
        .await
        .unwrap();
    let api: Api<DynamicObject> = Api::default_namespaced_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap")),
    );
    // Another server-side applier takes a field over with force; a kubectl edit adds a key.
    api.patch(
        "app",
        &PatchParams::apply("other").force(),
        &Patch::Apply(cm("app", json!({"a": "other"}))),
    )
    .await
    .unwrap();
    api.patch(
        "app",
        &PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"data": {"added": "by hand"}})),
    )
    .await
    .unwrap();
    let cs = applier
        .apply_all_staged(&[cm("app", json!({"a": "1"}))], &opts())
        .await
        .unwrap();
    assert_eq!(actions(&cs), ["ConfigMap/default/app configured"]);
    // Ours again, and the hand-made key (owned by kubectl-edit, taken over) is gone.
    assert_eq!(cm_data(&client, "app").await, Some(json!({"a": "1"})));
    let live = get(&client, "v1", "ConfigMap", "default", "app").await.unwrap();
    let managers: Vec<&str> = live["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert!(managers.contains(&"gitops-apply"), "{managers:?}");
    assert!(!managers.iter().any(|m| m.starts_with("kubectl")), "{managers:?}");
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "gitops-apply-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn a_crd_and_its_custom_resources_in_one_set() {
    let (_s, client, applier) = setup().await;
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}});
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "shop"}, "spec": {"size": 3}});
    // Deliberately out of order: the custom resource first.
    let (cs, inv) = applier
        .sync(&[widget, crd, ns], &Inventory::default(), true, &opts())
        .await
        .unwrap();
    assert!(cs.is_ok(), "{:?}", failures(&cs));
    assert_eq!(
        actions(&cs),
        [
            "CustomResourceDefinition/widgets.example.com created",
            "Namespace/shop created",
            "Widget/shop/w created"
        ]
    );
    assert_eq!(
        get(&client, "example.com/v1", "Widget", "shop", "w")
            .await
            .unwrap()["spec"]["size"],
        3
    );
    // Everything leaves: the widget goes before its CRD, objects before their namespace.
    let (cs, inv) = applier.sync(&[], &inv, true, &opts()).await.unwrap();
    assert!(cs.is_ok(), "{:?}", failures(&cs));
    assert_eq!(
        actions(&cs),
        [
            "Widget/shop/w deleted",
            "Namespace/shop deleted",
            "CustomResourceDefinition/widgets.example.com deleted"
        ]
    );
    assert!(inv.is_empty());
}

#[tokio::test]
async fn a_failing_deployment_is_reported_with_its_reason() {
    let (server, _client, applier) = setup().await;
    server.simulate_workloads(true);
    let deploy = |name: &str, simulate: Option<&str>| {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
        if let Some(s) = simulate {
            d["metadata"]["annotations"] = json!({"testkit.gitops-rs.io/simulate": s});
        }
        d
    };
    let cs = applier
        .apply_all_staged(&[deploy("good", None), deploy("bad", Some("fail"))], &opts())
        .await
        .unwrap();
    assert!(cs.is_ok());
    let good: Vec<(ObjectId, String)> = vec![("default_good_apps_Deployment".parse().unwrap(), "v1".into())];
    applier.wait(&good, Duration::from_secs(10)).await.unwrap();
    let both: Vec<(ObjectId, String)> = vec![
        ("default_good_apps_Deployment".parse().unwrap(), "v1".into()),
        ("default_bad_apps_Deployment".parse().unwrap(), "v1".into()),
    ];
    match applier.wait(&both, Duration::from_secs(10)).await {
        Err(WaitError::Failed { object, message }) => {
            assert_eq!(object, "Deployment/default/bad");
            assert!(!message.is_empty());
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    // A pending one times out, naming it and its status.
    applier
        .apply_all_staged(&[deploy("slow", Some("pending"))], &opts())
        .await
        .unwrap();
    let slow: Vec<(ObjectId, String)> = vec![("default_slow_apps_Deployment".parse().unwrap(), "v1".into())];
    match applier.wait(&slow, Duration::from_millis(300)).await {
        Err(WaitError::Timeout { pending }) => {
            assert_eq!(pending[0].0, "Deployment/default/slow");
            assert_eq!(pending[0].1.status, Status::InProgress);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn diff_masks_secrets_and_changes_nothing() {
    let (_s, client, applier) = setup().await;
    let secret = |pw: &str| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "default"}, "stringData": {"password": pw}});
    applier
        .apply_all_staged(&[secret("hunter2"), cm("c", json!({"a": "1"}))], &opts())
        .await
        .unwrap();
    let (diffs, failed) = applier
        .diff(
            &[secret("s3cr3t"), cm("c", json!({"a": "1"})), cm("new", json!({}))],
            &opts(),
        )
        .await
        .unwrap();
    assert!(failed.is_empty());
    let by = |name: &str| diffs.iter().find(|d| d.id.name == name).unwrap();
    assert_eq!(by("c").action, Action::Unchanged);
    assert_eq!(by("new").action, Action::Created);
    let d = by("db");
    assert_eq!(d.action, Action::Configured);
    let text = d.diff.as_deref().unwrap();
    assert!(!text.contains("hunter2") && !text.contains("s3cr3t"), "{text}");
    assert!(
        !text.contains("aHVudGVyMg") && !text.contains("czNjcjN0"),
        "{text}"
    );
    assert!(text.contains("***"), "{text}");
    assert!(cm_data(&client, "new").await.is_none());
}

#[tokio::test]
async fn a_failed_apply_prunes_nothing_and_bad_objects_are_named() {
    let (_s, client, applier) = setup().await;
    let (_, inv) = applier
        .sync(
            &[cm("old", json!({})), cm("kept", json!({}))],
            &Inventory::default(),
            true,
            &opts(),
        )
        .await
        .unwrap();
    let no_name = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "default"}});
    let unknown = json!({"apiVersion": "example.com/v9", "kind": "Gizmo", "metadata": {"name": "g", "namespace": "default"}});
    let invalid = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_Valid", "namespace": "default"}});
    let (cs, inv2) = applier
        .sync(
            &[
                cm("kept", json!({})),
                cm("fresh", json!({})),
                no_name,
                unknown,
                invalid,
            ],
            &inv,
            true,
            &opts(),
        )
        .await
        .unwrap();
    let errs = failures(&cs);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs.iter().any(|e| e.contains("metadata.name is required")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("Gizmo/default/g: no matches for kind \"Gizmo\"")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.starts_with("ConfigMap/default/Not_Valid:")),
        "{errs:?}"
    );
    // What could be applied was; nothing was pruned; the inventory keeps the old entries.
    assert!(cm_data(&client, "fresh").await.is_some());
    assert!(cm_data(&client, "old").await.is_some());
    let ids: Vec<&str> = inv2.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "default_fresh__ConfigMap",
            "default_kept__ConfigMap",
            "default_old__ConfigMap"
        ]
    );
}

#[tokio::test]
async fn immutable_changes_fail_unless_forced_then_recreate() {
    let (_s, client, applier) = setup().await;
    let frozen = |v: &str| {
        let mut c = cm("frozen", json!({"v": v}));
        c["immutable"] = json!(true);
        c
    };
    applier.apply_all_staged(&[frozen("1")], &opts()).await.unwrap();
    let uid = get(&client, "v1", "ConfigMap", "default", "frozen")
        .await
        .unwrap()["metadata"]["uid"]
        .clone();
    let cs = applier.apply_all_staged(&[frozen("2")], &opts()).await.unwrap();
    let errs = failures(&cs);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("ConfigMap/default/frozen:") && errs[0].contains("immutable"),
        "{errs:?}"
    );
    assert_eq!(cm_data(&client, "frozen").await, Some(json!({"v": "1"})));

    // The force annotation (or ApplyOptions::force) recreates it.
    let mut forced = frozen("2");
    forced["metadata"]["annotations"] = json!({"kustomize.toolkit.fluxcd.io/force": "Enabled"});
    let cs = applier.apply_all_staged(&[forced], &opts()).await.unwrap();
    assert!(cs.is_ok(), "{:?}", failures(&cs));
    assert_eq!(actions(&cs), ["ConfigMap/default/frozen created"]);
    let live = get(&client, "v1", "ConfigMap", "default", "frozen")
        .await
        .unwrap();
    assert_eq!(live["data"], json!({"v": "2"}));
    assert_ne!(live["metadata"]["uid"], uid);
}

#[tokio::test]
async fn many_objects_of_a_kind_are_read_with_one_list() {
    let (server, client, applier) = setup().await;
    let set: Vec<Value> = (0..6)
        .map(|i| cm(&format!("cm-{i}"), json!({"i": i.to_string()})))
        .collect();
    let cs = applier.apply_all_staged(&set, &opts()).await.unwrap();
    assert!(cs.changes.iter().all(|c| c.action == Action::Created));
    let before = server.request_counts();
    let cs = applier.apply_all_staged(&set, &opts()).await.unwrap();
    let used = server.request_counts().since(before);
    assert!(cs.changes.iter().all(|c| c.action == Action::Unchanged));
    assert_eq!((used.reads, used.writes, used.dry_runs), (1, 0, 6));
    // A drifted one among them is still found.
    let api: Api<DynamicObject> = Api::default_namespaced_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap")),
    );
    api.patch(
        "cm-3",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"i": "changed"}})),
    )
    .await
    .unwrap();
    let cs = applier.apply_all_staged(&set, &opts()).await.unwrap();
    let configured: Vec<String> = actions(&cs)
        .into_iter()
        .filter(|a| !a.ends_with("unchanged"))
        .collect();
    assert_eq!(configured, ["ConfigMap/default/cm-3 configured"]);
    assert_eq!(cm_data(&client, "cm-3").await, Some(json!({"i": "3"})));
}

#[tokio::test]
async fn flux_v1_markers_and_kubectl_records_are_cleaned_up() {
    let (_s, client, applier) = setup().await;
    let api: Api<DynamicObject> = Api::default_namespaced_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap")),
    );
    let mut legacy = cm("legacy", json!({"a": "1"}));
    legacy["metadata"]["annotations"] = json!({
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "kustomize.toolkit.fluxcd.io/checksum": "abc",
        "keep": "me"
    });
    legacy["metadata"]["labels"] = json!({"fluxcd.io/sync-gc-mark": "sha256.x"});
    api.create(&Default::default(), &serde_json::from_value(legacy).unwrap())
        .await
        .unwrap();
    let cs = applier
        .apply_all_staged(&[cm("legacy", json!({"a": "1"}))], &opts())
        .await
        .unwrap();
    assert!(cs.is_ok(), "{:?}", failures(&cs));
    let live = get(&client, "v1", "ConfigMap", "default", "legacy")
        .await
        .unwrap();
    assert_eq!(live["metadata"]["annotations"], json!({"keep": "me"}));
    assert!(
        live["metadata"]["labels"].get("fluxcd.io/sync-gc-mark").is_none(),
        "{live}"
    );
}
