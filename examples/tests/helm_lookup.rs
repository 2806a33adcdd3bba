//! `gitops helm template --dry-run=server` reads the cluster as `helm template --dry-run=server` does:
//! `lookup` of one object, a missing one and a list, and `.Capabilities` from the server's version and
//! discovery. Both CLIs run side by side against the embedded API server; skips without the reference
//! helm v4.1.4.

#![allow(missing_docs)]

mod support;

use support::reference_helm;

use std::process::Command;

use gitops_testkit::TestApiServer;

const TEMPLATE: &str = r#"{{- $cm := lookup "v1" "ConfigMap" .Release.Namespace "settings" }}
{{- $missing := lookup "v1" "Secret" .Release.Namespace "nope" }}
{{- $nss := lookup "v1" "Namespace" "" "" }}
{{- $deploy := lookup "apps/v1" "Deployment" .Release.Namespace "web" }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: looked-up
data:
  color: {{ $cm.data.color | default "none" | quote }}
  missing: {{ len $missing | quote }}
  namespaces: {{ range $nss.items }}{{ .metadata.name }},{{ end }}
  listKind: {{ $nss.kind | quote }}
  replicas: {{ printf "%v %T" $deploy.spec.replicas $deploy.spec.replicas | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  minor: {{ .Capabilities.KubeVersion.Minor | quote }}
  hasApps: {{ .Capabilities.APIVersions.Has "apps/v1/Deployment" | quote }}
  hasNot: {{ .Capabilities.APIVersions.Has "example.com/v1" | quote }}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn lookup_and_capabilities_read_the_cluster_as_helm_does() {
    let Some(helm) = reference_helm() else {
        eprintln!("skipping: reference helm v4.1.4 is not installed");
        return;
    };
    let server = TestApiServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, server.kubeconfig()).unwrap();
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::from_yaml(&server.kubeconfig()).unwrap(),
            &Default::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let pp = kube::api::PostParams::default();
    let cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "settings"}, "data": {"color": "blue"}}))
    .unwrap();
    kube::Api::namespaced(client.clone(), "default")
        .create(&pp, &cm)
        .await
        .unwrap();
    let deploy: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}))
    .unwrap();
    kube::Api::namespaced(client.clone(), "default")
        .create(&pp, &deploy)
        .await
        .unwrap();

    let chart = support::chart(dir.path(), &[("cm.yaml", TEMPLATE)]);
    let home = dir.path().join("helm-home");
    let (want, got) = tokio::task::block_in_place(|| {
        let want = support::helm(&helm, &home)
            .args(["template", "r", "--dry-run=server", "--kubeconfig"])
            .arg(&kc)
            .arg(&chart)
            .output()
            .unwrap();
        let got = Command::new(env!("CARGO_BIN_EXE_gitops"))
            .args(["helm", "template", "r", "--dry-run=server", "--kubeconfig"])
            .arg(&kc)
            .arg(&chart)
            .output()
            .unwrap();
        (want, got)
    });
    assert!(want.status.success(), "{}", String::from_utf8_lossy(&want.stderr));
    let got_text = String::from_utf8_lossy(&got.stdout);
    assert_eq!(
        got_text,
        String::from_utf8_lossy(&want.stdout),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    for want in [
        "color: \"blue\"",
        "missing: \"0\"",
        "listKind: \"NamespaceList\"",
        "replicas: \"3 int64\"",
        "hasApps: \"true\"",
    ] {
        assert!(got_text.contains(want), "{want} not in\n{got_text}");
    }
}
