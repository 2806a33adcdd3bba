//! TOML as BurntSushi/toml writes it (Helm's `toToml`) and a reader for `fromToml`.

use crate::template::{Map, Value};

/// Encodes a map as TOML: plain keys first, then tables (`[a]`, `[a.b]` indented two spaces per level)
/// and arrays of tables; floats always carry a decimal point; nil values are left out.
pub(crate) fn encode(v: &Value) -> Result<String, String> {
    let Value::Map(m) = v else {
        return Err("toml: top-level values must be Go maps or structs".into());
    };
    let mut out = String::new();
    table(&mut out, &mut Vec::new(), &m.borrow())?;
    Ok(out)
}

fn is_table(v: &Value) -> bool {
    matches!(v, Value::Map(_))
}

fn is_table_array(v: &Value) -> bool {
    matches!(v, Value::List(l) if !l.is_empty() && l.iter().all(is_table))
}

fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        quote(k)
    }
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn newline(out: &mut String) {
    if !out.is_empty() {
        out.push('\n');
    }
}

fn table(out: &mut String, path: &mut Vec<String>, m: &Map) -> Result<(), String> {
    let indent = "  ".repeat(path.len());
    for (k, v) in m {
        if v.is_nil() || is_table(v) || is_table_array(v) {
            continue;
        }
        out.push_str(&format!("{indent}{} = {}\n", key(k), element(v)?));
    }
    for (k, v) in m {
        if let Value::Map(sub) = v {
            path.push(k.clone());
            if path.len() == 1 {
                newline(out);
            }
            let header: Vec<String> = path.iter().map(|p| key(p)).collect();
            out.push_str(&format!(
                "{}[{}]\n",
                "  ".repeat(path.len() - 1),
                header.join(".")
            ));
            table(out, path, &sub.borrow())?;
            path.pop();
        } else if is_table_array(v) {
            let Value::List(l) = v else { continue };
            path.push(k.clone());
            for t in l.iter() {
                let Value::Map(sub) = t else { continue };
                if path.len() == 1 {
                    newline(out);
                }
                let header: Vec<String> = path.iter().map(|p| key(p)).collect();
                out.push_str(&format!(
                    "{}[[{}]]\n",
                    "  ".repeat(path.len() - 1),
                    header.join(".")
                ));
                table(out, path, &sub.borrow())?;
            }
            path.pop();
        }
    }
    Ok(())
}

fn element(v: &Value) -> Result<String, String> {
    Ok(match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i) | Value::I64(i) => i.to_string(),
        Value::Float(f) => {
            if f.is_nan() {
                "nan".into()
            } else if f.is_infinite() {
                if *f > 0.0 { "inf".into() } else { "-inf".into() }
            } else {
                let s = format!("{f}");
                if s.contains(['.', 'e', 'E']) {
                    s
                } else {
                    format!("{s}.0")
                }
            }
        }
        Value::Str(s) => quote(s),
        Value::List(l) => {
            let items: Result<Vec<String>, String> = l.iter().filter(|e| !e.is_nil()).map(element).collect();
            format!("[{}]", items?.join(", "))
        }
        Value::Map(m) => {
            let m = m.borrow();
            let items: Result<Vec<String>, String> = m
                .iter()
                .filter(|(_, v)| !v.is_nil())
                .map(|(k, v)| Ok(format!("{} = {}", key(k), element(v)?)))
                .collect();
            format!("{{{}}}", items?.join(", "))
        }
        v => return Err(format!("toml: cannot encode a value of type {}", v.type_name())),
    })
}

/// Parses TOML as BurntSushi/toml decodes into `map[string]interface{}` (integers int64, floats float64).
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    use serde_json::Value as J;
    let mut root = serde_json::Map::new();
    let mut path: Vec<String> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim().to_string();
        if line.is_empty() {
            continue;
        }
        let err = |m: &str| format!("toml: line {}: {m}", n + 1);
        if let Some(h) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            path = split_key(h).map_err(|e| err(&e))?;
            let (last, parents) = path.split_last().ok_or_else(|| err("empty table name"))?;
            let t = table_at(&mut root, parents).map_err(|e| err(&e))?;
            match t.entry(last.clone()).or_insert_with(|| J::Array(Vec::new())) {
                J::Array(a) => a.push(J::Object(serde_json::Map::new())),
                _ => return Err(err(&format!("key {last:?} is not an array of tables"))),
            }
            continue;
        }
        if let Some(h) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            path = split_key(h).map_err(|e| err(&e))?;
            table_at(&mut root, &path).map_err(|e| err(&e))?;
            continue;
        }
        let Some(eq) = find_eq(&line) else {
            return Err(err("expected key = value"));
        };
        let keys = split_key(&line[..eq]).map_err(|e| err(&e))?;
        let (v, rest) = value(line[eq + 1..].trim()).map_err(|e| err(&e))?;
        if !strip_comment(rest).trim().is_empty() {
            return Err(err("unexpected text after value"));
        }
        let mut full = path.clone();
        full.extend(keys);
        let (last, parents) = full.split_last().ok_or_else(|| err("empty key"))?;
        let t = table_at(&mut root, parents).map_err(|e| err(&e))?;
        if t.contains_key(last) {
            return Err(err(&format!("key {last:?} is already defined")));
        }
        t.insert(last.clone(), v);
    }
    Ok(from_toml_json(&J::Object(root)))
}

fn from_toml_json(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::I64(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        J::String(s) => Value::str(s.as_str()),
        J::Array(a) => Value::list(a.iter().map(from_toml_json).collect()),
        J::Object(o) => Value::map(o.iter().map(|(k, v)| (k.clone(), from_toml_json(v))).collect()),
    }
}

/// The table at `path`, created as needed; an array of tables yields its last element.
fn table_at<'m>(
    root: &'m mut serde_json::Map<String, serde_json::Value>,
    path: &[String],
) -> Result<&'m mut serde_json::Map<String, serde_json::Value>, String> {
    use serde_json::Value as J;
    let mut cur = root;
    for p in path {
        let entry = cur
            .entry(p.clone())
            .or_insert_with(|| J::Object(serde_json::Map::new()));
        cur = match entry {
            J::Object(m) => m,
            J::Array(a) => match a.last_mut() {
                Some(J::Object(m)) => m,
                _ => return Err(format!("key {p:?} is not a table")),
            },
            _ => return Err(format!("key {p:?} is not a table")),
        };
    }
    Ok(cur)
}

fn strip_comment(l: &str) -> &str {
    let mut in_str: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in l.char_indices() {
        match in_str {
            Some(q) if c == q && prev != '\\' => in_str = None,
            None if c == '"' || c == '\'' => in_str = Some(c),
            None if c == '#' => return &l[..i],
            _ => {}
        }
        prev = c;
    }
    l
}

fn find_eq(l: &str) -> Option<usize> {
    let mut in_str: Option<char> = None;
    for (i, c) in l.char_indices() {
        match in_str {
            Some(q) if c == q => in_str = None,
            None if c == '"' || c == '\'' => in_str = Some(c),
            None if c == '=' => return Some(i),
            _ => {}
        }
    }
    None
}

fn split_key(k: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = k.trim();
    loop {
        if rest.starts_with('"') || rest.starts_with('\'') {
            let (v, r) = value(rest)?;
            out.push(v.as_str().unwrap_or_default().to_string());
            rest = r.trim_start();
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            let part = rest[..end].trim();
            if part.is_empty()
                || !part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!("invalid key {k:?}"));
            }
            out.push(part.to_string());
            rest = rest[end..].trim_start();
        }
        match rest.strip_prefix('.') {
            Some(r) => rest = r.trim_start(),
            None if rest.is_empty() => return Ok(out),
            None => return Err(format!("invalid key {k:?}")),
        }
    }
}

fn value(s: &str) -> Result<(serde_json::Value, &str), String> {
    use serde_json::Value as J;
    let s = s.trim_start();
    if let Some(r) = s.strip_prefix("\"\"\"") {
        let end = r.find("\"\"\"").ok_or("unterminated multi-line string")?;
        let body = r[..end].strip_prefix('\n').unwrap_or(&r[..end]);
        return Ok((J::String(unescape(body)?), &r[end + 3..]));
    }
    if let Some(r) = s.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in r.char_indices() {
            if c == '"' && !escaped {
                return Ok((J::String(unescape(&r[..i])?), &r[i + 1..]));
            }
            escaped = c == '\\' && !escaped;
        }
        return Err("unterminated string".into());
    }
    if let Some(r) = s.strip_prefix('\'') {
        let end = r.find('\'').ok_or("unterminated literal string")?;
        return Ok((J::String(r[..end].to_string()), &r[end + 1..]));
    }
    if let Some(mut r) = s.strip_prefix('[') {
        let mut items = Vec::new();
        loop {
            r = r.trim_start();
            if let Some(rest) = r.strip_prefix(']') {
                return Ok((J::Array(items), rest));
            }
            let (v, rest) = value(r)?;
            items.push(v);
            r = rest.trim_start();
            if let Some(rest) = r.strip_prefix(',') {
                r = rest;
            } else if !r.starts_with(']') {
                return Err("expected , or ] in array".into());
            }
        }
    }
    if let Some(mut r) = s.strip_prefix('{') {
        let mut m = serde_json::Map::new();
        loop {
            r = r.trim_start();
            if let Some(rest) = r.strip_prefix('}') {
                return Ok((J::Object(m), rest));
            }
            let eq = find_eq(r).ok_or("expected = in inline table")?;
            let k = split_key(&r[..eq])?;
            let (v, rest) = value(&r[eq + 1..])?;
            m.insert(k.join("."), v);
            r = rest.trim_start();
            if let Some(rest) = r.strip_prefix(',') {
                r = rest;
            }
        }
    }
    let end = s.find([',', ']', '}', ' ', '\t', '#']).unwrap_or(s.len());
    let tok = &s[..end];
    let v = match tok {
        "true" => J::Bool(true),
        "false" => J::Bool(false),
        t => {
            let clean = t.replace('_', "");
            if let Some(i) = super::conv::parse_int_str(&clean).filter(|_| !clean.contains(['.', 'e', 'E'])) {
                J::from(i)
            } else if let Some(f) = clean.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                J::Number(f)
            } else if !t.is_empty() {
                // Dates and times are kept as their text.
                J::String(t.to_string())
            } else {
                return Err("expected a value".into());
            }
        }
    };
    Ok((v, &s[end..]))
}

fn unescape(s: &str) -> Result<String, String> {
    crate::template::unquote_go(&format!("\"{s}\"")).map_err(|_| format!("invalid escape in {s:?}"))
}
