//! The built-in transformers a kustomization configures, run in kustomize's order.

use std::path::Path;

use serde_json::{Map, Value};

use crate::{
    Error, Result,
    build::{Acc, Builder, patch_targets},
    fieldspec::{self, Spec},
    kustomization::{Image, Kustomization, Patch},
    resource::Resource,
};

pub(crate) fn run(b: &mut Builder, dir: &Path, file: &Path, k: &Kustomization, acc: &mut Acc) -> Result<()> {
    for p in &k.patches_strategic_merge {
        let patch = Patch {
            path: None,
            patch: None,
            target: None,
            options: None,
        };
        // An entry is a file path, or an inline patch.
        let mut patch = patch;
        let candidate = crate::build::clean(&dir.join(p));
        if !p.contains('\n') && (b.is_file(&candidate) || !p.contains(':')) {
            patch.path = Some(p.clone());
        } else {
            patch.patch = Some(p.clone());
        }
        patch_targets(acc, b, dir, &patch, false)?;
    }
    if !k.patches_strategic_merge.is_empty() {
        b.mark(acc, file, "PatchStrategicMergeTransformer");
    }
    for p in &k.patches {
        patch_targets(acc, b, dir, p, false)?;
        b.mark(acc, file, "PatchTransformer");
    }
    if !k.namespace.is_empty() {
        namespace(&mut acc.resources, &k.namespace, &acc.config.namespace)?;
        b.mark(acc, file, "NamespaceTransformer");
    }
    if !k.name_prefix.is_empty() || !k.name_suffix.is_empty() {
        prefix_suffix(&mut acc.resources, &k.name_prefix, &k.name_suffix, &acc.config);
        if !k.name_prefix.is_empty() {
            b.mark(acc, file, "PrefixTransformer");
        }
        if !k.name_suffix.is_empty() {
            b.mark(acc, file, "SuffixTransformer");
        }
    }
    if !k.common_labels.is_empty() {
        let specs = fieldspec::with_defaults(fieldspec::common_labels(), &acc.config.common_labels);
        set_entries(&mut acc.resources, &string_values(&k.common_labels), &specs);
    }
    for l in &k.labels {
        let mut specs: Vec<Spec> = l.fields.iter().map(Spec::from_config).collect();
        specs.extend(acc.config.labels.iter().cloned());
        if l.include_selectors {
            specs.extend(fieldspec::common_labels());
            specs.extend(acc.config.common_labels.iter().cloned());
        } else {
            if l.include_templates {
                specs.extend(fieldspec::template_labels());
                specs.extend(acc.config.template_labels.iter().cloned());
            }
            if l.include_volume_claim_templates {
                specs.extend(fieldspec::volume_claim_template_labels());
            }
            specs.extend(fieldspec::metadata_labels());
        }
        set_entries(&mut acc.resources, &string_values(&l.pairs), &specs);
    }
    if !k.common_labels.is_empty() || !k.labels.is_empty() {
        for _ in 0..=k.labels.len() {
            b.mark(acc, file, "LabelTransformer");
        }
    }
    if !k.common_annotations.is_empty() {
        let specs = fieldspec::with_defaults(fieldspec::annotations(), &acc.config.common_annotations);
        set_entries(&mut acc.resources, &string_values(&k.common_annotations), &specs);
    }
    if !k.common_annotations.is_empty() {
        b.mark(acc, file, "AnnotationsTransformer");
    }
    for p in &k.patches_json6902 {
        patch_targets(acc, b, dir, p, true)?;
        b.mark(acc, file, "PatchJson6902Transformer");
    }
    for rep in &k.replicas {
        let mut specs = fieldspec::replicas();
        specs.extend(acc.config.replicas.iter().cloned());
        let mut found = false;
        for r in acc
            .resources
            .iter_mut()
            .filter(|r| r.all_ids().any(|id| id.name == rep.name))
        {
            for s in specs.iter().filter(|s| s.matches(r)).collect::<Vec<_>>() {
                found = true;
                s.visit(&mut r.obj, &mut |v| *v = Value::from(rep.count));
            }
        }
        if !found {
            let gvks: Vec<String> = specs
                .iter()
                .map(|s| {
                    let or = |o: &Option<String>, d: &str| {
                        o.clone()
                            .filter(|x| !x.is_empty())
                            .unwrap_or_else(|| d.to_owned())
                    };
                    format!(
                        "{}.{}.{}",
                        or(&s.kind, "[noKind]"),
                        or(&s.version, "[noVer]"),
                        or(&s.group, "[noGrp]")
                    )
                })
                .collect();
            return Err(Error::build(format!(
                "{}: resource with name {} does not match a config with the following GVK [{}]",
                file.display(),
                rep.name,
                gvks.join(" ")
            )));
        }
        b.mark(acc, file, "ReplicaCountTransformer");
    }
    if !k.images.is_empty() {
        let mut specs = fieldspec::images();
        specs.extend(acc.config.images.iter().cloned());
        for img in &k.images {
            images(&mut acc.resources, std::slice::from_ref(img), &specs);
            b.mark(acc, file, "ImageTagTransformer");
        }
    }
    if !k.replacements.is_empty() {
        crate::replacements::run(b, dir, &k.replacements, &mut acc.resources)?;
        b.mark(acc, file, "ReplacementTransformer");
    }
    for t in &k.transformers {
        crate::plugins::run_transformer(b, dir, file, t, acc)?;
    }
    Ok(())
}

/// Sets `entries` in the maps at `specs` (labels, annotations), creating them where the spec says.
pub(crate) fn set_entries(resources: &mut [Resource], entries: &Map<String, Value>, specs: &[Spec]) {
    for r in resources.iter_mut() {
        for s in specs.iter().filter(|s| s.matches(r)).collect::<Vec<_>>() {
            s.visit(&mut r.obj, &mut |v| {
                if v.is_null() {
                    *v = Value::Object(Map::new());
                }
                if let Value::Object(m) = v {
                    for (k, val) in entries {
                        m.insert(k.clone(), val.clone());
                    }
                }
            });
        }
    }
}

pub(crate) fn namespace(resources: &mut [Resource], ns: &str, extra: &[Spec]) -> Result<()> {
    for r in resources.iter_mut() {
        if !r.is_cluster_scoped() {
            r.set_namespace(ns);
        } else if r.kind() == "Namespace" && r.api_version() == "v1" {
            r.set_name(ns);
        }
        if matches!(r.kind(), "RoleBinding" | "ClusterRoleBinding")
            && let Some(Value::Array(subjects)) = r.obj.get_mut("subjects")
        {
            for s in subjects.iter_mut() {
                if s.get("name").and_then(Value::as_str) == Some("default")
                    && let Some(m) = s.as_object_mut()
                {
                    m.insert("namespace".into(), Value::String(ns.to_owned()));
                }
            }
        }
        let mut specs = vec![
            Spec::new(
                "apiregistration.k8s.io",
                "",
                "APIService",
                "spec/service/namespace",
                true,
            ),
            Spec::new(
                "apiextensions.k8s.io",
                "",
                "CustomResourceDefinition",
                "spec/conversion/webhook/clientConfig/service/namespace",
                false,
            ),
        ];
        specs.extend(
            extra
                .iter()
                .filter(|s| s.path != ["metadata", "namespace"])
                .cloned(),
        );
        for s in specs.iter().filter(|s| s.matches(r)).collect::<Vec<_>>() {
            s.visit(&mut r.obj, &mut |v| *v = Value::String(ns.to_owned()));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for r in resources.iter() {
        if !seen.insert(r.cur_id()) {
            return Err(Error::build(format!(
                "namespace transformation produces ID conflict: {}",
                r.cur_id().display()
            )));
        }
    }
    Ok(())
}

/// A `key: value` string map (labels, annotations) as JSON values.
fn string_values<'a>(m: impl IntoIterator<Item = (&'a String, &'a String)>) -> Map<String, Value> {
    m.into_iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

fn prefix_suffix(resources: &mut [Resource], prefix: &str, suffix: &str, config: &crate::build::Config) {
    let prefix_specs = fieldspec::with_defaults(fieldspec::name(), &config.name_prefix);
    let suffix_specs = fieldspec::with_defaults(fieldspec::name(), &config.name_suffix);
    let is_name = |s: &Spec| s.path == ["metadata", "name"];
    for r in resources.iter_mut() {
        let skip = matches!(r.orig.kind.as_str(), "CustomResourceDefinition" | "Namespace")
            || (r.orig.group == "apiregistration.k8s.io" && r.orig.kind == "APIService");
        if skip {
            continue;
        }
        let pre = if prefix_specs.iter().any(|s| is_name(s) && s.matches(r)) {
            prefix
        } else {
            ""
        };
        let suf = if suffix_specs.iter().any(|s| is_name(s) && s.matches(r)) {
            suffix
        } else {
            ""
        };
        if !pre.is_empty() || !suf.is_empty() {
            let name = format!("{pre}{}{suf}", r.name());
            r.set_name(&name);
        }
        if !pre.is_empty() {
            r.prefixes.push(pre.to_owned());
        }
        if !suf.is_empty() {
            r.suffixes.push(suf.to_owned());
        }
        for (specs, pre, suf) in [(&prefix_specs, prefix, ""), (&suffix_specs, "", suffix)] {
            if pre.is_empty() && suf.is_empty() {
                continue;
            }
            for s in specs
                .iter()
                .filter(|s| s.matches(r) && !is_name(s))
                .collect::<Vec<_>>()
            {
                s.visit(&mut r.obj, &mut |v| {
                    if let Value::String(x) = v {
                        *x = format!("{pre}{x}{suf}");
                    }
                });
            }
        }
    }
}

/// Splits an image reference into name, tag and digest (kustomize's `image.Split`: the tag is searched for
/// after the first `/`, so a registry port is not a tag).
pub(crate) fn split_image(s: &str) -> (&str, Option<&str>, Option<&str>) {
    let slash = s.find('/').filter(|&i| i > 0).unwrap_or(0);
    let search = &s[slash..];
    let (ic, id) = (
        search.find(':').map(|i| i + slash),
        search.find('@').map(|i| i + slash),
    );
    match (ic, id) {
        (None, None) => (s, None, None),
        (ic, Some(id)) if ic.is_none_or(|ic| id < ic) => (&s[..id], None, Some(&s[id + 1..])),
        (Some(ic), Some(id)) => (&s[..ic], Some(&s[ic + 1..id]), Some(&s[id + 1..])),
        (Some(ic), None) => (&s[..ic], Some(&s[ic + 1..]), None),
        (None, Some(_)) => unreachable!("handled above"),
    }
}

/// kustomize's `IsImageMatched`: `name` followed by an optional `:tag` and `@digest`.
fn image_matches(value: &str, name: &str) -> bool {
    let Some(mut rest) = value.strip_prefix(name) else {
        return false;
    };
    let tag_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '{' | '}' | '-');
    if let Some(r) = rest.strip_prefix(':') {
        let end = r.find(|c: char| !tag_char(c)).unwrap_or(r.len());
        rest = &r[end..];
    }
    if let Some(r) = rest.strip_prefix('@') {
        let Some((alg, hex)) = r.split_once(':') else {
            return false;
        };
        let alg_ok = !alg.is_empty()
            && alg
                .split(['.', '+', '_', '-'])
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
        return alg_ok && hex.chars().all(tag_char);
    }
    rest.is_empty()
}

fn update_image(value: &str, img: &Image) -> Option<String> {
    if !image_matches(value, &img.name) {
        return None;
    }
    let (name, tag, digest) = split_image(value);
    let mut name = name.to_owned();
    let (mut tag, mut digest) = (
        tag.unwrap_or_default().to_owned(),
        digest.unwrap_or_default().to_owned(),
    );
    if let Some(n) = img.new_name.as_ref().filter(|n| !n.is_empty()) {
        name.clone_from(n);
    }
    let new_tag = img.new_tag.as_deref().unwrap_or_default();
    let new_digest = img.digest.as_deref().unwrap_or_default();
    let suffix = img.tag_suffix.as_deref().unwrap_or_default();
    match (new_tag.is_empty(), new_digest.is_empty()) {
        (false, false) => {
            tag = new_tag.to_owned();
            digest = new_digest.to_owned();
        }
        (false, true) => {
            tag = new_tag.to_owned();
            digest.clear();
        }
        (true, false) => {
            tag.clear();
            digest = new_digest.to_owned();
        }
        (true, true) if !suffix.is_empty() => {
            tag.push_str(suffix);
            digest.clear();
        }
        (true, true) => {}
    }
    if !tag.is_empty() {
        name.push(':');
        name.push_str(&tag);
    }
    if !digest.is_empty() {
        name.push('@');
        name.push_str(&digest);
    }
    Some(name)
}

/// Every `image` of elements of `containers`/`initContainers` lists anywhere in `v`.
fn legacy_images(v: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                legacy_images(child, f);
                if (k == "containers" || k == "initContainers")
                    && let Value::Array(items) = child
                {
                    for item in items {
                        if let Some(img) = item.get_mut("image") {
                            f(img);
                        }
                    }
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| legacy_images(x, f)),
        _ => {}
    }
}

fn images(resources: &mut [Resource], list: &[Image], specs: &[Spec]) {
    for img in list {
        let mut apply = |v: &mut Value| {
            if let Some(new) = v.as_str().and_then(|cur| update_image(cur, img)) {
                *v = Value::String(new);
            }
        };
        for r in resources.iter_mut() {
            if r.kind() != "CustomResourceDefinition" {
                legacy_images(&mut r.obj, &mut apply);
            }
            for s in specs.iter().filter(|s| s.matches(r)).collect::<Vec<_>>() {
                let mut s = s.clone();
                s.create = false;
                s.visit(&mut r.obj, &mut apply);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        assert_eq!(split_image("nginx"), ("nginx", None, None));
        assert_eq!(split_image("nginx:1.7"), ("nginx", Some("1.7"), None));
        assert_eq!(
            split_image("reg:5000/a/nginx:1.7@sha256:x"),
            ("reg:5000/a/nginx", Some("1.7"), Some("sha256:x"))
        );
        assert!(image_matches("nginx:1.7@sha256:abc", "nginx"));
        assert!(!image_matches("nginx-x", "nginx"));
        assert_eq!(split_image("reg:5000/nginx"), ("reg:5000/nginx", None, None));
    }
}
