//! Custom OpenAPI schemas (`openapi: {path: ...}`): strategic merge list strategies for custom resources.

use gitops_core::yaml;
use serde_json::Value;

use crate::k8s_tables::DEFINITION_STRATEGIES;

/// `(group, kind, [(list path, merge key, strategy)])` read from a schema's definitions.
pub(crate) type Strategies = Vec<(String, String, Vec<(String, String, String)>)>;

fn resolve<'a>(defs: &'a serde_json::Map<String, Value>, s: &'a Value) -> &'a Value {
    let mut cur = s;
    for _ in 0..32 {
        match cur.get("$ref").and_then(Value::as_str) {
            Some(r) => match defs.get(r.trim_start_matches("#/definitions/")) {
                Some(d) => cur = d,
                None => return cur,
            },
            None => return cur,
        }
    }
    cur
}

fn walk(
    defs: &serde_json::Map<String, Value>,
    s: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<(String, String, String)>,
    depth: usize,
) {
    if depth > 24 {
        return;
    }
    // A reference to a type the custom schema does not define resolves against the built-in Kubernetes
    // schema, as kustomize merges the two.
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/definitions/");
        if !defs.contains_key(name) {
            if let Some((_, list)) = DEFINITION_STRATEGIES.iter().find(|(n, _)| *n == name) {
                let prefix = path.join("/");
                for (p, k, st) in list.iter() {
                    let full = if prefix.is_empty() {
                        (*p).to_owned()
                    } else {
                        format!("{prefix}/{p}")
                    };
                    out.push((full, (*k).to_owned(), (*st).to_owned()));
                }
            }
            return;
        }
    }
    let s = resolve(defs, s);
    let Some(props) = s.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (field, p) in props {
        path.push(field.clone());
        let strategy = p
            .get("x-kubernetes-patch-strategy")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let key = p
            .get("x-kubernetes-patch-merge-key")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let r = resolve(defs, p);
        if r.get("type").and_then(Value::as_str) == Some("array") {
            if !strategy.is_empty() {
                let key = if strategy.contains("merge") { key } else { "" };
                out.push((path.join("/"), key.to_owned(), strategy.to_owned()));
            }
            if let Some(items) = r.get("items") {
                walk(defs, items, path, out, depth + 1);
            }
        } else {
            walk(defs, p, path, out, depth + 1);
        }
        path.pop();
    }
}

/// Reads a Swagger/OpenAPI document (JSON or YAML) with `definitions`.
pub(crate) fn load(text: &str) -> Result<Strategies, String> {
    let doc: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    } else {
        yaml::from_str(text).map_err(|e| e.to_string())?
    };
    let Some(defs) = doc.get("definitions").and_then(Value::as_object) else {
        return Err("the schema has no definitions".into());
    };
    let mut out = Strategies::new();
    for def in defs.values() {
        let Some(gvks) = def
            .get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array)
        else {
            continue;
        };
        let mut list = Vec::new();
        walk(defs, def, &mut Vec::new(), &mut list, 0);
        for g in gvks {
            let s = |k: &str| g.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            out.push((s("group"), s("kind"), list.clone()));
        }
    }
    Ok(out)
}
