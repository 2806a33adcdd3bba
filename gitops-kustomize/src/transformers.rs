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
        let patch = Patch { path: None, patch: None, target: None, options: None };
        // An entry is a file path, or an inline patch.
        let mut patch = patch;
        let candidate = crate::build::clean(&dir.join(p));
        if !p.contains('\n') && (candidate.is_file() || !p.contains(':')) {
            patch.path = Some(p.clone());
        } else {
            patch.patch = Some(p.clone());
        }
        patch_targets(acc, b, dir, &patch, false)?;
    }
    for p in &k.patches {
        patch_targets(acc, b, dir, p, false)?;
    }
    if !k.namespace.is_empty() {
        namespace(&mut acc.resources, &k.namespace, &acc.config.namespace)?;
    }
    if !k.name_prefix.is_empty() || !k.name_suffix.is_empty() {
        prefix_suffix(&mut acc.resources, &k.name_prefix, &k.name_suffix, &acc.config);
    }
    if !k.common_labels.is_empty() {
        let mut specs = fieldspec::common_labels();
        specs.extend(acc.config.common_labels.iter().cloned());
        set_entries(&mut acc.resources, &k.common_labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect(), &specs);
    }
    for l in &k.labels {
        let mut specs = if l.include_selectors {
            let mut s = fieldspec::common_labels();
            s.extend(acc.config.common_labels.iter().cloned());
            s
        } else if l.include_templates {
            fieldspec::template_labels()
        } else {
            fieldspec::metadata_labels()
        };
        specs.extend(l.fields.iter().map(Spec::from_config));
        set_entries(&mut acc.resources, &l.pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect(), &specs);
    }
    if !k.common_annotations.is_empty() {
        let mut specs = fieldspec::annotations();
        specs.extend(acc.config.common_annotations.iter().cloned());
        set_entries(&mut acc.resources, &k.common_annotations.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect(), &specs);
    }
    for p in &k.patches_json6902 {
        patch_targets(acc, b, dir, p, true)?;
    }
    for rep in &k.replicas {
        let mut specs = fieldspec::replicas();
        specs.extend(acc.config.replicas.iter().cloned());
        for r in acc.resources.iter_mut().filter(|r| r.all_ids().any(|id| id.name == rep.name)) {
            for s in specs.iter().filter(|s| s.matches(r)).collect::<Vec<_>>() {
                s.visit(&mut r.obj, &mut |v| *v = Value::from(rep.count));
            }
        }
    }
    if !k.images.is_empty() {
        let mut specs = fieldspec::images();
        specs.extend(acc.config.images.iter().cloned());
        images(&mut acc.resources, &k.images, &specs);
    }
    if !k.replacements.is_empty() {
        crate::replacements::run(b, dir, &k.replacements, &mut acc.resources)?;
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
            Spec::new("apiregistration.k8s.io", "", "APIService", "spec/service/namespace", true),
            Spec::new("apiextensions.k8s.io", "", "CustomResourceDefinition", "spec/conversion/webhook/clientConfig/service/namespace", false),
        ];
        specs.extend(extra.iter().filter(|s| s.path != ["metadata", "namespace"]).cloned());
        for s in specs.iter().filter(|s| s.matches(r)).collect::<Vec<_>>() {
            s.visit(&mut r.obj, &mut |v| *v = Value::String(ns.to_owned()));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for r in resources.iter() {
        if !seen.insert(r.cur_id()) {
            return Err(Error::build(format!("namespace transformation produces ID conflict: {}", r.cur_id().display())));
        }
    }
    Ok(())
}

fn prefix_suffix(resources: &mut [Resource], prefix: &str, suffix: &str, config: &crate::build::Config) {
    for r in resources.iter_mut() {
        let skip = matches!(r.orig.kind.as_str(), "CustomResourceDefinition" | "Namespace")
            || (r.orig.group == "apiregistration.k8s.io" && r.orig.kind == "APIService");
        if skip {
            continue;
        }
        let name = format!("{prefix}{}{suffix}", r.name());
        r.set_name(&name);
        if !prefix.is_empty() {
            r.prefixes.push(prefix.to_owned());
        }
        if !suffix.is_empty() {
            r.suffixes.push(suffix.to_owned());
        }
        for (specs, pre, suf) in [(&config.name_prefix, prefix, ""), (&config.name_suffix, "", suffix)] {
            if pre.is_empty() && suf.is_empty() {
                continue;
            }
            for s in specs.iter().filter(|s| s.matches(r) && s.path != ["metadata", "name"]).collect::<Vec<_>>() {
                s.visit(&mut r.obj, &mut |v| {
                    if let Value::String(x) = v {
                        *x = format!("{pre}{x}{suf}");
                    }
                });
            }
        }
    }
}

/// Splits an image reference into name, tag and digest.
pub(crate) fn split_image(s: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].find(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..]), digest),
        None => (rest, None, digest),
    }
}

fn images(resources: &mut [Resource], list: &[Image], specs: &[Spec]) {
    for r in resources.iter_mut() {
        for s in specs.iter().filter(|s| s.matches(r)).collect::<Vec<_>>() {
            let mut s = s.clone();
            s.create = false;
            s.visit(&mut r.obj, &mut |v| {
                let Some(cur) = v.as_str() else { return };
                let (name, tag, digest) = split_image(cur);
                let Some(img) = list.iter().find(|i| i.name == name) else { return };
                let new_name = img.new_name.as_deref().unwrap_or(name);
                let mut out = new_name.to_owned();
                if let Some(d) = &img.digest {
                    out.push('@');
                    out.push_str(d);
                } else if let Some(t) = &img.new_tag {
                    out.push(':');
                    out.push_str(t);
                    if let Some(sfx) = &img.tag_suffix {
                        out.push_str(sfx);
                    }
                } else {
                    if let Some(t) = tag {
                        out.push(':');
                        out.push_str(t);
                        if let Some(sfx) = &img.tag_suffix {
                            out.push_str(sfx);
                        }
                    }
                    if let Some(d) = digest {
                        out.push('@');
                        out.push_str(d);
                    }
                }
                *v = Value::String(out);
            });
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
        assert_eq!(split_image("reg:5000/a/nginx:1.7@sha256:x"), ("reg:5000/a/nginx", Some("1.7"), Some("sha256:x")));
        assert_eq!(split_image("reg:5000/nginx"), ("reg:5000/nginx", None, None));
    }
}
