//! `values.schema.json` validation (JSON Schema draft 4 to 2020-12, the keywords charts use), reporting
//! every failing path.

use serde_json::Value as J;

use super::Chart;
use crate::template::{Map, Value};

/// Validates the values of a chart and its subcharts against their schemas; errors are appended in
/// Helm's layout (`chart:\n- at '/path': message\n`).
pub(crate) fn validate_tree(chart: &Chart, vals: &Map, errors: &mut String) {
    if let Some(schema) = &chart.schema {
        let data = Value::map(vals.clone()).to_json().unwrap_or(J::Null);
        let mut errs = Vec::new();
        check(schema, schema, &data, "", &mut errs, 0);
        if !errs.is_empty() {
            errors.push_str(&format!("{}:\n", chart.name()));
            for e in errs {
                errors.push_str(&format!("- {e}\n"));
            }
        }
    }
    for sub in &chart.dependencies {
        let sv = match vals.get(sub.name()) {
            Some(Value::Map(m)) => m.borrow().clone(),
            _ => Map::new(),
        };
        validate_tree(sub, &sv, errors);
    }
}

fn type_ok(t: &str, v: &J) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

fn resolve<'a>(root: &'a J, r: &str) -> Option<&'a J> {
    let ptr = r.strip_prefix('#')?;
    if ptr.is_empty() {
        return Some(root);
    }
    root.pointer(ptr)
}

fn at(path: &str) -> String {
    format!("at '{}'", if path.is_empty() { "" } else { path })
}

fn check(root: &J, s: &J, v: &J, path: &str, errs: &mut Vec<String>, depth: usize) {
    if depth > 64 {
        return;
    }
    let J::Object(s) = s else {
        if s == &J::Bool(false) {
            errs.push(format!("{}: false schema", at(path)));
        }
        return;
    };
    if let Some(J::String(r)) = s.get("$ref")
        && let Some(target) = resolve(root, r)
    {
        check(root, target, v, path, errs, depth + 1);
    }
    match s.get("type") {
        Some(J::String(t)) if !type_ok(t, v) => {
            errs.push(format!("{}: got {}, want {t}", at(path), kind(v)));
            return;
        }
        Some(J::Array(ts)) if !ts.iter().any(|t| t.as_str().is_some_and(|t| type_ok(t, v))) => {
            let want: Vec<&str> = ts.iter().filter_map(|t| t.as_str()).collect();
            errs.push(format!(
                "{}: got {}, want {}",
                at(path),
                kind(v),
                want.join(" or ")
            ));
            return;
        }
        _ => {}
    }
    if let Some(J::Array(e)) = s.get("enum")
        && !e.contains(v)
    {
        errs.push(format!(
            "{}: value must be one of {}",
            at(path),
            e.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        errs.push(format!("{}: value must be {c}", at(path)));
    }
    if let Some(f) = v.as_f64() {
        let num = |k: &str| s.get(k).and_then(|x| x.as_f64());
        if let Some(m) = num("minimum")
            && f < m
        {
            errs.push(format!("{}: minimum: got {f}, want {m}", at(path)));
        }
        if let Some(m) = num("maximum")
            && f > m
        {
            errs.push(format!("{}: maximum: got {f}, want {m}", at(path)));
        }
        if let Some(m) = num("exclusiveMinimum")
            && f <= m
        {
            errs.push(format!("{}: exclusiveMinimum: got {f}, want {m}", at(path)));
        }
        if let Some(m) = num("exclusiveMaximum")
            && f >= m
        {
            errs.push(format!("{}: exclusiveMaximum: got {f}, want {m}", at(path)));
        }
        if let Some(m) = num("multipleOf")
            && m != 0.0
            && (f / m).fract() != 0.0
        {
            errs.push(format!("{}: {f} not multipleOf {m}", at(path)));
        }
    }
    if let J::String(st) = v {
        let n = st.chars().count() as u64;
        if let Some(m) = s.get("minLength").and_then(|x| x.as_u64())
            && n < m
        {
            errs.push(format!("{}: minLength: got {n}, want {m}", at(path)));
        }
        if let Some(m) = s.get("maxLength").and_then(|x| x.as_u64())
            && n > m
        {
            errs.push(format!("{}: maxLength: got {n}, want {m}", at(path)));
        }
        if let Some(J::String(p)) = s.get("pattern")
            && let Ok(re) = regex::Regex::new(p)
            && !re.is_match(st)
        {
            errs.push(format!("{}: '{st}' does not match pattern '{p}'", at(path)));
        }
    }
    if let J::Array(items) = v {
        let n = items.len() as u64;
        if let Some(m) = s.get("minItems").and_then(|x| x.as_u64())
            && n < m
        {
            errs.push(format!("{}: minItems: got {n}, want {m}", at(path)));
        }
        if let Some(m) = s.get("maxItems").and_then(|x| x.as_u64())
            && n > m
        {
            errs.push(format!("{}: maxItems: got {n}, want {m}", at(path)));
        }
        if s.get("uniqueItems") == Some(&J::Bool(true)) {
            for i in 0..items.len() {
                if items[i + 1..].contains(&items[i]) {
                    errs.push(format!("{}: items at {i} are not unique", at(path)));
                    break;
                }
            }
        }
        let prefix = s.get("prefixItems").and_then(|p| p.as_array());
        let each = s.get("items");
        for (i, item) in items.iter().enumerate() {
            let p = || format!("{path}/{i}");
            if let Some(ps) = prefix.and_then(|p| p.get(i)) {
                check(root, ps, item, &p(), errs, depth + 1);
            } else if let Some(is) = each {
                match is {
                    J::Array(list) => {
                        if let Some(x) = list.get(i) {
                            check(root, x, item, &p(), errs, depth + 1);
                        }
                    }
                    one => check(root, one, item, &p(), errs, depth + 1),
                }
            }
        }
    }
    if let J::Object(o) = v {
        if let Some(J::Array(req)) = s.get("required") {
            let missing: Vec<String> = req
                .iter()
                .filter_map(|r| r.as_str())
                .filter(|r| !o.contains_key(*r))
                .map(|r| format!("'{r}'"))
                .collect();
            if !missing.is_empty() {
                errs.push(format!("{}: missing property {}", at(path), missing.join(", ")));
            }
        }
        let props = s.get("properties").and_then(|p| p.as_object());
        let patterns: Vec<(regex::Regex, &J)> = s
            .get("patternProperties")
            .and_then(|p| p.as_object())
            .map(|p| {
                p.iter()
                    .filter_map(|(k, v)| regex::Regex::new(k).ok().map(|r| (r, v)))
                    .collect()
            })
            .unwrap_or_default();
        let mut extra = Vec::new();
        let additional = s.get("additionalProperties");
        for (k, val) in o {
            // The path is made only for the keys the schema says something about: most values have
            // many it does not.
            let p = || format!("{path}/{k}");
            let mut covered = false;
            if let Some(ps) = props.and_then(|p| p.get(k)) {
                covered = true;
                check(root, ps, val, &p(), errs, depth + 1);
            }
            for (re, ps) in &patterns {
                if re.is_match(k) {
                    covered = true;
                    check(root, ps, val, &p(), errs, depth + 1);
                }
            }
            if !covered {
                match additional {
                    Some(J::Bool(false)) => extra.push(format!("'{k}'")),
                    Some(ap @ J::Object(_)) => check(root, ap, val, &p(), errs, depth + 1),
                    _ => {}
                }
            }
        }
        if !extra.is_empty() {
            errs.push(format!(
                "{}: additional properties {} not allowed",
                at(path),
                extra.join(", ")
            ));
        }
        if let Some(m) = s.get("minProperties").and_then(|x| x.as_u64())
            && (o.len() as u64) < m
        {
            errs.push(format!("{}: minProperties: got {}, want {m}", at(path), o.len()));
        }
        if let Some(m) = s.get("maxProperties").and_then(|x| x.as_u64())
            && (o.len() as u64) > m
        {
            errs.push(format!("{}: maxProperties: got {}, want {m}", at(path), o.len()));
        }
    }
    if let Some(J::Array(all)) = s.get("allOf") {
        for sub in all {
            check(root, sub, v, path, errs, depth + 1);
        }
    }
    if let Some(J::Array(any)) = s.get("anyOf")
        && !any.iter().any(|sub| passes(root, sub, v, path, depth))
    {
        errs.push(format!("{}: anyOf failed", at(path)));
    }
    if let Some(J::Array(one)) = s.get("oneOf") {
        let n = one.iter().filter(|sub| passes(root, sub, v, path, depth)).count();
        if n != 1 {
            errs.push(format!("{}: oneOf failed, {n} subschemas matched", at(path)));
        }
    }
    if let Some(not) = s.get("not")
        && passes(root, not, v, path, depth)
    {
        errs.push(format!("{}: not failed", at(path)));
    }
    if let Some(cond) = s.get("if") {
        let branch = if passes(root, cond, v, path, depth) {
            s.get("then")
        } else {
            s.get("else")
        };
        if let Some(b) = branch {
            check(root, b, v, path, errs, depth + 1);
        }
    }
}

fn passes(root: &J, s: &J, v: &J, path: &str, depth: usize) -> bool {
    let mut e = Vec::new();
    check(root, s, v, path, &mut e, depth + 1);
    e.is_empty()
}

fn kind(v: &J) -> &'static str {
    match v {
        J::Null => "null",
        J::Bool(_) => "boolean",
        J::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        J::Number(_) => "number",
        J::String(_) => "string",
        J::Array(_) => "array",
        J::Object(_) => "object",
    }
}
