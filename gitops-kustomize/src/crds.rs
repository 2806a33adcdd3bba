//! `crds:` files: OpenAPI definitions (`{"<type name>": {"Schema": ...}}`, JSON or YAML) whose
//! `x-kubernetes-*` extensions say which fields of custom resources hold names, labels or annotations.

use gitops_core::yaml;
use serde_json::Value;

use crate::{build::Config, fieldspec::Spec};

fn walk(
    defs: &serde_json::Map<String, Value>,
    type_name: &str,
    kind: &str,
    path: &mut Vec<String>,
    cfg: &mut Config,
    depth: usize,
) {
    if depth > 32 {
        return;
    }
    let Some(props) = defs
        .get(type_name)
        .and_then(|d| d.pointer("/Schema/properties"))
        .and_then(Value::as_object)
    else {
        return;
    };
    for (prop, p) in props {
        path.push(prop.clone());
        let joined = path.join("/");
        if p.get("x-kubernetes-annotation").is_some() {
            cfg.common_annotations
                .push(Spec::new("", "", kind, &joined, false));
        }
        if p.get("x-kubernetes-label-selector").is_some() {
            cfg.common_labels.push(Spec::new("", "", kind, &joined, false));
        }
        if p.get("x-kubernetes-identity").is_some() {
            cfg.name_prefix.push(Spec::new("", "", kind, &joined, false));
        }
        if let (Some(version), Some(ref_kind)) = (
            p.get("x-kubernetes-object-ref-api-version")
                .and_then(Value::as_str),
            p.get("x-kubernetes-object-ref-kind").and_then(Value::as_str),
        ) {
            let key = p
                .get("x-kubernetes-object-ref-name-key")
                .and_then(Value::as_str)
                .unwrap_or("name");
            let spec = Spec::new("", "", kind, &format!("{joined}/{key}"), false);
            cfg.name_reference
                .push((String::new(), version.to_owned(), ref_kind.to_owned(), vec![spec]));
        }
        if let Some(r) = p.get("$ref").and_then(Value::as_str) {
            walk(defs, r, kind, path, cfg, depth + 1);
        }
        path.pop();
    }
}

/// Transformer configuration derived from a `crds:` file.
pub(crate) fn config_from_crds(text: &str) -> Result<Config, String> {
    let doc: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    } else {
        yaml::from_str(text).map_err(|e| e.to_string())?
    };
    let mut cfg = Config::default();
    let Some(defs) = doc.as_object() else {
        return Ok(cfg);
    };
    for (name, def) in defs {
        let Some(props) = def.pointer("/Schema/properties").and_then(Value::as_object) else {
            continue;
        };
        if !(props.contains_key("kind") && props.contains_key("apiVersion") && props.contains_key("metadata"))
        {
            continue;
        }
        let kind = name.rsplit('.').next().unwrap_or(name);
        walk(defs, name, kind, &mut Vec::new(), &mut cfg, 0);
    }
    Ok(cfg)
}
