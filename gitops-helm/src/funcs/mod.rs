//! Sprig's functions and Helm's own, as Helm's engine exposes them.
//!
//! [`helm_funcs`] is the function map Helm gives every template: Sprig v3 without `env` and `expandenv`,
//! plus `toYaml`, `fromYaml`, `fromYamlArray`, `toJson`, `fromJson`, `fromJsonArray`, `toToml`,
//! `fromToml`, `include`, `tpl`, `required` and `lookup`. Randomness (`randAlphaNum`, `uuidv4`, ...)
//! comes from a per-thread generator that [`seed_random`] makes reproducible.

mod conv;
mod crypto;
mod date;
mod json;
mod sha1;
mod sprig;
pub(crate) use sprig::{compile_ahead, takes_pattern};
mod toml;
mod yaml;

use std::cell::RefCell;
use std::rc::Rc;

use crate::template::{Func, FuncMap, Limits, MissingKey, NativeFn, State, Templates, Ty, Value, execute};

pub use json::to_go_json;

pub(crate) fn reg(
    m: &mut FuncMap,
    name: &'static str,
    params: &'static [Ty],
    variadic: Option<Ty>,
    f: NativeFn,
) {
    m.insert(name, Func { params, variadic, f });
}

thread_local! {
    static RNG: RefCell<fastrand::Rng> = RefCell::new(fastrand::Rng::new());
}

/// Makes this thread's random functions (`randAlphaNum`, `uuidv4`, `shuffle`, ...) reproducible.
pub fn seed_random(seed: u64) {
    RNG.with(|r| *r.borrow_mut() = fastrand::Rng::with_seed(seed));
}

pub(crate) fn rng<T>(f: impl FnOnce(&mut fastrand::Rng) -> T) -> T {
    note_volatile();
    RNG.with(|r| f(&mut r.borrow_mut()))
}

/// What this thread's templates did that an `include` result may depend on beyond its data: changed a
/// map in place (`set`, `unset`, `merge`...), read something that is not a function of their input
/// (randomness, the clock, a cluster), looked at a file's `.Template`. See [`include`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
struct SideEffects {
    mutations: u64,
    volatile: u64,
    template_reads: u64,
}

thread_local! {
    static SIDE_EFFECTS: std::cell::Cell<SideEffects> = const {
        std::cell::Cell::new(SideEffects { mutations: 0, volatile: 0, template_reads: 0 })
    };
}

fn side_effects() -> SideEffects {
    SIDE_EFFECTS.with(std::cell::Cell::get)
}

fn count(f: impl FnOnce(&mut SideEffects)) {
    SIDE_EFFECTS.with(|c| {
        let mut s = c.get();
        f(&mut s);
        c.set(s);
    });
}

/// A map was changed in place.
pub(crate) fn note_mutation() {
    count(|s| s.mutations += 1);
}

/// Something was read that the next call may read differently.
pub(crate) fn note_volatile() {
    count(|s| s.volatile += 1);
}

/// A file's `.Template` was looked at.
pub(crate) fn note_template_read() {
    count(|s| s.template_reads += 1);
}

/// [`helm_funcs`], made once for the process (for threads that parse ahead and need only the names).
pub(crate) fn helm_funcs_shared() -> &'static FuncMap {
    static FUNCS: std::sync::OnceLock<FuncMap> = std::sync::OnceLock::new();
    FUNCS.get_or_init(helm_funcs)
}

/// Helm's function map: Sprig (without `env`/`expandenv`) and Helm's functions. `lookup` reads through the
/// render's [`crate::chart::Cluster`] and otherwise returns an
/// empty map, as `helm template` does without a cluster.
pub fn helm_funcs() -> FuncMap {
    let mut m = FuncMap::default();
    sprig::register(&mut m);
    date::register(&mut m);
    helm(&mut m);
    m
}

/// Helm's `toYaml`: `sigs.k8s.io/yaml` output (JSON round trip, go-yaml v2 style), final newline removed.
pub fn to_yaml(v: &Value) -> Result<String, String> {
    let j = v.to_json()?;
    let mut out = gitops_core::yaml::to_string(&j);
    if out.ends_with('\n') {
        out.pop();
    }
    Ok(out)
}

/// Helm's `toYamlPretty`: go-yaml v3 with a two-space indent on the value itself (no JSON round trip, so
/// floats keep Go's `%g` form), final newline removed.
pub fn to_yaml_pretty(v: &Value) -> Result<String, String> {
    let j = v.to_json_keeping_floats()?;
    let mut out = gitops_core::yaml::to_string_pretty(&j);
    if out.ends_with('\n') {
        out.pop();
    }
    Ok(out)
}

/// Reads a values document (the first of the stream) as Helm does.
pub(crate) fn values_from_yaml(text: &str) -> Result<Value, gitops_core::yaml::YamlError> {
    yaml::parse(text)
}

/// Reads a metadata document (Chart.yaml) as JSON with Helm's key strings.
pub(crate) fn json_from_yaml(text: &str) -> Result<serde_json::Value, gitops_core::yaml::YamlError> {
    yaml::parse_json(text)
}

/// How Helm reads YAML (`sigs.k8s.io/yaml` over go-yaml v2): YAML 1.1 booleans (`yes`, `on`, `y`),
/// a repeated key replacing the earlier one.
pub fn helm_yaml_limits() -> gitops_core::yaml::Limits {
    let mut l = gitops_core::yaml::Limits::default();
    l.yaml_1_1_booleans = true;
    l.duplicate_keys_last_wins = true;
    l
}

/// Reads YAML as Helm's `fromYaml` does (through JSON: every number a float64). Errors are worded as
/// go-yaml words them (`yaml: line 2: did not find expected key`), since templates can print them.
pub fn from_yaml(text: &str) -> Result<Value, String> {
    yaml::parse(text).map_err(|e| go_yaml_error(text, &e))
}

/// go-yaml v2's wording of a YAML error: scanner errors name the (1-based) line unless it is the first,
/// parser errors name the line before the problem (go-yaml counts it from 0), as `yaml: line N: ...`.
pub(crate) fn go_yaml_error(text: &str, e: &gitops_core::yaml::YamlError) -> String {
    let full = e.to_string();
    let msg = full.split_once("): ").map_or(full.as_str(), |(_, m)| m);
    let line = e.line().unwrap_or(1);
    let with_line = |n: u64, m: &str| {
        if n == 0 {
            format!("yaml: {m}")
        } else {
            format!("yaml: line {n}: {m}")
        }
    };
    if let Some(b) = msg
        .strip_prefix("unclosed bracket '")
        .and_then(|r| r.chars().next())
    {
        let after = text.rfind(b).map_or("", |i| &text[i + 1..]);
        let close = if b == '[' { ']' } else { '}' };
        return if after.trim().is_empty() {
            with_line(line, "did not find expected node content")
        } else {
            with_line(line, &format!("did not find expected ',' or '{close}'"))
        };
    }
    if msg.contains("mapping values are not allowed") {
        return with_line(
            if line > 1 { line } else { 0 },
            "mapping values are not allowed in this context",
        );
    }
    if msg.contains("tabs disallowed") || msg.starts_with("unexpected character") {
        return with_line(
            if line > 1 { line } else { 0 },
            "found character that cannot start any token",
        );
    }
    if msg.contains("did not find expected '-' indicator") {
        return with_line(line.saturating_sub(1), "did not find expected '-' indicator");
    }
    if msg.contains("did not find expected key") {
        return with_line(line.saturating_sub(1), "did not find expected key");
    }
    if msg.contains("unclosed quote") {
        return "yaml: found unexpected end of stream".into();
    }
    format!("yaml: line {line}: {msg}")
}

fn helm(m: &mut FuncMap) {
    use Ty::*;
    reg(m, "toYaml", &[Any], None, |_, a| {
        Ok(Value::str(to_yaml(&a[0]).unwrap_or_default()))
    });
    reg(m, "mustToYaml", &[Any], None, |_, a| {
        Ok(Value::str(to_yaml(&a[0])?))
    });
    reg(m, "toYamlPretty", &[Any], None, |_, a| {
        Ok(Value::str(to_yaml_pretty(&a[0]).unwrap_or_default()))
    });
    reg(m, "fromYaml", &[Str], None, |_, a| {
        let text = a[0].as_str().unwrap_or_default();
        Ok(match from_yaml(text) {
            Ok(Value::Map(m)) => Value::Map(m),
            Ok(Value::Nil) => Value::map(Default::default()),
            Ok(v) => error_map(format!(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(&v)
            )),
            Err(e) => error_map(format!("error converting YAML to JSON: {e}")),
        })
    });
    reg(m, "fromYamlArray", &[Str], None, |_, a| {
        let text = a[0].as_str().unwrap_or_default();
        Ok(match from_yaml(text) {
            Ok(Value::List(l)) => Value::List(l),
            Ok(Value::Nil) => Value::list(Vec::new()),
            Ok(v) => Value::list(vec![Value::str(format!(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []interface {{}}",
                json_kind(&v)
            ))]),
            Err(e) => Value::list(vec![Value::str(format!("error converting YAML to JSON: {e}"))]),
        })
    });
    reg(m, "toJson", &[Any], None, |_, a| {
        Ok(Value::str(to_go_json(&a[0], true, false).unwrap_or_default()))
    });
    reg(m, "mustToJson", &[Any], None, |_, a| {
        Ok(Value::str(to_go_json(&a[0], true, false)?))
    });
    reg(m, "toPrettyJson", &[Any], None, |_, a| {
        Ok(Value::str(to_go_json(&a[0], true, true).unwrap_or_default()))
    });
    reg(m, "mustToPrettyJson", &[Any], None, |_, a| {
        Ok(Value::str(to_go_json(&a[0], true, true)?))
    });
    reg(m, "toRawJson", &[Any], None, |_, a| {
        Ok(Value::str(to_go_json(&a[0], false, false).unwrap_or_default()))
    });
    reg(m, "mustToRawJson", &[Any], None, |_, a| {
        Ok(Value::str(to_go_json(&a[0], false, false)?))
    });
    reg(m, "fromJson", &[Str], None, |_, a| {
        Ok(match json::parse(a[0].as_str().unwrap_or_default()) {
            Ok(Value::Map(m)) => Value::Map(m),
            Ok(v) => error_map(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(&v)
            )),
            Err(e) => error_map(e),
        })
    });
    reg(m, "mustFromJson", &[Str], None, |_, a| {
        json::parse(a[0].as_str().unwrap_or_default())
    });
    reg(m, "fromJsonArray", &[Str], None, |_, a| {
        Ok(match json::parse(a[0].as_str().unwrap_or_default()) {
            Ok(Value::List(l)) => Value::List(l),
            Ok(v) => Value::list(vec![Value::str(format!(
                "json: cannot unmarshal {} into Go value of type []interface {{}}",
                json_kind(&v)
            ))]),
            Err(e) => Value::list(vec![Value::str(e)]),
        })
    });
    reg(m, "toToml", &[Any], None, |_, a| {
        Ok(Value::str(toml::encode(&a[0]).unwrap_or_else(|e| e)))
    });
    reg(m, "fromToml", &[Str], None, |_, a| {
        Ok(match toml::parse(a[0].as_str().unwrap_or_default()) {
            Ok(v) => v,
            Err(e) => error_map(e),
        })
    });
    reg(m, "include", &[Str, Any], None, include);
    reg(m, "tpl", &[Str, Map], None, tpl);
    reg(m, "required", &[Str, Any], None, |_, a| {
        let warn = a[0].as_str().unwrap_or_default();
        match &a[1] {
            Value::Invalid | Value::Nil => Err(helm_err(warn)),
            Value::Str(s) if s.is_empty() => Err(helm_err(warn)),
            v => Ok(v.clone()),
        }
    });
    reg(m, "lookup", &[Str, Str, Str, Str], None, |_, a| {
        let Some(source) = LOOKUP.with(|l| l.borrow().clone()) else {
            return Ok(Value::map(Default::default()));
        };
        note_volatile();
        let arg = |i: usize| a[i].as_str().unwrap_or_default();
        match source.lookup(arg(0), arg(1), arg(2), arg(3))? {
            Some(obj) => Ok(from_unstructured(&obj)),
            None => Ok(Value::map(Default::default())),
        }
    });
}

thread_local! {
    static LOOKUP: RefCell<Option<std::sync::Arc<dyn crate::chart::Cluster>>> = const { RefCell::new(None) };
}

/// Sets this thread's `lookup` source for as long as it lives (one render).
pub(crate) struct LookupGuard(Option<std::sync::Arc<dyn crate::chart::Cluster>>);

impl LookupGuard {
    pub(crate) fn set(source: Option<std::sync::Arc<dyn crate::chart::Cluster>>) -> LookupGuard {
        LookupGuard(LOOKUP.with(|l| l.replace(source)))
    }
}

impl Drop for LookupGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        LOOKUP.with(|l| *l.borrow_mut() = previous);
    }
}

/// An object from the API server as client-go's unstructured decoding makes it: integers are int64,
/// other numbers float64.
fn from_unstructured(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::I64(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::Array(a) => Value::list(a.iter().map(from_unstructured).collect()),
        serde_json::Value::Object(o) => {
            Value::map(o.iter().map(|(k, v)| (k.clone(), from_unstructured(v))).collect())
        }
        other => Value::from_json(other),
    }
}

fn error_map(e: String) -> Value {
    let mut m = crate::template::Map::new();
    m.insert("Error".into(), Value::str(e));
    Value::map(m)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "array",
        Value::Map(_) => "object",
        Value::Str(_) => "string",
        Value::Bool(_) => "bool",
        Value::Nil | Value::Invalid => "null",
        _ => "number",
    }
}

/// How often one template may be included inside itself (Helm's `recursionMaxNums`).
const MAX_INCLUDE_RECURSION: usize = 1000;

/// Helm's markers around the message of `fail` and `required`: the chart renderer finds them in the
/// execution error and reports `execution error at (FILE:LINE:COL): MESSAGE`, as Helm does.
pub(crate) const HELM_ERR_START: &str = "HELM_ERR_START";
/// See [`HELM_ERR_START`].
pub(crate) const HELM_ERR_END: &str = "HELM_ERR_END";

pub(crate) fn helm_err(msg: &str) -> String {
    format!("{HELM_ERR_START}{msg}{HELM_ERR_END}")
}

fn include(st: &mut State<'_>, a: Vec<Value>) -> Result<Value, String> {
    let name: std::sync::Arc<str> = match &a[0] {
        Value::Str(s) => s.clone(),
        v => v.as_str().unwrap_or_default().into(),
    };
    // Helm's include runs on the root of its template set, which Helm names "gotpl".
    if st.set.lookup(&name).is_none() {
        return Err(format!(
            "template: no template {name:?} associated with template \"gotpl\""
        ));
    }
    // The same template included again with the same data (the same map, list or object, or an equal
    // string) gives the same text, in this file or another, if it read neither randomness, the clock,
    // a cluster nor `.Template`, changed no shared map (its effects must happen again; see
    // `MapCell`), and no shared map was changed since. Then the text is reused: charts include their
    // name and label helpers with `.` in every file.
    let key = st.set.include_key(&name, &a[1]);
    if key.is_some() {
        // From now on a change to the data counts: done by the template itself, it must happen again.
        crate::template::share(&a[1]);
    }
    let before = side_effects();
    if let Some(k) = &key
        && let Some(text) = st.set.included(k, before.mutations)
    {
        return Ok(text);
    }
    let n = st.include_counts.entry(name.clone()).or_insert(0);
    if *n > MAX_INCLUDE_RECURSION {
        return Err(format!(
            "rendering template has a nested reference name: {name}: unable to execute template"
        ));
    }
    *n += 1;
    let r = st.execute_template(&name, a[1].clone());
    if let Some(c) = st.include_counts.get_mut(&name) {
        *c -= 1;
    }
    let text = Value::str(r?);
    if let Some(k) = key
        && side_effects() == before
    {
        st.set
            .remember_include(k, a[1].clone(), text.clone(), before.mutations);
    }
    Ok(text)
}

fn tpl(st: &mut State<'_>, a: Vec<Value>) -> Result<Value, String> {
    let text = a[0].as_str().unwrap_or_default();
    // Helm parses the text as a new template named after the set's root, "gotpl".
    let name = "gotpl";
    let mut set = Templates::overlay(st.set.clone());
    let tree = set
        .parse(name, text)
        .map_err(|e| format!("cannot parse template {text:?}: {e}"))?;
    let out = st
        .execute_in(Rc::new(set), tree, a[1].clone())
        .map_err(|e| format!("error during tpl function execution for {text:?}: {e}"))?;
    Ok(Value::str(out.replace("<no value>", "")))
}

/// Renders one template text as Helm renders a named template: Helm's functions, `missingkey=zero`,
/// `<no value>` removed from the output, execution errors in Helm's words.
pub fn render_case(text: &str, data: Value) -> Result<String, String> {
    let mut set = Templates::new(Rc::new(helm_funcs()), MissingKey::Zero);
    set.parse("case", text).map_err(|e| e.to_string())?;
    let out = execute(&Rc::new(set), "case", data, Limits::default())
        .map_err(|e| crate::chart::render::helm_exec_error("case", &e))?;
    Ok(out.replace("<no value>", ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set a library caller executes again after changing the data from Rust does not reuse
    /// `include` texts (only a chart render, which changes data through templates alone, does).
    #[test]
    fn includes_see_changes_made_from_rust_between_executions() {
        let mut set = Templates::new(Rc::new(helm_funcs()), MissingKey::Zero);
        set.parse("t", r#"{{ define "x" }}{{ .v }}{{ end }}{{ include "x" . }}"#)
            .unwrap();
        let set = Rc::new(set);
        let data = Value::map(crate::template::Map::from([("v".to_string(), Value::str("1"))]));
        let run = || execute(&set, "t", data.clone(), Limits::default()).unwrap();
        assert_eq!(run(), "1");
        if let Value::Map(m) = &data {
            m.borrow_mut().insert("v".into(), Value::str("2"));
        }
        assert_eq!(run(), "2");
    }

    #[test]
    fn yaml_1_1_scalars() {
        let v = from_yaml("a: y\nb: yes\nc: on\nd: n\ne: off\nf: 0777\ng: 1_000\n").unwrap();
        assert_eq!(
            to_go_json(&v, false, false).unwrap(),
            r#"{"a":true,"b":true,"c":true,"d":false,"e":false,"f":511,"g":1000}"#
        );
    }

    /// Go's regular expressions: ASCII Perl classes and word boundaries, `[` literal inside a class, no
    /// class set operations. Each expected text is what helm v4.1.4 printed.
    #[test]
    fn regexes_are_go_regexes() {
        let cases = [
            (r##"{{ regexMatch "^\\d+$" "١٢٣" }}"##, "false"),
            (r##"{{ regexMatch "^\\w+$" "héllo" }}"##, "false"),
            (r##"{{ regexReplaceAll "\\W" "a-b_c é!" "." }}"##, "a.b_c..."),
            (
                r##"{{ regexReplaceAll "[\\d\\s]" "a1 b2\u00a0c" "#" }}"##,
                "a##b#\u{a0}c",
            ),
            (r##"{{ regexReplaceAll "[^\\W]" "ab-é_c" "#" }}"##, "##-é##"),
            (
                r##"{{ regexFindAll "\\bx\\w*" "xé x1 éx y" -1 | toJson }}"##,
                r#"["x","x1","x"]"#,
            ),
            (r##"{{ regexReplaceAll "[a[]" "a[b" "#" }}"##, "##b"),
            (r##"{{ regexReplaceAll "[]a]" "a]b" "#" }}"##, "##b"),
            (r##"{{ regexReplaceAll "[[:digit:]x]" "1x2y" "#" }}"##, "###y"),
            (r##"{{ regexReplaceAll "\\S+" "ab\u2003cd" "#" }}"##, "#"),
            (r##"{{ regexMatch "\\Bb" "ab" }}"##, "true"),
            (r##"{{ regexReplaceAll "[a&&b]" "a&b" "#" }}"##, "###"),
            (r##"{{ regexReplaceAll "\\p{Greek}" "αb" "#" }}"##, "#b"),
            (
                r##"{{ regexSplit "\\s+" "a b\tc" -1 | toJson }}"##,
                r#"["a","b","c"]"#,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(render_case(text, Value::Nil).unwrap(), want, "{text}");
        }
    }
}
