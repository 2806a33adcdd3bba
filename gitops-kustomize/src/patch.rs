//! Patches: strategic merge (with its directives and the built-in list merge keys) and JSON 6902, with
//! target selectors.

use std::path::Path;

use gitops_core::yaml;
use serde_json::{Map, Value};

use crate::{
    Error, Result,
    build::{Acc, Builder},
    k8s_tables::PATCH_STRATEGIES,
    kustomization::{Patch, Selector},
    resource::{Resource, split_api_version},
};

/// Applies one `patches`/`patchesStrategicMerge`/`patchesJson6902` entry to the accumulated resources.
pub(crate) fn apply(acc: &mut Acc, b: &Builder, dir: &Path, p: &Patch, json6902_only: bool) -> Result<()> {
    let (text, origin) = match (&p.path, &p.patch) {
        (Some(path), None) => (b.read_file(dir, path)?, dir.join(path)),
        (None, Some(inline)) => (inline.clone(), dir.join("<inline patch>")),
        (Some(_), Some(_)) => return Err(Error::build("patch and path can't be set at the same time")),
        (None, None) => {
            return Err(Error::build(
                "must specify one of patch and path in a patch entry",
            ));
        }
    };
    let docs = yaml::from_str_multi(&text, &yaml::Limits::default()).map_err(|e| Error::Invalid {
        file: origin.clone(),
        message: e.to_string(),
    })?;
    if docs.is_empty() && !json6902_only {
        return Err(Error::build(format!(
            "{}: patch appears to be empty",
            origin.display()
        )));
    }
    let is_json6902 = json6902_only || (docs.len() == 1 && docs[0].is_array());
    if is_json6902 {
        let ops = match docs.into_iter().next() {
            Some(Value::Array(ops)) => ops,
            Some(Value::Null) | None => Vec::new(),
            Some(_) => {
                return Err(Error::Invalid {
                    file: origin,
                    message: "a JSON 6902 patch must be a list of operations".into(),
                });
            }
        };
        let target = p
            .target
            .as_ref()
            .ok_or_else(|| Error::build(format!("{}: JSON 6902 patches need a target", origin.display())))?;
        let idx = select(&acc.resources, target)?;
        for i in idx {
            let r = &mut acc.resources[i];
            json6902(&mut r.obj, &ops).map_err(|m| Error::build(format!("{}: {m}", origin.display())))?;
        }
        return Ok(());
    }
    for doc in docs {
        if doc.is_null() {
            continue;
        }
        let idx = match &p.target {
            Some(t) => select(&acc.resources, t)?,
            None => {
                let pr = Resource::new(doc.clone());
                let pid = pr.cur_id();
                let found: Vec<usize> = acc
                    .resources
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| {
                        r.all_ids().any(|id| {
                            id.kind == pid.kind
                                && id.group == pid.group
                                && id.name == pid.name
                                && (pid.namespace.is_empty()
                                    || eff_ns(&id.namespace) == eff_ns(&pid.namespace))
                        })
                    })
                    .map(|(i, _)| i)
                    .collect();
                if found.len() != 1 {
                    return Err(Error::build(format!(
                        "{}: no unique match for patch target {} (found {})",
                        origin.display(),
                        pid.display(),
                        found.len()
                    )));
                }
                found
            }
        };
        let mut delete = Vec::new();
        for i in idx {
            let r = &mut acc.resources[i];
            let (group, kind) = (r.group().to_owned(), r.kind().to_owned());
            let mut patch = doc.clone();
            let opt = |k: &str| {
                p.options
                    .as_ref()
                    .and_then(|o| o.get(k))
                    .copied()
                    .unwrap_or(false)
            };
            // A patch's own identity selects its target; it renames it only when a targeted patch allows it.
            let targeted = p.target.is_some();
            if !(targeted && opt("allowNameChange"))
                && let Some(m) = patch.get_mut("metadata").and_then(Value::as_object_mut)
            {
                m.remove("name");
                m.remove("namespace");
            }
            if !(targeted && opt("allowKindChange"))
                && let Some(m) = patch.as_object_mut()
            {
                m.remove("apiVersion");
                m.remove("kind");
            }
            if patch.get("$patch").and_then(Value::as_str) == Some("delete") {
                delete.push(i);
                continue;
            }
            let custom: Option<Vec<(String, String, String)>> = b.openapi.borrow().as_ref().and_then(|s| {
                s.iter()
                    .find(|(g, k, _)| *g == group && *k == kind)
                    .map(|(_, _, l)| l.clone())
            });
            let owned: Vec<(&str, &str, &str)>;
            let strategies = match &custom {
                Some(list) => {
                    owned = list
                        .iter()
                        .map(|(p, k, s)| (p.as_str(), k.as_str(), s.as_str()))
                        .collect();
                    &owned[..]
                }
                None => strategies_for(&group, &kind),
            };
            let old_name = r.name().to_owned();
            let old_ns = r.namespace().to_owned();
            merge_value(&mut r.obj, &patch, &mut Vec::new(), strategies);
            // Names changed by a patch are renames.
            let (new_name, new_ns) = (r.name().to_owned(), r.namespace().to_owned());
            if new_name != old_name || new_ns != old_ns {
                let mut id = r.cur_id();
                id.name = old_name;
                id.namespace = old_ns;
                r.prev.push(id);
            }
        }
        delete.sort_unstable();
        for i in delete.into_iter().rev() {
            acc.resources.remove(i);
        }
    }
    Ok(())
}

fn eff_ns(ns: &str) -> &str {
    if ns.is_empty() { "default" } else { ns }
}

pub(crate) fn strategies_for(
    group: &str,
    kind: &str,
) -> &'static [(&'static str, &'static str, &'static str)] {
    PATCH_STRATEGIES
        .iter()
        .find(|(g, k, _)| *g == group && *k == kind)
        .map_or(&[], |(_, _, s)| s)
}

/// Selector fields are anchored regular expressions, as in kustomize.
fn pattern_matches(pat: &str, s: &str) -> bool {
    if pat.is_empty() {
        return true;
    }
    match regex::Regex::new(&format!("^(?:{pat})$")) {
        Ok(re) => re.is_match(s),
        Err(_) => pat == s,
    }
}

/// kustomize's label and annotation selectors: Kubernetes label selector syntax.
pub(crate) fn selector_matches(sel: &str, labels: &Map<String, Value>) -> Result<bool> {
    gitops_core::labels::selector_matches(sel, labels).map_err(|e| Error::build(e.to_string()))
}

/// Indices of the resources a selector picks (by original or current name and namespace).
pub(crate) fn select(resources: &[Resource], t: &Selector) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for (i, r) in resources.iter().enumerate() {
        let cur = r.cur_id();
        let org = &r.orig;
        if let Some(g) = &t.group
            && !pattern_matches(g, &cur.group)
        {
            continue;
        }
        if let Some(v) = &t.version
            && !pattern_matches(v, &cur.version)
        {
            continue;
        }
        if let Some(k) = &t.kind
            && !pattern_matches(k, &cur.kind)
        {
            continue;
        }
        if let Some(n) = &t.name
            && !pattern_matches(n, &org.name)
            && !pattern_matches(n, &cur.name)
        {
            continue;
        }
        if let Some(ns) = &t.namespace
            && !pattern_matches(ns, eff_ns(&org.namespace))
            && !pattern_matches(ns, eff_ns(&cur.namespace))
            && !pattern_matches(ns, &cur.namespace)
        {
            continue;
        }
        if let Some(ls) = &t.label_selector
            && !selector_matches(ls, &r.labels())?
        {
            continue;
        }
        if let Some(asel) = &t.annotation_selector
            && !selector_matches(asel, &r.annotations())?
        {
            continue;
        }
        out.push(i);
    }
    Ok(out)
}

fn list_strategy<'a>(
    path: &[String],
    strategies: &'a [(&'a str, &'a str, &'a str)],
) -> Option<(&'a str, &'a str)> {
    let p = path.join("/");
    strategies
        .iter()
        .find(|(sp, _, _)| *sp == p)
        .map(|(_, k, s)| (*k, *s))
}

/// Strategic merge of `patch` into `base` at field `path`.
pub(crate) fn merge_value(
    base: &mut Value,
    patch: &Value,
    path: &mut Vec<String>,
    strategies: &[(&str, &str, &str)],
) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => merge_map(b, p, path, strategies),
        (base, p) => *base = strip_directives(p),
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|x| !x.get("$patch").is_some_and(|p| p == "delete"))
                .map(strip_directives)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn merge_map(
    b: &mut Map<String, Value>,
    p: &Map<String, Value>,
    path: &mut Vec<String>,
    strategies: &[(&str, &str, &str)],
) {
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        *b = strip_directives(&Value::Object(p.clone()))
            .as_object()
            .cloned()
            .unwrap_or_default();
        return;
    }
    for (k, pv) in p {
        if k.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            b.remove(k);
            continue;
        }
        if pv.get("$patch").and_then(Value::as_str) == Some("delete") && pv.is_object() {
            b.remove(k);
            continue;
        }
        path.push(k.clone());
        match (b.get_mut(k), pv) {
            (Some(Value::Array(bl)), Value::Array(pl)) => {
                let bl_owned = std::mem::take(bl);
                let merged = merge_list(bl_owned, pl, path, strategies);
                b.insert(k.clone(), Value::Array(merged));
            }
            (Some(bv @ Value::Object(_)), Value::Object(_)) => merge_value(bv, pv, path, strategies),
            (_, _) => {
                b.insert(k.clone(), strip_directives(pv));
            }
        }
        path.pop();
    }
    // $deleteFromPrimitiveList/<field>
    for (k, v) in p {
        if let (Some(field), Value::Array(rm)) = (k.strip_prefix("$deleteFromPrimitiveList/"), v)
            && let Some(Value::Array(list)) = b.get_mut(field)
        {
            list.retain(|x| !rm.contains(x));
        }
    }
    // $setElementOrder/<field>
    for (k, v) in p {
        if let (Some(field), Value::Array(order)) = (k.strip_prefix("$setElementOrder/"), v)
            && let Some(Value::Array(list)) = b.get_mut(field)
        {
            path.push(field.to_owned());
            let key = list_strategy(path, strategies)
                .map(|(k, _)| k)
                .filter(|k| !k.is_empty())
                .unwrap_or("name");
            path.pop();
            let pos = |x: &Value| {
                order.iter().position(|o| match (o.get(key), x.get(key)) {
                    (Some(a), Some(b)) => a == b,
                    _ => o == x,
                })
            };
            let mut items = std::mem::take(list);
            items.sort_by_key(|x| pos(x).unwrap_or(usize::MAX));
            *list = items;
        }
    }
    if let Some(Value::Array(keep)) = p.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        b.retain(|k, _| keep.contains(&k.as_str()));
    }
}

fn merge_list(
    mut base: Vec<Value>,
    patch: &[Value],
    path: &mut Vec<String>,
    strategies: &[(&str, &str, &str)],
) -> Vec<Value> {
    if patch
        .iter()
        .any(|x| x.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return patch
            .iter()
            .filter(|x| x.get("$patch").is_none())
            .map(strip_directives)
            .collect();
    }
    let strategy = list_strategy(path, strategies);
    // Like kustomize (kyaml merge2 without list inference), a list the schema gives no merge strategy is
    // replaced by the patch's list.
    let key: Option<String> = match strategy {
        Some((k, s)) if s.contains("merge") && !k.is_empty() => Some(k.to_owned()),
        Some((_, s)) if s.contains("merge") => {
            // A primitive list with merge semantics: union, patch order appended.
            for x in patch {
                if !base.contains(x) {
                    base.push(x.clone());
                }
            }
            return base;
        }
        _ => None,
    };
    let Some(key) = key else {
        return patch.iter().map(strip_directives).collect();
    };
    // kustomize merges with list "prepend": the patch's elements come first, in patch order (merged with
    // their counterparts), then the remaining original elements.
    let mut out = Vec::with_capacity(base.len() + patch.len());
    let mut used = vec![false; base.len()];
    for pe in patch {
        let Some(kv) = pe.get(&key) else {
            out.push(strip_directives(pe));
            continue;
        };
        let found = base
            .iter()
            .enumerate()
            .position(|(i, be)| !used[i] && be.get(&key) == Some(kv));
        let directive = pe.get("$patch").and_then(Value::as_str);
        if let Some(i) = found {
            used[i] = true;
        }
        match (found, directive) {
            (_, Some("delete")) => {}
            (Some(_), Some("replace")) | (None, _) => out.push(strip_directives(pe)),
            (Some(i), _) => {
                let mut merged = base[i].clone();
                merge_value(&mut merged, pe, path, strategies);
                out.push(merged);
            }
        }
    }
    out.extend(base.into_iter().zip(used).filter(|(_, u)| !u).map(|(b, _)| b));
    out
}

fn unescape(t: &str) -> String {
    t.replace("~1", "/").replace("~0", "~")
}

fn pointer_parts(p: &str) -> Result<Vec<String>, String> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    let rest = p
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {p:?}"))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn get_parent<'a>(
    doc: &'a mut Value,
    parts: &[String],
    op: &str,
    path: &str,
) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for part in parts {
        cur = match cur {
            Value::Object(m) => m.get_mut(part),
            Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| {
            format!("{op} operation does not apply: doc is missing path: \"{path}\": missing value")
        })?;
    }
    Ok(cur)
}

fn add_at(doc: &mut Value, path: &str, value: Value, op: &str) -> Result<(), String> {
    let parts = pointer_parts(path)?;
    let Some((last, parents)) = parts.split_last() else {
        *doc = value;
        return Ok(());
    };
    let parent = get_parent(doc, parents, op, path)?;
    match parent {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>()
                    .map_err(|_| format!("invalid index in {path}"))?
            };
            if i > a.len() {
                return Err(format!(
                    "{op} operation does not apply: index out of range at \"{path}\""
                ));
            }
            a.insert(i, value);
        }
        _ => {
            return Err(format!(
                "{op} operation does not apply: doc is missing path: \"{path}\""
            ));
        }
    }
    Ok(())
}

fn remove_at(doc: &mut Value, path: &str, op: &str) -> Result<Value, String> {
    let parts = pointer_parts(path)?;
    let Some((last, parents)) = parts.split_last() else {
        return Err("cannot remove the root".into());
    };
    let parent = get_parent(doc, parents, op, path)?;
    let missing = || format!("{op} operation does not apply: doc is missing path: \"{path}\": missing value");
    match parent {
        Value::Object(m) => m.shift_remove(last).ok_or_else(missing),
        Value::Array(a) => {
            let i = last.parse::<usize>().map_err(|_| missing())?;
            if i >= a.len() {
                return Err(missing());
            }
            Ok(a.remove(i))
        }
        _ => Err(missing()),
    }
}

/// Applies RFC 6902 operations.
pub(crate) fn json6902(doc: &mut Value, ops: &[Value]) -> Result<(), String> {
    for op in ops {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("JSON patch operation without op")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("JSON patch operation without path")?;
        match name {
            "add" => add_at(doc, path, op.get("value").cloned().unwrap_or(Value::Null), name)?,
            "remove" => {
                remove_at(doc, path, name)?;
            }
            "replace" => {
                remove_at(doc, path, name)?;
                add_at(doc, path, op.get("value").cloned().unwrap_or(Value::Null), name)?;
            }
            "move" => {
                let from = op
                    .get("from")
                    .and_then(Value::as_str)
                    .ok_or("move without from")?;
                let v = remove_at(doc, from, name)?;
                add_at(doc, path, v, name)?;
            }
            "copy" => {
                let from = op
                    .get("from")
                    .and_then(Value::as_str)
                    .ok_or("copy without from")?;
                let parts = pointer_parts(from)?;
                let v = get_parent(doc, &parts, name, from)?.clone();
                add_at(doc, path, v, name)?;
            }
            "test" => {
                let parts = pointer_parts(path)?;
                let v = get_parent(doc, &parts, name, path)?;
                if Some(&*v) != op.get("value") {
                    return Err(format!("testing value {path} failed"));
                }
            }
            other => return Err(format!("unexpected JSON patch operation {other:?}")),
        }
    }
    Ok(())
}

#[allow(dead_code)]
fn _api(av: &str) -> (&str, &str) {
    split_api_version(av)
}
