//! Human-readable diffs between live and desired objects, with every Secret value masked.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use similar::TextDiff;

/// Fields the server owns, left out of diffs.
const SERVER_FIELDS: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
];

/// The placeholder for a Secret value.
const MASK: &str = "***";

/// `obj` without the fields the server sets, ready to compare and print.
pub(crate) fn comparable(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in SERVER_FIELDS {
                meta.remove(*f);
            }
            if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
                if a.is_empty() {
                    meta.remove("annotations");
                }
            }
        }
    }
    v
}

fn is_secret(obj: &Value) -> bool {
    obj["kind"] == "Secret" && obj["apiVersion"] == "v1"
}

/// Masks the values of a Secret's `data` and `stringData`. Where `other` (the other side of the diff)
/// holds a different value for the same key, the mask says so, so that a change still shows.
fn mask(obj: &mut Value, other: Option<&Value>, side: &str) {
    if !is_secret(obj) {
        return;
    }
    for field in ["data", "stringData"] {
        let theirs = other
            .and_then(|o| o.get(field))
            .and_then(Value::as_object)
            .cloned();
        if let Some(m) = obj.get_mut(field).and_then(Value::as_object_mut) {
            for (k, v) in m.iter_mut() {
                let changed = theirs.as_ref().is_some_and(|t| t.get(k) != Some(v));
                *v = Value::String(if changed {
                    format!("{MASK} ({side})")
                } else {
                    MASK.to_owned()
                });
            }
        }
    }
}

/// The object as YAML, for display.
fn yaml(v: &Value) -> String {
    gitops_core::yaml::to_string(v)
}

/// A unified diff from `live` (`None`: the object does not exist) to `desired`, both as comparable
/// objects, with Secret values masked; `None` when they are equal.
pub fn unified_diff(live: Option<&Value>, desired: &Value) -> Option<String> {
    let mut after = comparable(desired);
    let mut before = live.map(comparable);
    if before.as_ref() == Some(&after) {
        return None;
    }
    let (b, a) = (before.clone(), after.clone());
    mask(&mut after, b.as_ref(), "after");
    if let Some(before) = before.as_mut() {
        mask(before, Some(&a), "before");
    }
    let old = before.as_ref().map(yaml).unwrap_or_default();
    let new = yaml(&after);
    let mut out = String::new();
    let diff = TextDiff::from_lines(&old, &new);
    let _ = write!(
        out,
        "{}",
        diff.unified_diff()
            .context_radius(3)
            .header(if live.is_some() { "live" } else { "/dev/null" }, "desired")
    );
    Some(out)
}

/// Whether two objects differ in what an apply controls: labels, annotations, and everything outside
/// metadata and status.
pub(crate) fn drifted(live: &Value, desired: &Value) -> bool {
    let l = comparable(live);
    let d = comparable(desired);
    let part = |v: &Value, p: &str| v.pointer(p).cloned().unwrap_or(Value::Object(Map::new()));
    if part(&l, "/metadata/labels") != part(&d, "/metadata/labels")
        || part(&l, "/metadata/annotations") != part(&d, "/metadata/annotations")
    {
        return true;
    }
    let strip = |mut v: Value| {
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
        }
        v
    };
    strip(l) != strip(d)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secret_values_never_show() {
        let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "resourceVersion": "3"},
                          "data": {"password": "aHVudGVyMg==", "user": "YWRtaW4="}});
        let desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                             "data": {"password": "c2VjcmV0", "user": "YWRtaW4="}});
        let d = unified_diff(Some(&live), &desired).unwrap();
        assert!(
            !d.contains("aHVudGVyMg") && !d.contains("c2VjcmV0") && !d.contains("YWRtaW4"),
            "{d}"
        );
        assert!(
            d.contains("-  password: '*** (before)'") || d.contains("-  password: \"*** (before)\""),
            "{d}"
        );
        assert!(d.contains("*** (after)"), "{d}");
        assert!(unified_diff(Some(&live), &live).is_none());
    }

    #[test]
    fn new_objects_diff_against_nothing() {
        let desired =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        let d = unified_diff(None, &desired).unwrap();
        assert!(d.contains("+++ desired") && d.contains("+  a: \"1\""), "{d}");
    }

    #[test]
    fn drift_ignores_server_fields() {
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "uid": "1", "resourceVersion": "9",
                          "managedFields": []}, "data": {"a": "1"}});
        let same =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        assert!(!drifted(&live, &same));
        let mut labelled = same.clone();
        labelled["metadata"]["labels"] = json!({"x": "y"});
        assert!(drifted(&live, &labelled));
        let mut changed = same;
        changed["data"]["a"] = json!("2");
        assert!(drifted(&live, &changed));
    }
}
