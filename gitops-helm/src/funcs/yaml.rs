//! Reading YAML into template values as Helm does (`sigs.k8s.io/yaml` over go-yaml v2): YAML 1.1
//! scalars, every number a float64, and map keys that YAML reads as booleans or numbers turned into
//! their Go string form (`on:` is the key `"true"`, `01:` the key `"1"`).

use gitops_core::yaml::Untyped as Node;
use gitops_core::yaml::simple::Simple;

use crate::template::{Map, Value};

fn key_string(k: &Node) -> Result<String, String> {
    Ok(match k {
        Node::Str(s) => s.clone(),
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        // go-yaml's float-to-string, at 32-bit precision as sigs.k8s.io/yaml does for keys.
        Node::Float(f) => {
            if f.is_nan() {
                ".nan".into()
            } else if f.is_infinite() {
                if *f > 0.0 { ".inf".into() } else { "-.inf".into() }
            } else {
                gitops_core::yaml::go_format_g(f64::from(*f as f32))
            }
        }
        Node::Null => return Err("unsupported map key of type: <nil>".into()),
        Node::Seq(_) | Node::Map(_) => return Err("unsupported map key: a collection".into()),
    })
}

fn to_value(n: Node) -> Result<Value, String> {
    Ok(match n {
        Node::Null => Value::Nil,
        Node::Bool(b) => Value::Bool(b),
        Node::Int(i) => Value::Float(i as f64),
        Node::Float(f) => Value::Float(f),
        Node::Str(s) => Value::str(s),
        Node::Seq(items) => Value::list(items.into_iter().map(to_value).collect::<Result<_, _>>()?),
        Node::Map(entries) => {
            let mut m = Map::new();
            for (k, v) in entries {
                m.insert(key_string(&k)?, to_value(v)?);
            }
            Value::map(m)
        }
    })
}

fn to_json(n: Node) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match n {
        Node::Null => J::Null,
        Node::Bool(b) => J::Bool(b),
        Node::Int(i) => match i64::try_from(i) {
            Ok(i) => J::from(i),
            Err(_) => serde_json::Number::from_f64(i as f64).map_or(J::Null, J::Number),
        },
        Node::Float(f) => serde_json::Number::from_f64(f).map_or(J::Null, J::Number),
        Node::Str(s) => J::String(s),
        Node::Seq(items) => J::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?),
        Node::Map(entries) => {
            let mut m = serde_json::Map::new();
            for (k, v) in entries {
                m.insert(key_string(&k)?, to_json(v)?);
            }
            J::Object(m)
        }
    })
}

/// [`to_value`] for what the fast reader read (keys are strings, integers fit 64 bits).
fn simple_to_value(n: Simple<'_>) -> Value {
    match n {
        Simple::Null => Value::Nil,
        Simple::Bool(b) => Value::Bool(b),
        Simple::Int(i) => Value::Float(i as f64),
        Simple::UInt(u) => Value::Float(u as f64),
        Simple::Float(f) => Value::Float(f),
        Simple::Str(s) => Value::str(&*s),
        Simple::Seq(items) => Value::list(items.into_iter().map(simple_to_value).collect()),
        Simple::Map(entries) => Value::map(
            entries
                .into_iter()
                .map(|(k, v)| (k.into_owned(), simple_to_value(v)))
                .collect(),
        ),
    }
}

/// [`to_json`] for what the fast reader read.
fn simple_to_json(n: Simple<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    match n {
        Simple::Null => J::Null,
        Simple::Bool(b) => J::Bool(b),
        Simple::Int(i) => J::from(i),
        Simple::UInt(u) => match i64::try_from(u) {
            Ok(i) => J::from(i),
            Err(_) => serde_json::Number::from_f64(u as f64).map_or(J::Null, J::Number),
        },
        Simple::Float(f) => serde_json::Number::from_f64(f).map_or(J::Null, J::Number),
        Simple::Str(s) => J::String(s.into_owned()),
        Simple::Seq(items) => J::Array(items.into_iter().map(simple_to_json).collect()),
        Simple::Map(entries) => J::Object(
            entries
                .into_iter()
                .map(|(k, v)| (k.into_owned(), simple_to_json(v)))
                .collect(),
        ),
    }
}

/// Reads the first document of `text`: through the fast reader (`fast`) when the text is a block
/// mapping it handles, else through [`Node`] (Helm's key strings) and `convert`; several documents, a
/// YAML error (worded by the general reader) or an unsupported key go through the general reader and
/// `from_json` instead.
fn read<T>(
    text: &str,
    fast: fn(Simple<'_>) -> T,
    convert: fn(Node) -> Result<T, String>,
    from_json: fn(Option<&serde_json::Value>) -> T,
) -> Result<T, gitops_core::yaml::YamlError> {
    let limits = super::helm_yaml_limits();
    if let Some(n) = gitops_core::yaml::simple::parse_mapping(text, &limits) {
        return Ok(fast(n));
    }
    let general = || gitops_core::yaml::from_str_multi(text, &limits).map(|docs| from_json(docs.first()));
    match gitops_core::yaml::from_str_with::<Option<Node>>(text, &limits) {
        Ok(Some(n)) => convert(n).or_else(|_| general()),
        Ok(None) => Ok(from_json(None)),
        Err(_) => general(),
    }
}

/// The first document of `text` as JSON with Helm's key strings, numbers kept as written (Chart.yaml,
/// requirements.yaml).
pub(crate) fn parse_json(text: &str) -> Result<serde_json::Value, gitops_core::yaml::YamlError> {
    read(text, simple_to_json, to_json, |j| {
        j.cloned().unwrap_or(serde_json::Value::Null)
    })
}

/// The first document of `text` as template values, read as Helm reads values files and `fromYaml`
/// input.
pub(crate) fn parse(text: &str) -> Result<Value, gitops_core::yaml::YamlError> {
    read(text, simple_to_value, to_value, |j| {
        j.map(Value::from_json).unwrap_or(Value::Nil)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_become_go_strings() {
        let v = super::parse("on: 1\nn: 2\n01: 3\n1.50: 4\nplain: 5\n\"on\": 6\n").unwrap();
        let j = crate::funcs::to_go_json(&v, false, false).unwrap();
        assert_eq!(j, r#"{"1":3,"1.5":4,"false":2,"on":6,"plain":5,"true":1}"#);
    }
}
