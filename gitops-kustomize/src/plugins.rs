//! Built-in transformer plugins configured through `transformers:` (no external plugins).

use std::path::{Path, PathBuf};

use gitops_core::yaml;
use serde_json::{Map, Value};

use crate::{
    Error, Result,
    build::{Acc, Builder},
    fieldspec::Spec,
    kustomization::{FieldSpec, Kustomization, Patch},
};

fn specs(cfg: &Value) -> Result<Vec<Spec>> {
    match cfg.get("fieldSpecs") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => {
            let fs: Vec<FieldSpec> =
                serde_json::from_value(v.clone()).map_err(|e| Error::build(format!("fieldSpecs: {e}")))?;
            Ok(fs.iter().map(Spec::from_config).collect())
        }
    }
}

/// The plugin configurations of a `generators:`/`transformers:` entry: inline YAML, a file, or a
/// kustomization directory whose resources are the configurations.
pub(crate) fn load_configs(
    b: &mut Builder,
    dir: &Path,
    file: &Path,
    entry: &str,
) -> Result<Vec<(Value, PathBuf)>> {
    Ok(if entry.contains('\n') {
        yaml::from_str_multi(entry, &yaml::Limits::default())
            .map_err(|e| Error::Invalid {
                file: file.to_owned(),
                message: e.to_string(),
            })?
            .into_iter()
            .map(|v| (v, file.to_owned()))
            .collect()
    } else {
        let p = crate::build::clean(&dir.join(entry));
        if b.is_dir(&p) {
            let sub = b.build_dir(&p)?;
            sub.resources
                .into_iter()
                .map(|r| {
                    let origin = r
                        .origin
                        .as_ref()
                        .and_then(|o| o.get("path"))
                        .and_then(Value::as_str)
                        .map_or_else(|| p.clone(), PathBuf::from);
                    (r.obj, origin)
                })
                .collect()
        } else {
            let text = b.read_file(dir, entry)?;
            yaml::from_str_multi(&text, &yaml::Limits::default())
                .map_err(|e| Error::Invalid {
                    file: p.clone(),
                    message: e.to_string(),
                })?
                .into_iter()
                .map(|v| (v, p.clone()))
                .collect()
        }
    })
}

/// Runs one `transformers:` entry.
pub(crate) fn run_transformer(
    b: &mut Builder,
    dir: &Path,
    file: &Path,
    entry: &str,
    acc: &mut Acc,
) -> Result<()> {
    for (cfg, origin) in load_configs(b, dir, file, entry)? {
        b.quiet += 1;
        let r = apply_one(b, dir, file, &cfg, acc);
        b.quiet -= 1;
        r?;
        b.mark_plugin(acc, &origin, &cfg);
    }
    Ok(())
}

/// Applies one built-in transformer configuration.
fn apply_one(b: &mut Builder, dir: &Path, file: &Path, cfg: &Value, acc: &mut Acc) -> Result<()> {
    let kind = cfg
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let av = cfg.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    if av != "builtin" && !av.is_empty() {
        return Err(Error::build(format!(
            "{}: plugin {av}/{kind} is not a built-in transformer; external plugins are not supported",
            file.display()
        )));
    }
    let mut k = Kustomization::default();
    let get_str = |key: &str| cfg.get(key).and_then(Value::as_str).map(str::to_owned);
    let get_map = |key: &str| -> std::collections::BTreeMap<String, String> {
        cfg.get(key)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), crate::fieldpath::scalar_text(v)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut extra = specs(cfg)?;
    match kind.as_str() {
        "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
            let prefix = get_str("prefix").unwrap_or_default();
            let suffix = get_str("suffix").unwrap_or_default();
            for r in acc.resources.iter_mut() {
                if matches!(r.orig.kind.as_str(), "CustomResourceDefinition" | "Namespace") {
                    return Ok(());
                }
                let specs = if extra.is_empty() {
                    vec![Spec::new("", "", "", "metadata/name", false)]
                } else {
                    extra.clone()
                };
                for s in specs.iter().filter(|s| s.matches(r)).collect::<Vec<_>>() {
                    if s.path == ["metadata", "name"] {
                        let n = format!("{prefix}{}{suffix}", r.name());
                        r.set_name(&n);
                    } else {
                        s.visit(&mut r.obj, &mut |v| {
                            if let Value::String(x) = v {
                                *x = format!("{prefix}{x}{suffix}");
                            }
                        });
                    }
                }
            }
            return Ok(());
        }
        "LabelTransformer" | "AnnotationsTransformer" => {
            let key = if kind == "LabelTransformer" {
                "labels"
            } else {
                "annotations"
            };
            let entries: Map<String, Value> = get_map(key)
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            crate::transformers::set_entries(&mut acc.resources, &entries, &extra);
            return Ok(());
        }
        "NamespaceTransformer" => {
            let ns = cfg
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            extra.retain(|s| s.path != ["metadata", "namespace"]);
            crate::transformers::namespace(&mut acc.resources, &ns, &extra)?;
            return Ok(());
        }
        "ImageTagTransformer" => {
            let img = cfg.get("imageTag").cloned().unwrap_or(Value::Null);
            k.images = vec![
                serde_json::from_value(img).map_err(|e| Error::build(format!("ImageTagTransformer: {e}")))?,
            ];
        }
        "ReplicaCountTransformer" => {
            let rep = cfg.get("replica").cloned().unwrap_or(Value::Null);
            k.replicas = vec![
                serde_json::from_value(rep)
                    .map_err(|e| Error::build(format!("ReplicaCountTransformer: {e}")))?,
            ];
        }
        "PatchTransformer" | "PatchJson6902Transformer" => {
            let p = Patch {
                path: get_str("path"),
                patch: get_str("patch").or_else(|| get_str("jsonOp")),
                target: cfg
                    .get("target")
                    .map(|t| serde_json::from_value(t.clone()))
                    .transpose()
                    .map_err(|e| Error::build(format!("{kind}: {e}")))?,
                options: None,
            };
            crate::build::patch_targets(acc, b, dir, &p, kind == "PatchJson6902Transformer")?;
            return Ok(());
        }
        "PatchStrategicMergeTransformer" => {
            if let Some(Value::Array(paths)) = cfg.get("paths") {
                k.patches_strategic_merge = paths
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect();
            }
            if let Some(p) = get_str("patches") {
                k.patches_strategic_merge.push(p);
            }
        }
        "ReplacementTransformer" => {
            if let Some(Value::Array(r)) = cfg.get("replacements") {
                k.replacements.clone_from(r);
            }
        }
        other => {
            return Err(Error::build(format!(
                "{}: unsupported transformer kind {other:?}",
                file.display()
            )));
        }
    }
    if !extra.is_empty() {
        acc.config.images.extend(extra.iter().cloned());
        acc.config.replicas.extend(extra);
    }
    crate::transformers::run(b, dir, file, &k, acc)?;
    Ok(())
}
