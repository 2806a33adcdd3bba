//! Flux's postBuild variable substitution: bash-like `${var}` expressions over each object's YAML.
//!
//! Supported: `${var}`, `${var:=default}`, `${var=default}`, `${var:-default}`, `${var-default}`,
//! `${var:offset}`, `${var:offset:length}`, `${#var}`, `${var^}`, `${var^^}`, `${var,}`, `${var,,}`,
//! `${var#pattern}`, `${var##pattern}`, `${var%pattern}`, `${var%%pattern}`, `${var/pattern/replacement}`,
//! `${var//pattern/replacement}`, `${var/#pattern/replacement}`, `${var/%pattern/replacement}`. A plain `$var`
//! is left alone and `$${var}` gives a literal `${var}`. Objects annotated or labelled
//! `kustomize.toolkit.fluxcd.io/substitute: disabled` are skipped. In strict mode (Flux's default since
//! v1.9) a variable with neither value nor default is an error.

use std::collections::BTreeMap;

use gitops_core::yaml;
use serde_json::Value;

/// The annotation or label that turns substitution off for one object.
pub const DISABLE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// Why substitution failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubstituteError {
    /// A variable name that Flux does not accept.
    #[error("'{0}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'")]
    InvalidName(String),
    /// A `${...}` expression that cannot be parsed.
    #[error("{object}: invalid substitution expression {expr:?}")]
    Syntax {
        /// `Kind/namespace/name`.
        object: String,
        /// The expression.
        expr: String,
    },
    /// Strict mode: a variable with no value and no default.
    #[error("{object}: variable not set (strict mode): {var:?}")]
    Unset {
        /// `Kind/namespace/name`.
        object: String,
        /// The variable.
        var: String,
    },
    /// The substituted text is not valid YAML.
    #[error("{object}: substitution produced invalid YAML: {message}")]
    Yaml {
        /// `Kind/namespace/name`.
        object: String,
        /// The parser's message.
        message: String,
    },
}

fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next().is_some_and(|f| f == '_' || f.is_ascii_alphabetic())
        && c.all(|x| x == '_' || x.is_ascii_alphanumeric())
}

/// Flux's variable map: names validated, newlines removed from values.
///
/// # Errors
/// An invalid variable name.
pub fn vars<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<BTreeMap<String, String>, SubstituteError> {
    let mut out = BTreeMap::new();
    for (k, v) in pairs {
        if !valid_name(k) {
            return Err(SubstituteError::InvalidName(k.to_owned()));
        }
        out.insert(k.to_owned(), v.replace('\n', ""));
    }
    Ok(out)
}

/// Flux's precedence: `substituteFrom` sources in order (later ones overwrite earlier ones), then the inline
/// `substitute` map overrides them all.
///
/// # Errors
/// An invalid variable name in any source.
pub fn merge_sources(
    substitute_from: &[BTreeMap<String, String>],
    substitute: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, SubstituteError> {
    let mut out = BTreeMap::new();
    for src in substitute_from.iter().chain(std::iter::once(substitute)) {
        out.extend(vars(src.iter().map(|(k, v)| (k.as_str(), v.as_str())))?);
    }
    Ok(out)
}

fn describe(obj: &Value) -> String {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let ns = s("/metadata/namespace");
    if ns.is_empty() {
        format!("{}/{}", s("/kind"), s("/metadata/name"))
    } else {
        format!("{}/{ns}/{}", s("/kind"), s("/metadata/name"))
    }
}

fn disabled(obj: &Value) -> bool {
    ["annotations", "labels"].iter().any(|k| {
        obj.pointer(&format!("/metadata/{k}/{}", DISABLE_KEY.replace('/', "~1")))
            .and_then(Value::as_str)
            == Some("disabled")
    })
}

/// Substitutes `vars` into every object that does not opt out.
///
/// # Errors
/// See [`SubstituteError`]; nothing is changed when an error is returned.
pub fn substitute(
    objects: &mut [Value],
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<(), SubstituteError> {
    let mut out = Vec::with_capacity(objects.len());
    for obj in objects.iter() {
        if disabled(obj) {
            out.push(None);
            continue;
        }
        let object = describe(obj);
        let text = yaml::to_string(obj);
        let replaced = eval(&text, vars, strict, &object)?;
        if replaced == text {
            out.push(None);
            continue;
        }
        let mut limits = yaml::Limits::default();
        limits.yaml_1_1_booleans = true;
        let v: Value = yaml::from_str_with(&replaced, &limits).map_err(|e| SubstituteError::Yaml {
            object: object.clone(),
            message: e.to_string(),
        })?;
        out.push(Some(v));
    }
    for (o, n) in objects.iter_mut().zip(out) {
        if let Some(n) = n {
            *o = n;
        }
    }
    Ok(())
}

/// Evaluates the `${...}` expressions of `text`.
///
/// # Errors
/// A malformed expression, or (strict) an unset variable without default.
pub fn eval(
    text: &str,
    vars: &BTreeMap<String, String>,
    strict: bool,
    object: &str,
) -> Result<String, SubstituteError> {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && b.get(i + 1) == Some(&b'$') && b.get(i + 2) == Some(&b'{') {
            // `$${...}` escapes to a literal `${...}`.
            out.push('$');
            i += 2;
            continue;
        }
        if b[i] == b'$' && b.get(i + 1) == Some(&b'{') {
            let start = i + 2;
            let mut depth = 1;
            let mut j = start;
            while j < b.len() && depth > 0 {
                match b[j] {
                    b'{' => depth += 1,
                    b'}' => depth -= 1,
                    _ => {}
                }
                j += 1;
            }
            if depth != 0 {
                return Err(SubstituteError::Syntax {
                    object: object.to_owned(),
                    expr: text[i..].chars().take(40).collect(),
                });
            }
            let expr = &text[start..j - 1];
            out.push_str(&expand(expr, vars, strict, object)?);
            i = j;
            continue;
        }
        let ch = text[i..].chars().next().expect("in bounds");
        out.push(ch);
        i += ch.len_utf8();
    }
    Ok(out)
}

fn expand(
    expr: &str,
    vars: &BTreeMap<String, String>,
    strict: bool,
    object: &str,
) -> Result<String, SubstituteError> {
    let syntax = || SubstituteError::Syntax {
        object: object.to_owned(),
        expr: format!("${{{expr}}}"),
    };
    if let Some(name) = expr.strip_prefix('#') {
        if !valid_name(name) {
            return Err(syntax());
        }
        return Ok(vars.get(name).map_or(0, |v| v.chars().count()).to_string());
    }
    let name_len = expr
        .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or(expr.len());
    let (name, op) = expr.split_at(name_len);
    if !valid_name(name) {
        return Err(syntax());
    }
    let value = vars.get(name);
    let unset = || -> Result<String, SubstituteError> {
        if strict {
            Err(SubstituteError::Unset {
                object: object.to_owned(),
                var: name.to_owned(),
            })
        } else {
            Ok(String::new())
        }
    };
    let rec = |s: &str| eval(s, vars, strict, object);
    if op.is_empty() {
        return value.cloned().map_or_else(unset, Ok);
    }
    for (prefix, if_empty) in [(":=", true), (":-", true), ("=", false), ("-", false)] {
        if let Some(default) = op.strip_prefix(prefix) {
            return match value {
                Some(v) if !(if_empty && v.is_empty()) => Ok(v.clone()),
                _ => rec(default),
            };
        }
    }
    let Some(v) = value else { return unset() };
    let chars: Vec<char> = v.chars().collect();
    if let Some(rest) = op.strip_prefix(':') {
        let (off, len) = match rest.split_once(':') {
            Some((o, l)) => (o, Some(l)),
            None => (rest, None),
        };
        let off: i64 = off.trim().parse().map_err(|_| syntax())?;
        let n = chars.len() as i64;
        let start = if off < 0 { (n + off).max(0) } else { off.min(n) } as usize;
        let end = match len {
            Some(l) => {
                let l: i64 = l.trim().parse().map_err(|_| syntax())?;
                if l < 0 {
                    (n + l).max(start as i64) as usize
                } else {
                    (start + l as usize).min(chars.len())
                }
            }
            None => chars.len(),
        };
        return Ok(chars[start..end].iter().collect());
    }
    match op {
        "^" => {
            return Ok(chars
                .first()
                .map(|c| c.to_uppercase().chain(chars[1..].iter().copied()).collect())
                .unwrap_or_default());
        }
        "^^" => return Ok(v.to_uppercase()),
        "," => {
            return Ok(chars
                .first()
                .map(|c| c.to_lowercase().chain(chars[1..].iter().copied()).collect())
                .unwrap_or_default());
        }
        ",," => return Ok(v.to_lowercase()),
        _ => {}
    }
    for (prefix, longest, from_start) in [
        ("##", true, true),
        ("#", false, true),
        ("%%", true, false),
        ("%", false, false),
    ] {
        if let Some(p) = op.strip_prefix(prefix) {
            let p = rec(p)?;
            return Ok(trim(v, &p, longest, from_start));
        }
    }
    if let Some(rest) = op.strip_prefix('/') {
        let (mode, rest) = match rest.chars().next() {
            Some('/') => ('a', &rest[1..]),
            Some('#') => ('s', &rest[1..]),
            Some('%') => ('e', &rest[1..]),
            _ => ('1', rest),
        };
        let (pat, rep) = rest.split_once('/').unwrap_or((rest, ""));
        let (pat, rep) = (rec(pat)?, rec(rep)?);
        if pat.is_empty() {
            return Ok(v.clone());
        }
        return Ok(match mode {
            'a' => v.replace(&pat, &rep),
            's' => v
                .strip_prefix(pat.as_str())
                .map_or_else(|| v.clone(), |r| format!("{rep}{r}")),
            'e' => v
                .strip_suffix(pat.as_str())
                .map_or_else(|| v.clone(), |r| format!("{r}{rep}")),
            _ => v.replacen(&pat, &rep, 1),
        });
    }
    Err(syntax())
}

/// Glob match of `p` (`*`, `?`) against all of `s`.
fn glob(p: &[char], s: &[char]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some('*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
        (Some('?'), Some(_)) => glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

fn trim(v: &str, pat: &str, longest: bool, from_start: bool) -> String {
    let chars: Vec<char> = v.chars().collect();
    let p: Vec<char> = pat.chars().collect();
    let n = chars.len();
    let cuts: Vec<usize> = if longest {
        (0..=n).rev().collect()
    } else {
        (0..=n).collect()
    };
    for k in cuts {
        if from_start && glob(&p, &chars[..k]) {
            return chars[k..].iter().collect();
        }
        if !from_start && glob(&p, &chars[n - k..]) {
            return chars[..n - k].iter().collect();
        }
    }
    v.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str, strict: bool) -> Result<String, SubstituteError> {
        let v = vars([
            ("app", "podinfo"),
            ("region", "eu-West-1"),
            ("empty", ""),
            ("path", "a/b/c.tar.gz"),
        ])
        .unwrap();
        eval(s, &v, strict, "ConfigMap/x")
    }

    #[test]
    fn operators() {
        for (expr, want) in [
            ("${app}", "podinfo"),
            ("x-${app}-y", "x-podinfo-y"),
            ("${missing:=def}", "def"),
            ("${missing:-d-${app}}", "d-podinfo"),
            ("${empty:=def}", "def"),
            ("${empty=def}", ""),
            ("${app:0:3}", "pod"),
            ("${app:3}", "info"),
            ("${#app}", "7"),
            ("${app^}", "Podinfo"),
            ("${app^^}", "PODINFO"),
            ("${region,,}", "eu-west-1"),
            ("${path#*/}", "b/c.tar.gz"),
            ("${path##*/}", "c.tar.gz"),
            ("${path%.*}", "a/b/c.tar"),
            ("${path%%.*}", "a/b/c"),
            ("${app/o/0}", "p0dinfo"),
            ("${app//o/0}", "p0dinf0"),
            ("${app/#pod/POD}", "PODinfo"),
            ("${app/%info/INFO}", "podINFO"),
            ("$app stays", "$app stays"),
            ("$${app} escaped", "${app} escaped"),
        ] {
            assert_eq!(ev(expr, true).unwrap(), want, "{expr}");
        }
    }

    #[test]
    fn substitute_from_order_then_inline() {
        let a: BTreeMap<String, String> = [
            ("x".to_owned(), "from-a".to_owned()),
            ("y".to_owned(), "a".to_owned()),
        ]
        .into();
        let b: BTreeMap<String, String> = [("x".to_owned(), "from-b".to_owned())].into();
        let inline: BTreeMap<String, String> = [("y".to_owned(), "inline".to_owned())].into();
        let m = merge_sources(&[a, b], &inline).unwrap();
        assert_eq!((m["x"].as_str(), m["y"].as_str()), ("from-b", "inline"));
    }

    #[test]
    fn strict_mode_and_errors() {
        assert!(matches!(ev("${nope}", true), Err(SubstituteError::Unset { .. })));
        assert_eq!(ev("${nope}", false).unwrap(), "");
        assert!(matches!(ev("${app", true), Err(SubstituteError::Syntax { .. })));
        assert!(matches!(
            vars([("1bad", "x")]),
            Err(SubstituteError::InvalidName(_))
        ));
        assert_eq!(vars([("a", "x\ny")]).unwrap()["a"], "xy");
    }

    #[test]
    fn objects_opt_out_and_types_reparse() {
        let v = vars([("replicas", "3"), ("flag", "yes")]).unwrap();
        let mut objs = vec![
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}, "spec": {"replicas": "${replicas}", "x": "${flag}"}}),
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "annotations": {DISABLE_KEY: "disabled"}}, "data": {"k": "${replicas}"}}),
        ];
        substitute(&mut objs, &v, true).unwrap();
        assert_eq!(objs[0]["spec"]["replicas"], 3);
        assert_eq!(objs[0]["spec"]["x"], true);
        assert_eq!(objs[1]["data"]["k"], "${replicas}");
    }
}
