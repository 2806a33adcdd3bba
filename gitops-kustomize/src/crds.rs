//! `crds:` files: CustomResourceDefinitions whose schemas say which fields refer to other objects.

use gitops_core::yaml;
use serde_json::Value;

use crate::{build::Config, fieldspec::Spec};

fn walk(schema: &Value, path: &mut Vec<String>, group: &str, kind: &str, cfg: &mut Config) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (k, v) in props {
        path.push(k.clone());
        if let (Some(ref_kind), _) = (v.get("x-kubernetes-object-ref-kind").and_then(Value::as_str), ()) {
            let ref_av = v
                .get("x-kubernetes-object-ref-api-version")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let (rg, _) = crate::resource::split_api_version(ref_av);
            let mut p = path.clone();
            p.push("name".into());
            cfg.name_reference.push((
                rg.to_owned(),
                String::new(),
                ref_kind.to_owned(),
                vec![Spec::new(group, "", kind, &p.join("/"), false)],
            ));
        }
        walk(v, path, group, kind, cfg);
        path.pop();
    }
}

/// Name-reference configuration derived from CRD documents (OpenAPI `definitions` or CRD objects).
pub(crate) fn config_from_crds(text: &str) -> Result<Config, String> {
    let mut cfg = Config::default();
    for doc in yaml::from_str_multi(text, &yaml::Limits::default()).map_err(|e| e.to_string())? {
        if let Some(defs) = doc.get("definitions").and_then(Value::as_object) {
            for (name, schema) in defs {
                let kind = name.rsplit('.').next().unwrap_or(name);
                walk(schema, &mut Vec::new(), "", kind, &mut cfg);
            }
        }
    }
    Ok(cfg)
}
