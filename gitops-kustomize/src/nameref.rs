//! The name reference transformer: once names have changed (prefixes, suffixes, hashes), every field
//! that refers to an object by name is updated to the object's final name.

use serde_json::Value;

use crate::{
    Error, Result,
    build::Config,
    fieldspec::{self, visit},
    resource::Resource,
};

/// Objects of `kind` (and `group`/`version` when not empty: kustomize's selector semantics) are referred to
/// at `path` of referrers of `referrer_kind`.
struct Rule {
    group: String,
    version: String,
    kind: String,
    referrer_group: Option<String>,
    referrer_kind: Option<String>,
    path: Vec<String>,
}

fn rules(config: &Config) -> Vec<Rule> {
    let mut out: Vec<Rule> = fieldspec::name_references()
        .into_iter()
        .map(|(g, k, rk, path)| Rule {
            group: g.to_owned(),
            version: String::new(),
            kind: k.to_owned(),
            referrer_group: None,
            referrer_kind: (!rk.is_empty()).then_some(rk),
            path,
        })
        .collect();
    for (group, version, kind, specs) in &config.name_reference {
        for s in specs {
            out.push(Rule {
                group: group.clone(),
                version: version.clone(),
                kind: kind.clone(),
                referrer_group: s.group.clone(),
                referrer_kind: s.kind.clone(),
                path: s.path.clone(),
            });
        }
    }
    out
}

fn eff_ns(r: &Resource, ns: &str) -> String {
    if r.is_cluster_scoped() {
        "~cluster".into()
    } else if ns.is_empty() {
        "default".into()
    } else {
        ns.to_owned()
    }
}

/// `(kind, name)` of every earlier identity (original and renamed-from) to the resources that had it.
type Index = std::collections::HashMap<(String, String), Vec<usize>>;

fn index(resources: &[Resource]) -> Index {
    let mut idx = Index::new();
    for (i, r) in resources.iter().enumerate() {
        for id in std::iter::once(&r.orig).chain(r.prev.iter()) {
            let e = idx.entry((id.kind.clone(), id.name.clone())).or_default();
            if e.last() != Some(&i) {
                e.push(i);
            }
        }
    }
    idx
}

/// Which resource (index) `name`, used by `referrer` at `rule`, refers to.
fn referral(
    resources: &[Resource],
    idx: &Index,
    referrer: &Resource,
    rule: &Rule,
    name: &str,
    namespace: Option<&str>,
) -> Result<Option<usize>> {
    let (group, version, kind) = (rule.group.as_str(), rule.version.as_str(), rule.kind.as_str());
    let ns_ok = |id_ns: &str| namespace.is_none_or(|ns| id_ns == ns || (id_ns.is_empty() && ns == "default"));
    let Some(hits) = idx.get(&(kind.to_owned(), name.to_owned())) else {
        return Ok(None);
    };
    let candidates: Vec<usize> = hits
        .iter()
        .map(|&i| (i, &resources[i]))
        .filter(|(_, r)| {
            let mut ids = std::iter::once(&r.orig).chain(r.prev.iter());
            ids.any(|id| {
                id.name == name
                    && id.kind == kind
                    && (group.is_empty() || id.group == group)
                    && (version.is_empty() || id.version == version)
                    && ns_ok(&id.namespace)
            })
        })
        .filter(|(_, r)| {
            referrer.is_cluster_scoped()
                || r.is_cluster_scoped()
                || r.kind() == "ServiceAccount"
                || eff_ns(r, r.namespace()) == eff_ns(referrer, referrer.namespace())
        })
        .map(|(i, _)| i)
        .collect();
    if candidates.len() == 1 {
        return Ok(Some(candidates[0]));
    }
    let mut candidates: Vec<usize> = candidates
        .into_iter()
        .filter(|&i| resources[i].prefixes_suffixes_equal(referrer, true))
        .collect();
    if candidates.len() > 1 {
        candidates.retain(|&i| resources[i].prefixes_suffixes_equal(referrer, false));
    }
    match candidates.len() {
        0 => Ok(None),
        1 => Ok(Some(candidates[0])),
        _ => {
            let first = resources[candidates[0]].name();
            if candidates.iter().all(|&i| resources[i].name() == first) {
                Ok(Some(candidates[0]))
            } else {
                let ids: Vec<String> = candidates
                    .iter()
                    .map(|&i| resources[i].cur_id().display())
                    .collect();
                Err(Error::build(format!(
                    "found multiple possible referrals: [{}]",
                    ids.join(" ")
                )))
            }
        }
    }
}

/// Updates every name reference to the referred object's current name.
pub(crate) fn fix(resources: &mut [Resource], config: &Config) -> Result<()> {
    let rules = rules(config);
    let idx = index(resources);
    for i in 0..resources.len() {
        let referrer = resources[i].clone();
        let mut obj = referrer.obj.clone();
        let mut err = None;
        let (rkind, rgroup) = (referrer.kind().to_owned(), referrer.group().to_owned());
        for rule in &rules {
            if rule.referrer_kind.as_ref().is_some_and(|k| *k != rkind)
                || rule.referrer_group.as_ref().is_some_and(|g| *g != rgroup)
            {
                continue;
            }
            if rule.path.last().is_some_and(|l| l == "name")
                && rule.path.len() >= 2
                && rule.path[rule.path.len() - 2] == "roleRef"
                && referrer.obj.pointer("/roleRef/kind").and_then(Value::as_str) != Some(rule.kind.as_str())
            {
                continue;
            }
            visit(&mut obj, &rule.path, false, &mut |v| {
                let mut one = |v: &mut Value| match v {
                    Value::String(name) => match referral(resources, &idx, &referrer, rule, name, None) {
                        Ok(Some(j)) => *name = resources[j].name().to_owned(),
                        Ok(None) => {}
                        Err(e) => err = Some(e),
                    },
                    Value::Object(m) => {
                        let Some(name) = m.get("name").and_then(Value::as_str).map(str::to_owned) else {
                            return;
                        };
                        let ns = match m.get("namespace") {
                            None => None,
                            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                            Some(_) => {
                                err = Some(Error::build(format!(
                                    "Invalid Input: namespace is blank for resource {}",
                                    referrer.cur_id().display()
                                )));
                                return;
                            }
                        };
                        match referral(resources, &idx, &referrer, rule, &name, ns.as_deref()) {
                            Ok(Some(j)) => {
                                m.insert("name".into(), Value::String(resources[j].name().to_owned()));
                                if !resources[j].namespace().is_empty() {
                                    m.insert(
                                        "namespace".into(),
                                        Value::String(resources[j].namespace().to_owned()),
                                    );
                                }
                            }
                            Ok(None) => {}
                            Err(e) => err = Some(e),
                        }
                    }
                    _ => {}
                };
                match v {
                    Value::Array(items) => items.iter_mut().for_each(&mut one),
                    other => one(other),
                }
            });
        }
        if let Some(e) = err {
            return Err(e);
        }
        resources[i].obj = obj;
    }
    Ok(())
}
