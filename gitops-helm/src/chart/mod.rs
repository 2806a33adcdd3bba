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
pub(crate) mod render;
mod schema;
mod values;

use std::rc::Rc;
use std::sync::{Arc, OnceLock};

pub use load::{load, load_archive, load_dir, load_files};
pub use render::{Cluster, ClusterCapabilities, RenderOptions, Rendered, render, template};
pub use values::{merge_values, parse_set, parse_set_json, parse_set_string};

use crate::template::{Map, Object, ParseError, Tree, Value};

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
    /// The chart's `kubeVersion` excludes the cluster's.
    #[error("{0}")]
    Incompatible(String),
    /// Anything else Helm refuses (library charts, release names).
    #[error("{0}")]
    Invalid(String),
}

impl ChartError {
    /// Whether Helm met this error while rendering a release (templates, manifests, the kubeVersion
    /// check) rather than before: `helm template` then adds "Use --debug flag to render out invalid
    /// YAML" to its message.
    pub fn during_render(&self) -> bool {
        matches!(
            self,
            Self::Template(_) | Self::Manifest(_) | Self::Incompatible(_)
        )
    }

    /// The error as `helm template` prints it on stderr: `Error: ...`, with the `--debug` hint for
    /// errors met while rendering.
    pub fn cli_text(&self) -> String {
        if self.during_render() {
            format!("Error: {self}\n\nUse --debug flag to render out invalid YAML")
        } else {
            format!("Error: {self}")
        }
    }
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
    pub templates: Vec<TemplateFile>,
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

/// What parsing a template file gives: its main tree and its definitions, named as the file is inside
/// its chart (rendering renames them to the chart's place in the tree).
type Parsed = Result<(Tree, Vec<Tree>), ParseError>;

/// A file of `templates/`: its text and, once some thread has made it, its parse.
///
/// [`load`] starts parsing a large chart's templates on other threads while it goes on reading the
/// chart's values and subcharts, and rendering takes what those threads have parsed and parses the
/// rest itself; a chart rendered again is not parsed again.
#[derive(Clone)]
pub struct TemplateFile {
    /// Its path inside the chart (`templates/...`).
    pub name: String,
    /// Its text.
    pub text: Arc<str>,
    parsed: Arc<OnceLock<Parsed>>,
}

impl std::fmt::Debug for TemplateFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateFile")
            .field("name", &self.name)
            .field("bytes", &self.text.len())
            .field("parsed", &self.parsed.get().is_some())
            .finish()
    }
}

impl TemplateFile {
    /// A template file, not parsed yet.
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> TemplateFile {
        TemplateFile {
            name: name.into(),
            text: text.into(),
            parsed: Arc::default(),
        }
    }

    /// Its parse, made now unless some thread made it already (or is making it: then this waits).
    fn parsed(&self) -> &Parsed {
        self.parsed.get_or_init(|| parse_file(&self.name, &self.text))
    }

    /// Takes `twin`'s parse (made or to be made) for this file, which has the same name and text.
    fn share_parse_with(&mut self, twin: &TemplateFile) {
        self.text = twin.text.clone();
        self.parsed = twin.parsed.clone();
    }

    /// Parsing it, for another thread; nothing is done if the file is gone by then.
    fn parse_job(&self) -> ParseJob {
        let (name, text, cell) = (self.name.clone(), self.text.clone(), Arc::downgrade(&self.parsed));
        Box::new(move || {
            if let Some(cell) = cell.upgrade()
                && let Ok((tree, defs)) = cell.get_or_init(|| parse_file(&name, &text))
                // Every function that takes a pattern has "egex" in its name: a text without it
                // calls none, and its trees need no walk.
                && memchr::memmem::find(text.as_bytes(), b"egex").is_some()
            {
                // The patterns it passes as literals, compiled here rather than by the render.
                for t in std::iter::once(tree).chain(defs) {
                    t.calls_with_literal(&mut |func, lit| {
                        if crate::funcs::takes_pattern(func) {
                            crate::funcs::compile_ahead(lit);
                        }
                    });
                }
            }
        })
    }
}

type ParseJob = Box<dyn FnOnce() + Send>;

fn parse_file(name: &str, text: &Arc<str>) -> Parsed {
    let funcs = crate::funcs::helm_funcs_shared();
    crate::template::parse::parse_shared(name, text, &|f| crate::template::exec::has_func(funcs, f))
}

/// A file's bytes as text, invalid UTF-8 replaced as Go's conversions do (checked first with the fast
/// validator: `from_utf8_lossy` alone walks valid text byte by byte).
pub(crate) fn text_of(data: &[u8]) -> std::borrow::Cow<'_, str> {
    std::str::from_utf8(data).map_or_else(|_| String::from_utf8_lossy(data), std::borrow::Cow::Borrowed)
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

    /// The dependency as `.Chart.Dependencies` shows it (Go field names, import-values normalized).
    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("Alias".into(), Value::str(self.alias.as_str()));
        m.insert("Condition".into(), Value::str(self.condition.as_str()));
        m.insert("Enabled".into(), Value::Bool(self.enabled));
        let imports = self
            .import_values
            .iter()
            .map(|iv| {
                let (child, parent) = match iv {
                    serde_json::Value::String(s) => (format!("exports.{s}"), ".".to_string()),
                    other => (
                        other.get("child").map(json_text).unwrap_or_default(),
                        other.get("parent").map(json_text).unwrap_or_default(),
                    ),
                };
                let mut p = Map::new();
                p.insert("child".into(), Value::str(child));
                p.insert("parent".into(), Value::str(parent));
                Value::map(p)
            })
            .collect();
        m.insert("ImportValues".into(), Value::list(imports));
        m.insert("Name".into(), Value::str(self.name.as_str()));
        m.insert("Repository".into(), Value::str(self.repository.as_str()));
        m.insert(
            "Tags".into(),
            Value::list(self.tags.iter().map(|t| Value::str(t.as_str())).collect()),
        );
        m.insert("Version".into(), Value::str(self.version.as_str()));
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

/// `.Chart` in templates: Helm v4 hands templates a map of the metadata under Go field names (plus
/// `IsRoot`), with empty lists rather than nulls and annotations as strings.
pub(crate) fn chart_value(m: &Metadata, is_root: bool) -> Value {
    let raw = |k: &str| m.raw.get(k).filter(|v| !v.is_null());
    let text = |k: &str| -> Value {
        Value::str(match raw(k) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        })
    };
    let strings = |k: &str| -> Value {
        let items = raw(k)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().map(|x| Value::str(json_text(x))).collect())
            .unwrap_or_default();
        Value::list(items)
    };
    let mut out = Map::new();
    out.insert("APIVersion".into(), Value::str(m.api_version.as_str()));
    out.insert(
        "Annotations".into(),
        match raw("annotations").and_then(|a| a.as_object()) {
            Some(a) => Value::map(
                a.iter()
                    .map(|(k, v)| (k.clone(), Value::str(json_text(v))))
                    .collect(),
            ),
            None => Value::Object(Rc::new(NilStringMap)),
        },
    );
    out.insert("AppVersion".into(), Value::str(m.app_version.as_str()));
    out.insert("Condition".into(), text("condition"));
    out.insert(
        "Dependencies".into(),
        Value::list(m.dependencies.iter().map(Dependency::to_value).collect()),
    );
    out.insert(
        "Deprecated".into(),
        Value::Bool(raw("deprecated").and_then(|v| v.as_bool()).unwrap_or(false)),
    );
    out.insert("Description".into(), text("description"));
    out.insert("Home".into(), text("home"));
    out.insert("Icon".into(), text("icon"));
    out.insert("IsRoot".into(), Value::Bool(is_root));
    out.insert("Keywords".into(), strings("keywords"));
    out.insert("KubeVersion".into(), Value::str(m.kube_version.as_str()));
    let maintainers = raw("maintainers").and_then(|v| v.as_array()).map(|a| {
        a.iter()
            .map(|mt| {
                let f = |k: &str| Value::str(mt.get(k).map(json_text).unwrap_or_default());
                let mut mm = Map::new();
                mm.insert("Email".into(), f("email"));
                mm.insert("Name".into(), f("name"));
                mm.insert("URL".into(), f("url"));
                Value::map(mm)
            })
            .collect()
    });
    out.insert("Maintainers".into(), Value::list(maintainers.unwrap_or_default()));
    out.insert("Name".into(), Value::str(m.name.as_str()));
    out.insert("Sources".into(), strings("sources"));
    out.insert("Tags".into(), text("tags"));
    out.insert("Type".into(), Value::str(m.chart_type.as_str()));
    out.insert("Version".into(), Value::str(m.version.as_str()));
    Value::map(out)
}

/// A YAML scalar as Go's string fields see it after sigs.k8s.io/yaml (`y` was read as `true`).
fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        v => v.to_string(),
    }
}

/// A nil `map[string]string` (Chart.yaml without annotations): prints `map[]`, encodes as `null`.
struct NilStringMap;

impl Object for NilStringMap {
    fn type_name(&self) -> &str {
        "map[string]string"
    }
    fn field(&self, _name: &str) -> Option<Value> {
        Some(Value::str(""))
    }
    fn entries(&self) -> Option<Vec<(Value, Value)>> {
        Some(Vec::new())
    }
    fn truthy(&self) -> bool {
        false
    }
    fn display(&self) -> String {
        "map[]".into()
    }
    fn to_data(&self) -> Value {
        Value::Nil
    }
}
