//! Helm charts: loading, dependencies, values and rendering as `helm template` does.
//!
//! ```no_run
//! use gitops_helm::chart::{self, RenderOptions};
//!
//! let chart = chart::load(std::path::Path::new("./podinfo")).unwrap();
//! let out = chart::template(&chart, &RenderOptions::new("my-release", "default")).unwrap();
//! print!("{out}");
//! ```

mod load;
mod render;
mod schema;
mod values;

use std::rc::Rc;

pub use load::{load, load_archive, load_dir, load_files};
pub use render::{RenderOptions, Rendered, render, template};
pub use values::{merge_values, parse_set, parse_set_json, parse_set_string};

use crate::template::{Map, Object, Value};

/// Why a chart could not be loaded or rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChartError {
    /// The chart's files are unreadable or malformed.
    #[error("{0}")]
    Load(String),
    /// Chart.yaml breaks a rule (`validation: ...`).
    #[error("validation: {0}")]
    Validation(String),
    /// A dependency in Chart.yaml is not in `charts/`.
    #[error(
        "an error occurred while checking for chart dependencies. You may need to run `helm dependency build` to fetch missing dependencies: found in Chart.yaml, but missing in charts/ directory: {0}"
    )]
    MissingDependencies(String),
    /// Values break the chart's (or a subchart's) `values.schema.json`.
    #[error("values don't meet the specifications of the schema(s) in the following chart(s):\n{0}")]
    Schema(String),
    /// A values file or `--set` expression is malformed.
    #[error("{0}")]
    Values(String),
    /// A template failed to parse or execute.
    #[error("{0}")]
    Template(String),
    /// The rendered output is not a valid manifest stream.
    #[error("{0}")]
    Manifest(String),
    /// Anything else Helm refuses (library charts, kubeVersion, release names).
    #[error("{0}")]
    Invalid(String),
}

/// A loaded chart.
#[derive(Debug, Default, Clone)]
pub struct Chart {
    /// Chart.yaml.
    pub metadata: Metadata,
    /// values.yaml.
    pub values: Map,
    /// values.schema.json.
    pub schema: Option<serde_json::Value>,
    /// `templates/...` files, in load order.
    pub templates: Vec<(String, String)>,
    /// Every other file (`crds/`, `files/`, README, ...), in load order.
    pub files: Vec<(String, FileData)>,
    /// Subcharts from `charts/`.
    pub dependencies: Vec<Rc<Chart>>,
}

impl Chart {
    /// The chart's name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }
}

/// The content of a chart file: in memory, or on disk and read the first time it is needed (a chart
/// directory's `crds/` and other files are often most of its bytes and seldom read by templates).
#[derive(Debug, Clone)]
pub struct FileData(Rc<FileInner>);

#[derive(Debug)]
enum FileInner {
    Loaded(Rc<[u8]>),
    OnDisk(std::path::PathBuf, std::cell::OnceCell<Rc<[u8]>>),
}

impl FileData {
    /// Content already in memory.
    pub fn loaded(data: Vec<u8>) -> FileData {
        FileData(Rc::new(FileInner::Loaded(strip_bom(data).into())))
    }

    /// A file read when first needed.
    pub fn on_disk(path: std::path::PathBuf) -> FileData {
        FileData(Rc::new(FileInner::OnDisk(path, std::cell::OnceCell::new())))
    }

    /// The bytes (a leading UTF-8 BOM removed, as Helm's loader does). A file that has become
    /// unreadable since the chart was loaded reads as empty.
    pub fn bytes(&self) -> Rc<[u8]> {
        match &*self.0 {
            FileInner::Loaded(d) => d.clone(),
            FileInner::OnDisk(p, cell) => cell
                .get_or_init(|| strip_bom(std::fs::read(p).unwrap_or_default()).into())
                .clone(),
        }
    }
}

fn strip_bom(mut d: Vec<u8>) -> Vec<u8> {
    if d.starts_with(&[0xef, 0xbb, 0xbf]) {
        d.drain(..3);
    }
    d
}

/// One entry of Chart.yaml's `dependencies`.
#[derive(Debug, Default, Clone)]
pub struct Dependency {
    /// The chart name.
    pub name: String,
    /// A semver range.
    pub version: String,
    /// Where it comes from (informational here).
    pub repository: String,
    /// Comma-separated value paths that enable it.
    pub condition: String,
    /// Tags that enable it.
    pub tags: Vec<String>,
    /// Whether it is enabled (computed).
    pub enabled: bool,
    /// Values imported from it.
    pub import_values: Vec<serde_json::Value>,
    /// The name it is installed under.
    pub alias: String,
}

impl Dependency {
    fn from_json(j: &serde_json::Value) -> Result<Dependency, String> {
        let s = |k: &str| j.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        Ok(Dependency {
            name: s("name"),
            version: s("version"),
            repository: s("repository"),
            condition: s("condition"),
            tags: j
                .get("tags")
                .and_then(|t| t.as_array())
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            enabled: j.get("enabled").and_then(|v| v.as_bool()).unwrap_or(false),
            import_values: j
                .get("import-values")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default(),
            alias: s("alias"),
        })
    }

    fn to_data(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), Value::str(self.name.as_str()));
        if !self.version.is_empty() {
            m.insert("version".into(), Value::str(self.version.as_str()));
        }
        m.insert("repository".into(), Value::str(self.repository.as_str()));
        if !self.condition.is_empty() {
            m.insert("condition".into(), Value::str(self.condition.as_str()));
        }
        if !self.tags.is_empty() {
            m.insert(
                "tags".into(),
                Value::list(self.tags.iter().map(|t| Value::str(t.as_str())).collect()),
            );
        }
        if self.enabled {
            m.insert("enabled".into(), Value::Bool(true));
        }
        if !self.import_values.is_empty() {
            m.insert(
                "import-values".into(),
                Value::list(self.import_values.iter().map(Value::from_json).collect()),
            );
        }
        if !self.alias.is_empty() {
            m.insert("alias".into(), Value::str(self.alias.as_str()));
        }
        Value::map(m)
    }
}

/// Chart.yaml.
#[derive(Debug, Default, Clone)]
pub struct Metadata {
    /// `name`
    pub name: String,
    /// `version`
    pub version: String,
    /// `apiVersion`
    pub api_version: String,
    /// `appVersion`
    pub app_version: String,
    /// `kubeVersion`
    pub kube_version: String,
    /// `type` (`application` or `library`)
    pub chart_type: String,
    /// `dependencies`
    pub dependencies: Vec<Dependency>,
    /// The whole document as read (for the fields templates may read).
    pub raw: serde_json::Map<String, serde_json::Value>,
}

impl Metadata {
    fn from_json(j: &serde_json::Value) -> Result<Metadata, String> {
        let raw = match j {
            serde_json::Value::Object(o) => o.clone(),
            serde_json::Value::Null => Default::default(),
            _ => return Err("Chart.yaml is not a map".into()),
        };
        let s = |k: &str| match raw.get(k) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Null) | None => Ok(String::new()),
            Some(serde_json::Value::Number(n)) if k == "version" || k == "appVersion" => Ok(n.to_string()),
            Some(other) => Err(format!(
                "json: cannot unmarshal {} into Go struct field Metadata.{k} of type string",
                json_kind(other)
            )),
        };
        let dependencies = match raw.get("dependencies") {
            Some(serde_json::Value::Array(a)) => {
                a.iter().map(Dependency::from_json).collect::<Result<_, _>>()?
            }
            _ => Vec::new(),
        };
        Ok(Metadata {
            name: s("name")?,
            version: s("version")?,
            api_version: s("apiVersion")?,
            app_version: s("appVersion")?,
            kube_version: s("kubeVersion")?,
            chart_type: s("type")?,
            dependencies,
            raw,
        })
    }

    /// Helm's `Metadata.Validate`.
    pub fn validate(&self) -> Result<(), ChartError> {
        let v = |m: String| Err(ChartError::Validation(m));
        if self.api_version.is_empty() {
            return v("chart.metadata.apiVersion is required".into());
        }
        if self.name.is_empty() {
            return v("chart.metadata.name is required".into());
        }
        if self.name == "." || self.name == ".." {
            return v(format!("chart.metadata.name {:?} is not allowed", self.name));
        }
        if self.name.contains('/') || self.name.contains('\\') {
            return v(format!("chart.metadata.name {:?} is invalid", self.name));
        }
        if self.version.is_empty() {
            return v("chart.metadata.version is required".into());
        }
        if self.version.parse::<gitops_core::semver::Version>().is_err() {
            return v(format!("chart.metadata.version {:?} is invalid", self.version));
        }
        if !matches!(self.chart_type.as_str(), "" | "application" | "library") {
            return v("chart.metadata.type must be application or library".into());
        }
        if let Some(serde_json::Value::Array(ms)) = self.raw.get("maintainers") {
            for m in ms {
                if m.get("name")
                    .and_then(|n| n.as_str())
                    .unwrap_or_default()
                    .is_empty()
                {
                    return v("chart.metadata.maintainers must have a name".into());
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for d in &self.dependencies {
            if d.name.is_empty() {
                return v("dependencies must have a name".into());
            }
            if !d.alias.is_empty()
                && !d
                    .alias
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return v(format!(
                    "dependency {:?} has disallowed characters in the alias",
                    d.name
                ));
            }
            let key = if d.alias.is_empty() { &d.name } else { &d.alias };
            if !seen.insert(key.clone()) {
                return v(format!("more than one dependency with name or alias {key:?}"));
            }
        }
        Ok(())
    }

    /// Whether this is a library chart.
    pub fn is_library(&self) -> bool {
        self.chart_type == "library"
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Null => "null",
    }
}

/// `.Chart` in templates: Go's `*chart.Metadata`, fields by their Go names.
#[derive(Debug)]
pub(crate) struct ChartObject(pub(crate) Metadata);

const META_FIELDS: &[(&str, &str)] = &[
    ("Name", "name"),
    ("Home", "home"),
    ("Sources", "sources"),
    ("Version", "version"),
    ("Description", "description"),
    ("Keywords", "keywords"),
    ("Maintainers", "maintainers"),
    ("Icon", "icon"),
    ("APIVersion", "apiVersion"),
    ("Condition", "condition"),
    ("Tags", "tags"),
    ("AppVersion", "appVersion"),
    ("Deprecated", "deprecated"),
    ("Annotations", "annotations"),
    ("KubeVersion", "kubeVersion"),
    ("Dependencies", "dependencies"),
    ("Type", "type"),
];

impl Object for ChartObject {
    fn type_name(&self) -> &str {
        "*chart.Metadata"
    }

    fn field(&self, name: &str) -> Option<Value> {
        let (_, key) = META_FIELDS.iter().find(|(g, _)| *g == name)?;
        let m = &self.0;
        Some(match *key {
            "name" => Value::str(m.name.as_str()),
            "version" => Value::str(m.version.as_str()),
            "apiVersion" => Value::str(m.api_version.as_str()),
            "appVersion" => Value::str(m.app_version.as_str()),
            "kubeVersion" => Value::str(m.kube_version.as_str()),
            "type" => Value::str(m.chart_type.as_str()),
            "dependencies" => Value::list(m.dependencies.iter().map(Dependency::to_data).collect()),
            "deprecated" => Value::Bool(m.raw.get("deprecated").and_then(|v| v.as_bool()).unwrap_or(false)),
            k => match m.raw.get(k) {
                Some(v) if !v.is_null() => Value::from_json(v),
                _ => match k {
                    "sources" | "keywords" | "maintainers" => Value::Nil,
                    "annotations" => Value::Nil,
                    _ => Value::str(""),
                },
            },
        })
    }

    fn display(&self) -> String {
        crate::template::fmt::sprint_value(&self.to_data())
    }

    fn to_data(&self) -> Value {
        let mut out = Map::new();
        for (_, key) in META_FIELDS {
            let Some(v) = self.field(
                META_FIELDS
                    .iter()
                    .find(|(_, k)| k == key)
                    .map(|(g, _)| *g)
                    .unwrap_or_default(),
            ) else {
                continue;
            };
            let keep = match &v {
                Value::Str(s) => !s.is_empty(),
                Value::Bool(b) => *b,
                Value::Nil => false,
                Value::List(l) => !l.is_empty(),
                Value::Map(m) => !m.borrow().is_empty(),
                _ => true,
            };
            if keep || *key == "name" || *key == "version" {
                out.insert((*key).to_string(), v);
            }
        }
        Value::map(out)
    }
}
