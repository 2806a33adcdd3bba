//! `configMapGenerator` and `secretGenerator`, and the content hash of generated names.

use std::{collections::BTreeMap, path::Path};

use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::{
    Error, Result,
    build::{Acc, Builder, merge_generated},
    kustomization::{GeneratorArgs, GeneratorOptions, Kustomization},
    resource::{Behavior, Resource},
};

/// Runs the generators of `k` into `acc`.
pub(crate) fn run(b: &mut Builder, dir: &Path, file: &Path, k: &Kustomization, acc: &mut Acc) -> Result<()> {
    let rel_file = file.to_string_lossy().into_owned();
    for (kind, list) in [
        ("ConfigMap", &k.config_map_generator),
        ("Secret", &k.secret_generator),
    ] {
        for args in list {
            let r = generate(b, dir, kind, args, k.generator_options.as_ref()).map_err(|e| match e {
                Error::Build(m) => Error::Build(format!("{}: {m}", file.display())),
                other => other,
            })?;
            let mut r = r;
            r.origin = Some(json!({
                "configuredIn": rel_file,
                "configuredBy": { "apiVersion": "builtin", "kind": format!("{kind}Generator") },
            }));
            merge_generated(acc, r, file)?;
        }
    }
    for entry in &k.generators {
        for (cfg, _) in crate::plugins::load_configs(b, dir, file, entry)? {
            let kind = cfg
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let gen_kind = match kind.as_str() {
                "ConfigMapGenerator" => "ConfigMap",
                "SecretGenerator" => "Secret",
                "IAMPolicyGenerator" => {
                    let r = iam_policy(&cfg).map_err(|m| Error::Invalid {
                        file: dir.join(entry),
                        message: m,
                    })?;
                    merge_generated(acc, r, file)?;
                    continue;
                }
                other => {
                    return Err(Error::build(format!(
                        "{}: unsupported generator kind {other:?}",
                        file.display()
                    )));
                }
            };
            let mut body = cfg.clone();
            let meta = body
                .as_object_mut()
                .and_then(|m| m.remove("metadata"))
                .unwrap_or(Value::Null);
            if let Some(m) = body.as_object_mut() {
                m.remove("apiVersion");
                m.remove("kind");
                // A `name` in the configuration wins over the plugin's own metadata.name.
                if m.get("name").and_then(Value::as_str).is_none_or(str::is_empty) {
                    m.insert("name".into(), meta.get("name").cloned().unwrap_or(Value::Null));
                }
                if let (None, Some(ns)) = (m.get("namespace"), meta.get("namespace")) {
                    m.insert("namespace".into(), ns.clone());
                }
            }
            let args: GeneratorArgs = serde_json::from_value(crate::kustomization::canonical_keys(body))
                .map_err(|e| Error::Invalid {
                    file: dir.join(entry),
                    message: e.to_string(),
                })?;
            let mut r = generate(b, dir, gen_kind, &args, None)?;
            r.origin = Some(json!({
                "configuredIn": crate::build::clean(&dir.join(entry)).to_string_lossy(),
                "configuredBy": { "apiVersion": "builtin", "kind": kind, "name": meta.get("name").cloned().unwrap_or(Value::Null) },
            }));
            merge_generated(acc, r, file)?;
        }
    }
    Ok(())
}

fn merged_options(local: Option<&GeneratorOptions>, global: Option<&GeneratorOptions>) -> GeneratorOptions {
    let mut o = local.cloned().unwrap_or_default();
    if let Some(g) = global {
        for (k, v) in &g.labels {
            o.labels.insert(k.clone(), v.clone());
        }
        for (k, v) in &g.annotations {
            o.annotations.insert(k.clone(), v.clone());
        }
        if g.disable_name_suffix_hash == Some(true) {
            o.disable_name_suffix_hash = Some(true);
        }
        if g.immutable == Some(true) {
            o.immutable = Some(true);
        }
    }
    o
}

fn is_env_var_name(k: &str) -> bool {
    !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn is_config_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k != "."
        && k != ".."
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn remove_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// Key/value pairs from envs, literals and files, in kustomize's order.
fn pairs(b: &Builder, dir: &Path, args: &GeneratorArgs) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let envs = args.envs.iter().chain(args.env.iter());
    for env in envs {
        let text = b.read_bytes(dir, env)?;
        let text = String::from_utf8(text)
            .map_err(|_| Error::build(format!("env source file {env} has invalid utf8")))?;
        for (i, line) in text.lines().enumerate() {
            let line = if i == 0 {
                line.trim_start_matches('\u{feff}')
            } else {
                line
            };
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            if !is_env_var_name(k) {
                return Err(Error::build(format!(
                    "env source files: [{env}]: invalid key \"{k}\" in env file: a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit"
                )));
            }
            out.push((k.to_owned(), v.as_bytes().to_vec()));
        }
    }
    for lit in &args.literals {
        if lit.starts_with('=') || !lit.contains('=') {
            return Err(Error::build(format!(
                "invalid literal source {lit}, expected key=value"
            )));
        }
        let (k, v) = lit.split_once('=').unwrap_or_default();
        out.push((k.to_owned(), remove_quotes(v).as_bytes().to_vec()));
    }
    for src in &args.files {
        let n = src.matches('=').count();
        let (key, path) = match n {
            0 => (src.rsplit('/').next().unwrap_or(src).to_owned(), src.as_str()),
            1 if src.starts_with('=') => {
                return Err(Error::build(format!(
                    "missing key name for file path {:?} in source {src:?}",
                    &src[1..]
                )));
            }
            1 if src.ends_with('=') => {
                return Err(Error::build(format!(
                    "missing file path for key name {:?} in source {src:?}",
                    &src[..src.len() - 1]
                )));
            }
            1 => {
                let (k, p) = src.split_once('=').unwrap_or_default();
                (k.to_owned(), p)
            }
            _ => {
                return Err(Error::build(format!(
                    "source {src:?} key name or file path contains '='"
                )));
            }
        };
        let data = b.read_bytes(dir, path)?;
        out.push((key, data));
    }
    Ok(out)
}

fn generate(
    b: &Builder,
    dir: &Path,
    kind: &str,
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
) -> Result<Resource> {
    let name = args
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::build(format!("a {} must have a name", kind.to_lowercase())))?;
    let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (k, v) in pairs(b, dir, args)? {
        if !is_config_key(&k) {
            return Err(Error::build(format!(
                "\"{k}\" is not a valid key name for a {kind}: a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
            )));
        }
        if data.insert(k.clone(), v).is_some() {
            return Err(Error::build(format!(
                "{} {name} illegally repeats the key `{k}`",
                kind.to_lowercase()
            )));
        }
    }
    let opts = merged_options(args.options.as_ref(), global);
    let mut meta = Map::new();
    meta.insert("name".into(), Value::String(name.clone()));
    if let Some(ns) = args.namespace.as_ref().filter(|n| !n.is_empty()) {
        meta.insert("namespace".into(), Value::String(ns.clone()));
    }
    if !opts.labels.is_empty() {
        meta.insert("labels".into(), json!(opts.labels));
    }
    if !opts.annotations.is_empty() {
        meta.insert("annotations".into(), json!(opts.annotations));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert("kind".into(), Value::String(kind.into()));
    obj.insert("metadata".into(), Value::Object(meta));
    let b64 = |v: &[u8]| wrap_base64(&base64::engine::general_purpose::STANDARD.encode(v));
    if kind == "Secret" {
        obj.insert(
            "type".into(),
            Value::String(args.type_.clone().unwrap_or_else(|| "Opaque".into())),
        );
        let d: Map<String, Value> = data
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(b64(v))))
            .collect();
        obj.insert("data".into(), Value::Object(d));
    } else {
        let mut d = Map::new();
        let mut bin = Map::new();
        for (k, v) in &data {
            match std::str::from_utf8(v) {
                Ok(s) => d.insert(k.clone(), Value::String(s.to_owned())),
                Err(_) => bin.insert(k.clone(), Value::String(b64(v))),
            };
        }
        if !d.is_empty() {
            obj.insert("data".into(), Value::Object(d));
        }
        if !bin.is_empty() {
            obj.insert("binaryData".into(), Value::Object(bin));
        }
    }
    if opts.immutable == Some(true) {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut r = Resource::new(Value::Object(obj));
    r.needs_hash = opts.disable_name_suffix_hash != Some(true);
    r.behavior = Some(match args.behavior.as_deref().unwrap_or("create") {
        "" | "create" => Behavior::Create,
        "merge" => Behavior::Merge,
        "replace" => Behavior::Replace,
        other => return Err(Error::build(format!("unknown generator behavior {other:?}"))),
    });
    Ok(r)
}

/// kyaml's base64 for Secret data and binaryData: lines of 70 characters, each ending in a newline once
/// there is more than one line's worth.
fn wrap_base64(enc: &str) -> String {
    const LINE: usize = 70;
    let lines = enc.len() / LINE + 1;
    if lines == 1 {
        return enc.to_owned();
    }
    let mut out = String::with_capacity(enc.len() + lines);
    for chunk in enc.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Go's `encoding/json` encoding: sorted keys, HTML-safe escapes.
pub(crate) fn go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => go_json_str(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_str(k, out);
                out.push(':');
                go_json(&m[*k], out);
            }
            out.push('}');
        }
    }
}

fn go_json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The 10-character name suffix kustomize derives from a ConfigMap's or Secret's content.
pub(crate) fn hash(r: &Resource) -> Result<String> {
    let get = |k: &str| r.obj.get(k).cloned().unwrap_or(Value::String(String::new()));
    let mut m = Map::new();
    match r.kind() {
        "ConfigMap" => {
            m.insert("kind".into(), json!("ConfigMap"));
            // kustomize looks the name up as one field called "metadata/name", which never exists: the
            // hash is always computed with an empty name, and generated names depend on content only.
            m.insert("name".into(), json!(""));
            m.insert("data".into(), get("data"));
            if r.obj.get("binaryData").is_some_and(Value::is_object) {
                m.insert("binaryData".into(), get("binaryData"));
            }
        }
        "Secret" => {
            m.insert("kind".into(), json!("Secret"));
            m.insert("type".into(), get("type"));
            m.insert("name".into(), json!(""));
            m.insert("data".into(), get("data"));
            if r.obj.get("stringData").is_some_and(Value::is_object) {
                m.insert("stringData".into(), get("stringData"));
            }
        }
        _ => {
            m = r.map().clone();
        }
    }
    let mut text = String::new();
    go_json(&Value::Object(m), &mut text);
    let hex = gitops_core::to_hex(&Sha256::digest(text.as_bytes()));
    Ok(hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect())
}

/// `IAMPolicyGenerator` (GKE workload identity): a ServiceAccount annotated with its Google service account.
fn iam_policy(cfg: &Value) -> Result<Resource, String> {
    let cloud = cfg.get("cloud").and_then(Value::as_str).unwrap_or_default();
    if cloud != "gke" {
        return Err(format!(
            "cloud provider {cloud:?} is not supported by IAMPolicyGenerator"
        ));
    }
    let s = |p: &str| {
        cfg.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (name, ns, gsa, project) = (
        s("/kubernetesService/name"),
        s("/kubernetesService/namespace"),
        s("/serviceAccount/name"),
        s("/serviceAccount/projectId"),
    );
    let mut meta = Map::new();
    meta.insert(
        "annotations".into(),
        json!({ "iam.gke.io/gcp-service-account": format!("{gsa}@{project}.iam.gserviceaccount.com") }),
    );
    meta.insert("name".into(), Value::String(name));
    if !ns.is_empty() {
        meta.insert("namespace".into(), Value::String(ns));
    }
    let mut r = Resource::new(json!({ "apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta }));
    r.behavior = Some(Behavior::Create);
    Ok(r)
}
