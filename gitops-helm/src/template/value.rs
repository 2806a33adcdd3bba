//! The dynamic values a template sees, modelled on what Go's `reflect` shows `text/template`.
//!
//! Values decoded from YAML or JSON are what Go's `encoding/json` makes of them: `map[string]interface{}`,
//! `[]interface{}`, `float64`, `string`, `bool` and `nil`. Functions add `int` and `int64`, which Go keeps
//! apart (a function taking `int` refuses an `int64`), and `[]byte`. Maps are shared and mutable, as Go's
//! maps are: Sprig's `set` on a dict is seen through every reference to it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

/// A Go map of string keys, iterated in key order as `text/template` and `fmt` do.
pub type Map = BTreeMap<String, Value>;

/// A shared, mutable Go map; `named` marks Helm's `common.Values` type (`.Values` and the top-level
/// render data), which Go assigns to `map[string]interface{}` parameters but not through type assertions.
pub struct MapCell {
    /// Whether this map has Go type `common.Values`.
    pub named: bool,
    /// Every look at the content is counted (`.Template`, which each template file gets anew: what
    /// read it cannot be reused for another file, see `include`).
    watched: bool,
    /// Whether text `include` gave may depend on this map: it existed before templates ran, or became
    /// reachable from such a map or from data `include` was given. Changing a map that is not shared
    /// (made by `dict`, `deepCopy`, ... and only in variables) cannot change such text.
    shared: std::cell::Cell<bool>,
    map: RefCell<Map>,
}

thread_local! {
    /// Set while templates run: maps made then are not shared (see [`MapCell`]).
    static MAPS_ARE_FRESH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks maps made on this thread until the guard goes as made by templates (not shared).
pub(crate) struct FreshMaps(bool);

impl FreshMaps {
    pub(crate) fn begin() -> FreshMaps {
        FreshMaps(MAPS_ARE_FRESH.with(|f| f.replace(true)))
    }
}

impl Drop for FreshMaps {
    fn drop(&mut self) {
        MAPS_ARE_FRESH.with(|f| f.set(self.0));
    }
}

fn new_cell(named: bool, watched: bool, m: Map) -> MapCell {
    MapCell {
        named,
        watched,
        shared: std::cell::Cell::new(!MAPS_ARE_FRESH.with(std::cell::Cell::get)),
        map: RefCell::new(m),
    }
}

impl Default for MapCell {
    fn default() -> MapCell {
        new_cell(false, false, Map::new())
    }
}

impl MapCell {
    /// Sets `key` as a template function does (`set`, `merge`): a change to a shared map is counted
    /// (what `include` gave may now read differently), and what the map now holds becomes shared too.
    pub(crate) fn template_insert(&self, key: String, v: Value) {
        if self.shared.get() {
            crate::funcs::note_mutation();
            share(&v);
        }
        self.map.borrow_mut().insert(key, v);
    }

    /// Removes `key` as `unset` does; a change to a shared map is counted.
    pub(crate) fn template_remove(&self, key: &str) {
        if self.shared.get() {
            crate::funcs::note_mutation();
        }
        self.map.borrow_mut().remove(key);
    }
}

/// Marks the maps of `v` (it, and what it holds, through lists) shared: it has become reachable from a
/// shared map or from data `include` was given.
pub(crate) fn share(v: &Value) {
    match v {
        Value::Map(m) if !m.shared.replace(true) => {
            for x in m.map.borrow().values() {
                share(x);
            }
        }
        Value::List(l) => l.iter().for_each(share),
        _ => {}
    }
}

impl std::ops::Deref for MapCell {
    type Target = RefCell<Map>;
    fn deref(&self) -> &RefCell<Map> {
        if self.watched {
            crate::funcs::note_template_read();
        }
        &self.map
    }
}

/// A copy of `m` that shares nothing mutable with it. The tree is cloned as it is (keys and scalars), and
/// only nested maps and lists are copied again: collecting into a new map would sort what is sorted.
pub(crate) fn deep_copy_map(m: &Map) -> Map {
    let mut out = m.clone();
    for v in out.values_mut() {
        if matches!(v, Value::Map(_) | Value::List(_)) {
            *v = v.deep_copy();
        }
    }
    out
}

/// One value.
#[derive(Clone, Default)]
pub enum Value {
    /// The zero `reflect.Value`: a missing map key under `missingkey=default`, printed `<no value>`.
    #[default]
    Invalid,
    /// A nil `interface{}` (a `null` value, or a missing key under `missingkey=zero`).
    Nil,
    /// `bool`.
    Bool(bool),
    /// Go `int`.
    Int(i64),
    /// Go `int64` (what Sprig's arithmetic returns).
    I64(i64),
    /// Go `float64` (every number decoded from YAML or JSON).
    Float(f64),
    /// Go `complex128` (only from template constants).
    Complex(f64, f64),
    /// `string` (shared with parsed templates, which are `Send`).
    Str(Arc<str>),
    /// `[]byte`.
    Bytes(Rc<[u8]>),
    /// `[]interface{}`.
    List(Rc<Vec<Value>>),
    /// `map[string]interface{}` (or Helm's named `common.Values`), shared.
    Map(Rc<MapCell>),
    /// A Go value with fields and methods (`.Files`, `.Capabilities.APIVersions`).
    Object(Rc<dyn Object>),
}

/// A Go struct or named type with methods, seen through `text/template`.
pub trait Object {
    /// The Go type name, for `%T`, `typeOf` and errors.
    fn type_name(&self) -> &str;
    /// A field (or niladic method) by name.
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    /// Calls a method; `None` when there is no such method.
    fn call(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    /// Whether the name is a method taking arguments.
    fn has_method(&self, _name: &str) -> bool {
        false
    }
    /// How `fmt` prints it (`%v`).
    fn display(&self) -> String;
    /// How a template action prints it (Go uses a `String()` method of the pointer type there, which
    /// `fmt` does not see on a copy).
    fn print(&self) -> String {
        self.display()
    }
    /// Go's truth of the value (a nil map is false).
    fn truthy(&self) -> bool {
        true
    }
    /// Key/value pairs when the Go value is a map or slice (for `range`, `len` and `index`).
    fn entries(&self) -> Option<Vec<(Value, Value)>> {
        None
    }
    /// A Go struct's fields in declaration order with their JSON names (what `encoding/json` writes);
    /// `None` to encode [`Object::to_data`].
    fn json_fields(&self) -> Option<Vec<(String, Value)>> {
        None
    }
    /// The value as plain data, for `toYaml`/`toJson`.
    fn to_data(&self) -> Value {
        Value::Str(self.display().into())
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", super::fmt::sprint_value(self))
    }
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<Arc<str>>) -> Value {
        Value::Str(s.into())
    }

    /// A list value.
    pub fn list(v: Vec<Value>) -> Value {
        Value::List(Rc::new(v))
    }

    /// A map value.
    pub fn map(m: Map) -> Value {
        Value::Map(Rc::new(new_cell(false, false, m)))
    }

    /// A `common.Values` map.
    pub fn values_map(m: Map) -> Value {
        Value::Map(Rc::new(new_cell(true, false, m)))
    }

    /// A `common.Values` map whose every read is counted: the `.Template` object of one file.
    pub(crate) fn template_map(m: Map) -> Value {
        Value::Map(Rc::new(new_cell(true, true, m)))
    }

    /// Whether the value is valid (not the zero `reflect.Value`).
    pub fn is_valid(&self) -> bool {
        !matches!(self, Value::Invalid)
    }

    /// Nil or invalid.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Invalid | Value::Nil)
    }

    /// The Go type name (`%T`).
    pub fn type_name(&self) -> String {
        match self {
            Value::Invalid | Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::I64(_) => "int64".into(),
            Value::Float(_) => "float64".into(),
            Value::Complex(..) => "complex128".into(),
            Value::Str(_) => "string".into(),
            Value::Bytes(_) => "[]uint8".into(),
            Value::List(_) => "[]interface {}".into(),
            Value::Map(m) if m.named => "common.Values".into(),
            Value::Map(_) => "map[string]interface {}".into(),
            Value::Object(o) => o.type_name().into(),
        }
    }

    /// The Go kind name (`kindOf`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Invalid | Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::I64(_) => "int64",
            Value::Float(_) => "float64",
            Value::Complex(..) => "complex128",
            Value::Str(_) => "string",
            Value::Bytes(_) | Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Object(_) => "struct",
        }
    }

    /// `text/template`'s truth: non-zero numbers, non-empty strings and collections, `true`.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Invalid | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::I64(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Complex(re, im) => *re != 0.0 || *im != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.borrow().is_empty(),
            Value::Object(o) => o.truthy(),
        }
    }

    /// The string, when this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// An integer of either Go integer type.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) | Value::I64(i) => Some(*i),
            _ => None,
        }
    }

    /// Deep copy (maps are shared otherwise).
    pub fn deep_copy(&self) -> Value {
        match self {
            Value::Map(m) => Value::map(deep_copy_map(&m.borrow())),
            Value::List(l) => Value::list(l.iter().map(Value::deep_copy).collect()),
            v => v.clone(),
        }
    }

    /// From JSON, as Go's `encoding/json` decodes into `interface{}` (every number a float64).
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::str(s.as_str()),
            serde_json::Value::Array(a) => Value::list(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => {
                Value::map(o.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect())
            }
        }
    }

    /// To JSON as Go's `encoding/json` encodes (maps with sorted keys, `[]byte` as base64).
    pub fn to_json(&self) -> Result<serde_json::Value, String> {
        self.to_json_depth(0, false)
    }

    /// To JSON, float64 values kept as floats even when integral (so a YAML encoder can print them as
    /// Go prints a float64).
    pub fn to_json_keeping_floats(&self) -> Result<serde_json::Value, String> {
        self.to_json_depth(0, true)
    }

    fn to_json_depth(&self, depth: usize, keep_floats: bool) -> Result<serde_json::Value, String> {
        use serde_json::Value as J;
        if depth > 1000 {
            return Err("json: unsupported value: encountered a cycle".into());
        }
        Ok(match self {
            Value::Invalid | Value::Nil => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) | Value::I64(i) => J::from(*i),
            Value::Float(f) => {
                if !f.is_finite() {
                    return Err(format!(
                        "json: unsupported value: {}",
                        super::fmt::format_float(*f)
                    ));
                }
                if !keep_floats && f.fract() == 0.0 && f.abs() < 9e18 {
                    J::from(*f as i64)
                } else {
                    serde_json::Number::from_f64(*f).map(J::Number).unwrap_or(J::Null)
                }
            }
            Value::Complex(..) => return Err("json: unsupported type: complex128".into()),
            Value::Str(s) => J::String(String::from(&**s)),
            Value::Bytes(b) => {
                use base64::Engine as _;
                J::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
            Value::List(l) => J::Array(
                l.iter()
                    .map(|v| v.to_json_depth(depth + 1, keep_floats))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Map(m) => {
                let m = m.borrow();
                let mut o = serde_json::Map::new();
                for (k, v) in m.iter() {
                    o.insert(k.clone(), v.to_json_depth(depth + 1, keep_floats)?);
                }
                J::Object(o)
            }
            Value::Object(o) => o.to_data().to_json_depth(depth + 1, keep_floats)?,
        })
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::str(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
