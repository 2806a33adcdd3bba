//! The untyped YAML node.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A YAML node as the general reader types it for a target that takes anything (`deserialize_any`),
/// before any conversion: what Helm's values reader starts from, and what the fast reader
/// ([`super::simple`]) must agree with.
#[derive(Debug, Clone, PartialEq)]
pub enum Untyped {
    /// `null`, `~`, nothing.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A float (and an integer the reader gives as `u128`).
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Untyped>),
    /// A mapping, in document order, keys as typed.
    Map(Vec<(Untyped, Untyped)>),
}

impl<'de> Deserialize<'de> for Untyped {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Untyped, D::Error> {
        d.deserialize_any(UntypedVisitor)
    }
}

struct UntypedVisitor;

impl<'de> Visitor<'de> for UntypedVisitor {
    type Value = Untyped;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Untyped, E> {
        Ok(Untyped::Null)
    }
    fn visit_none<E>(self) -> Result<Untyped, E> {
        Ok(Untyped::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Untyped, D::Error> {
        Untyped::deserialize(d)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Untyped, E> {
        Ok(Untyped::Bool(b))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Untyped, E> {
        Ok(Untyped::Int(v as i128))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Untyped, E> {
        Ok(Untyped::Int(v as i128))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Untyped, E> {
        Ok(Untyped::Int(v))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Untyped, E> {
        Ok(Untyped::Float(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Untyped, E> {
        Ok(Untyped::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Untyped, E> {
        Ok(Untyped::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Untyped, E> {
        Ok(Untyped::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Untyped, A::Error> {
        let mut out = Vec::new();
        while let Some(n) = seq.next_element()? {
            out.push(n);
        }
        Ok(Untyped::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Untyped, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry()? {
            out.push((k, v));
        }
        Ok(Untyped::Map(out))
    }
}
