//! Kubernetes protobuf request bodies, for the kinds kubectl's generators send that way
//! (`kubectl create namespace|configmap|secret|serviceaccount`).
//!
//! A body is the magic `k8s\0` followed by a `runtime.Unknown` message whose `raw` field holds the
//! object's own message. Field numbers follow the `generated.proto` files of k8s.io/api and apimachinery.
//! Other kinds are refused with 415, naming the kind, so the caller can send JSON instead.

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// Why a protobuf body was not decoded.
#[derive(Debug)]
pub(crate) enum ProtoError {
    /// The bytes are not a well-formed Kubernetes protobuf envelope or object.
    Malformed(String),
    /// The envelope names a kind this server does not decode from protobuf.
    UnsupportedKind(String),
}

/// One field of a message: its number and its value.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn malformed(what: &str) -> ProtoError {
    ProtoError::Malformed(what.to_owned())
}

fn varint(buf: &mut &[u8]) -> Result<u64, ProtoError> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first().ok_or_else(|| malformed("truncated varint"))?;
        *buf = rest;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err(malformed("varint longer than 10 bytes"))
}

/// The fields of one message, in wire order.
fn fields(mut buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, ProtoError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let tag = varint(&mut buf)?;
        let (num, wire) = (tag >> 3, tag & 7);
        let f = match wire {
            0 => Field::Varint(varint(&mut buf)?),
            2 => {
                let len = usize::try_from(varint(&mut buf)?).map_err(|_| malformed("length overflow"))?;
                if len > buf.len() {
                    return Err(malformed("length beyond the end of the message"));
                }
                let (b, rest) = buf.split_at(len);
                buf = rest;
                Field::Bytes(b)
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                if n > buf.len() {
                    return Err(malformed("truncated fixed-width field"));
                }
                buf = &buf[n..];
                Field::Fixed
            }
            _ => return Err(malformed(&format!("unsupported wire type {wire}"))),
        };
        out.push((num, f));
    }
    Ok(out)
}

fn string(b: &[u8]) -> Result<Value, ProtoError> {
    std::str::from_utf8(b)
        .map(|s| Value::String(s.to_owned()))
        .map_err(|_| malformed("string field is not UTF-8"))
}

fn bytes_b64(b: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(b))
}

/// A `map<string, V>` entry: key 1, value 2.
fn map_entry(
    b: &[u8],
    value: impl Fn(&[u8]) -> Result<Value, ProtoError>,
) -> Result<(String, Value), ProtoError> {
    let (mut k, mut v) = (String::new(), None);
    for (num, f) in fields(b)? {
        match (num, f) {
            (1, Field::Bytes(b)) => {
                k = std::str::from_utf8(b)
                    .map_err(|_| malformed("map key is not UTF-8"))?
                    .to_owned();
            }
            (2, Field::Bytes(b)) => v = Some(value(b)?),
            _ => {}
        }
    }
    Ok((k, v.unwrap_or_else(|| value(&[]).unwrap_or(Value::Null))))
}

fn insert_entry(m: &mut Map<String, Value>, key: &str, entry: (String, Value)) {
    if let Value::Object(o) = m.entry(key).or_insert_with(|| json!({})) {
        o.insert(entry.0, entry.1);
    }
}

/// Sets a scalar field. Go's marshaller writes empty strings for unset ones; JSON omits them.
fn set(m: &mut Map<String, Value>, key: &str, v: Value) {
    if v != "" {
        m.insert(key.to_owned(), v);
    }
}

fn push(m: &mut Map<String, Value>, key: &str, v: Value) {
    if let Value::Array(a) = m.entry(key).or_insert_with(|| json!([])) {
        a.push(v);
    }
}

/// `meta.v1.OwnerReference`.
fn owner_reference(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    for (num, f) in fields(b)? {
        match (num, f) {
            (1, Field::Bytes(b)) => set(&mut m, "kind", string(b)?),
            (3, Field::Bytes(b)) => set(&mut m, "name", string(b)?),
            (4, Field::Bytes(b)) => set(&mut m, "uid", string(b)?),
            (5, Field::Bytes(b)) => set(&mut m, "apiVersion", string(b)?),
            (6, Field::Varint(v)) => set(&mut m, "controller", Value::Bool(v != 0)),
            (7, Field::Varint(v)) => set(&mut m, "blockOwnerDeletion", Value::Bool(v != 0)),
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

/// `meta.v1.ObjectMeta`: what a client may set. Server-owned fields (uid, resourceVersion, timestamps,
/// managedFields) are not read; the server sets them.
fn object_meta(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    for (num, f) in fields(b)? {
        match (num, f) {
            (1, Field::Bytes(b)) => set(&mut m, "name", string(b)?),
            (2, Field::Bytes(b)) => set(&mut m, "generateName", string(b)?),
            (3, Field::Bytes(b)) => set(&mut m, "namespace", string(b)?),
            (11, Field::Bytes(b)) => insert_entry(&mut m, "labels", map_entry(b, string)?),
            (12, Field::Bytes(b)) => insert_entry(&mut m, "annotations", map_entry(b, string)?),
            (13, Field::Bytes(b)) => push(&mut m, "ownerReferences", owner_reference(b)?),
            (14, Field::Bytes(b)) => push(&mut m, "finalizers", string(b)?),
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

/// `core.v1.ObjectReference` and `LocalObjectReference` (which only has `name = 1`).
fn object_reference(b: &[u8]) -> Result<Value, ProtoError> {
    let names = [
        "",
        "kind",
        "namespace",
        "name",
        "uid",
        "apiVersion",
        "resourceVersion",
        "fieldPath",
    ];
    let mut m = Map::new();
    for (num, f) in fields(b)? {
        if let (Some(key), Field::Bytes(b)) = (usize::try_from(num).ok().and_then(|n| names.get(n)), f)
            && !key.is_empty()
        {
            m.insert((*key).into(), string(b)?);
        }
    }
    Ok(Value::Object(m))
}

fn local_object_reference(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    for (num, f) in fields(b)? {
        if let (1, Field::Bytes(b)) = (num, f) {
            m.insert("name".into(), string(b)?);
        }
    }
    Ok(Value::Object(m))
}

/// The object message for `kind`, as JSON.
fn object(kind: &str, raw: &[u8]) -> Result<Map<String, Value>, ProtoError> {
    let mut m = Map::new();
    for (num, f) in fields(raw)? {
        match (kind, num, f) {
            (_, 1, Field::Bytes(b)) => set(&mut m, "metadata", object_meta(b)?),
            ("Namespace", 2, Field::Bytes(b)) => {
                let mut spec = Map::new();
                for (n, f) in fields(b)? {
                    if let (1, Field::Bytes(b)) = (n, f) {
                        push(&mut spec, "finalizers", string(b)?);
                    }
                }
                m.insert("spec".into(), Value::Object(spec));
            }
            ("ConfigMap", 2, Field::Bytes(b)) => insert_entry(&mut m, "data", map_entry(b, string)?),
            ("ConfigMap", 3, Field::Bytes(b)) => {
                insert_entry(&mut m, "binaryData", map_entry(b, |b| Ok(bytes_b64(b)))?);
            }
            ("ConfigMap", 4, Field::Varint(v)) | ("Secret", 5, Field::Varint(v)) => {
                set(&mut m, "immutable", Value::Bool(v != 0));
            }
            ("Secret", 2, Field::Bytes(b)) => {
                insert_entry(&mut m, "data", map_entry(b, |b| Ok(bytes_b64(b)))?);
            }
            ("Secret", 3, Field::Bytes(b)) => set(&mut m, "type", string(b)?),
            ("Secret", 4, Field::Bytes(b)) => insert_entry(&mut m, "stringData", map_entry(b, string)?),
            ("ServiceAccount", 2, Field::Bytes(b)) => push(&mut m, "secrets", object_reference(b)?),
            ("ServiceAccount", 3, Field::Bytes(b)) => {
                push(&mut m, "imagePullSecrets", local_object_reference(b)?);
            }
            ("ServiceAccount", 4, Field::Varint(v)) => {
                set(&mut m, "automountServiceAccountToken", Value::Bool(v != 0));
            }
            _ => {}
        }
    }
    Ok(m)
}

/// Decodes a `application/vnd.kubernetes.protobuf` body into the JSON object it stands for.
pub(crate) fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let rest = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| malformed("missing the k8s protobuf magic prefix"))?;
    let (mut api_version, mut kind, mut raw, mut encoding) =
        (String::new(), String::new(), &[][..], String::new());
    for (num, f) in fields(rest)? {
        match (num, f) {
            (1, Field::Bytes(tm)) => {
                for (n, f) in fields(tm)? {
                    match (n, f) {
                        (1, Field::Bytes(b)) => api_version = String::from_utf8_lossy(b).into_owned(),
                        (2, Field::Bytes(b)) => kind = String::from_utf8_lossy(b).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(b)) => raw = b,
            (3, Field::Bytes(b)) => encoding = String::from_utf8_lossy(b).into_owned(),
            _ => {}
        }
    }
    if !encoding.is_empty() {
        return Err(malformed(&format!("unsupported content encoding {encoding:?}")));
    }
    if api_version != "v1"
        || !matches!(
            kind.as_str(),
            "Namespace" | "ConfigMap" | "Secret" | "ServiceAccount"
        )
    {
        return Err(ProtoError::UnsupportedKind(format!("{api_version}/{kind}")));
    }
    let mut m = object(&kind, raw)?;
    m.insert("apiVersion".into(), Value::String(api_version));
    m.insert("kind".into(), Value::String(kind));
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len_field(num: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut v = (num << 3) | 2;
        let put = |mut x: u64, out: &mut Vec<u8>| {
            while x >= 0x80 {
                out.push((x as u8) | 0x80);
                x >>= 7;
            }
            out.push(x as u8);
        };
        put(v, &mut out);
        v = payload.len() as u64;
        put(v, &mut out);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn decodes_a_secret_with_binary_data() {
        let meta = [
            len_field(1, b"s"),
            len_field(11, &[len_field(1, b"a"), len_field(2, b"b")].concat()),
        ]
        .concat();
        let raw = [
            len_field(1, &meta),
            len_field(2, &[len_field(1, b"k"), len_field(2, &[0, 255])].concat()),
            len_field(3, b"Opaque"),
        ]
        .concat();
        let envelope = [
            len_field(1, &[len_field(1, b"v1"), len_field(2, b"Secret")].concat()),
            len_field(2, &raw),
        ]
        .concat();
        let body = [b"k8s\0".as_slice(), &envelope].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": "s", "labels": {"a": "b"}}, "data": {"k": "AP8="}})
        );
    }

    #[test]
    fn refuses_garbage_and_other_kinds() {
        assert!(matches!(decode(b"{}"), Err(ProtoError::Malformed(_))));
        assert!(matches!(decode(b"k8s\0\x0a\xff"), Err(ProtoError::Malformed(_))));
        let envelope = len_field(
            1,
            &[len_field(1, b"apps/v1"), len_field(2, b"Deployment")].concat(),
        );
        let body = [b"k8s\0".as_slice(), &envelope].concat();
        assert!(matches!(decode(&body), Err(ProtoError::UnsupportedKind(k)) if k == "apps/v1/Deployment"));
    }
}
