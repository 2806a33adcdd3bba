//! The build pipeline: accumulate resources, generate, apply components and transformers, then hash
//! generated names, fix references, resolve vars and sort, in kustomize's order.

use std::{
    collections::BTreeMap,
    path::{Component, Path, PathBuf},
};

use gitops_core::yaml;
use serde_json::{Map, Value, json};

use crate::{
    Error, Result,
    fieldspec::Spec,
    fs::{DiskFs, EntryKind, FileSystem},
    generators, kustomization,
    kustomization::{FieldSpec, Kustomization},
    nameref, patch,
    resource::{Behavior, ResId, Resource},
    sort, transformers, vars,
};

/// Transformer configuration collected from `configurations:` files, merged upwards.
#[derive(Debug, Default, Clone)]
pub(crate) struct Config {
    pub(crate) name_prefix: Vec<Spec>,
    pub(crate) name_suffix: Vec<Spec>,
    pub(crate) common_labels: Vec<Spec>,
    pub(crate) labels: Vec<Spec>,
    pub(crate) template_labels: Vec<Spec>,
    pub(crate) common_annotations: Vec<Spec>,
    pub(crate) namespace: Vec<Spec>,
    pub(crate) images: Vec<Spec>,
    pub(crate) replicas: Vec<Spec>,
    pub(crate) name_reference: Vec<(String, String, String, Vec<Spec>)>,
    pub(crate) var_reference: Vec<Spec>,
}

impl Config {
    fn merge(&mut self, o: &Self) {
        use crate::fieldspec::merge_into as add;
        add(&mut self.name_prefix, &o.name_prefix);
        add(&mut self.name_suffix, &o.name_suffix);
        add(&mut self.common_labels, &o.common_labels);
        add(&mut self.labels, &o.labels);
        add(&mut self.template_labels, &o.template_labels);
        add(&mut self.common_annotations, &o.common_annotations);
        add(&mut self.namespace, &o.namespace);
        add(&mut self.images, &o.images);
        add(&mut self.replicas, &o.replicas);
        add(&mut self.var_reference, &o.var_reference);
        for nr in &o.name_reference {
            if !self
                .name_reference
                .iter()
                .any(|x| x.0 == nr.0 && x.1 == nr.1 && x.2 == nr.2)
            {
                self.name_reference.push(nr.clone());
            } else if let Some(x) = self
                .name_reference
                .iter_mut()
                .find(|x| x.0 == nr.0 && x.1 == nr.1 && x.2 == nr.2)
            {
                add(&mut x.3, &nr.3);
            }
        }
    }
}

/// What one kustomization level produced.
#[derive(Debug, Default)]
pub(crate) struct Acc {
    pub(crate) resources: Vec<Resource>,
    pub(crate) config: Config,
    pub(crate) vars: Vec<kustomization::Var>,
}

impl Acc {
    pub(crate) fn add(&mut self, r: Resource, origin: &Path) -> Result<()> {
        self.add_all(vec![r], origin)
    }

    /// Adds many resources, checking ids through a set rather than a scan per resource.
    pub(crate) fn add_all(&mut self, rs: Vec<Resource>, origin: &Path) -> Result<()> {
        let mut seen: std::collections::HashSet<ResId> =
            self.resources.iter().map(Resource::cur_id).collect();
        for r in rs {
            let id = r.cur_id();
            if !seen.insert(id.clone()) {
                return Err(Error::build(format!(
                    "{}: may not add resource with an already registered id: {}",
                    origin.display(),
                    id.display()
                )));
            }
            self.resources.push(r);
        }
        Ok(())
    }
}

/// The build: the global root nothing may leave, and the stack of directories being built.
pub(crate) struct Builder {
    fs: std::sync::Arc<dyn FileSystem>,
    root: PathBuf,
    stack: Vec<PathBuf>,
    /// The top kustomization when it is generated or amended in memory (Flux), by directory.
    top: Option<(PathBuf, Kustomization)>,
    /// Record which transformers touched each resource (`buildMetadata` is set).
    pub(crate) track: bool,
    /// Nesting of plugin transformers that record themselves instead of their built-in parts.
    pub(crate) quiet: usize,
    /// The OpenAPI setting of the outermost kustomization that has one: `Some(strategies)` for a custom
    /// schema, `Some(empty)` for the built-in one.
    pub(crate) openapi: std::cell::RefCell<Option<crate::openapi::Strategies>>,
}

/// Lexically normalises `p` (no `.` or `..` left), without touching the file system.
pub(crate) fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn is_remote(s: &str) -> bool {
    s.contains("://") || s.starts_with("git@") || s.starts_with("github.com/") || s.starts_with("gitlab.com/")
}

impl Builder {
    pub(crate) fn new(fs: std::sync::Arc<dyn FileSystem>, root: &Path) -> Result<Self> {
        let root = fs.canonicalize(root).map_err(|source| Error::Io {
            path: root.to_owned(),
            source,
        })?;
        Ok(Self {
            fs,
            root,
            stack: Vec::new(),
            top: None,
            track: false,
            quiet: 0,
            openapi: std::cell::RefCell::new(None),
        })
    }

    pub(crate) fn is_dir(&self, p: &Path) -> bool {
        self.fs.kind(p) == Some(EntryKind::Dir)
    }

    pub(crate) fn is_file(&self, p: &Path) -> bool {
        self.fs.kind(p) == Some(EntryKind::File)
    }

    /// Records a built-in transformer configured in `file` on every resource, as kustomize's
    /// `alpha.config.kubernetes.io/transformations` annotation lists them.
    pub(crate) fn mark(&self, acc: &mut Acc, file: &Path, kind: &str) {
        if self.track && self.quiet == 0 {
            let entry = json!({ "configuredIn": file.to_string_lossy(), "configuredBy": { "apiVersion": "builtin", "kind": kind } });
            for r in &mut acc.resources {
                r.transformations.push(entry.clone());
            }
        }
    }

    /// Records a transformer plugin configuration on every resource.
    pub(crate) fn mark_plugin(&self, acc: &mut Acc, configured_in: &Path, cfg: &Value) {
        if self.track {
            let s = |p: &str| {
                cfg.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let mut by = serde_json::Map::new();
            by.insert("apiVersion".into(), Value::String(s("/apiVersion")));
            by.insert("kind".into(), Value::String(s("/kind")));
            for (k, p) in [("name", "/metadata/name"), ("namespace", "/metadata/namespace")] {
                if !s(p).is_empty() {
                    by.insert(k.into(), Value::String(s(p)));
                }
            }
            let entry = json!({ "configuredIn": configured_in.to_string_lossy(), "configuredBy": by });
            for r in &mut acc.resources {
                r.transformations.push(entry.clone());
            }
        }
    }

    /// Checks that `p` (absolute, clean) stays inside `within`, following symlinks.
    fn confine(&self, p: &Path, within: &Path) -> Result<PathBuf> {
        let real = match self.fs.canonicalize(p) {
            Ok(r) => r,
            Err(source) => {
                if !clean(p).starts_with(within) {
                    return Err(Error::OutsideRoot {
                        path: p.to_owned(),
                        root: within.to_owned(),
                    });
                }
                return Err(Error::Io {
                    path: p.to_owned(),
                    source,
                });
            }
        };
        if !real.starts_with(within) || !real.starts_with(&self.root) {
            return Err(Error::OutsideRoot {
                path: p.to_owned(),
                root: within.to_owned(),
            });
        }
        Ok(real)
    }

    pub(crate) fn read_file(&self, dir: &Path, rel: &str) -> Result<String> {
        let p = clean(&dir.join(rel));
        let real = self.confine(&p, dir)?;
        let bytes = self.fs.read(&real).map_err(|source| Error::Io {
            path: p.clone(),
            source,
        })?;
        String::from_utf8(bytes).map_err(|_| Error::Invalid {
            file: p,
            message: "not valid UTF-8".into(),
        })
    }

    pub(crate) fn read_bytes(&self, dir: &Path, rel: &str) -> Result<Vec<u8>> {
        let p = clean(&dir.join(rel));
        let real = self.confine(&p, dir)?;
        self.fs
            .read(&real)
            .map_err(|source| Error::Io { path: p, source })
    }

    pub(crate) fn load_kustomization(&self, dir: &Path) -> Result<(Kustomization, PathBuf)> {
        if let Some((top, k)) = &self.top
            && top == dir
        {
            return Ok((k.clone(), dir.join(kustomization::FILE_NAMES[0])));
        }
        let mut found = Vec::new();
        for name in kustomization::FILE_NAMES {
            let p = dir.join(name);
            if self.is_file(&p) {
                found.push(p);
            }
        }
        let file = match found.len() {
            0 => return Err(Error::MissingKustomization { dir: dir.to_owned() }),
            1 => found.remove(0),
            _ => {
                return Err(Error::build(format!(
                    "Found multiple kustomization files under: {}",
                    dir.display()
                )));
            }
        };
        let text = {
            let bytes = self.fs.read(&file).map_err(|source| Error::Io {
                path: file.clone(),
                source,
            })?;
            String::from_utf8(bytes).map_err(|_| Error::Invalid {
                file: file.clone(),
                message: "not valid UTF-8".into(),
            })?
        };
        let mut limits = yaml::Limits::default();
        limits.duplicate_keys_last_wins = true;
        let raw: Value = yaml::from_str_with(&text, &limits).map_err(|e| Error::Invalid {
            file: file.clone(),
            message: e.to_string(),
        })?;
        let k: Option<Kustomization> =
            serde_json::from_value(kustomization::canonical_keys(raw)).map_err(|e| Error::Invalid {
                file: file.clone(),
                message: e.to_string(),
            })?;
        let mut k = k.unwrap_or_default();
        k.validate().map_err(|message| Error::Invalid {
            file: file.clone(),
            message,
        })?;
        if let Some(api) = &k.openapi {
            check_openapi(dir, api, |p| self.is_file(p)).map_err(|message| Error::Invalid {
                file: file.clone(),
                message,
            })?;
            if self.openapi.borrow().is_none() {
                let schema = match api.get("path") {
                    Some(p) => {
                        let text = self.read_file(dir, p)?;
                        crate::openapi::load(&text).map_err(|message| Error::Invalid {
                            file: dir.join(p),
                            message,
                        })?
                    }
                    None => Vec::new(),
                };
                *self.openapi.borrow_mut() = Some(schema);
            }
        }
        k.resources.append(&mut k.bases);
        k.images.append(&mut k.image_tags);
        Ok((k, file))
    }

    /// Builds the kustomization in `dir` (a fresh accumulation).
    pub(crate) fn build_dir(&mut self, dir: &Path) -> Result<Acc> {
        let dir = self.confine(dir, &self.root.clone())?;
        if self.stack.contains(&dir) {
            return Err(Error::Cycle { dir });
        }
        self.stack.push(dir.clone());
        let result = (|| {
            let (k, file) = self.load_kustomization(&dir)?;
            if k.kind.as_deref() == Some("Component") {
                return Err(Error::build(format!(
                    "{}: expected kind 'Kustomization' for path '{}' but got 'Component'",
                    file.display(),
                    dir.display()
                )));
            }
            let mut acc = Acc::default();
            self.run(&dir, &file, &k, &mut acc)?;
            Ok(acc)
        })();
        self.stack.pop();
        result
    }

    /// Applies one kustomization (or component) to `acc`, in kustomize's order.
    fn run(&mut self, dir: &Path, file: &Path, k: &Kustomization, acc: &mut Acc) -> Result<()> {
        for entry in &k.resources {
            self.accumulate(dir, entry, acc)?;
        }
        for c in &k.configurations {
            let text = self.read_file(dir, c)?;
            let cfg = load_config(&text).map_err(|message| Error::Invalid {
                file: dir.join(c),
                message,
            })?;
            acc.config.merge(&cfg);
        }
        for c in &k.crds {
            let text = self.read_file(dir, c)?;
            let cfg = crate::crds::config_from_crds(&text).map_err(|message| Error::Invalid {
                file: dir.join(c),
                message,
            })?;
            acc.config.merge(&cfg);
        }
        generators::run(self, dir, file, k, acc)?;
        for c in &k.components {
            self.component(dir, c, acc)?;
        }
        transformers::run(self, dir, file, k, acc)?;
        vars::bind(acc, &k.vars)?;
        Ok(())
    }

    fn component(&mut self, dir: &Path, entry: &str, acc: &mut Acc) -> Result<()> {
        if is_remote(entry) {
            return Err(Error::Remote {
                path: entry.to_owned(),
            });
        }
        let cdir = self.confine(&clean(&dir.join(entry)), &self.root.clone())?;
        if !self.is_dir(&cdir) {
            return Err(Error::build(format!(
                "{}: components must be directories",
                cdir.display()
            )));
        }
        if self.stack.contains(&cdir) {
            return Err(Error::Cycle { dir: cdir });
        }
        self.stack.push(cdir.clone());
        let result = (|| {
            let (k, file) = self.load_kustomization(&cdir)?;
            if k.kind.as_deref() != Some("Component") {
                return Err(Error::build(format!(
                    "{}: expected kind 'Component' for path '{}' but got '{}'",
                    file.display(),
                    cdir.display(),
                    k.kind.as_deref().unwrap_or("Kustomization")
                )));
            }
            self.run(&cdir, &file, &k, acc)
        })();
        self.stack.pop();
        result
    }

    fn accumulate(&mut self, dir: &Path, entry: &str, acc: &mut Acc) -> Result<()> {
        if is_remote(entry) {
            return Err(Error::Remote {
                path: entry.to_owned(),
            });
        }
        let p = clean(&dir.join(entry));
        if self.is_dir(&p) {
            let sub = self.build_dir(&p)?;
            acc.config.merge(&sub.config);
            vars::merge(&mut acc.vars, sub.vars)?;
            acc.add_all(sub.resources, &p)?;
            return Ok(());
        }
        let text = self.read_file(dir, entry).map_err(|e| match e {
            Error::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => Error::build(format!(
                "accumulating resources: accumulation err='accumulating resources from '{entry}': open {}: no such file or directory'",
                path.display()
            )),
            other => other,
        })?;
        let mut rs = parse_resources(&text, &p)?;
        for r in &mut rs {
            r.origin = Some(json!({ "path": p.to_string_lossy() }));
        }
        acc.add_all(rs, &p)
    }
}

fn check_openapi(
    dir: &Path,
    api: &BTreeMap<String, String>,
    is_file: impl Fn(&Path) -> bool,
) -> Result<(), String> {
    match (api.get("version"), api.get("path")) {
        (Some(_), Some(_)) => Err("builtin version and custom schema provided, cannot use both".into()),
        (Some(v), None) if v != "v1.21.2" => {
            Err(format!("the specified OpenAPI version {v} is not built in"))
        }
        (None, Some(p)) if !is_file(&clean(&dir.join(p))) => Err(format!("'{p}' doesn't exist")),
        _ => Ok(()),
    }
}

/// Parses a manifest file into resources (expanding `List`s).
pub(crate) fn parse_resources(text: &str, file: &Path) -> Result<Vec<Resource>> {
    let values = yaml::from_str_multi(text, &yaml::Limits::default()).map_err(|e| Error::Invalid {
        file: file.to_owned(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for v in values {
        let Value::Object(m) = &v else {
            return Err(Error::Invalid {
                file: file.to_owned(),
                message: "expected a mapping".into(),
            });
        };
        let is_list = m
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List"))
            && m.get("items").is_some_and(Value::is_array);
        if is_list {
            for item in m["items"].as_array().cloned().unwrap_or_default() {
                out.push(check_resource(item, file)?);
            }
        } else {
            out.push(check_resource(v, file)?);
        }
    }
    Ok(out)
}

fn check_resource(v: Value, file: &Path) -> Result<Resource> {
    let r = Resource::new(v);
    if r.kind().is_empty() {
        return Err(Error::Invalid {
            file: file.to_owned(),
            message: "missing kind in object".into(),
        });
    }
    if r.name().is_empty() && r.obj.pointer("/metadata/generateName").is_none() {
        return Err(Error::Invalid {
            file: file.to_owned(),
            message: format!(
                "missing metadata.name in object {{{} {}}}",
                r.api_version(),
                r.kind()
            ),
        });
    }
    Ok(r)
}

fn load_config(text: &str) -> Result<Config, String> {
    let v: Value = yaml::from_str(text).map_err(|e| e.to_string())?;
    let mut cfg = Config::default();
    let Some(m) = v.as_object() else { return Ok(cfg) };
    let specs = |key: &str| -> Result<Vec<Spec>, String> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(list) => {
                let fs: Vec<FieldSpec> =
                    serde_json::from_value(list.clone()).map_err(|e| format!("{key}: {e}"))?;
                let mut out = Vec::new();
                crate::fieldspec::merge_into(&mut out, &fs.iter().map(Spec::from_config).collect::<Vec<_>>());
                Ok(out)
            }
        }
    };
    cfg.name_prefix = specs("namePrefix")?;
    cfg.name_suffix = specs("nameSuffix")?;
    cfg.common_labels = specs("commonLabels")?;
    cfg.labels = specs("labels")?;
    cfg.template_labels = specs("templateLabels")?;
    cfg.common_annotations = specs("commonAnnotations")?;
    cfg.namespace = specs("namespace")?;
    cfg.images = specs("images")?;
    cfg.replicas = specs("replicas")?;
    cfg.var_reference = specs("varReference")?;
    if let Some(Value::Array(nrs)) = m.get("nameReference") {
        for nr in nrs {
            let kind = nr
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let group = nr
                .get("group")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let version = nr
                .get("version")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let fs: Vec<FieldSpec> = match nr.get("fieldSpecs") {
                Some(v) => serde_json::from_value(v.clone()).map_err(|e| format!("nameReference: {e}"))?,
                None => Vec::new(),
            };
            cfg.name_reference
                .push((group, version, kind, fs.iter().map(Spec::from_config).collect()));
        }
    }
    Ok(cfg)
}

/// Options of a whole build: what Flux's kustomize-controller adds on top of a plain `kustomize build`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BuildOptions {
    /// Generate a kustomization that takes every manifest under the directory when it has none.
    pub generate_missing: bool,
    /// `spec.targetNamespace`.
    pub namespace: Option<String>,
    /// `spec.namePrefix`.
    pub name_prefix: Option<String>,
    /// `spec.nameSuffix`.
    pub name_suffix: Option<String>,
    /// `spec.patches`, appended.
    pub patches: Vec<kustomization::Patch>,
    /// `spec.images`, appended.
    pub images: Vec<kustomization::Image>,
    /// `spec.components`, appended.
    pub components: Vec<String>,
}

impl BuildOptions {
    /// Plain `kustomize build`.
    pub fn new() -> Self {
        Self::default()
    }

    /// As Flux's kustomize-controller builds: a missing kustomization file is generated.
    pub fn flux() -> Self {
        Self {
            generate_missing: true,
            ..Self::default()
        }
    }
}

/// Every manifest under `dir`, as Flux's generator lists them: `*.yaml`/`*.yml` files (which must decode as
/// Kubernetes objects) and sub-directories holding a kustomization, not descended into.
fn scan_manifests(fs: &dyn FileSystem, dir: &Path, base: &Path, out: &mut Vec<String>) -> Result<()> {
    let entries = fs.read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    for (name, kind) in entries {
        let p = dir.join(&name);
        let rel = format!("./{}", relative(base, &p));
        match kind {
            EntryKind::Dir => {
                if kustomization::FILE_NAMES
                    .iter()
                    .any(|n| fs.kind(&p.join(n)) == Some(EntryKind::File))
                {
                    out.push(rel);
                } else {
                    scan_manifests(fs, &p, base, out)?;
                }
            }
            EntryKind::File if matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")) => {
                let bytes = fs.read(&p).map_err(|source| Error::Io {
                    path: p.clone(),
                    source,
                })?;
                let text = String::from_utf8_lossy(&bytes);
                parse_resources(&text, &p).map_err(|e| Error::Invalid {
                    file: p.clone(),
                    message: format!("failed to decode Kubernetes YAML: {e}"),
                })?;
                out.push(rel);
            }
            EntryKind::File => {}
        }
    }
    Ok(())
}

/// Builds `dir` (inside `root`) and returns the objects in output order.
///
/// # Errors
/// Any [`Error`]; nothing is written anywhere.
pub fn build(root: &Path, dir: &Path) -> Result<Vec<Value>> {
    build_with(root, dir, &BuildOptions::default())
}

/// [`build`] with Flux's additions.
///
/// # Errors
/// Any [`Error`]; nothing is written anywhere (a generated kustomization stays in memory).
pub fn build_with(root: &Path, dir: &Path, opts: &BuildOptions) -> Result<Vec<Value>> {
    build_fs(std::sync::Arc::new(DiskFs), root, dir, opts)
}

/// [`build_with`] over any [`FileSystem`], e.g. a [`crate::MemFs`].
///
/// # Errors
/// Any [`Error`].
pub fn build_fs(
    fs: std::sync::Arc<dyn FileSystem>,
    root: &Path,
    dir: &Path,
    opts: &BuildOptions,
) -> Result<Vec<Value>> {
    let mut b = Builder::new(fs, root)?;
    let dir = if dir.is_absolute() {
        dir.to_owned()
    } else {
        std::env::current_dir()
            .map_err(|source| Error::Io {
                path: dir.to_owned(),
                source,
            })?
            .join(dir)
    };
    let dir = b.confine(&clean(&dir), &b.root.clone())?;
    let mut k = match b.load_kustomization(&dir) {
        Ok((k, _)) => k,
        Err(Error::MissingKustomization { .. }) if opts.generate_missing => {
            let mut resources = Vec::new();
            scan_manifests(b.fs.as_ref(), &dir, &dir, &mut resources)?;
            Kustomization {
                resources,
                ..Kustomization::default()
            }
        }
        Err(e) => return Err(e),
    };
    if let Some(ns) = &opts.namespace {
        k.namespace.clone_from(ns);
    }
    if let Some(p) = &opts.name_prefix {
        k.name_prefix.clone_from(p);
    }
    if let Some(s) = &opts.name_suffix {
        k.name_suffix.clone_from(s);
    }
    k.patches.extend(opts.patches.iter().cloned());
    k.images.extend(opts.images.iter().cloned());
    k.components.extend(opts.components.iter().cloned());
    b.track = !k.build_metadata.is_empty();
    b.top = Some((dir.clone(), k.clone()));
    let mut acc = b.build_dir(&dir)?;
    hash_names(&mut acc.resources)?;
    nameref::fix(&mut acc.resources, &acc.config)?;
    vars::resolve(&mut acc.resources, &acc.vars, &acc.config)?;
    sort::apply(&mut acc.resources, k.sort_options.as_ref());
    let origins = k.build_metadata.iter().any(|m| m == "originAnnotations");
    let transformations = k.build_metadata.iter().any(|m| m == "transformerAnnotations");
    let mut out = Vec::with_capacity(acc.resources.len());
    acc.resources.retain(|r| {
        r.obj
            .pointer("/metadata/annotations/config.kubernetes.io~1local-config")
            .and_then(Value::as_str)
            != Some("true")
    });
    for mut r in acc.resources {
        stringify_annotations(&mut r);
        if origins && let Some(origin) = r.origin.take() {
            let text = origin_text(&origin, &dir, "");
            let ann = r
                .meta_mut()
                .entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(a) = ann.as_object_mut() {
                a.insert("config.kubernetes.io/origin".into(), Value::String(text));
            }
        }
        if transformations && !r.transformations.is_empty() {
            let text: String = r
                .transformations
                .iter()
                .map(|t| origin_text(t, &dir, "- "))
                .collect();
            let ann = r
                .meta_mut()
                .entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(a) = ann.as_object_mut() {
                a.insert(
                    "alpha.config.kubernetes.io/transformations".into(),
                    Value::String(text),
                );
            }
        }
        out.push(r.obj);
    }
    Ok(out)
}

/// kustomize rewrites annotations as strings when it strips its build annotations.
fn stringify_annotations(r: &mut Resource) {
    if let Some(Value::Object(a)) = r.obj.pointer_mut("/metadata/annotations") {
        for v in a.values_mut() {
            if !v.is_string() {
                *v = Value::String(crate::fieldpath::scalar_text(v));
            }
        }
    }
}

/// `to` relative to the directory `from` (both absolute and clean).
pub(crate) fn relative(from: &Path, to: &Path) -> String {
    let f: Vec<_> = from.components().collect();
    let t: Vec<_> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_owned(), f.len() - common).collect();
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// Renders an origin as kustomize's YAML; `first` prefixes the first line (`- ` in a list), and the other
/// lines are indented to match.
fn origin_text(origin: &Value, top: &Path, first: &str) -> String {
    let mut lines = Vec::new();
    if let Some(p) = origin.get("path").and_then(Value::as_str) {
        lines.push(format!("path: {}", relative(top, Path::new(p))));
    }
    if let Some(p) = origin.get("configuredIn").and_then(Value::as_str) {
        lines.push(format!("configuredIn: {}", relative(top, Path::new(p))));
    }
    if let Some(b) = origin.get("configuredBy") {
        lines.push("configuredBy:".into());
        for k in ["apiVersion", "kind", "name", "namespace"] {
            if let Some(v) = b.get(k).and_then(Value::as_str) {
                lines.push(format!("  {k}: {v}"));
            }
        }
    }
    let pad = " ".repeat(first.len());
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{}{l}\n", if i == 0 { first } else { &pad }))
        .collect()
}

/// Appends the content hash to generated ConfigMaps and Secrets.
fn hash_names(resources: &mut [Resource]) -> Result<()> {
    for r in resources.iter_mut().filter(|r| r.needs_hash) {
        let h = generators::hash(r)?;
        let name = format!("{}-{h}", r.name());
        r.set_name(&name);
    }
    Ok(())
}

/// Merges a generated resource into the existing one it names (generator `behavior`).
pub(crate) fn merge_generated(acc: &mut Acc, r: Resource, file: &Path) -> Result<()> {
    let behavior = r.behavior.unwrap_or(Behavior::Create);
    let id = r.cur_id();
    let existing = acc.resources.iter().position(|x| {
        let o = &x.orig;
        o.kind == id.kind
            && o.group == id.group
            && o.name == id.name
            && (o.namespace == id.namespace || (id.namespace.is_empty()))
    });
    match (behavior, existing) {
        (Behavior::Create, None) => acc.add(r, file),
        (Behavior::Create, Some(_)) => Err(Error::build(format!(
            "{}: may not add resource with an already registered id: {}",
            file.display(),
            id.display()
        ))),
        (Behavior::Merge | Behavior::Replace, None) => Err(Error::build(format!(
            "{}: id {} does not exist; cannot merge or replace",
            file.display(),
            ResId { ..id }.display()
        ))),
        (behavior, Some(i)) => {
            // The new resource takes the old one's place, name and history; labels and annotations are merged
            // (new wins) and, for `merge`, so are data and binaryData.
            let old = acc.resources[i].clone();
            let mut new = r;
            for key in ["labels", "annotations"] {
                let mut merged = old
                    .obj
                    .pointer(&format!("/metadata/{key}"))
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                if let Some(Value::Object(m)) = new.obj.pointer(&format!("/metadata/{key}")) {
                    for (k, v) in m {
                        merged.insert(k.clone(), v.clone());
                    }
                }
                if !merged.is_empty() {
                    new.meta_mut().insert(key.into(), Value::Object(merged));
                }
            }
            new.meta_mut()
                .insert("name".into(), Value::String(old.name().to_owned()));
            if old.namespace().is_empty() {
                new.meta_mut().remove("namespace");
            } else {
                new.meta_mut()
                    .insert("namespace".into(), Value::String(old.namespace().to_owned()));
            }
            new.orig = old.orig.clone();
            new.prev.clone_from(&old.prev);
            new.prefixes.clone_from(&old.prefixes);
            new.suffixes.clone_from(&old.suffixes);
            // The hash marker is a build annotation: it comes from the old resource, and stays only if the
            // new one asks for it too.
            new.needs_hash = old.needs_hash && new.needs_hash;
            if behavior == Behavior::Merge {
                for key in ["data", "binaryData"] {
                    let mut merged = old
                        .obj
                        .get(key)
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                    if let Some(Value::Object(m)) = new.obj.get(key) {
                        for (k, v) in m {
                            merged.insert(k.clone(), v.clone());
                        }
                    }
                    if !merged.is_empty() {
                        new.map_mut().insert(key.into(), Value::Object(merged));
                    }
                }
                if old.origin.is_some() {
                    new.origin = old.origin.clone();
                }
            }
            acc.resources[i] = new;
            Ok(())
        }
    }
}

/// Builds the kustomization at `dir` and prints it as `kustomize build` does.
///
/// # Errors
/// Any build error.
pub fn build_to_string(root: &Path, dir: &Path) -> Result<String> {
    let objs = build(root, dir)?;
    Ok(yaml::to_string_multi(&objs))
}

pub(crate) fn patch_targets(
    acc: &mut Acc,
    b: &Builder,
    dir: &Path,
    p: &kustomization::Patch,
    json6902_only: bool,
) -> Result<()> {
    patch::apply(acc, b, dir, p, json6902_only)
}
