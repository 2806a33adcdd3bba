//! `HelmBuilder` as a `gitops_core::Builder`: charts inside an artifact root render to objects; paths
//! that leave the root are refused.

use std::path::Path;
use std::sync::Arc;

use gitops_core::{BuildError, BuildRequest, Builder};
use gitops_helm::HelmBuilder;

fn write(root: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

#[tokio::test]
async fn renders_charts_to_objects_with_values() {
    let root = tempfile::tempdir().unwrap();
    write(
        root.path(),
        &[
            (
                "charts/app/Chart.yaml",
                "apiVersion: v2\nname: app\nversion: 1.0.0\n",
            ),
            ("charts/app/values.yaml", "replicas: 1\nimage: nginx\n"),
            (
                "charts/app/templates/deploy.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n  namespace: {{ .Release.Namespace }}\nspec:\n  replicas: {{ .Values.replicas }}\n  template:\n    spec:\n      containers:\n      - name: app\n        image: {{ .Values.image }}\n",
            ),
            (
                "charts/app/templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\ndata:\n  a: {{ .Values.image | quote }}\n",
            ),
            (
                "charts/app/crds/crd.yaml",
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: things.example.com\n",
            ),
        ],
    );
    let values: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(r#"{"replicas": 3}"#).unwrap();
    let b: Arc<dyn Builder> = Arc::new(HelmBuilder::new("web", "prod").values(values));
    let out = b
        .build(&BuildRequest::new(root.path(), Path::new("charts/app")))
        .await
        .unwrap();
    let kinds: Vec<(&str, &str)> = out
        .objects
        .iter()
        .map(|o| {
            (
                o.types.as_ref().unwrap().kind.as_str(),
                o.metadata.name.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("CustomResourceDefinition", "things.example.com"),
            ("ConfigMap", "web-cfg"),
            ("Deployment", "web")
        ]
    );
    assert_eq!(out.objects[2].data["spec"]["replicas"], 3);
    assert_eq!(out.objects[2].metadata.namespace.as_deref(), Some("prod"));
}

#[tokio::test]
async fn paths_outside_the_root_and_bad_charts_fail() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    write(
        outside.path(),
        &[("Chart.yaml", "apiVersion: v2\nname: x\nversion: 1.0.0\n")],
    );
    std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
    let b = HelmBuilder::new("r", "default");
    for p in ["../x", "link"] {
        let e = b
            .build(&BuildRequest::new(root.path(), Path::new(p)))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                BuildError::PathEscapesRoot { .. } | BuildError::InvalidFile { .. }
            ),
            "{p}: {e}"
        );
    }
    write(
        root.path(),
        &[
            ("bad/Chart.yaml", "apiVersion: v2\nname: bad\nversion: 1.0.0\n"),
            ("bad/templates/a.yaml", "{{ required \"need x\" .Values.x }}\n"),
        ],
    );
    let e = b
        .build(&BuildRequest::new(root.path(), Path::new("bad")))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("need x"), "{e}");
    assert!(!e.is_transient());
}
