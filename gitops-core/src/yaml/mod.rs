//! The one YAML module: every crate of the workspace reads YAML through here.
//!
//! Streams are split into documents on `---` lines first, so an error names the document (0-based, as
//! kustomize counts) and the line in the whole stream. Parsing follows the YAML 1.2 core schema as
//! kustomize's kyaml does (`yes`/`on` are strings), and is bounded: alias expansion (billion laughs),
//! nesting depth and document size all have limits, so hostile input fails fast with an error.

mod emit;
pub mod simple;
mod untyped;

use std::fmt;

use kube_core::DynamicObject;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use emit::{go_format_g, to_string, to_string_multi, to_string_pretty};
pub use untyped::Untyped;

/// Bounds on what one parse may consume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest single document, in bytes.
    pub max_document_bytes: usize,
    /// Most events alias replay may produce in one document (billion-laughs guard).
    pub max_alias_replay_events: usize,
    /// Deepest nesting of mappings and sequences.
    pub max_depth: usize,
    /// Accept repeated mapping keys, the last one winning (go-yaml v2 behaviour, used for kustomization
    /// files); by default a repeated key is an error.
    pub duplicate_keys_last_wins: bool,
    /// Read `yes`/`no`/`on`/`off` as booleans and `0777` as octal (YAML 1.1, as `sigs.k8s.io/yaml` does);
    /// by default they are a string and a decimal (YAML 1.2 core schema, as kustomize's kyaml does).
    pub yaml_1_1_booleans: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_document_bytes: 32 << 20,
            max_alias_replay_events: 200_000,
            max_depth: 256,
            duplicate_keys_last_wins: false,
            yaml_1_1_booleans: false,
        }
    }
}

/// A YAML error, located in the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum YamlError {
    /// The document is not valid YAML, or does not have the expected shape.
    #[error("document {document}{}: {message}", LineSuffix(*line))]
    Invalid {
        /// 0-based index of the document in the stream.
        document: usize,
        /// 1-based line in the stream, when known.
        line: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// A document is larger than [`Limits::max_document_bytes`].
    #[error("document {document} (line {line}): {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// 0-based index of the document in the stream.
        document: usize,
        /// 1-based line where the document starts.
        line: u64,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A document is not a Kubernetes object.
    #[error("document {document} (line {line}): {message}")]
    NotAnObject {
        /// 0-based index of the document in the stream.
        document: usize,
        /// 1-based line where the document starts.
        line: u64,
        /// What is missing or wrong.
        message: String,
    },
}

impl YamlError {
    /// 0-based index of the document the error is in.
    pub fn document(&self) -> usize {
        match self {
            Self::Invalid { document, .. }
            | Self::TooLarge { document, .. }
            | Self::NotAnObject { document, .. } => *document,
        }
    }

    /// 1-based line in the stream, when known.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Invalid { line, .. } => *line,
            Self::TooLarge { line, .. } | Self::NotAnObject { line, .. } => Some(*line),
        }
    }
}

struct LineSuffix(Option<u64>);

impl fmt::Display for LineSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(l) => write!(f, " (line {l})"),
            None => Ok(()),
        }
    }
}

/// One document of a stream: its text and where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentText<'a> {
    /// 0-based index in the stream.
    pub index: usize,
    /// 1-based line of the stream where the document's text starts.
    pub line: u64,
    /// The text, including a leading `---` marker line if there was one.
    pub text: &'a str,
}

/// Splits a stream into documents at `---` marker lines (column 0, followed by nothing, a space or a tab).
///
/// A stream with no markers is one document; text before the first marker is a document of its own
/// (often empty). A `...` end marker ends a document's text.
pub fn split_documents(input: &str) -> Vec<DocumentText<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1u64;
    let mut ended_at: Option<usize> = None;
    let mut offset = 0usize;
    for (line_no, line) in (1u64..).zip(input.split_inclusive('\n')) {
        let bare = line.trim_end_matches(['\n', '\r']);
        if is_marker(bare, "---") {
            let end = ended_at.take().unwrap_or(offset);
            if offset > 0 {
                docs.push(DocumentText {
                    index: docs.len(),
                    line: start_line,
                    text: &input[start..end],
                });
            }
            start = offset;
            start_line = line_no;
        } else if is_marker(bare, "...") && ended_at.is_none() {
            ended_at = Some(offset);
        }
        offset += line.len();
    }
    let end = ended_at.unwrap_or(input.len());
    docs.push(DocumentText {
        index: docs.len(),
        line: start_line,
        text: &input[start..end],
    });
    docs
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t'))
}

fn options(limits: &Limits) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = limits.max_depth;
    budget.max_reader_input_bytes = Some(limits.max_document_bytes);
    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    alias_limits.max_total_replayed_events = limits.max_alias_replay_events;
    serde_saphyr::options! {
        budget: Some(budget),
        alias_limits: alias_limits,
        strict_booleans: !limits.yaml_1_1_booleans,
        legacy_octal_numbers: limits.yaml_1_1_booleans,
        with_snippet: false,
        duplicate_keys: if limits.duplicate_keys_last_wins {
            serde_saphyr::DuplicateKeyPolicy::LastWins
        } else {
            serde_saphyr::DuplicateKeyPolicy::Error
        },
    }
}

fn parse_document<T: DeserializeOwned>(
    doc: &DocumentText<'_>,
    limits: &Limits,
) -> Result<Option<T>, YamlError> {
    if doc.text.len() > limits.max_document_bytes {
        return Err(YamlError::TooLarge {
            document: doc.index,
            line: doc.line,
            size: doc.text.len(),
            limit: limits.max_document_bytes,
        });
    }
    let mut values: Vec<T> =
        serde_saphyr::from_multiple_with_options(doc.text, options(limits)).map_err(|e| {
            let line = e
                .location()
                .map(|l| l.line())
                .filter(|l| *l > 0)
                .map(|l| l + doc.line - 1);
            YamlError::Invalid {
                document: doc.index,
                line,
                message: clean_message(&e),
            }
        })?;
    Ok(values.pop())
}

fn clean_message(e: &serde_saphyr::Error) -> String {
    let msg = e.to_string();
    // The location is reported separately, relative to the whole stream.
    let msg = match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => &msg,
    };
    msg.trim().to_owned()
}

/// Parses every non-empty document of a stream into JSON values, in order.
///
/// # Errors
/// The first document that is not valid YAML, or breaks a limit.
pub fn from_str_multi(input: &str, limits: &Limits) -> Result<Vec<Value>, YamlError> {
    let mut out = Vec::new();
    for doc in split_documents(input) {
        if let Some(v) = parse_document::<Value>(&doc, limits)?
            && !v.is_null()
        {
            out.push(v);
        }
    }
    Ok(out)
}

/// Parses a single-document YAML text (a kustomization.yaml, a values file) into `T`.
///
/// An empty document deserializes as `null`. A stream of several documents is an error.
///
/// # Errors
/// Invalid YAML, a broken limit, or a shape `T` does not accept.
pub fn from_str<T: DeserializeOwned>(input: &str) -> Result<T, YamlError> {
    from_str_with(input, &Limits::default())
}

/// [`from_str`] with explicit [`Limits`].
///
/// # Errors
/// As [`from_str`].
pub fn from_str_with<T: DeserializeOwned>(input: &str, limits: &Limits) -> Result<T, YamlError> {
    let docs = split_documents(input);
    let non_empty: Vec<_> = docs.iter().filter(|d| !is_blank(d.text)).collect();
    if non_empty.len() > 1 {
        return Err(YamlError::Invalid {
            document: non_empty[1].index,
            line: Some(non_empty[1].line),
            message: "expected a single document, found several".into(),
        });
    }
    match non_empty.first() {
        Some(doc) => match parse_document::<T>(doc, limits)? {
            Some(v) => Ok(v),
            None => null_as::<T>(doc.index, doc.line),
        },
        None => null_as::<T>(0, 1),
    }
}

fn null_as<T: DeserializeOwned>(document: usize, line: u64) -> Result<T, YamlError> {
    serde_json::from_value(Value::Null).map_err(|e| YamlError::Invalid {
        document,
        line: Some(line),
        message: e.to_string(),
    })
}

fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || is_marker(t, "---") || t == "..."
    })
}

/// Parses a multi-document stream of Kubernetes manifests.
///
/// Empty documents are skipped; a top-level `List` (`kind: List` or `*List` with `items`) is expanded into
/// its items, as kubectl and kustomize do.
///
/// # Errors
/// Invalid YAML, a broken limit, or a document that is not a mapping with `apiVersion`, `kind` and
/// `metadata.name` (or `metadata.generateName`): each names the document and its line.
pub fn parse_objects(input: &str, limits: &Limits) -> Result<Vec<DynamicObject>, YamlError> {
    let mut out = Vec::new();
    for doc in split_documents(input) {
        let Some(value) = parse_document::<Value>(&doc, limits)? else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        let not_object = |message: String| YamlError::NotAnObject {
            document: doc.index,
            line: doc.line,
            message,
        };
        if is_list(&value) {
            let items = value
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (i, item) in items.into_iter().enumerate() {
                out.push(to_object(item).map_err(|m| not_object(format!("items[{i}]: {m}")))?);
            }
        } else {
            out.push(to_object(value).map_err(not_object)?);
        }
    }
    Ok(out)
}

fn is_list(v: &Value) -> bool {
    v.get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && v.get("items").is_some_and(Value::is_array)
}

/// Checks that `value` is a Kubernetes object and converts it.
///
/// # Errors
/// A message naming the missing or mistyped field.
pub fn to_object(value: Value) -> Result<DynamicObject, String> {
    let Value::Object(map) = &value else {
        return Err(format!("expected a mapping, found {}", json_type(&value)));
    };
    for field in ["apiVersion", "kind"] {
        match map.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(Value::String(_)) | None => return Err(format!("missing {field}")),
            Some(other) => return Err(format!("{field} must be a string, found {}", json_type(other))),
        }
    }
    let meta = map.get("metadata").and_then(Value::as_object);
    let named = meta.is_some_and(|m| {
        ["name", "generateName"]
            .iter()
            .any(|k| m.get(*k).and_then(Value::as_str).is_some_and(|s| !s.is_empty()))
    });
    if !named {
        return Err(format!(
            "{} has no metadata.name",
            map.get("kind").and_then(Value::as_str).unwrap_or_default()
        ));
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_markers_only_at_column_zero() {
        let s = "a: 1\n---\nb: |\n  ---\n  x\n--- # c\nc: 3\n";
        let docs = split_documents(s);
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].text, "a: 1\n");
        assert_eq!(docs[1].line, 2);
        assert_eq!(docs[2].line, 6);
        let values = from_str_multi(s, &Limits::default()).unwrap();
        assert_eq!(values[1]["b"], "---\nx\n");
        assert_eq!(values[2]["c"], 3);
    }

    #[test]
    fn leading_marker_and_empty_documents() {
        let s = "---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n";
        let objs = parse_objects(s, &Limits::default()).unwrap();
        assert_eq!(objs.len(), 1);
        assert_eq!(objs[0].metadata.name.as_deref(), Some("a"));
    }

    #[test]
    fn errors_name_document_and_stream_line() {
        let s = "a: 1\n---\nb: 2\nc: [\n";
        let e = from_str_multi(s, &Limits::default()).unwrap_err();
        assert_eq!(e.document(), 1);
        let line = e.line().unwrap();
        assert!((3..=5).contains(&line), "{e}");
        assert!(e.to_string().starts_with("document 1 (line "), "{e}");
    }

    #[test]
    fn objects_need_api_version_kind_and_name() {
        let e = parse_objects("kind: ConfigMap\nmetadata: {name: a}\n", &Limits::default()).unwrap_err();
        assert_eq!(e.to_string(), "document 0 (line 1): missing apiVersion");
        let e = parse_objects("apiVersion: v1\nkind: ConfigMap\n", &Limits::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "document 0 (line 1): ConfigMap has no metadata.name"
        );
        let e = parse_objects("---\n- a\n", &Limits::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "document 0 (line 1): expected a mapping, found a sequence"
        );
    }

    #[test]
    fn lists_are_expanded() {
        let s = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n";
        let objs = parse_objects(s, &Limits::default()).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[1].types.as_ref().unwrap().kind, "Secret");
    }

    #[test]
    fn yaml_1_2_core_schema() {
        let v: Value = from_str("a: yes\nb: on\nc: true\nd: 0777\ne: '1'\n").unwrap();
        assert_eq!(v["a"], "yes");
        assert_eq!(v["b"], "on");
        assert_eq!(v["c"], true);
        assert_eq!(v["e"], "1");
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut s = String::from(
            "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            s.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 9].join(",")));
        }
        let start = std::time::Instant::now();
        let e = from_str::<Value>(&s).unwrap_err();
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(e.document(), 0);
    }

    #[test]
    fn oversized_documents_are_refused() {
        let limits = Limits {
            max_document_bytes: 64,
            ..Limits::default()
        };
        let s = format!("a: 1\n---\nb: \"{}\"\n", "x".repeat(100));
        let e = from_str_multi(&s, &limits).unwrap_err();
        assert!(
            matches!(
                e,
                YamlError::TooLarge {
                    document: 1,
                    line: 2,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let s = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(from_str::<Value>(&s).is_err());
    }

    #[test]
    fn duplicate_keys_are_errors() {
        assert!(from_str::<Value>("a: 1\na: 2\n").is_err());
    }

    #[test]
    fn single_document_parse_refuses_streams() {
        let e = from_str::<Value>("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(e.document(), 1);
        let v: Option<Value> = from_str("# nothing\n").unwrap();
        assert!(v.is_none());
    }
}
