//! Kubernetes label selectors in their string form (`app=web,tier!=db,env in (a,b),!legacy`), as the API
//! server's `labelSelector` parameter and kustomize's target selectors take them.

use serde_json::{Map, Value};

/// A label selector that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector {selector:?}: {reason}")]
pub struct SelectorError {
    /// The whole selector.
    pub selector: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Whether `labels` satisfy every requirement of `sel`. Requirements are separated by commas outside
/// parentheses; `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` and `!k` are understood.
///
/// ```
/// let labels = serde_json::json!({"app": "web", "env": "prod"});
/// let labels = labels.as_object().unwrap();
/// assert!(gitops_core::labels::selector_matches("app=web,env in (prod, staging),!legacy", labels).unwrap());
/// assert!(!gitops_core::labels::selector_matches("env notin (prod)", labels).unwrap());
/// assert!(gitops_core::labels::selector_matches("env in prod", labels).is_err());
/// ```
pub fn selector_matches(sel: &str, labels: &Map<String, Value>) -> Result<bool, SelectorError> {
    let mut all = true;
    for term in split(sel) {
        let term = term.trim();
        if term.is_empty() {
            continue;
        }
        let get = |k: &str| labels.get(k.trim()).and_then(Value::as_str);
        let ok = if let Some((k, vals)) = term.split_once(" notin ") {
            let vals = parse_set(sel, vals)?;
            get(k).is_none_or(|v| !vals.contains(&v))
        } else if let Some((k, vals)) = term.split_once(" in ") {
            let vals = parse_set(sel, vals)?;
            get(k).is_some_and(|v| vals.contains(&v))
        } else if let Some((k, v)) = term.split_once("!=") {
            get(k) != Some(v.trim())
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            get(k) == Some(v.trim())
        } else if let Some(k) = term.strip_prefix('!') {
            get(k).is_none()
        } else {
            get(term).is_some()
        };
        // Every term is parsed, so a malformed one is reported even after a mismatch.
        all &= ok;
    }
    Ok(all)
}

/// The requirements of a selector: split on commas outside parentheses.
fn split(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// The values of `(a, b)`.
fn parse_set<'a>(sel: &str, s: &'a str) -> Result<Vec<&'a str>, SelectorError> {
    let s = s.trim();
    let inner = s
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .ok_or_else(|| SelectorError {
            selector: sel.to_owned(),
            reason: format!("invalid set {s:?}: values go in parentheses"),
        })?;
    Ok(inner.split(',').map(str::trim).collect())
}
