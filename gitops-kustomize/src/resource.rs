//! Resources as the build sees them: an object plus its identity history.

use serde_json::{Map, Value};

use crate::k8s_tables::CLUSTER_SCOPED;

/// Group, version, kind, name and namespace of a resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct ResId {
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) namespace: String,
}

impl ResId {
    /// `Kind.version.group/name.namespace`, as kustomize prints ids in messages.
    pub(crate) fn display(&self) -> String {
        let gv = if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}.{}", self.version, self.group)
        };
        let ns = if self.namespace.is_empty() {
            "[noNs]".to_owned()
        } else {
            self.namespace.clone()
        };
        format!("{}.{}/{}.{}", self.kind, gv, self.name, ns)
    }
}

/// Generator behavior on name collisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behavior {
    Create,
    Merge,
    Replace,
}

/// One resource being built.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub(crate) obj: Value,
    /// Identity when first loaded or generated.
    pub(crate) orig: ResId,
    /// Identities before each rename (prefix, suffix, namespace, hash).
    pub(crate) prev: Vec<ResId>,
    /// A generated ConfigMap/Secret whose name gets the content hash.
    pub(crate) needs_hash: bool,
    /// A generated resource, and how it combines with an existing one.
    pub(crate) behavior: Option<Behavior>,
    /// `config.kubernetes.io/origin` to add when buildMetadata asks for it.
    pub(crate) origin: Option<Value>,
    /// Name prefixes and suffixes applied, innermost first (name reference disambiguation).
    pub(crate) prefixes: Vec<String>,
    pub(crate) suffixes: Vec<String>,
    /// Names of the vars bound to this resource.
    pub(crate) ref_vars: Vec<String>,
    /// Transformers that touched this resource (origins), for `transformerAnnotations`.
    pub(crate) transformations: Vec<Value>,
}

pub(crate) fn split_api_version(av: &str) -> (&str, &str) {
    match av.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", av),
    }
}

impl Resource {
    pub(crate) fn new(obj: Value) -> Self {
        let mut r = Self {
            obj,
            orig: ResId::default(),
            prev: Vec::new(),
            needs_hash: false,
            behavior: None,
            origin: None,
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            ref_vars: Vec::new(),
            transformations: Vec::new(),
        };
        r.orig = r.cur_id();
        r
    }

    pub(crate) fn map(&self) -> &Map<String, Value> {
        self.obj.as_object().expect("resources are mappings")
    }

    pub(crate) fn map_mut(&mut self) -> &mut Map<String, Value> {
        self.obj.as_object_mut().expect("resources are mappings")
    }

    pub(crate) fn str_at(&self, path: &[&str]) -> &str {
        let mut v = &self.obj;
        for p in path {
            match v.get(p) {
                Some(x) => v = x,
                None => return "",
            }
        }
        v.as_str().unwrap_or("")
    }

    pub(crate) fn api_version(&self) -> &str {
        self.str_at(&["apiVersion"])
    }

    pub(crate) fn kind(&self) -> &str {
        self.str_at(&["kind"])
    }

    pub(crate) fn name(&self) -> &str {
        self.str_at(&["metadata", "name"])
    }

    pub(crate) fn namespace(&self) -> &str {
        self.str_at(&["metadata", "namespace"])
    }

    pub(crate) fn group(&self) -> &str {
        split_api_version(self.api_version()).0
    }

    pub(crate) fn cur_id(&self) -> ResId {
        let (g, v) = split_api_version(self.api_version());
        ResId {
            group: g.to_owned(),
            version: v.to_owned(),
            kind: self.kind().to_owned(),
            name: self.name().to_owned(),
            namespace: self.namespace().to_owned(),
        }
    }

    pub(crate) fn meta_mut(&mut self) -> &mut Map<String, Value> {
        let m = self
            .map_mut()
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !m.is_object() {
            *m = Value::Object(Map::new());
        }
        m.as_object_mut().expect("just made an object")
    }

    /// Renames, remembering the old identity.
    pub(crate) fn set_name(&mut self, name: &str) {
        if self.name() == name {
            return;
        }
        let id = self.cur_id();
        self.prev.push(id);
        self.meta_mut()
            .insert("name".into(), Value::String(name.to_owned()));
    }

    pub(crate) fn set_namespace(&mut self, ns: &str) {
        if self.namespace() == ns {
            return;
        }
        let id = self.cur_id();
        self.prev.push(id);
        self.meta_mut()
            .insert("namespace".into(), Value::String(ns.to_owned()));
    }

    pub(crate) fn labels(&self) -> Map<String, Value> {
        self.obj
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn annotations(&self) -> Map<String, Value> {
        self.obj
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn is_cluster_scoped(&self) -> bool {
        is_cluster_scoped(self.group(), self.kind())
    }

    /// Every name this resource has had, oldest first, current last.
    pub(crate) fn all_ids(&self) -> impl Iterator<Item = ResId> + '_ {
        std::iter::once(self.orig.clone())
            .chain(self.prev.iter().cloned())
            .chain(std::iter::once(self.cur_id()))
    }
}

pub(crate) fn is_cluster_scoped(group: &str, kind: &str) -> bool {
    CLUSTER_SCOPED.iter().any(|(g, k)| *g == group && *k == kind)
}

fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    long[long.len() - short.len()..] == *short
}

impl Resource {
    /// Whether both went through the same prefixes and suffixes (kustomize's `PrefixesSuffixesEquals`).
    pub(crate) fn prefixes_suffixes_equal(&self, o: &Self, allow_empty: bool) -> bool {
        if allow_empty {
            (self.prefixes.is_empty() || o.prefixes.is_empty() || same_ending(&self.prefixes, &o.prefixes))
                && (self.suffixes.is_empty()
                    || o.suffixes.is_empty()
                    || same_ending(&self.suffixes, &o.suffixes))
        } else {
            same_ending(&self.prefixes, &o.prefixes) && same_ending(&self.suffixes, &o.suffixes)
        }
    }
}
