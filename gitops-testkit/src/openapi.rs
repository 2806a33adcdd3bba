//! The schemas of the built-in kinds for the OpenAPI v3 and v2 documents, decoded from the compact table
//! `scripts/gen-k8s-tables.py` generates (structure and extensions, no descriptions), so that
//! `kubectl explain deployment.spec` works against the embedded server as against a real one.

use std::{collections::BTreeMap, sync::OnceLock};

use serde_json::{Map, Value, json};

use crate::openapi_tables::{PREFIXES, SCHEMAS};

/// One built-in definition: the kinds it is the schema of, and the schema with references left as names.
struct Def {
    gvks: Vec<(String, String, String)>,
    schema: Schema,
}

/// A decoded type, references kept symbolic so that v2 and v3 documents can spell them their way.
#[derive(Clone, Debug)]
enum Schema {
    Prim {
        ty: &'static str,
        format: Option<String>,
    },
    OneOf {
        alts: Vec<Schema>,
        format: Option<String>,
    },
    Ref(String),
    Array(Box<Schema>),
    Map(Box<Schema>),
    Object(Vec<(String, bool, Schema)>),
    Attrs(Box<Schema>, Vec<(String, Value)>),
}

fn long_name(short: &str) -> String {
    for (long, sh) in PREFIXES {
        if let Some(rest) = short.strip_prefix(sh) {
            return format!("{long}{rest}");
        }
    }
    short.to_owned()
}

/// Every built-in definition by its full name.
fn defs() -> &'static BTreeMap<String, Def> {
    static DEFS: OnceLock<BTreeMap<String, Def>> = OnceLock::new();
    DEFS.get_or_init(|| {
        let mut out = BTreeMap::new();
        for line in SCHEMAS.lines().filter(|l| !l.is_empty()) {
            let mut cols = line.splitn(3, '\t');
            let (Some(name), Some(gvks), Some(ty)) = (cols.next(), cols.next(), cols.next()) else {
                continue;
            };
            let gvks = gvks
                .split(',')
                .filter(|g| *g != "-")
                .filter_map(|g| {
                    let mut p = g.splitn(3, '/');
                    Some((p.next()?.to_owned(), p.next()?.to_owned(), p.next()?.to_owned()))
                })
                .collect();
            let mut p = Decoder {
                s: ty.as_bytes(),
                i: 0,
            };
            let schema = p.ty();
            debug_assert_eq!(p.i, ty.len(), "table line not consumed: {line}");
            out.insert(long_name(name), Def { gvks, schema });
        }
        out
    })
}

struct Decoder<'a> {
    s: &'a [u8],
    i: usize,
}

impl Decoder<'_> {
    fn peek(&self) -> u8 {
        self.s.get(self.i).copied().unwrap_or(0)
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == b;
        if hit {
            self.i += 1;
        }
        hit
    }

    /// Bytes up to (not including) any of `stop`.
    fn until(&mut self, stop: &[u8]) -> String {
        let start = self.i;
        while self.i < self.s.len() && !stop.contains(&self.s[self.i]) {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn format(&mut self) -> Option<String> {
        self.eat(b'~').then(|| self.until(b",)]}<>%"))
    }

    fn ty(&mut self) -> Schema {
        let base = match self.peek() {
            b'@' => {
                self.i += 1;
                Schema::Ref(long_name(&self.until(b",)]}<>%")))
            }
            b'[' => {
                self.i += 1;
                let items = self.ty();
                self.eat(b']');
                Schema::Array(Box::new(items))
            }
            b'{' => {
                self.i += 1;
                let values = self.ty();
                self.eat(b'}');
                Schema::Map(Box::new(values))
            }
            b'(' => {
                self.i += 1;
                let mut fields = Vec::new();
                while !self.eat(b')') && self.i < self.s.len() {
                    let name = self.until(b":!");
                    let required = self.eat(b'!');
                    self.eat(b':');
                    fields.push((name, required, self.ty()));
                    self.eat(b',');
                }
                Schema::Object(fields)
            }
            b'%' => {
                self.i += 1;
                let mut alts = Vec::new();
                while !self.eat(b'%') && self.i < self.s.len() {
                    alts.push(self.ty());
                    self.eat(b',');
                }
                Schema::OneOf {
                    alts,
                    format: self.format(),
                }
            }
            c => {
                let ty = match c {
                    b's' => "string",
                    b'i' => "integer",
                    b'b' => "boolean",
                    b'n' => "number",
                    b'o' => "object",
                    _ => "",
                };
                if !ty.is_empty() {
                    self.i += 1;
                }
                Schema::Prim {
                    ty,
                    format: self.format(),
                }
            }
        };
        if !self.eat(b'<') {
            return base;
        }
        let mut attrs = Vec::new();
        for a in self.until(b">").split(';') {
            let (k, v) = a.split_once('=').unwrap_or((a, ""));
            let (key, value) = match k {
                "lt" => ("x-kubernetes-list-type", json!(v)),
                "lk" => (
                    "x-kubernetes-list-map-keys",
                    json!(v.split('|').collect::<Vec<_>>()),
                ),
                "ps" => ("x-kubernetes-patch-strategy", json!(v)),
                "pk" => ("x-kubernetes-patch-merge-key", json!(v)),
                "mt" => ("x-kubernetes-map-type", json!(v)),
                "ios" => ("x-kubernetes-int-or-string", json!(true)),
                "pu" => ("x-kubernetes-preserve-unknown-fields", json!(true)),
                "er" => ("x-kubernetes-embedded-resource", json!(true)),
                _ => continue,
            };
            attrs.push((key.to_owned(), value));
        }
        self.eat(b'>');
        Schema::Attrs(Box::new(base), attrs)
    }
}

/// How a document spells references: `#/components/schemas/` (v3) or `#/definitions/` (v2).
#[derive(Clone, Copy)]
pub(crate) enum Dialect {
    V3,
    V2,
}

impl Schema {
    /// The schema as JSON. `property`: in a property position, where the API server wraps references in
    /// `allOf` (so that a description can sit beside them).
    fn to_json(&self, d: Dialect, property: bool, refs: &mut Vec<String>) -> Value {
        match self {
            Self::Prim { ty, format } => {
                let mut m = Map::new();
                if !ty.is_empty() {
                    m.insert("type".into(), json!(ty));
                }
                if let Some(f) = format {
                    m.insert("format".into(), json!(f));
                }
                Value::Object(m)
            }
            Self::OneOf { alts, format } => {
                let mut m = Map::new();
                if let Some(f) = format {
                    m.insert("format".into(), json!(f));
                }
                // Swagger 2.0 has no oneOf: v2 documents describe these as strings, as the API server does.
                match d {
                    Dialect::V3 => {
                        let alts: Vec<Value> = alts.iter().map(|a| a.to_json(d, false, refs)).collect();
                        m.insert("oneOf".into(), Value::Array(alts));
                    }
                    Dialect::V2 => {
                        m.insert("type".into(), json!("string"));
                    }
                }
                Value::Object(m)
            }
            Self::Ref(name) => {
                refs.push(name.clone());
                let r = match d {
                    Dialect::V3 => json!({ "$ref": format!("#/components/schemas/{name}") }),
                    Dialect::V2 => json!({ "$ref": format!("#/definitions/{name}") }),
                };
                match (d, property) {
                    (Dialect::V3, true) => json!({ "allOf": [r], "default": {} }),
                    _ => r,
                }
            }
            Self::Array(items) => json!({ "type": "array", "items": items.to_json(d, false, refs) }),
            Self::Map(values) => {
                json!({ "type": "object", "additionalProperties": values.to_json(d, false, refs) })
            }
            Self::Object(fields) => {
                let mut props = Map::new();
                let mut required = Vec::new();
                for (name, req, s) in fields {
                    props.insert(name.clone(), s.to_json(d, true, refs));
                    if *req {
                        required.push(json!(name));
                    }
                }
                let mut m = Map::new();
                m.insert("type".into(), json!("object"));
                m.insert("properties".into(), Value::Object(props));
                if !required.is_empty() {
                    m.insert("required".into(), Value::Array(required));
                }
                Value::Object(m)
            }
            Self::Attrs(base, attrs) => {
                let mut v = base.to_json(d, property, refs);
                // A bare `$ref` admits no siblings in v2; wrap it the way v3 does for properties.
                if v.get("$ref").is_some() {
                    v = json!({ "allOf": [v] });
                }
                if let Value::Object(m) = &mut v {
                    for (k, val) in attrs {
                        m.insert(k.clone(), val.clone());
                    }
                }
                v
            }
        }
    }
}

/// The schema of a definition with its kinds; the definitions it refers to are added to `refs`.
fn render(def: &Def, d: Dialect, refs: &mut Vec<String>) -> Value {
    let mut v = def.schema.to_json(d, false, refs);
    if !def.gvks.is_empty()
        && let Value::Object(m) = &mut v
    {
        let gvks: Vec<Value> = def
            .gvks
            .iter()
            .map(|(g, ver, k)| json!({ "group": g, "version": ver, "kind": k }))
            .collect();
        m.insert("x-kubernetes-group-version-kind".into(), Value::Array(gvks));
    }
    v
}

/// The built-in definitions that are the schemas of kinds `keep(group, version)` selects, with every
/// definition they refer to, transitively; named as the API server names them.
pub(crate) fn builtin_schemas(d: Dialect, keep: impl Fn(&str, &str) -> bool) -> Map<String, Value> {
    let all = defs();
    let mut pending: Vec<String> = all
        .iter()
        .filter(|(_, def)| def.gvks.iter().any(|(g, v, _)| keep(g, v)))
        .map(|(n, _)| n.clone())
        .collect();
    let mut out = Map::new();
    while let Some(name) = pending.pop() {
        if out.contains_key(&name) {
            continue;
        }
        let Some(def) = all.get(&name) else { continue };
        let mut refs = Vec::new();
        out.insert(name.clone(), render(def, d, &mut refs));
        pending.extend(refs.into_iter().filter(|r| !out.contains_key(r)));
    }
    out
}

/// The name of the built-in definition of `group/version` `kind` (`io.k8s.api.apps.v1.Deployment`).
pub(crate) fn definition_of(group: &str, version: &str, kind: &str) -> Option<&'static str> {
    defs().iter().find_map(|(name, def)| {
        def.gvks
            .iter()
            .any(|(g, v, k)| g == group && v == version && k == kind)
            .then_some(name.as_str())
    })
}

/// The metadata property of a custom resource, as the API server writes it: a reference to `ObjectMeta`.
pub(crate) fn object_meta_property(d: Dialect) -> Value {
    let mut refs = Vec::new();
    Schema::Ref("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta".into()).to_json(d, true, &mut refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_decodes_into_kubernetes_schemas() {
        let s = builtin_schemas(Dialect::V3, |g, v| g == "apps" && v == "v1");
        let deploy = &s["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            deploy["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "version": "v1", "kind": "Deployment"}])
        );
        assert_eq!(
            deploy["properties"]["spec"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
        );
        let spec = &s["io.k8s.api.apps.v1.DeploymentSpec"];
        assert_eq!(
            spec["properties"]["replicas"],
            json!({"type": "integer", "format": "int32"})
        );
        assert_eq!(spec["required"], json!(["selector", "template"]));
        assert_eq!(
            spec["properties"]["strategy"]["x-kubernetes-patch-strategy"],
            "retainKeys"
        );
        // Reached through references: the pod spec, its containers as a map-list, meta types, oneOfs.
        let pod = &s["io.k8s.api.core.v1.PodSpec"];
        assert_eq!(
            pod["properties"]["containers"]["x-kubernetes-list-map-keys"],
            json!(["name"])
        );
        assert_eq!(
            pod["properties"]["containers"]["x-kubernetes-patch-merge-key"],
            "name"
        );
        assert!(s.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
        assert_eq!(
            s["io.k8s.apimachinery.pkg.util.intstr.IntOrString"],
            json!({"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]})
        );
        // Nothing of other groups that apps/v1 does not refer to.
        assert!(!s.contains_key("io.k8s.api.batch.v1.Job"));
        assert!(defs().len() > 500);
    }

    #[test]
    fn v2_documents_spell_references_their_way() {
        let s = builtin_schemas(Dialect::V2, |g, v| g.is_empty() && v == "v1");
        assert_eq!(
            s["io.k8s.api.core.v1.Pod"]["properties"]["spec"],
            json!({"$ref": "#/definitions/io.k8s.api.core.v1.PodSpec"})
        );
        assert_eq!(
            s["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"],
            "string"
        );
    }
}
