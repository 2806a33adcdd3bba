//! Conversions Sprig does through `spf13/cast` and its own `strval`/`strslice`.

use crate::template::Value;
use crate::template::fmt::sprint_value;

/// Sprig's `strval`: strings as they are, bytes as text, everything else as `%v`.
pub(crate) fn strval(v: &Value) -> String {
    match v {
        Value::Str(s) => String::from(&**s),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Invalid | Value::Nil => "<nil>".into(),
        v => sprint_value(v),
    }
}

/// Sprig's `strslice`: a list as strings (nils dropped), anything else as a one-element list.
pub(crate) fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l.iter().filter(|e| !e.is_nil()).map(strval).collect(),
        Value::Invalid | Value::Nil => Vec::new(),
        v => vec![strval(v)],
    }
}

/// `cast.ToInt64` (errors are zero, as Sprig ignores them).
pub(crate) fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::I64(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => parse_int_str(s).unwrap_or(0),
        _ => 0,
    }
}

/// `cast`'s string-to-int: base prefixes allowed, a trailing `.0...` trimmed.
pub(crate) fn parse_int_str(s: &str) -> Option<i64> {
    let mut t = s;
    if let Some(i) = t.find('.')
        && t[i + 1..].chars().all(|c| c == '0')
    {
        t = &t[..i];
    }
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let body = body.replace('_', "");
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok()?
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// `cast.ToFloat64`.
pub(crate) fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::I64(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s.trim().parse::<f64>().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// The elements of any Go slice value, or an error naming its kind.
pub(crate) fn slice_of(v: &Value, what: &str) -> Result<Option<Vec<Value>>, String> {
    match v {
        Value::List(l) => Ok(Some(l.to_vec())),
        Value::Bytes(b) => Ok(Some(b.iter().map(|c| Value::Int(*c as i64)).collect())),
        Value::Invalid | Value::Nil => Err(format!("Cannot {what} on type <nil>")),
        v => Err(format!("Cannot {what} on type {}", v.kind_name())),
    }
}

/// Go's `reflect.DeepEqual` on template values.
pub(crate) fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Invalid | Value::Nil, Value::Invalid | Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::I64(x), Value::I64(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| deep_equal(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            if std::rc::Rc::ptr_eq(x, y) {
                return true;
            }
            let (x, y) = (x.borrow(), y.borrow());
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        _ => false,
    }
}

/// Sprig's `empty`: the zero value of its type.
pub(crate) fn is_empty(v: &Value) -> bool {
    !v.truthy()
}
