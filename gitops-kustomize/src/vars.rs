//! `vars`: `$(NAME)` references in known fields, replaced by values read from other objects.

use serde_json::Value;

use crate::{
    Error, Result,
    build::Config,
    fieldpath,
    fieldspec::{Spec, visit},
    kustomization::Var,
    resource::{Resource, split_api_version},
};

const CONTAINER_PATHS: &[&str] = &[
    "containers/args",
    "containers/command",
    "containers/env/value",
    "containers/volumeMounts/mountPath",
    "initContainers/args",
    "initContainers/command",
    "initContainers/env/value",
    "initContainers/volumeMounts/mountPath",
];

fn default_specs() -> Vec<Spec> {
    let mut out = Vec::new();
    let pods: &[(&str, &str)] = &[
        ("Pod", "spec/"),
        ("Deployment", "spec/template/spec/"),
        ("ReplicaSet", "spec/template/spec/"),
        ("DaemonSet", "spec/template/spec/"),
        ("StatefulSet", "spec/template/spec/"),
        ("Job", "spec/template/spec/"),
        ("CronJob", "spec/jobTemplate/spec/template/spec/"),
    ];
    for (kind, prefix) in pods {
        for p in CONTAINER_PATHS {
            out.push(Spec::new("", "", kind, &format!("{prefix}{p}"), false));
        }
    }
    for (k, p) in [
        ("Pod", "spec/volumes/nfs/server"),
        ("Deployment", "spec/template/spec/volumes/nfs/server"),
        ("ReplicaSet", "spec/template/spec/volumes/nfs/server"),
        ("DaemonSet", "spec/template/spec/volumes/nfs/server"),
        ("Job", "spec/template/spec/volumes/nfs/server"),
        ("CronJob", "spec/jobTemplate/spec/template/volumes/nfs/server"),
        ("StatefulSet", "spec/volumeClaimTemplates/spec/nfs/server"),
        ("Deployment", "spec/template/metadata/annotations"),
        ("Ingress", "spec/rules/host"),
        ("Ingress", "spec/tls/hosts"),
        ("Ingress", "spec/tls/secretName"),
        ("Service", "spec/ports/port"),
        ("Service", "spec/ports/targetPort"),
        ("PersistentVolume", "spec/nfs/server"),
        ("", "metadata/labels"),
        ("", "metadata/annotations"),
    ] {
        out.push(Spec::new("", "", k, p, false));
    }
    out
}

fn substitute(s: &str, vals: &[(String, String)], used: &mut Vec<String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("$(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find(')') {
            Some(j) => {
                let name = &after[..j];
                match vals.iter().find(|(n, _)| n == name) {
                    Some((_, v)) => {
                        used.push(name.to_owned());
                        out.push_str(v);
                    }
                    None => {
                        out.push_str("$(");
                        out.push_str(name);
                        out.push(')');
                    }
                }
                rest = &after[j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn apply_to(v: &mut Value, vals: &[(String, String)], used: &mut Vec<String>) {
    match v {
        Value::String(s) => *s = substitute(s, vals, used),
        Value::Array(a) => a.iter_mut().for_each(|x| apply_to(x, vals, used)),
        Value::Object(m) => m.values_mut().for_each(|x| apply_to(x, vals, used)),
        _ => {}
    }
}

/// Adds `incoming` to `vars`; a name defined twice is an error.
pub(crate) fn merge(vars: &mut Vec<Var>, incoming: Vec<Var>) -> Result<()> {
    for v in incoming {
        if vars.iter().any(|x| x.name == v.name) {
            return Err(Error::build(format!("var '{}' already encountered", v.name)));
        }
        vars.push(v);
    }
    Ok(())
}

/// Binds this level's vars to the one resource each refers to (as kustomize does while accumulating),
/// then adds them to the accumulated vars.
pub(crate) fn bind(acc: &mut crate::build::Acc, vars: &[Var]) -> Result<()> {
    for v in vars {
        let kind = v.obj_ref.kind.as_deref().unwrap_or_default();
        let name = v.obj_ref.name.as_deref().unwrap_or_default();
        let (mut group, mut version) = (
            v.obj_ref.group.clone().unwrap_or_default(),
            v.obj_ref.version.clone().unwrap_or_default(),
        );
        if let Some(av) = &v.obj_ref.api_version {
            let (g, ver) = split_api_version(av);
            group = g.to_owned();
            version = ver.to_owned();
        }
        let ns = v.obj_ref.namespace.clone().unwrap_or_default();
        let matched: Vec<usize> = acc
            .resources
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.all_ids().any(|id| {
                    id.kind == kind
                        && id.name == name
                        && id.group == group
                        && (version.is_empty() || id.version == version)
                        && (ns.is_empty()
                            || id.namespace == ns
                            || (id.namespace.is_empty() && ns == "default"))
                })
            })
            .map(|(i, _)| i)
            .collect();
        if matched.len() > 1 {
            return Err(Error::build(format!(
                "found {} resId matches for var {} (unable to disambiguate)",
                matched.len(),
                v.name
            )));
        }
        if let [i] = matched.as_slice() {
            acc.resources[*i].ref_vars.push(v.name.clone());
        }
    }
    merge(&mut acc.vars, vars.to_vec())
}

/// Resolves vars and substitutes `$(NAME)` in the var reference fields.
pub(crate) fn resolve(resources: &mut [Resource], vars: &[Var], config: &Config) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut vals: Vec<(String, String)> = Vec::new();
    for v in vars {
        let Some(r) = resources.iter().find(|r| r.ref_vars.contains(&v.name)) else {
            return Err(Error::build(format!(
                "var '{}' cannot be mapped to a field in the set of known resources",
                v.name
            )));
        };
        let fp = v
            .field_ref
            .as_ref()
            .and_then(|f| f.field_path.clone())
            .unwrap_or_else(|| "metadata.name".into());
        let found = fieldpath::get(&r.obj, &fieldpath::parse(&fp));
        let Some(value) = found.first() else {
            return Err(Error::build(format!(
                "field specified in var '{}' not found in corresponding resource",
                v.name
            )));
        };
        vals.push((v.name.clone(), fieldpath::scalar_text(value)));
    }
    let mut specs = default_specs();
    specs.extend(config.var_reference.iter().cloned());
    let mut used = Vec::new();
    for r in resources.iter_mut() {
        for s in specs.iter().filter(|s| s.matches(r)).collect::<Vec<_>>() {
            visit(&mut r.obj, &s.path, false, &mut |v| apply_to(v, &vals, &mut used));
        }
    }
    Ok(())
}
