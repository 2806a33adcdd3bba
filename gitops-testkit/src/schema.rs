//! Structural schemas of CustomResourceDefinitions, applied to custom resources as the API server does on
//! every write: unknown fields are pruned, defaults filled in, then types, `required`, `enum`, lengths and
//! bounds and `pattern`s are validated, and the CEL rules of `x-kubernetes-validations` evaluated with
//! `self` bound to the node and, on updates, `oldSelf` to its stored value (transition rules; list items
//! correlate with their old versions by key in `map` lists and by value in `set` lists, as in the API
//! server, and map values by key; items of atomic lists have no old version). A rule that does not compile or cannot be evaluated here (a missing
//! function, a missing field without `has()`) is let through: the embedded server rather accepts an object
//! than refuses it wrongly.

use serde_json::{Map, Value};

/// One validation failure: the field path (`spec.url`), the cause reason and the message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Cause {
    pub(crate) field: String,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
}

/// Prunes, defaults and validates `obj` (a whole custom resource) against `schema` (`openAPIV3Schema`).
/// `apiVersion`, `kind` and `metadata` at the root are never pruned. `old` is the stored object on an
/// update: CEL transition rules (`oldSelf`) are evaluated where the field existed before.
pub(crate) fn apply(schema: &Value, obj: &mut Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    if let Value::Object(m) = obj {
        let kept: Vec<(String, Value)> = ["apiVersion", "kind", "metadata"]
            .iter()
            .filter_map(|k| m.remove(*k).map(|v| ((*k).to_owned(), v)))
            .collect();
        walk(schema, obj, old, "", &mut causes);
        if let Value::Object(m) = obj {
            m.extend(kept);
        }
    }
    causes
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// The old item a list item is the new version of, as the API server correlates them for transition
/// rules: in a `map` list the one with the same key fields, in a `set` list an equal one; items of atomic
/// lists have none.
fn correlated<'a>(schema: &Value, old: &'a [Value], item: &Value) -> Option<&'a Value> {
    match schema["x-kubernetes-list-type"].as_str() {
        Some("map") => {
            let keys: Vec<&str> = schema["x-kubernetes-list-map-keys"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if keys.is_empty() {
                return None;
            }
            old.iter().find(|o| keys.iter().all(|k| o.get(k) == item.get(k)))
        }
        Some("set") => old.iter().find(|o| *o == item),
        _ => None,
    }
}

fn walk(schema: &Value, v: &mut Value, old: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
    if schema["x-kubernetes-int-or-string"] == true {
        if !matches!(type_name(v), "integer" | "string") {
            causes.push(Cause {
                field: path.to_owned(),
                reason: "FieldValueInvalid",
                message: format!(
                    "Invalid value: \"{}\": {path} in body must be of type integer,string: \"{}\"",
                    type_name(v),
                    type_name(v)
                ),
            });
        }
        return;
    }
    let want = schema["type"].as_str().unwrap_or_default();
    let have = type_name(v);
    let type_ok = match want {
        "" => true,
        "number" => matches!(have, "integer" | "number"),
        w => w == have,
    };
    if !type_ok {
        causes.push(Cause {
            field: path.to_owned(),
            reason: "FieldValueInvalid",
            message: format!("Invalid value: \"{have}\": {path} in body must be of type {want}: \"{have}\""),
        });
        return;
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(v)
    {
        let list: Vec<String> = options.iter().map(show).collect();
        causes.push(Cause {
            field: path.to_owned(),
            reason: "FieldValueNotSupported",
            message: format!(
                "Unsupported value: {}: supported values: {}",
                show(v),
                list.join(", ")
            ),
        });
    }
    let before = causes.len();
    walk_value(schema, v, old, path, preserve, causes);
    if causes.len() == before {
        cel_rules(schema, v, old, path, causes);
    }
}

/// Compiled CEL programs by rule text; rules come from a handful of CRDs.
static PROGRAMS: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, Option<std::sync::Arc<cel::Program>>>>,
> = std::sync::LazyLock::new(Default::default);

fn program(rule: &str) -> Option<std::sync::Arc<cel::Program>> {
    let mut cache = PROGRAMS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    cache
        .entry(rule.to_owned())
        .or_insert_with(|| cel::Program::compile(rule).ok().map(std::sync::Arc::new))
        .clone()
}

/// Evaluates the node's `x-kubernetes-validations` with `self` bound to `v` and, for transition rules,
/// `oldSelf` to its previous value (they are skipped when there is none).
fn cel_rules(schema: &Value, v: &Value, old: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let Some(rules) = schema["x-kubernetes-validations"].as_array() else {
        return;
    };
    let mut ctx = None;
    for r in rules {
        let Some(rule) = r["rule"].as_str() else { continue };
        if rule.contains("oldSelf") && old.is_none() {
            continue;
        }
        let Some(prog) = program(rule) else { continue };
        let ctx = ctx.get_or_insert_with(|| {
            let mut c = cel::Context::default();
            if let Ok(this) = cel::to_value(&*v) {
                let _ = c.add_variable("self", this);
            }
            if let Some(Ok(before)) = old.map(cel::to_value) {
                let _ = c.add_variable("oldSelf", before);
            }
            c
        });
        if !matches!(prog.execute(ctx), Ok(cel::Value::Bool(false))) {
            continue;
        }
        let message = r["message"]
            .as_str()
            .map_or_else(|| format!("failed rule: {rule}"), str::to_owned);
        let field = match r["fieldPath"].as_str() {
            Some(fp) => format!("{path}{fp}"),
            None => path.to_owned(),
        };
        causes.push(Cause {
            field,
            reason: match r["reason"].as_str() {
                Some("FieldValueForbidden") => "FieldValueForbidden",
                Some("FieldValueRequired") => "FieldValueRequired",
                Some("FieldValueDuplicate") => "FieldValueDuplicate",
                _ => "FieldValueInvalid",
            },
            message: format!("Invalid value: \"{}\": {message}", type_name(v)),
        });
    }
}

fn walk_value(
    schema: &Value,
    v: &mut Value,
    old: Option<&Value>,
    path: &str,
    preserve: bool,
    causes: &mut Vec<Cause>,
) {
    match v {
        Value::Object(m) => object(schema, m, old, path, preserve, causes),
        Value::Array(items) => {
            if let Some(max) = schema["maxItems"].as_u64()
                && items.len() as u64 > max
            {
                causes.push(Cause {
                    field: path.to_owned(),
                    reason: "FieldValueTooMany",
                    message: format!("Too many: {}: must have at most {max} items", items.len()),
                });
            }
            if let Some(item_schema) = schema.get("items") {
                let old_items = old.and_then(Value::as_array);
                for (i, item) in items.iter_mut().enumerate() {
                    let before = old_items.and_then(|o| correlated(schema, o, item));
                    walk(item_schema, item, before, &format!("{path}[{i}]"), causes);
                }
            }
        }
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(max) = schema["maxLength"].as_u64()
                && len > max
            {
                causes.push(Cause {
                    field: path.to_owned(),
                    reason: "FieldValueTooLong",
                    message: format!("Too long: may not be more than {max} bytes"),
                });
            }
            // Go's regexp (RE2) and the regex crate share their syntax; a pattern neither accepts is skipped.
            if let Some(p) = schema["pattern"].as_str()
                && let Ok(re) = regex::Regex::new(p)
                && !re.is_match(s)
            {
                causes.push(Cause {
                    field: path.to_owned(),
                    reason: "FieldValueInvalid",
                    message: format!("Invalid value: {s:?}: {path} in body should match '{p}'"),
                });
            }
            if let Some(min) = schema["minLength"].as_u64()
                && len < min
            {
                causes.push(Cause {
                    field: path.to_owned(),
                    reason: "FieldValueInvalid",
                    message: format!(
                        "Invalid value: {s:?}: {path} in body should be at least {min} chars long"
                    ),
                });
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or_default();
            if let Some(min) = schema["minimum"].as_f64()
                && x < min
            {
                causes.push(Cause {
                    field: path.to_owned(),
                    reason: "FieldValueInvalid",
                    message: format!(
                        "Invalid value: {n}: {path} in body should be greater than or equal to {min}"
                    ),
                });
            }
            if let Some(max) = schema["maximum"].as_f64()
                && x > max
            {
                causes.push(Cause {
                    field: path.to_owned(),
                    reason: "FieldValueInvalid",
                    message: format!(
                        "Invalid value: {n}: {path} in body should be less than or equal to {max}"
                    ),
                });
            }
        }
        _ => {}
    }
}

fn object(
    schema: &Value,
    m: &mut Map<String, Value>,
    old: Option<&Value>,
    path: &str,
    preserve: bool,
    causes: &mut Vec<Cause>,
) {
    let props = schema["properties"].as_object();
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    // Nulls of non-nullable fields are dropped (then defaulted), as the API server does.
    m.retain(|k, v| {
        let sub = props.and_then(|p| p.get(k)).or(additional);
        !v.is_null() || sub.is_some_and(|s| s["nullable"] == true)
    });
    // Pruning. An embedded resource keeps its type and metadata, as the root does.
    let embedded = schema["x-kubernetes-embedded-resource"] == true;
    if !preserve {
        m.retain(|k, _| {
            props.is_some_and(|p| p.contains_key(k))
                || additional.is_some()
                || (embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
        });
    }
    // Defaulting.
    if let Some(p) = props {
        for (k, sub) in p {
            if let Some(d) = sub.get("default")
                && !m.contains_key(k)
            {
                m.insert(k.clone(), d.clone());
            }
        }
    }
    for (k, v) in m.iter_mut() {
        if let Some(sub) = props.and_then(|p| p.get(k)).or(additional) {
            walk(sub, v, old.and_then(|o| o.get(k)), &child(path, k), causes);
        }
    }
    if let Some(required) = schema["required"].as_array() {
        for r in required.iter().filter_map(Value::as_str) {
            if !m.contains_key(r) {
                causes.push(Cause {
                    field: child(path, r),
                    reason: "FieldValueRequired",
                    message: "Required value".into(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["url"], "properties": {
                "url": {"type": "string", "minLength": 1, "pattern": "^(http|https|ssh)://.*$"},
                "interval": {"type": "string", "default": "1m"},
                "suspend": {"type": "boolean"},
                "provider": {"type": "string", "enum": ["generic", "aws"]},
                "retries": {"type": "integer", "minimum": 0},
                "port": {"x-kubernetes-int-or-string": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"data": {"type": "object"}}},
                "refs": {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {"name": {"type": "string"}}}}
            }},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }})
    }

    #[test]
    fn prunes_defaults_and_keeps_what_the_schema_allows() {
        let mut obj = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}, "extra": 1,
            "spec": {"url": "https://u", "unknown": true, "suspend": null, "port": "http", "labels": {"a": "b"},
                     "values": {"any": {"thing": [1]}}, "refs": [{"name": "n", "drop": 1}],
                     "template": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "t"}, "data": {}, "junk": 1}}});
        assert_eq!(apply(&schema(), &mut obj, None), Vec::new());
        assert_eq!(
            obj,
            json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"},
                "spec": {"url": "https://u", "interval": "1m", "port": "http", "labels": {"a": "b"},
                         "values": {"any": {"thing": [1]}}, "refs": [{"name": "n"}],
                         "template": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "t"}, "data": {}}}})
        );
    }

    #[test]
    fn reports_every_violation_with_its_path() {
        let mut obj = json!({"spec": {"url": "ftp://x", "suspend": "yes", "provider": "gcp", "retries": -1, "port": true,
            "labels": {"a": 1}, "refs": [{}, {}, {}]}});
        let fields: Vec<(String, &str)> = apply(&schema(), &mut obj, None)
            .into_iter()
            .map(|c| (c.field, c.reason))
            .collect();
        for want in [
            ("spec.url", "FieldValueInvalid"),
            ("spec.suspend", "FieldValueInvalid"),
            ("spec.provider", "FieldValueNotSupported"),
            ("spec.retries", "FieldValueInvalid"),
            ("spec.port", "FieldValueInvalid"),
            ("spec.labels.a", "FieldValueInvalid"),
            ("spec.refs", "FieldValueTooMany"),
        ] {
            assert!(
                fields.contains(&(want.0.to_owned(), want.1)),
                "{want:?} not in {fields:?}"
            );
        }
    }

    #[test]
    fn transition_rules_see_the_correlated_list_item() {
        let item = json!({"type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}},
                          "x-kubernetes-validations": [{"rule": "self.size >= oldSelf.size", "message": "size may not shrink"}]});
        let schema = |list_type: &str| {
            let mut list = json!({"type": "array", "items": item, "x-kubernetes-list-type": list_type});
            if list_type == "map" {
                list["x-kubernetes-list-map-keys"] = json!(["name"]);
            }
            json!({"type": "object", "properties": {"disks": list}})
        };
        let old = json!({"disks": [{"name": "a", "size": 5}, {"name": "b", "size": 1}]});
        // Reordered and one shrunk: in a map list the rule compares by name.
        let mut new =
            json!({"disks": [{"name": "b", "size": 2}, {"name": "a", "size": 4}, {"name": "c", "size": 1}]});
        let causes = apply(&schema("map"), &mut new, Some(&old));
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert_eq!(causes[0].field, "disks[1]");
        assert!(causes[0].message.contains("size may not shrink"));
        // An atomic list has no old items to compare with: the rule is not evaluated.
        let mut new = json!({"disks": [{"name": "a", "size": 1}]});
        assert!(apply(&schema("atomic"), &mut new, Some(&old)).is_empty());
        // A set correlates equal items only, so a changed item is new.
        let mut new = json!({"disks": [{"name": "a", "size": 1}]});
        assert!(apply(&schema("set"), &mut new, Some(&old)).is_empty());
    }

    #[test]
    fn cel_rules_are_evaluated_on_their_node() {
        let schema = json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "self.min <= self.max", "message": "min must not exceed max"},
                {"rule": "self.max < 100"},
                {"rule": "self.max == oldSelf.max"},
                {"rule": "self.mode in ['a', 'b']", "reason": "FieldValueForbidden", "fieldPath": ".mode"}
            ],
            "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}, "mode": {"type": "string", "default": "a"}}}}});
        let mut ok = json!({"spec": {"min": 1, "max": 2}});
        assert!(apply(&schema, &mut ok, None).is_empty());
        // On update the transition rule sees the old value: max may not change.
        let old = json!({"spec": {"min": 1, "max": 3, "mode": "a"}});
        let mut changed = json!({"spec": {"min": 1, "max": 2}});
        let causes = apply(&schema, &mut changed, Some(&old));
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert_eq!(
            causes[0].message,
            "Invalid value: \"object\": failed rule: self.max == oldSelf.max"
        );
        let mut same = json!({"spec": {"min": 2, "max": 3}});
        assert!(apply(&schema, &mut same, Some(&old)).is_empty());
        let mut bad = json!({"spec": {"min": 300, "max": 200, "mode": "c"}});
        let causes = apply(&schema, &mut bad, None);
        let texts: Vec<String> = causes
            .iter()
            .map(|c| format!("{} {} {}", c.field, c.reason, c.message))
            .collect();
        assert_eq!(
            texts,
            [
                "spec FieldValueInvalid Invalid value: \"object\": min must not exceed max",
                "spec FieldValueInvalid Invalid value: \"object\": failed rule: self.max < 100",
                "spec.mode FieldValueForbidden Invalid value: \"object\": failed rule: self.mode in ['a', 'b']"
            ]
        );
    }
}
