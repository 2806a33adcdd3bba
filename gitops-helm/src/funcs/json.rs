//! JSON as Go's `encoding/json` writes and reads it for `interface{}` values.

use crate::template::Value;

/// `json.Marshal` (or `MarshalIndent` with two spaces); `escape_html` escapes `<`, `>` and `&` as Go
/// does by default.
pub fn to_go_json(v: &Value, escape_html: bool, indent: bool) -> Result<String, String> {
    let mut out = String::new();
    write(&mut out, v, escape_html, if indent { Some(0) } else { None }, 0)?;
    Ok(out)
}

fn newline(out: &mut String, level: Option<usize>) {
    if let Some(l) = level {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", l));
    }
}

fn write(out: &mut String, v: &Value, esc: bool, level: Option<usize>, depth: usize) -> Result<(), String> {
    if depth > 1000 {
        return Err("json: unsupported value: encountered a cycle".into());
    }
    match v {
        Value::Invalid | Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::I64(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&float(*f)?),
        Value::Complex(..) => return Err("json: unsupported type: complex128".into()),
        Value::Str(s) => string(out, s, esc),
        Value::Bytes(b) => {
            use base64::Engine as _;
            string(out, &base64::engine::general_purpose::STANDARD.encode(b), esc);
        }
        Value::List(l) => {
            if l.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level.map(|l| l + 1));
                write(out, e, esc, level.map(|l| l + 1), depth + 1)?;
            }
            newline(out, level);
            out.push(']');
        }
        Value::Map(m) => object(
            out,
            m.borrow().iter().map(|(k, v)| (k.as_str(), v)),
            esc,
            level,
            depth,
        )?,
        Value::Object(o) => match o.json_fields() {
            Some(fields) if !fields.is_empty() => object(
                out,
                fields.iter().map(|(k, v)| (k.as_str(), v)),
                esc,
                level,
                depth,
            )?,
            _ => write(out, &o.to_data(), esc, level, depth + 1)?,
        },
    }
    Ok(())
}

/// A JSON object of `entries` in the order given (sorted map keys, or a struct's field order).
fn object<'a>(
    out: &mut String,
    entries: impl Iterator<Item = (&'a str, &'a Value)>,
    esc: bool,
    level: Option<usize>,
    depth: usize,
) -> Result<(), String> {
    out.push('{');
    let mut any = false;
    for (i, (k, e)) in entries.enumerate() {
        any = true;
        if i > 0 {
            out.push(',');
        }
        newline(out, level.map(|l| l + 1));
        string(out, k, esc);
        out.push(':');
        if level.is_some() {
            out.push(' ');
        }
        write(out, e, esc, level.map(|l| l + 1), depth + 1)?;
    }
    if any {
        newline(out, level);
    }
    out.push('}');
    Ok(())
}

/// A float64 as `encoding/json` writes it.
pub(crate) fn float(f: f64) -> Result<String, String> {
    if !f.is_finite() {
        return Err(format!(
            "json: unsupported value: {}",
            crate::template::fmt::format_float(f)
        ));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        return Ok(if e.starts_with('-') {
            format!("{m}e{e}")
        } else {
            format!("{m}e+{e}")
        });
    }
    Ok(format!("{f}"))
}

fn string(out: &mut String, s: &str, esc: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if esc => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `json.Unmarshal` into `interface{}`; errors in Go's words where it matters.
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => Ok(Value::from_json(&v)),
        Err(e) if e.is_eof() => Err("unexpected end of JSON input".into()),
        Err(e) => Err(format!(
            "invalid character in JSON at line {} column {}",
            e.line(),
            e.column()
        )),
    }
}
