//! Checks generated CustomResourceDefinitions against the ones Flux ships, field by field.

use std::path::PathBuf;

use serde_json::Value;

/// Where Flux's CRDs are kept beside the repository (`../shared/reference/flux-crds`), if present.
pub fn reference_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/flux-crds");
    d.is_dir().then_some(d)
}

/// Flattens a schema into `path type required enum default pattern format length` rows.
fn rows(schema: &Value, path: &str, required: bool, out: &mut Vec<String>) {
    let get = |k: &str| schema.get(k).map(|v| v.to_string()).unwrap_or_default();
    let ty = match (schema.get("type"), schema.get("x-kubernetes-int-or-string")) {
        (Some(t), _) => t.as_str().unwrap_or_default().to_owned(),
        (None, Some(_)) => "int-or-string".into(),
        (None, None) => String::new(),
    };
    out.push(format!(
        "{path} type={ty} required={required} enum={} default={} pattern={} format={} length={}..{}",
        get("enum"),
        get("default"),
        get("pattern"),
        get("format"),
        get("minLength"),
        get("maxLength"),
    ));
    let req: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            rows(v, &format!("{path}.{k}"), req.contains(&k.as_str()), out);
        }
    }
    if let Some(items) = schema.get("items") {
        rows(items, &format!("{path}[]"), false, out);
    }
    if let Some(ap) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        rows(ap, &format!("{path}{{}}"), false, out);
    }
}

/// Compares `ours` (a CRD as JSON) with Flux's CRD in `file` of [`reference_dir`]: group, scope, names,
/// printer columns, subresources and every schema field of `version` (type, requiredness, enum, default,
/// pattern, format, lengths; `metav1.Condition`'s own validation aside). `None` when the reference is
/// absent; otherwise every difference, listed.
pub fn compare(ours: &Value, file: &str, version: &str) -> Option<Result<(), String>> {
    let text = std::fs::read_to_string(reference_dir()?.join(file)).ok()?;
    let flux: Value = match gitops_core::yaml::from_str(&text) {
        Ok(v) => v,
        Err(e) => return Some(Err(format!("{file}: {e}"))),
    };
    let mut diffs = Vec::new();
    for key in ["group", "scope"] {
        if ours["spec"][key] != flux["spec"][key] {
            diffs.push(format!(
                "spec.{key}: {} != {}",
                ours["spec"][key], flux["spec"][key]
            ));
        }
    }
    for key in [
        "kind",
        "plural",
        "singular",
        "listKind",
        "shortNames",
        "categories",
    ] {
        if ours["spec"]["names"][key] != flux["spec"]["names"][key] {
            diffs.push(format!(
                "names.{key}: {} != {}",
                ours["spec"]["names"][key], flux["spec"]["names"][key]
            ));
        }
    }
    let pick = |crd: &Value| {
        crd["spec"]["versions"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["name"] == version))
            .cloned()
            .unwrap_or_default()
    };
    let (f, o) = (pick(&flux), pick(ours));
    for key in ["additionalPrinterColumns", "subresources", "served", "storage"] {
        if o[key] != f[key] {
            diffs.push(format!("{key}: {} != {}", o[key], f[key]));
        }
    }
    let (mut fr, mut or) = (Vec::new(), Vec::new());
    for (part, required) in [("spec", true), ("status", false)] {
        rows(
            &f["schema"]["openAPIV3Schema"]["properties"][part],
            part,
            required,
            &mut fr,
        );
        rows(
            &o["schema"]["openAPIV3Schema"]["properties"][part],
            part,
            required,
            &mut or,
        );
    }
    // metav1.Condition carries validation Flux's CRDs spell out; compare structure and requiredness there.
    let strip = |rows: Vec<String>| -> Vec<String> {
        rows.into_iter()
            .map(|r| match r.split_once(" enum=") {
                Some((head, _)) if r.starts_with("status.conditions[].") => head.to_owned(),
                _ => r,
            })
            .collect()
    };
    let (fr, or) = (strip(fr), strip(or));
    diffs.extend(
        fr.iter()
            .filter(|r| !or.contains(r))
            .map(|r| format!("flux only: {r}")),
    );
    diffs.extend(
        or.iter()
            .filter(|r| !fr.contains(r))
            .map(|r| format!("ours only: {r}")),
    );
    let validations =
        |c: &Value| c["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"].clone();
    if validations(&o) != validations(&f) {
        diffs.push(format!(
            "spec x-kubernetes-validations: {} != {}",
            validations(&o),
            validations(&f)
        ));
    }
    Some(if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("\n"))
    })
}
