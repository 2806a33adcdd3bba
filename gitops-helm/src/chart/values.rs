//! Values: coalescing user values with chart defaults (a `null` deletes a key), globals, dependency
//! conditions, tags, aliases and import-values, and the `--set` family of expressions.

use std::rc::Rc;

use super::{Chart, ChartError};
use crate::template::{Map, MapCell, Value, deep_copy_map as deep_copy};

fn table_of(v: &Value) -> Option<Rc<MapCell>> {
    match v {
        Value::Map(m) => Some(m.clone()),
        _ => None,
    }
}

/// Helm's `CoalesceValues` (`merge == false`: a null removes the key) or `MergeValues` (`merge == true`),
/// as a tree of its own that templates may change.
pub(crate) fn coalesce_chart(chart: &Chart, vals: &Map, merge: bool) -> Result<Map, ChartError> {
    Ok(deep_copy(&coalesced(chart, vals, merge)?))
}

/// The same coalescing for reading only (dependencies' conditions and tags, imported values): tables
/// that coalescing leaves as they are stay shared with `vals` and the charts' values, where Helm (and
/// [`coalesce_chart`]) copy them. Nothing here changes a table it was given; changed tables are new.
fn coalesced(chart: &Chart, vals: &Map, merge: bool) -> Result<Map, ChartError> {
    let mut dest = vals.clone();
    coalesce(chart, &mut dest, merge)?;
    Ok(dest)
}

fn coalesce(chart: &Chart, dest: &mut Map, merge: bool) -> Result<(), ChartError> {
    coalesce_values(chart, dest, merge);
    coalesce_deps(chart, dest, merge)
}

fn coalesce_deps(chart: &Chart, dest: &mut Map, merge: bool) -> Result<(), ChartError> {
    for sub in &chart.dependencies {
        let name = sub.name();
        let mut dv = match dest.get(name) {
            None => Map::new(),
            Some(Value::Map(m)) => m.borrow().clone(),
            Some(other) => {
                return Err(ChartError::Values(format!(
                    "type mismatch on {name}: %!t({}={})",
                    other.type_name(),
                    crate::template::fmt::sprint_value(other)
                )));
            }
        };
        coalesce_globals(&mut dv, dest);
        coalesce(sub, &mut dv, merge)?;
        dest.insert(name.to_string(), Value::map(dv));
    }
    Ok(())
}

/// Copies the parent's `global` table (`src`) into a subchart's values (`dest`): the parent's tables
/// merged over the subchart's own, its other values replacing the subchart's unless those are tables.
fn coalesce_globals(dest: &mut Map, src: &Map) {
    let mut dg = match dest.get("global") {
        None => Map::new(),
        Some(Value::Map(m)) => m.borrow().clone(),
        Some(_) => return,
    };
    match src.get("global") {
        None => {}
        Some(Value::Map(sg)) => {
            for (key, val) in sg.borrow().iter() {
                if let Value::Map(vm) = val {
                    match dg.get(key) {
                        None => {
                            dg.insert(key.clone(), val.clone());
                        }
                        Some(Value::Map(destv)) => {
                            let merged = coalesce_tables(&vm.borrow(), &destv.borrow(), true);
                            dg.insert(key.clone(), Value::map(merged));
                        }
                        Some(_) => {}
                    }
                } else if matches!(dg.get(key), Some(Value::Map(_))) {
                    // A table in the destination is not replaced by a scalar.
                } else {
                    dg.insert(key.clone(), val.clone());
                }
            }
        }
        Some(_) => return,
    }
    dest.insert("global".into(), Value::map(dg));
}

fn coalesce_values(chart: &Chart, v: &mut Map, merge: bool) {
    for (key, val) in &chart.values {
        match v.get(key) {
            Some(Value::Nil) if !merge => {
                v.remove(key);
            }
            Some(Value::Map(dest)) => {
                if let Value::Map(src) = val {
                    let merge = merge || chart.dependencies.iter().any(|d| d.name() == key);
                    let table = coalesce_tables(&dest.borrow(), &src.borrow(), merge);
                    v.insert(key.clone(), Value::map(table));
                }
            }
            Some(_) => {}
            None => {
                v.insert(key.clone(), val.clone());
            }
        }
    }
}

/// `coalesceTablesFullKey`: `dst` wins; with `merge == false` a null in `dst` deletes the key (nested
/// tables only where `src` has a table too, as Helm walks them).
fn coalesce_tables(dst: &Map, src: &Map, merge: bool) -> Map {
    let mut out = dst.clone();
    if !merge {
        out.retain(|_, v| !matches!(v, Value::Nil));
    }
    for (key, val) in src {
        match dst.get(key) {
            None => {
                out.insert(key.clone(), val.clone());
            }
            Some(Value::Map(dm)) => {
                if let Value::Map(sm) = val {
                    let table = coalesce_tables(&dm.borrow(), &sm.borrow(), merge);
                    out.insert(key.clone(), Value::map(table));
                }
            }
            Some(_) => {}
        }
    }
    out
}

/// Merges values files as Helm does for `-f a.yaml -f b.yaml`: later maps merge into earlier ones,
/// anything else replaces.
pub fn merge_values(a: &Map, b: &Map) -> Map {
    let mut out = a.clone();
    for (k, v) in b {
        if let (Value::Map(vm), Some(Value::Map(am))) = (v, out.get(k)) {
            let merged = merge_values(&am.borrow(), &vm.borrow());
            out.insert(k.clone(), Value::map(merged));
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    out
}

/// The table at a dotted path.
pub(crate) fn table(vals: &Map, path: &str) -> Option<Rc<MapCell>> {
    let mut parts = path.split('.').filter(|p| !p.is_empty());
    let first = parts.next()?;
    let mut cur = table_of(vals.get(first)?)?;
    for p in parts {
        let next = table_of(cur.borrow().get(p)?)?;
        cur = next;
    }
    Some(cur)
}

fn path_value(vals: &Map, path: &str) -> Option<Value> {
    let parts: Vec<&str> = path.split('.').collect();
    let (last, parents) = parts.split_last()?;
    let v = if parents.is_empty() {
        vals.get(*last).cloned()?
    } else {
        table(vals, &parents.join("."))?.borrow().get(*last).cloned()?
    };
    if matches!(v, Value::Map(_)) { None } else { Some(v) }
}

fn compatible(range: &str, version: &str) -> bool {
    let Ok(c) = range.parse::<gitops_core::semver::Constraint>() else {
        return false;
    };
    let Ok(v) = version.parse::<gitops_core::semver::Version>() else {
        return false;
    };
    c.matches(&v)
}

/// Helm's `ProcessDependenciesWithMerge`: applies aliases, drops disabled dependencies (conditions and
/// tags) and imports values from children into parents.
pub(crate) fn process_dependencies(chart: &Chart, vals: &Map) -> Result<Chart, ChartError> {
    let mut c = chart.clone();
    process_enabled(&mut c, vals, "")?;
    process_imports(&mut c)?;
    Ok(c)
}

fn process_enabled(c: &mut Chart, v: &Map, path: &str) -> Result<(), ChartError> {
    if c.metadata.dependencies.is_empty() && !c.metadata.raw.contains_key("dependencies") {
        return Ok(());
    }
    let mut deps: Vec<Rc<Chart>> = Vec::new();
    for existing in &c.dependencies {
        if !c
            .metadata
            .dependencies
            .iter()
            .any(|r| r.name == existing.name() && compatible(&r.version, &existing.metadata.version))
        {
            deps.push(existing.clone());
        }
    }
    for req in &mut c.metadata.dependencies {
        if let Some(found) = c
            .dependencies
            .iter()
            .find(|d| d.name() == req.name && compatible(&req.version, &d.metadata.version))
        {
            let mut copy = (**found).clone();
            if !req.alias.is_empty() {
                copy.metadata.name = req.alias.clone();
            }
            deps.push(Rc::new(copy));
        }
        if !req.alias.is_empty() {
            req.name = req.alias.clone();
        }
    }
    c.dependencies = deps;
    for req in &mut c.metadata.dependencies {
        req.enabled = true;
    }
    let cvals = coalesced(c, v, false)?;
    // Tags.
    if let Some(tags) = table(&cvals, "tags") {
        let tags = tags.borrow();
        for r in &mut c.metadata.dependencies {
            let (mut has_true, mut has_false) = (false, false);
            for t in &r.tags {
                if let Some(Value::Bool(b)) = tags.get(t) {
                    if *b {
                        has_true = true;
                    } else {
                        has_false = true;
                    }
                }
            }
            r.enabled = has_true || !has_false;
        }
    }
    // Conditions override tags: the first path that holds a bool decides.
    for r in &mut c.metadata.dependencies {
        for cond in r.condition.trim().split(',') {
            if cond.is_empty() {
                continue;
            }
            if let Some(Value::Bool(b)) = path_value(&cvals, &format!("{path}{cond}")) {
                r.enabled = b;
                break;
            }
        }
    }
    let disabled: Vec<String> = c
        .metadata
        .dependencies
        .iter()
        .filter(|r| !r.enabled)
        .map(|r| r.name.clone())
        .collect();
    c.dependencies.retain(|d| !disabled.iter().any(|n| n == d.name()));
    c.metadata.dependencies.retain(|r| !disabled.contains(&r.name));
    for d in &mut c.dependencies {
        let sub = Rc::make_mut(d);
        let subpath = format!("{path}{}.", sub.name());
        process_enabled(sub, &cvals, &subpath)?;
    }
    Ok(())
}

fn path_to_map(path: &str, data: Map) -> Map {
    if path == "." {
        return data;
    }
    let mut out = data;
    for p in path
        .split('.')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let mut m = Map::new();
        m.insert(p.to_string(), Value::map(out));
        out = m;
    }
    out
}

fn process_imports(c: &mut Chart) -> Result<(), ChartError> {
    for d in &mut c.dependencies {
        process_imports(Rc::make_mut(d))?;
    }
    if c.metadata.dependencies.is_empty() && !c.metadata.raw.contains_key("dependencies") {
        return Ok(());
    }
    let cvals = coalesced(c, &Map::new(), true)?;
    let mut b = Map::new();
    for r in &c.metadata.dependencies {
        for iv in &r.import_values {
            match iv {
                serde_json::Value::Object(o) => {
                    let s = |k: &str| match o.get(k) {
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(v) => v.to_string(),
                        None => String::new(),
                    };
                    let (child, parent) = (s("child"), s("parent"));
                    let Some(vv) = table(&cvals, &format!("{}.{child}", r.name)) else {
                        continue;
                    };
                    let m = path_to_map(&parent, vv.borrow().clone());
                    b = coalesce_tables(&b, &m, true);
                }
                serde_json::Value::String(name) => {
                    let Some(vm) = table(&cvals, &format!("{}.exports.{name}", r.name)) else {
                        continue;
                    };
                    b = coalesce_tables(&b, &vm.borrow(), true);
                }
                _ => {}
            }
        }
    }
    // Shared tables stay shared: rendering coalesces these values into a copy of its own.
    c.values = coalesce_tables(&cvals, &b, true);
    Ok(())
}

/// Applies one `--set` expression (`a.b=c,d[0]=e,f={x,y}`); values are typed as Helm types them
/// (integers, booleans, `null`).
pub fn parse_set(expr: &str, into: &mut Map) -> Result<(), ChartError> {
    set_expr(expr, into, SetKind::Typed)
}

/// Applies one `--set-string` expression: every value a string.
pub fn parse_set_string(expr: &str, into: &mut Map) -> Result<(), ChartError> {
    set_expr(expr, into, SetKind::String)
}

/// Applies one `--set-json` expression: `path=<JSON>`.
pub fn parse_set_json(expr: &str, into: &mut Map) -> Result<(), ChartError> {
    set_expr(expr, into, SetKind::Json)
}

#[derive(Clone, Copy, PartialEq)]
enum SetKind {
    Typed,
    String,
    Json,
}

fn split_unescaped(s: &str, sep: char, respect_braces: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
            continue;
        }
        if respect_braces && (c == '{' || c == '[') {
            depth += 1;
        }
        if respect_braces && (c == '}' || c == ']') {
            depth -= 1;
        }
        if c == sep && depth <= 0 {
            out.push(std::mem::take(&mut cur));
            continue;
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn typed(v: &str, kind: SetKind) -> Result<Value, ChartError> {
    Ok(match kind {
        SetKind::String => Value::str(unescape(v)),
        SetKind::Json => {
            let j: serde_json::Value = serde_json::from_str(v)
                .map_err(|e| ChartError::Values(format!("failed parsing --set-json data {v:?}: {e}")))?;
            Value::from_json(&j)
        }
        SetKind::Typed => {
            let u = unescape(v);
            if u.eq_ignore_ascii_case("true") {
                Value::Bool(true)
            } else if u.eq_ignore_ascii_case("false") {
                Value::Bool(false)
            } else if u.eq_ignore_ascii_case("null") {
                Value::Nil
            } else if (u == "0" || !u.starts_with('0'))
                && let Ok(i) = u.parse::<i64>()
            {
                Value::I64(i)
            } else {
                Value::str(u)
            }
        }
    })
}

fn set_expr(expr: &str, into: &mut Map, kind: SetKind) -> Result<(), ChartError> {
    let parts = if kind == SetKind::Json {
        vec![expr.to_string()]
    } else {
        split_unescaped(expr, ',', true)
    };
    for part in parts {
        if part.is_empty() {
            continue;
        }
        let Some(eq) = find_unescaped(&part, '=') else {
            return Err(ChartError::Values(format!("key {part:?} has no value")));
        };
        let (key, raw) = (&part[..eq], &part[eq + 1..]);
        let value = if kind != SetKind::Json && raw.starts_with('{') && raw.ends_with('}') {
            let inner = &raw[1..raw.len() - 1];
            let items: Result<Vec<Value>, ChartError> = if inner.is_empty() {
                Ok(Vec::new())
            } else {
                split_unescaped(inner, ',', true)
                    .iter()
                    .map(|s| typed(s, kind))
                    .collect()
            };
            Value::list(items?)
        } else {
            typed(raw, kind)?
        };
        set_path(into, &parse_key(key)?, value)?;
    }
    Ok(())
}

fn find_unescaped(s: &str, c: char) -> Option<usize> {
    let mut escaped = false;
    for (i, ch) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if ch == '\\' {
            escaped = true;
            continue;
        }
        if ch == c {
            return Some(i);
        }
    }
    None
}

#[derive(Debug)]
enum Seg {
    Key(String),
    Index(usize),
}

fn parse_key(key: &str) -> Result<Vec<Seg>, ChartError> {
    let mut out = Vec::new();
    for part in split_unescaped(key, '.', false) {
        let mut rest = part.as_str();
        let name_end = rest.find('[').unwrap_or(rest.len());
        if name_end > 0 {
            out.push(Seg::Key(unescape(&rest[..name_end])));
        }
        rest = &rest[name_end..];
        while let Some(r) = rest.strip_prefix('[') {
            let close = r
                .find(']')
                .ok_or_else(|| ChartError::Values(format!("key {key:?} has an unclosed index")))?;
            let idx: usize = r[..close]
                .parse()
                .map_err(|_| ChartError::Values(format!("key {key:?} has an invalid index")))?;
            if idx > 65536 {
                return Err(ChartError::Values(format!(
                    "index of {idx} is greater than maximum supported index of 65536"
                )));
            }
            out.push(Seg::Index(idx));
            rest = &r[close + 1..];
        }
        if !rest.is_empty() {
            return Err(ChartError::Values(format!("key {key:?} is malformed")));
        }
    }
    if out.is_empty() {
        return Err(ChartError::Values(format!("key {key:?} is empty")));
    }
    Ok(out)
}

fn set_path(into: &mut Map, path: &[Seg], value: Value) -> Result<(), ChartError> {
    let Seg::Key(first) = &path[0] else {
        return Err(ChartError::Values("a --set key must start with a name".into()));
    };
    let current = into.remove(first).unwrap_or(Value::Nil);
    let new = set_in(current, &path[1..], value)?;
    into.insert(first.clone(), new);
    Ok(())
}

fn set_in(current: Value, path: &[Seg], value: Value) -> Result<Value, ChartError> {
    let Some(seg) = path.first() else { return Ok(value) };
    match seg {
        Seg::Key(k) => {
            let mut m = match current {
                Value::Map(m) => m.borrow().clone(),
                _ => Map::new(),
            };
            let cur = m.remove(k).unwrap_or(Value::Nil);
            m.insert(k.clone(), set_in(cur, &path[1..], value)?);
            Ok(Value::map(m))
        }
        Seg::Index(i) => {
            let mut l = match current {
                Value::List(l) => l.to_vec(),
                _ => Vec::new(),
            };
            while l.len() <= *i {
                l.push(Value::Nil);
            }
            let cur = std::mem::take(&mut l[*i]);
            l[*i] = set_in(cur, &path[1..], value)?;
            Ok(Value::list(l))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(m: &Map) -> String {
        crate::funcs::to_go_json(&Value::map(m.clone()), false, false).unwrap()
    }

    #[test]
    fn set_expressions() {
        let mut m = Map::new();
        parse_set("a.b=1,c=true,d=x,e[1]=y,f={p,q},g=null,h=007", &mut m).unwrap();
        assert_eq!(
            show(&m),
            r#"{"a":{"b":1},"c":true,"d":"x","e":[null,"y"],"f":["p","q"],"g":null,"h":"007"}"#
        );
        parse_set_string("a.b=1", &mut m).unwrap();
        parse_set("k\\.x=1\\,2", &mut m).unwrap();
        assert_eq!(
            show(&m),
            r#"{"a":{"b":"1"},"c":true,"d":"x","e":[null,"y"],"f":["p","q"],"g":null,"h":"007","k.x":"1,2"}"#
        );
        parse_set_json("j={\"z\":[1,2]}", &mut m).unwrap();
        assert!(show(&m).contains(r#""j":{"z":[1,2]}"#));
    }
}
