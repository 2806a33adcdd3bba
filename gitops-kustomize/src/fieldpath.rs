//! Dotted field paths as vars and replacements write them: `spec.containers.[name=app].image`,
//! `spec.containers[0].image`, `metadata.annotations.[a.b/c]`.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
    Match(String, String),
    All,
}

pub(crate) fn parse(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    let flush = |cur: &mut String, segs: &mut Vec<Seg>| {
        if !cur.is_empty() {
            let s = std::mem::take(cur);
            segs.push(if s == "*" { Seg::All } else { Seg::Key(s) });
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '.' => flush(&mut cur, &mut segs),
            '[' => {
                flush(&mut cur, &mut segs);
                let mut inner = String::new();
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    inner.push(c);
                }
                if let Some((k, v)) = inner.split_once('=') {
                    segs.push(Seg::Match(k.to_owned(), v.to_owned()));
                } else if let Ok(i) = inner.parse() {
                    segs.push(Seg::Index(i));
                } else if inner == "*" || inner.is_empty() {
                    segs.push(Seg::All);
                } else {
                    segs.push(Seg::Key(inner));
                }
            }
            c => cur.push(c),
        }
    }
    flush(&mut cur, &mut segs);
    segs
}

/// The values at `segs` (several with `*` or a list match).
pub(crate) fn get<'a>(v: &'a Value, segs: &[Seg]) -> Vec<&'a Value> {
    let Some((s, rest)) = segs.split_first() else {
        return vec![v];
    };
    match (s, v) {
        (Seg::Key(k), Value::Object(m)) => m.get(k).map(|c| get(c, rest)).unwrap_or_default(),
        (Seg::Key(k), Value::Array(a)) => match k.parse::<usize>() {
            Ok(i) => a.get(i).map(|c| get(c, rest)).unwrap_or_default(),
            Err(_) => Vec::new(),
        },
        (Seg::Index(i), Value::Array(a)) => a.get(*i).map(|c| get(c, rest)).unwrap_or_default(),
        (Seg::Match(k, val), Value::Array(a)) => a
            .iter()
            .filter(|e| e.get(k).is_some_and(|x| scalar_text(x) == *val))
            .flat_map(|c| get(c, rest))
            .collect(),
        (Seg::All, Value::Array(a)) => a.iter().flat_map(|c| get(c, rest)).collect(),
        (Seg::All, Value::Object(m)) => m.values().flat_map(|c| get(c, rest)).collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Calls `f` on every value at `segs`; with `create`, missing map keys (and `[k=v]` elements) are created.
pub(crate) fn visit_mut(v: &mut Value, segs: &[Seg], create: bool, f: &mut dyn FnMut(&mut Value)) -> bool {
    let Some((s, rest)) = segs.split_first() else {
        f(v);
        return true;
    };
    match s {
        Seg::Key(k) => {
            if let Value::Array(a) = v
                && let Ok(i) = k.parse::<usize>()
            {
                return a.get_mut(i).is_some_and(|c| visit_mut(c, rest, create, f));
            }
            if v.is_null() && create {
                *v = Value::Object(Map::new());
            }
            let Value::Object(m) = v else { return false };
            if !m.contains_key(k) {
                if !create {
                    return false;
                }
                let child = match rest.first() {
                    Some(Seg::Index(_) | Seg::Match(..)) => Value::Array(Vec::new()),
                    Some(_) => Value::Object(Map::new()),
                    None => Value::Null,
                };
                m.insert(k.clone(), child);
            }
            visit_mut(m.get_mut(k).expect("present"), rest, create, f)
        }
        Seg::Index(i) => match v {
            Value::Array(a) => a.get_mut(*i).is_some_and(|c| visit_mut(c, rest, create, f)),
            _ => false,
        },
        Seg::Match(k, val) => {
            let Value::Array(a) = v else { return false };
            let mut any = false;
            for e in a
                .iter_mut()
                .filter(|e| e.get(k).is_some_and(|x| scalar_text(x) == *val))
            {
                any |= visit_mut(e, rest, create, f);
            }
            if !any && create {
                let mut m = Map::new();
                m.insert(k.clone(), Value::String(val.clone()));
                a.push(Value::Object(m));
                let last = a.last_mut().expect("pushed");
                return visit_mut(last, rest, create, f);
            }
            any
        }
        Seg::All => {
            let mut any = false;
            match v {
                Value::Array(a) => {
                    for c in a {
                        any |= visit_mut(c, rest, create, f);
                    }
                }
                Value::Object(m) => {
                    for c in m.values_mut() {
                        any |= visit_mut(c, rest, create, f);
                    }
                }
                _ => {}
            }
            any
        }
    }
}
