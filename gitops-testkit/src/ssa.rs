//! Server-side apply and field ownership as the real API server does them with structured-merge-diff:
//! field sets in managedFields' `FieldsV1` form, the apply merge, conflicts between managers, ownership
//! taken by updates, and removal of fields a manager stopped applying when no one else owns them.
//!
//! Merge semantics come from the schema: the tables generated from the Kubernetes OpenAPI documents for
//! built-in kinds, and the `x-kubernetes-list-type`, `x-kubernetes-list-map-keys` and
//! `x-kubernetes-map-type` markers of a CRD's structural schema. Without a schema, lists are atomic and
//! objects are granular, as structured-merge-diff deduces them.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    sync::LazyLock,
};

use serde_json::{Map, Value, json};

use crate::builtin::{SSA_DEFS, SSA_ROOTS, SsaField};

/// How a list merges.
#[derive(Debug, PartialEq, Eq)]
enum ListKind<'a> {
    /// Replaced whole.
    Atomic,
    /// Scalars merged by value.
    Set,
    /// Objects merged by the named key fields.
    Map(Vec<&'a str>),
}

/// The type of a node: what decides how it merges and how its fields are owned.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ty<'a> {
    /// A built-in type: the merge code of the field holding it and the definition of its value or items
    /// (empty: a declared type whose fields all merge by default).
    Builtin { code: &'static str, def: &'static str },
    /// A node of a CRD's structural schema.
    Schema(&'a Value),
    /// The top of a custom resource, with its schema if the CRD has one: metadata is always ObjectMeta.
    Root(Option<&'a Value>),
    /// No schema: lists atomic, objects granular with every field owned as a whole.
    Deduced,
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

static DEFS: LazyLock<HashMap<&'static str, &'static [SsaField]>> =
    LazyLock::new(|| SSA_DEFS.iter().copied().collect());

impl<'a> Ty<'a> {
    /// The type of a built-in kind, or [`Ty::Deduced`] when the tables do not know it.
    pub(crate) fn builtin(group: &str, kind: &str) -> Ty<'static> {
        SSA_ROOTS
            .iter()
            .find(|(g, k, _)| *g == group && *k == kind)
            .map_or(Ty::Builtin { code: "", def: "" }, |(_, _, def)| Ty::Builtin {
                code: "",
                def,
            })
    }

    fn list(self) -> ListKind<'a> {
        match self {
            Ty::Builtin { code, .. } => {
                if code == "set" {
                    ListKind::Set
                } else if let Some(keys) = code.strip_prefix("map:") {
                    ListKind::Map(keys.split(',').collect())
                } else {
                    ListKind::Atomic
                }
            }
            Ty::Schema(s) => match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => ListKind::Set,
                Some("map") => ListKind::Map(
                    s.get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|ks| ks.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default(),
                ),
                _ => ListKind::Atomic,
            },
            Ty::Root(_) | Ty::Deduced => ListKind::Atomic,
        }
    }

    fn atomic_object(self) -> bool {
        match self {
            Ty::Builtin { code, .. } => code == "atomic",
            Ty::Schema(s) => s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic"),
            Ty::Root(_) | Ty::Deduced => false,
        }
    }

    /// Whether `name` is a declared field of this object type (declared fields are owned through their
    /// children; map entries and undeclared fields are owned themselves).
    fn declares(self, name: &str) -> bool {
        match self {
            Ty::Builtin { code, .. } => code != "dict",
            Ty::Schema(s) => s.get("properties").and_then(|p| p.get(name)).is_some(),
            Ty::Root(s) => name == "metadata" || s.is_some_and(|s| Ty::Schema(s).declares(name)),
            Ty::Deduced => false,
        }
    }

    fn field(self, name: &str) -> Ty<'a> {
        match self {
            Ty::Builtin { code: "dict", def } => Ty::Builtin { code: "", def },
            Ty::Builtin { def, .. } => DEFS
                .get(def)
                .and_then(|fs| fs.iter().find(|(f, _, _)| *f == name))
                .map_or(Ty::Builtin { code: "", def: "" }, |(_, code, def)| Ty::Builtin {
                    code,
                    def,
                }),
            Ty::Schema(s) => match s.get("properties").and_then(|p| p.get(name)) {
                Some(p) => Ty::Schema(p),
                None => match s.get("additionalProperties") {
                    Some(a) if a.is_object() => Ty::Schema(a),
                    _ => Ty::Deduced,
                },
            },
            Ty::Root(_) if name == "metadata" => Ty::Builtin {
                code: "",
                def: OBJECT_META,
            },
            Ty::Root(s) => s.map_or(Ty::Deduced, |s| Ty::Schema(s).field(name)),
            Ty::Deduced => Ty::Deduced,
        }
    }

    fn items(self) -> Ty<'a> {
        match self {
            Ty::Builtin { def, .. } => Ty::Builtin { code: "", def },
            Ty::Schema(s) => s.get("items").map_or(Ty::Deduced, Ty::Schema),
            Ty::Root(_) | Ty::Deduced => Ty::Deduced,
        }
    }
}

/// A set of field paths, as a tree keyed by `FieldsV1` path elements (`f:<name>`, `k:<keys>`, `v:<value>`,
/// `i:<index>`); `member` says the path ending at this node is itself in the set (`.` in `FieldsV1`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSet {
    member: bool,
    children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    fn child(&mut self, pe: String) -> &mut FieldSet {
        self.children.entry(pe).or_default()
    }

    /// Whether no path is in the set.
    pub(crate) fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    fn prune_empty(&mut self) {
        self.children.retain(|_, c| {
            c.prune_empty();
            !c.is_empty()
        });
    }

    pub(crate) fn union(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (k, c) in &other.children {
            self.child(k.clone()).union(c);
        }
    }

    pub(crate) fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            let d = match other.children.get(k) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(k.clone(), d);
            }
        }
        out
    }

    pub(crate) fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            if let Some(o) = other.children.get(k) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    out.children.insert(k.clone(), i);
                }
            }
        }
        out
    }

    /// Parses `FieldsV1`: a leaf (`{}`) is a member, an inner node only when it holds `.`.
    pub(crate) fn from_fields_v1(v: &Value) -> FieldSet {
        let mut out = FieldSet::default();
        if let Some(m) = v.as_object() {
            out.member = m.is_empty();
            for (k, c) in m {
                if k == "." {
                    out.member = true;
                } else {
                    out.children.insert(k.clone(), FieldSet::from_fields_v1(c));
                }
            }
        }
        out
    }

    /// Renders `FieldsV1`.
    pub(crate) fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), json!({}));
        }
        for (k, c) in &self.children {
            m.insert(k.clone(), c.to_fields_v1());
        }
        Value::Object(m)
    }

    /// Every path in the set, as structured-merge-diff prints them (`.spec.containers[name="app"].image`).
    pub(crate) fn paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_paths(&mut String::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut String, out: &mut Vec<String>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (k, c) in &self.children {
            let len = prefix.len();
            push_element(prefix, k);
            c.collect_paths(prefix, out);
            prefix.truncate(len);
        }
    }

    fn remove_path(&mut self, pe: &str) {
        self.children.remove(pe);
    }
}

fn push_element(out: &mut String, pe: &str) {
    if let Some(name) = pe.strip_prefix("f:") {
        out.push('.');
        out.push_str(name);
    } else if let Some(keys) = pe.strip_prefix("k:") {
        let parsed: Map<String, Value> = serde_json::from_str(keys).unwrap_or_default();
        let parts: Vec<String> = parsed.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = write!(out, "[{}]", parts.join(","));
    } else if let Some(v) = pe.strip_prefix("v:") {
        let _ = write!(out, "[={v}]");
    } else if let Some(i) = pe.strip_prefix("i:") {
        let _ = write!(out, "[{i}]");
    }
}

/// The path element naming `item` in a list of kind `list`.
fn item_element(list: &ListKind<'_>, item: &Value) -> String {
    match list {
        ListKind::Map(keys) => {
            let mut sorted: Vec<&str> = keys.clone();
            sorted.sort_unstable();
            let mut out = String::from("k:{");
            let mut first = true;
            for k in sorted {
                if let Some(v) = item.get(k) {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    out.push_str(&Value::String(k.to_owned()).to_string());
                    out.push(':');
                    out.push_str(&v.to_string());
                }
            }
            out.push('}');
            out
        }
        _ => format!("v:{item}"),
    }
}

/// The set of fields `v` sets, as an applier owns them.
pub(crate) fn to_set(v: &Value, ty: Ty<'_>) -> FieldSet {
    let mut out = FieldSet::default();
    collect(v, ty, &mut out);
    out
}

fn collect(v: &Value, ty: Ty<'_>, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !ty.atomic_object() => {
            for (k, child) in m {
                let node = out.child(format!("f:{k}"));
                collect(child, ty.field(k), node);
                if child.is_null() || child.as_object().is_some_and(Map::is_empty) || !ty.declares(k) {
                    node.member = true;
                }
            }
        }
        Value::Array(items) => {
            let list = ty.list();
            if list == ListKind::Atomic {
                out.member = true;
                return;
            }
            for item in items {
                let node = out.child(item_element(&list, item));
                collect(item, ty.items(), node);
                node.member = true;
            }
        }
        _ => out.member = true,
    }
}

/// What changed between two states: fields added or modified, and fields removed.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    pub(crate) changed: FieldSet,
    pub(crate) removed: FieldSet,
}

pub(crate) fn compare(old: &Value, new: &Value, ty: Ty<'_>) -> Comparison {
    let mut c = Comparison::default();
    compare_node(Some(old), Some(new), ty, &mut c.changed, &mut c.removed, true);
    c.changed.prune_empty();
    c.removed.prune_empty();
    c
}

fn is_leaf(v: &Value, ty: Ty<'_>) -> bool {
    match v {
        Value::Object(_) => ty.atomic_object(),
        Value::Array(_) => ty.list() == ListKind::Atomic,
        _ => true,
    }
}

fn compare_node<'v>(
    old: Option<&'v Value>,
    new: Option<&'v Value>,
    ty: Ty<'_>,
    changed: &mut FieldSet,
    removed: &mut FieldSet,
    declared: bool,
) {
    let same_shape = match (old, new) {
        (Some(a), Some(b)) => {
            std::mem::discriminant(a) == std::mem::discriminant(b) && !is_leaf(a, ty) && !is_leaf(b, ty)
        }
        _ => false,
    };
    let leaf = old.is_some_and(|v| is_leaf(v, ty)) || new.is_some_and(|v| is_leaf(v, ty));
    if leaf || (old.is_some() && new.is_some() && !same_shape) {
        if old != new {
            if new.is_some() {
                changed.member = true;
            } else {
                removed.member = true;
            }
        }
        return;
    }
    // A new container: owned itself when it is an item or a map entry, as for applied sets.
    match (old, new) {
        (None, Some(v)) if !declared || v.as_object().is_some_and(Map::is_empty) => changed.member = true,
        (Some(_), None) => removed.member = true,
        _ => {}
    }
    let empty = Map::new();
    let as_map = |v: Option<&'v Value>| v.and_then(Value::as_object);
    if as_map(old).is_some() || as_map(new).is_some() {
        let om = as_map(old).unwrap_or(&empty);
        let nm = as_map(new).unwrap_or(&empty);
        for (k, ov) in om {
            compare_node(
                Some(ov),
                nm.get(k),
                ty.field(k),
                changed.child(format!("f:{k}")),
                removed.child(format!("f:{k}")),
                ty.declares(k),
            );
        }
        for (k, nv) in nm {
            if !om.contains_key(k) {
                compare_node(
                    None,
                    Some(nv),
                    ty.field(k),
                    changed.child(format!("f:{k}")),
                    removed.child(format!("f:{k}")),
                    ty.declares(k),
                );
            }
        }
        return;
    }
    let list = ty.list();
    let items = |v: Option<&'v Value>| -> Vec<(String, &'v Value)> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().map(|i| (item_element(&list, i), i)).collect())
            .unwrap_or_default()
    };
    let (oi, ni) = (items(old), items(new));
    for (pe, ov) in &oi {
        let nv = ni.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
        compare_node(
            Some(ov),
            nv,
            ty.items(),
            changed.child(pe.clone()),
            removed.child(pe.clone()),
            false,
        );
    }
    for (pe, nv) in &ni {
        if !oi.iter().any(|(p, _)| p == pe) {
            compare_node(
                None,
                Some(nv),
                ty.items(),
                changed.child(pe.clone()),
                removed.child(pe.clone()),
                false,
            );
        }
    }
}

/// Merges an applied configuration into the live object: the configuration's values win, associative
/// lists and sets merge item by item, atomic nodes are replaced, and `null` removes a field.
pub(crate) fn merge(live: &Value, config: &Value, ty: Ty<'_>) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) if !ty.atomic_object() => {
            let mut out = l.clone();
            for (k, cv) in c {
                if cv.is_null() {
                    out.remove(k);
                    continue;
                }
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, cv, ty.field(k)),
                    None => strip_nulls(cv),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) if ty.list() != ListKind::Atomic => {
            let list = ty.list();
            let live_items: Vec<(String, &Value)> = l.iter().map(|i| (item_element(&list, i), i)).collect();
            let mut out: Vec<(String, Value)> = c
                .iter()
                .map(|ci| {
                    let pe = item_element(&list, ci);
                    let merged = match live_items.iter().find(|(p, _)| *p == pe) {
                        Some((_, li)) => merge(li, ci, ty.items()),
                        None => strip_nulls(ci),
                    };
                    (pe, merged)
                })
                .collect();
            // Live items the configuration does not mention keep their place after their predecessor.
            for (idx, (pe, li)) in live_items.iter().enumerate() {
                if out.iter().any(|(p, _)| p == pe) {
                    continue;
                }
                let at = live_items[..idx]
                    .iter()
                    .rev()
                    .find_map(|(prev, _)| out.iter().position(|(p, _)| p == prev))
                    .map_or(0, |i| i + 1);
                out.insert(at, (pe.clone(), (*li).clone()));
            }
            Value::Array(out.into_iter().map(|(_, v)| v).collect())
        }
        _ => strip_nulls(config),
    }
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        v => v.clone(),
    }
}

/// Removes from `v` the paths of `drop` that no one in `owned` still owns, wholly or below.
fn remove_unowned(v: &mut Value, drop: &FieldSet, owned: Option<&FieldSet>, ty: Ty<'_>) {
    match v {
        Value::Object(m) => {
            for (pe, d) in &drop.children {
                let Some(name) = pe.strip_prefix("f:") else {
                    continue;
                };
                let o = owned.and_then(|o| o.children.get(pe));
                if d.member && o.is_none_or(FieldSet::is_empty) {
                    m.remove(name);
                } else if let Some(child) = m.get_mut(name) {
                    remove_unowned(child, d, o, ty.field(name));
                }
            }
        }
        Value::Array(items) => {
            let list = ty.list();
            items.retain_mut(|item| {
                let pe = item_element(&list, item);
                let Some(d) = drop.children.get(&pe) else {
                    return true;
                };
                let o = owned.and_then(|o| o.children.get(&pe));
                if d.member && o.is_none_or(FieldSet::is_empty) {
                    return false;
                }
                remove_unowned(item, d, o, ty.items());
                true
            });
        }
        _ => {}
    }
}

/// One `metadata.managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub(crate) manager: String,
    pub(crate) operation: String,
    pub(crate) api_version: String,
    pub(crate) time: Option<String>,
    pub(crate) subresource: String,
    pub(crate) set: FieldSet,
}

impl Entry {
    /// Whether `self` is the entry of (`manager`, `operation`, `subresource`, and for updates
    /// `api_version`), as the API server identifies managers.
    fn is(&self, manager: &str, operation: &str, api_version: &str, subresource: &str) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource == subresource
            && (operation == "Apply" || self.api_version == api_version)
    }

    fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            let _ = write!(s, " with subresource {:?}", self.subresource);
        }
        if self.operation == "Update" {
            let _ = write!(s, " using {}", self.api_version);
        }
        s
    }
}

/// Reads `metadata.managedFields`.
pub(crate) fn entries(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| Entry {
                    manager: str_of(e, "manager"),
                    operation: str_of(e, "operation"),
                    api_version: str_of(e, "apiVersion"),
                    time: e.get("time").and_then(Value::as_str).map(str::to_owned),
                    subresource: str_of(e, "subresource"),
                    set: FieldSet::from_fields_v1(&e["fieldsV1"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn str_of(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// Writes `metadata.managedFields` in the API server's order (Apply before Update, then oldest first).
fn render(mut es: Vec<Entry>) -> Value {
    es.retain(|e| !e.set.is_empty());
    es.sort_by(|a, b| {
        (&a.operation, &a.time, &a.manager, &a.api_version, &a.subresource).cmp(&(
            &b.operation,
            &b.time,
            &b.manager,
            &b.api_version,
            &b.subresource,
        ))
    });
    Value::Array(
        es.into_iter()
            .map(|e| {
                let mut m = Map::new();
                m.insert("manager".into(), json!(e.manager));
                m.insert("operation".into(), json!(e.operation));
                m.insert("apiVersion".into(), json!(e.api_version));
                if let Some(t) = e.time {
                    m.insert("time".into(), json!(t));
                }
                m.insert("fieldsType".into(), json!("FieldsV1"));
                m.insert("fieldsV1".into(), e.set.to_fields_v1());
                if !e.subresource.is_empty() {
                    m.insert("subresource".into(), json!(e.subresource));
                }
                Value::Object(m)
            })
            .collect(),
    )
}

/// Which part of an object a request may own: the main resource (everything but a status that has its
/// own subresource), or the status subresource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    Main { status_subresource: bool },
    Status,
}

/// Drops the fields no manager owns: identity and bookkeeping fields, and those outside the scope.
fn strip(set: &mut FieldSet, scope: Scope) {
    set.remove_path("f:apiVersion");
    set.remove_path("f:kind");
    if let Some(m) = set.children.get_mut("f:metadata") {
        m.member = false;
        for f in [
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "managedFields",
        ] {
            m.remove_path(&format!("f:{f}"));
        }
    }
    match scope {
        Scope::Main {
            status_subresource: true,
        } => set.remove_path("f:status"),
        Scope::Main { .. } => {}
        Scope::Status => set.children.retain(|k, _| k == "f:status"),
    }
    set.prune_empty();
}

/// Who asks for a change.
pub(crate) struct Request<'a> {
    pub(crate) manager: &'a str,
    pub(crate) api_version: &'a str,
    pub(crate) scope: Scope,
    pub(crate) now: &'a str,
}

impl Request<'_> {
    fn subresource(&self) -> &'static str {
        if self.scope == Scope::Status { "status" } else { "" }
    }
}

fn without_managed_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

fn set_managed_fields(v: &mut Value, managed: Value) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        if managed.as_array().is_some_and(Vec::is_empty) {
            m.remove("managedFields");
        } else {
            m.insert("managedFields".into(), managed);
        }
    }
}

/// Records an update (create, replace or a non-apply patch) of `old` (`None` on create) to `new` in
/// `new`'s managedFields: the manager owns what it added or changed, and others lose it.
///
/// Managed fields the request itself sets (differing from the stored ones) replace the stored ones, as
/// clients such as kubectl's apply migration expect; an empty list clears them.
pub(crate) fn track_update(old: Option<&Value>, new: &mut Value, ty: Ty<'_>, req: &Request<'_>) {
    let old_entries = old.map(entries).unwrap_or_default();
    let sent = new.pointer("/metadata/managedFields").cloned();
    let mut es = match sent {
        Some(s) if old.and_then(|o| o.pointer("/metadata/managedFields")) != Some(&s) => entries(new),
        _ => old_entries.clone(),
    };
    let empty = json!({});
    let before = old.map_or(empty.clone(), without_managed_fields);
    let after = without_managed_fields(new);
    let mut c = compare(&before, &after, ty);
    strip(&mut c.changed, req.scope);
    strip(&mut c.removed, req.scope);
    let touched = {
        let mut t = c.changed.clone();
        t.union(&c.removed);
        t
    };
    for e in &mut es {
        e.set = e.set.difference(&touched);
    }
    let sub = req.subresource();
    let mine = match es
        .iter()
        .position(|e| e.is(req.manager, "Update", req.api_version, sub))
    {
        Some(i) => i,
        None => {
            es.push(Entry {
                manager: req.manager.to_owned(),
                operation: "Update".into(),
                api_version: req.api_version.to_owned(),
                time: None,
                subresource: sub.to_owned(),
                set: FieldSet::default(),
            });
            es.len() - 1
        }
    };
    es[mine].set.union(&c.changed);
    finish(old_entries, es, new, req, mine);
}

/// Keeps the stored entries untouched (times included) when no ownership changed, so that a no-op write
/// stays a no-op; otherwise stamps the acting manager's entry.
fn finish(old_entries: Vec<Entry>, mut es: Vec<Entry>, new: &mut Value, req: &Request<'_>, mine: usize) {
    let unchanged = {
        let live: Vec<&Entry> = es.iter().filter(|e| !e.set.is_empty()).collect();
        live.len() == old_entries.len()
            && live.iter().zip(&old_entries).all(|(a, b)| {
                a.manager == b.manager
                    && a.operation == b.operation
                    && a.subresource == b.subresource
                    && a.api_version == b.api_version
                    && a.set == b.set
            })
    };
    if unchanged && !old_entries.is_empty() {
        set_managed_fields(new, render(old_entries));
        return;
    }
    es[mine].time = Some(req.now.to_owned());
    set_managed_fields(new, render(es));
}

/// A server-side apply that conflicts with other managers.
#[derive(Debug)]
pub(crate) struct Conflicts {
    /// `(manager as the API server prints it, field path)`.
    pub(crate) conflicts: Vec<(String, String)>,
}

impl Conflicts {
    /// The API server's message for these conflicts.
    pub(crate) fn message(&self) -> String {
        if let [(m, p)] = self.conflicts.as_slice() {
            return format!("Apply failed with 1 conflict: conflict with {m}: {p}");
        }
        let mut by_manager: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (m, p) in &self.conflicts {
            by_manager.entry(m).or_default().push(p);
        }
        let mut lines = Vec::new();
        for (m, ps) in by_manager {
            lines.push(format!("conflicts with {m}:"));
            lines.extend(ps.iter().map(|p| format!("- {p}")));
        }
        format!(
            "Apply failed with {} conflicts: {}",
            self.conflicts.len(),
            lines.join("\n")
        )
    }
}

/// Server-side applies `config` by `req.manager` onto `live` (`None`: the object does not exist yet).
/// Returns the new object with its managedFields, or the conflicts when other managers own fields the
/// configuration changes and `force` is not set.
pub(crate) fn apply(
    live: Option<&Value>,
    config: &Value,
    ty: Ty<'_>,
    req: &Request<'_>,
    force: bool,
) -> Result<Value, Conflicts> {
    let old_entries = live.map(entries).unwrap_or_default();
    let mut es = old_entries.clone();
    let base = live.map_or_else(|| json!({}), without_managed_fields);
    let config = without_managed_fields(config);
    let mut applied = to_set(&config, ty);
    strip(&mut applied, req.scope);
    let mut merged = merge(&base, &config, ty);
    let mut c = compare(&base, &merged, ty);
    strip(&mut c.changed, req.scope);
    strip(&mut c.removed, req.scope);
    let sub = req.subresource();
    let mine = es.iter().position(|e| e.is(req.manager, "Apply", "", sub));
    let mut conflicts = Vec::new();
    for (i, e) in es.iter_mut().enumerate() {
        if Some(i) == mine {
            continue;
        }
        let clash = e.set.intersection(&c.changed);
        if clash.is_empty() {
            continue;
        }
        if force {
            e.set = e.set.difference(&clash);
        } else {
            conflicts.extend(clash.paths().into_iter().map(|p| (e.describe(), p)));
        }
    }
    if !conflicts.is_empty() {
        return Err(Conflicts { conflicts });
    }
    // Fields this manager applied before and no longer does go, unless someone else still owns them.
    if let Some(i) = mine {
        let dropped = es[i].set.difference(&applied);
        let mut owned = applied.clone();
        for (j, e) in es.iter().enumerate() {
            if j != i {
                owned.union(&e.set);
            }
        }
        remove_unowned(&mut merged, &dropped, Some(&owned), ty);
        let gone = compare(&base, &merged, ty).removed;
        for e in &mut es {
            e.set = e.set.difference(&gone);
        }
    }
    for e in &mut es {
        e.set = e.set.difference(&c.removed);
    }
    let mine = match mine {
        Some(i) => {
            es[i].set = applied;
            es[i].api_version = req.api_version.to_owned();
            i
        }
        None => {
            es.push(Entry {
                manager: req.manager.to_owned(),
                operation: "Apply".into(),
                api_version: req.api_version.to_owned(),
                time: None,
                subresource: sub.to_owned(),
                set: applied,
            });
            es.len() - 1
        }
    };
    finish(old_entries, es, &mut merged, req, mine);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Ty<'static> {
        Ty::builtin("apps", "Deployment")
    }

    fn req(manager: &str) -> Request<'_> {
        Request {
            manager,
            api_version: "apps/v1",
            scope: Scope::Main {
                status_subresource: true,
            },
            now: "2026-01-01T00:00:00Z",
        }
    }

    fn dep(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
               "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"spec": {"containers": [{"name": "app", "image": image}]}}}})
    }

    #[test]
    fn applied_sets_follow_the_schema() {
        let set = to_set(&dep(1, "nginx"), deployment());
        assert_eq!(
            set.to_fields_v1(),
            json!({"f:apiVersion": {}, "f:kind": {}, "f:metadata": {"f:labels": {"f:app": {}}, "f:name": {}},
                   "f:spec": {"f:replicas": {}, "f:selector": {},
                              "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {
                                  ".": {}, "f:image": {}, "f:name": {}}}}}}})
        );
        let mut stripped = set.clone();
        strip(
            &mut stripped,
            Scope::Main {
                status_subresource: true,
            },
        );
        assert!(!stripped.children.contains_key("f:apiVersion"));
        assert_eq!(
            stripped.paths()[..2],
            [".metadata.labels.app".to_owned(), ".spec.replicas".to_owned()]
        );
        assert!(
            stripped
                .paths()
                .contains(&".spec.template.spec.containers[name=\"app\"].image".to_owned())
        );
    }

    #[test]
    fn fields_v1_round_trips() {
        let v = json!({"f:metadata": {"f:labels": {".": {}, "f:a": {}}}, "f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}}}});
        let set = FieldSet::from_fields_v1(&v);
        assert_eq!(set.to_fields_v1(), v);
        assert_eq!(
            set.paths(),
            [
                ".metadata.labels",
                ".metadata.labels.a",
                ".spec.ports[port=80,protocol=\"TCP\"]",
                ".spec.ports[port=80,protocol=\"TCP\"].port"
            ]
        );
    }

    #[test]
    fn conflicts_then_force_then_shared_ownership() {
        let created = apply(None, &dep(1, "nginx"), deployment(), &req("a"), false).unwrap();
        // Same values: no conflict, both own them.
        let shared = apply(Some(&created), &dep(1, "nginx"), deployment(), &req("b"), false).unwrap();
        assert_eq!(entries(&shared).len(), 2);
        let err = apply(Some(&shared), &dep(3, "nginx"), deployment(), &req("b"), false).unwrap_err();
        assert_eq!(
            err.message(),
            "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas"
        );
        let forced = apply(Some(&shared), &dep(3, "nginx"), deployment(), &req("b"), true).unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        let es = entries(&forced);
        let a = es.iter().find(|e| e.manager == "a").unwrap();
        assert!(!a.set.paths().contains(&".spec.replicas".to_owned()));
    }

    #[test]
    fn fields_no_longer_applied_are_removed_unless_owned_elsewhere() {
        let mut cfg = dep(1, "nginx");
        cfg["metadata"]["labels"]["tier"] = json!("web");
        let live = apply(None, &cfg, deployment(), &req("a"), false).unwrap();
        let mut other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}}});
        other["metadata"]["labels"]["app"] = json!("web");
        let live = apply(Some(&live), &other, deployment(), &req("b"), false).unwrap();
        let mut smaller = dep(1, "nginx");
        smaller["metadata"].as_object_mut().unwrap().remove("labels");
        let after = apply(Some(&live), &smaller, deployment(), &req("a"), false).unwrap();
        assert_eq!(after["metadata"]["labels"], json!({"app": "web"}), "{after:#}");
    }

    #[test]
    fn associative_lists_merge_by_key_and_keep_foreign_items() {
        let live = apply(None, &dep(1, "nginx"), deployment(), &req("a"), false).unwrap();
        let mut sidecar = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy"}]}}}});
        let live = apply(Some(&live), &sidecar, deployment(), &req("b"), false).unwrap();
        let names: Vec<&str> = live["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["app", "proxy"]);
        // b stops applying its container: it goes; a's stays.
        sidecar["spec"]["template"]["spec"]["containers"] = json!([]);
        let live = apply(Some(&live), &sidecar, deployment(), &req("b"), false).unwrap();
        assert_eq!(
            live["spec"]["template"]["spec"]["containers"],
            json!([{"name": "app", "image": "nginx"}])
        );
    }

    #[test]
    fn reapplying_unchanged_keeps_managed_fields_byte_for_byte() {
        let live = apply(None, &dep(1, "nginx"), deployment(), &req("a"), false).unwrap();
        let mut later = req("a");
        later.now = "2030-01-01T00:00:00Z";
        let again = apply(Some(&live), &dep(1, "nginx"), deployment(), &later, false).unwrap();
        assert_eq!(live, again);
    }

    #[test]
    fn updates_take_ownership_from_appliers() {
        let live = apply(None, &dep(1, "nginx"), deployment(), &req("a"), false).unwrap();
        let mut edited = live.clone();
        edited["spec"]["replicas"] = json!(5);
        track_update(Some(&live), &mut edited, deployment(), &req("kubectl-edit"));
        let es = entries(&edited);
        let edit = es.iter().find(|e| e.manager == "kubectl-edit").unwrap();
        assert_eq!(edit.operation, "Update");
        assert_eq!(edit.set.paths(), [".spec.replicas"]);
        let err = apply(Some(&edited), &dep(1, "nginx"), deployment(), &req("a"), false).unwrap_err();
        assert!(
            err.message()
                .contains("conflict with \"kubectl-edit\" using apps/v1: .spec.replicas")
        );
    }
}
