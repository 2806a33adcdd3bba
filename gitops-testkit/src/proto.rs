//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), as client-go's typed
//! clients send them: `kubectl create deployment|job|service|role|...`, `kubectl run`, `kubectl expose`.
//!
//! A body is the magic `k8s\0` followed by a `runtime.Unknown` message whose `raw` field holds the
//! object's own message. Every built-in message is decoded from a table generated from k8s.io/api and
//! k8s.io/apimachinery (`scripts/gen-proto-tables.py`): field numbers and wire types from their
//! `generated.proto`, JSON names, pointers, `omitempty` and inlined structs from their Go types, so the
//! JSON is what the Go API server would make of the same bytes. Kinds without a built-in message are
//! refused with 415, naming the kind, so the caller can send JSON instead.

use std::{collections::HashMap, sync::OnceLock};

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::proto_tables::{MESSAGES, PREFIXES};

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
    Fixed64(u64),
    Fixed32(u32),
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
                let (b, rest) = buf.split_at(n);
                buf = rest;
                let mut word = [0u8; 8];
                word[..n].copy_from_slice(b);
                let v = u64::from_le_bytes(word);
                if wire == 1 {
                    Field::Fixed64(v)
                } else {
                    Field::Fixed32(u32::try_from(v).unwrap_or_default())
                }
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

/// How a field's values are encoded (see `scripts/gen-proto-tables.py`).
#[derive(Debug)]
enum Ty {
    Str,
    Bytes,
    Bool,
    Int,
    Double,
    Message(String),
}

/// One field of a message table.
#[derive(Debug)]
struct FieldSpec {
    json: String,
    ty: Ty,
    repeated: bool,
    map: bool,
    pointer: bool,
    omitempty: bool,
    inline: bool,
}

/// A message: its fields by number, or, for a Go slice type, the type of its items.
#[derive(Debug)]
enum MessageSpec {
    Struct(HashMap<u64, FieldSpec>),
    List(Ty),
}

fn long_name(short: &str) -> String {
    for (long, sh) in PREFIXES {
        if let Some(rest) = short.strip_prefix(sh) {
            return format!("{long}{rest}");
        }
    }
    short.to_owned()
}

fn ty_of(code: &str) -> Ty {
    match code {
        "s" => Ty::Str,
        "y" => Ty::Bytes,
        "b" => Ty::Bool,
        "i" => Ty::Int,
        "d" => Ty::Double,
        m => Ty::Message(long_name(m.strip_prefix("m.").unwrap_or(m))),
    }
}

/// Every built-in message by its full (OpenAPI) name.
fn messages() -> &'static HashMap<String, MessageSpec> {
    static MESSAGES_BY_NAME: OnceLock<HashMap<String, MessageSpec>> = OnceLock::new();
    MESSAGES_BY_NAME.get_or_init(|| {
        let mut out = HashMap::new();
        for line in MESSAGES.lines().filter(|l| !l.is_empty()) {
            let Some((name, cols)) = line.split_once('\t') else {
                continue;
            };
            let spec = if let Some(items) = cols.strip_prefix('[') {
                MessageSpec::List(ty_of(items))
            } else {
                let mut fields = HashMap::new();
                for col in cols.split(';').filter(|c| !c.is_empty()) {
                    // NUMBER:JSON:TYPE:FLAGS, where TYPE may hold dots but no colons.
                    let mut parts = col.splitn(4, ':');
                    let (Some(num), Some(json), Some(code), Some(flags)) =
                        (parts.next(), parts.next(), parts.next(), parts.next())
                    else {
                        continue;
                    };
                    let Ok(num) = num.parse() else { continue };
                    let (repeated, code) = match code.strip_prefix('*') {
                        Some(c) => (true, c),
                        None => (false, code),
                    };
                    let (map, code) = match code.strip_prefix('{').and_then(|c| c.strip_suffix('}')) {
                        Some(c) => (true, c),
                        None => (false, code),
                    };
                    fields.insert(
                        num,
                        FieldSpec {
                            json: json.to_owned(),
                            ty: ty_of(code),
                            repeated,
                            map,
                            pointer: flags.contains('p'),
                            omitempty: flags.contains('o'),
                            inline: flags.contains('n'),
                        },
                    );
                }
                MessageSpec::Struct(fields)
            };
            out.insert(long_name(name), spec);
        }
        out
    })
}

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.";

/// Nesting deeper than any Kubernetes object: a body nesting further is refused, not followed.
const MAX_DEPTH: usize = 64;

/// One value of type `ty` from its wire form.
fn value(ty: &Ty, f: &Field<'_>, depth: usize) -> Result<Value, ProtoError> {
    Ok(match (ty, f) {
        (Ty::Str, Field::Bytes(b)) => string(b)?,
        (Ty::Bytes, Field::Bytes(b)) => bytes_b64(b),
        (Ty::Bool, Field::Varint(v)) => Value::Bool(*v != 0),
        // int32 and int64 alike: negative numbers are ten-byte two's complement varints.
        (Ty::Int, Field::Varint(v)) => json!(*v as i64),
        (Ty::Double, Field::Fixed64(v)) => json!(f64::from_bits(*v)),
        (Ty::Double, Field::Fixed32(v)) => json!(f64::from(f32::from_bits(*v))),
        (Ty::Message(name), Field::Bytes(b)) => message(name, b, depth + 1)?,
        _ => return Err(malformed(&format!("unexpected wire type for a {ty:?} field"))),
    })
}

/// A message as the JSON the Go API server would write for it.
fn message(name: &str, raw: &[u8], depth: usize) -> Result<Value, ProtoError> {
    if depth > MAX_DEPTH {
        return Err(malformed("messages nested too deeply"));
    }
    if let Some(v) = special(name, raw)? {
        return Ok(v);
    }
    let spec = messages()
        .get(name)
        .ok_or_else(|| malformed(&format!("no protobuf message {name}")))?;
    let fields_by_number = match spec {
        MessageSpec::List(ty) => {
            let items = fields(raw)?
                .into_iter()
                .filter(|(n, _)| *n == 1)
                .map(|(_, f)| value(ty, &f, depth))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Value::Array(items));
        }
        MessageSpec::Struct(f) => f,
    };
    let mut out = Map::new();
    for (num, f) in fields(raw)? {
        // Fields this table does not know (newer than it) are skipped, as protobuf readers do.
        let Some(spec) = fields_by_number.get(&num) else {
            continue;
        };
        if spec.map {
            let Field::Bytes(entry) = f else {
                return Err(malformed("map entry is not a message"));
            };
            let (mut k, mut v) = (String::new(), None);
            for (n, ef) in fields(entry)? {
                match n {
                    1 => {
                        k = match string_of(&ef) {
                            Some(k) => k,
                            None => return Err(malformed("map key is not a string")),
                        };
                    }
                    2 => v = Some(value(&spec.ty, &ef, depth)?),
                    _ => {}
                }
            }
            let v = match v {
                Some(v) => v,
                None => zero(&spec.ty, depth)?,
            };
            if let Value::Object(m) = out.entry(spec.json.clone()).or_insert_with(|| json!({})) {
                m.insert(k, v);
            }
            continue;
        }
        // Packed repeated scalars arrive as one length-delimited run of varints.
        if spec.repeated
            && matches!(spec.ty, Ty::Int | Ty::Bool)
            && let Field::Bytes(mut run) = f
        {
            while !run.is_empty() {
                let v = value(&spec.ty, &Field::Varint(varint(&mut run)?), depth)?;
                push(&mut out, &spec.json, v);
            }
            continue;
        }
        let v = value(&spec.ty, &f, depth)?;
        if spec.inline {
            if let Value::Object(inner) = v {
                out.extend(inner);
            }
        } else if spec.repeated {
            push(&mut out, &spec.json, v);
        } else if spec.json != "-" {
            // A zero value Go does not write: omitempty on a non-pointer scalar (structs are never
            // omitted; a zero `metav1.Time` is written as null).
            if spec.omitempty && !spec.pointer && !matches!(spec.ty, Ty::Message(_)) && is_zero(&v) {
                continue;
            }
            out.insert(spec.json.clone(), v);
        }
    }
    Ok(Value::Object(out))
}

fn string_of(f: &Field<'_>) -> Option<String> {
    match f {
        Field::Bytes(b) => std::str::from_utf8(b).ok().map(str::to_owned),
        _ => None,
    }
}

/// A map value that was left out of its entry: the type's zero value.
fn zero(ty: &Ty, depth: usize) -> Result<Value, ProtoError> {
    Ok(match ty {
        Ty::Str => json!(""),
        Ty::Bytes => json!(""),
        Ty::Bool => json!(false),
        Ty::Int | Ty::Double => json!(0),
        Ty::Message(name) => message(name, &[], depth + 1)?,
    })
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Null | Value::Array(_) | Value::Object(_) => false,
    }
}

fn push(m: &mut Map<String, Value>, key: &str, v: Value) {
    if let Value::Array(a) = m.entry(key).or_insert_with(|| json!([])) {
        a.push(v);
    }
}

/// The messages whose JSON is not an object of their fields: times, durations, quantities, int-or-string
/// and embedded raw JSON.
fn special(name: &str, raw: &[u8]) -> Result<Option<Value>, ProtoError> {
    let Some(short) = name
        .strip_prefix(META)
        .or_else(|| name.strip_prefix("io.k8s.apimachinery.pkg."))
    else {
        return Ok(None);
    };
    let f = fields(raw)?;
    let int = |n: u64| {
        f.iter()
            .find_map(|(num, v)| match v {
                Field::Varint(x) if *num == n => Some(*x as i64),
                _ => None,
            })
            .unwrap_or(0)
    };
    let bytes = |n: u64| {
        f.iter().find_map(|(num, v)| match v {
            Field::Bytes(b) if *num == n => Some(*b),
            _ => None,
        })
    };
    Ok(Some(match short {
        "Time" | "MicroTime" => {
            let (secs, nanos) = (int(1), int(2));
            if secs == 0 && nanos == 0 {
                return Ok(Some(Value::Null));
            }
            let ts = jiff::Timestamp::new(secs, i32::try_from(nanos).unwrap_or(0))
                .map_err(|e| malformed(&format!("time out of range: {e}")))?;
            let text = if short == "Time" {
                ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
            } else {
                ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
            };
            Value::String(text)
        }
        "Duration" => Value::String(go_duration(int(1))),
        "api.resource.Quantity" => bytes(1).map_or(Ok(json!("0")), string)?,
        "util.intstr.IntOrString" => {
            if int(1) == 1 {
                bytes(3).map_or(Ok(json!("")), string)?
            } else {
                json!(int(2))
            }
        }
        "runtime.RawExtension" | "FieldsV1" => match bytes(1) {
            None | Some([]) => Value::Null,
            Some(b) => serde_json::from_slice(b)
                .map_err(|e| malformed(&format!("embedded object is not JSON: {e}")))?,
        },
        _ => return Ok(None),
    }))
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `150ms`, `0s`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        let (unit, div) = if n < 1_000 {
            ("ns", 1)
        } else if n < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", fraction(n, div));
    }
    let (h, rest) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
    let (m, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let secs = fraction(rest, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{sign}{secs}s"),
        (0, m) => format!("{sign}{m}m{secs}s"),
        (h, m) => format!("{sign}{h}h{m}m{secs}s"),
    }
}

/// `n / div` with its fraction, trailing zeros dropped.
fn fraction(n: u64, div: u64) -> String {
    let (whole, frac) = (n / div, n % div);
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
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
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
    let Some(name) = crate::openapi::definition_of(group, version, &kind) else {
        return Err(ProtoError::UnsupportedKind(format!("{api_version}/{kind}")));
    };
    let Value::Object(mut m) = message(name, raw, 0)? else {
        return Err(malformed(&format!(
            "{api_version}/{kind} is not an object message"
        )));
    };
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

    fn varint_field(num: u64, v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for mut x in [num << 3, v] {
            while x >= 0x80 {
                out.push((x as u8) | 0x80);
                x >>= 7;
            }
            out.push(x as u8);
        }
        out
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let tm = [
            len_field(1, api_version.as_bytes()),
            len_field(2, kind.as_bytes()),
        ]
        .concat();
        [b"k8s\0".as_slice(), &len_field(1, &tm), &len_field(2, raw)].concat()
    }

    /// A Deployment as client-go writes it: zero-valued non-pointer fields present on the wire, a pointer
    /// set to zero, int-or-string, quantities, a volume source inlined into its volume, timestamps.
    #[test]
    fn decodes_a_deployment_as_the_go_server_would() {
        let meta = [len_field(1, b"web"), len_field(2, b""), len_field(8, b"")].concat();
        let container = [
            len_field(1, b"web"),
            len_field(2, b"nginx"),
            len_field(
                8,
                &len_field(
                    1,
                    &[len_field(1, b"cpu"), len_field(2, &len_field(1, b"250m"))].concat(),
                ),
            ),
            len_field(6, &[varint_field(3, 80), len_field(4, b"TCP")].concat()),
        ]
        .concat();
        let volume = [
            len_field(1, b"data"),
            len_field(2, &len_field(2, &len_field(1, b"Memory"))),
        ]
        .concat();
        let pod = [len_field(2, &container), len_field(1, &volume)].concat();
        let strategy = [
            len_field(1, b"RollingUpdate"),
            len_field(
                2,
                &len_field(1, &[varint_field(1, 1), len_field(3, b"25%")].concat()),
            ),
        ]
        .concat();
        let spec = [
            varint_field(1, 0),
            len_field(
                3,
                &[
                    len_field(1, &[len_field(1, b""), len_field(8, b"")].concat()),
                    len_field(2, &pod),
                ]
                .concat(),
            ),
            len_field(4, &strategy),
            varint_field(5, 0),
            varint_field(9, u64::MAX - 4),
        ]
        .concat();
        let raw = [len_field(1, &meta), len_field(2, &spec), len_field(3, b"")].concat();
        let v = decode(&envelope("apps/v1", "Deployment", &raw)).unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "creationTimestamp": null},
                "spec": {
                    "replicas": 0,
                    "progressDeadlineSeconds": -5,
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%"}},
                    "template": {"metadata": {"creationTimestamp": null}, "spec": {
                        "containers": [{"name": "web", "image": "nginx",
                                        "resources": {"limits": {"cpu": "250m"}},
                                        "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
                        "volumes": [{"name": "data", "emptyDir": {"medium": "Memory"}}]
                    }}
                },
                "status": {}
            })
        );
    }

    #[test]
    fn times_durations_and_slice_messages() {
        let t = [varint_field(1, 1_764_633_600), varint_field(2, 500_000_000)].concat();
        assert_eq!(
            message("io.k8s.apimachinery.pkg.apis.meta.v1.Time", &t, 0).unwrap(),
            "2025-12-02T00:00:00Z"
        );
        assert_eq!(
            message("io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime", &t, 0).unwrap(),
            "2025-12-02T00:00:00.500000Z"
        );
        for (nanos, text) in [
            (0, "0s"),
            (1_500, "1.5µs"),
            (150_000_000, "150ms"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
        ] {
            assert_eq!(go_duration(nanos), text);
        }
        let verbs = [len_field(1, b"get"), len_field(1, b"list")].concat();
        assert_eq!(
            message("io.k8s.apimachinery.pkg.apis.meta.v1.Verbs", &verbs, 0).unwrap(),
            json!(["get", "list"])
        );
    }

    #[test]
    fn refuses_garbage_and_other_kinds() {
        assert!(matches!(decode(b"{}"), Err(ProtoError::Malformed(_))));
        assert!(matches!(decode(b"k8s\0\x0a\xff"), Err(ProtoError::Malformed(_))));
        let envelope = len_field(
            1,
            &[len_field(1, b"example.com/v1"), len_field(2, b"Widget")].concat(),
        );
        let body = [b"k8s\0".as_slice(), &envelope].concat();
        assert!(matches!(decode(&body), Err(ProtoError::UnsupportedKind(k)) if k == "example.com/v1/Widget"));
        // Nesting without end is refused, not followed.
        let mut deep = Vec::new();
        for _ in 0..200 {
            deep = len_field(1, &deep);
        }
        assert!(matches!(
            message("io.k8s.api.core.v1.Node", &deep, 0),
            Err(ProtoError::Malformed(_))
        ));
    }
}
