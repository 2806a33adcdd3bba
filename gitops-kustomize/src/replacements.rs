//! `replacements`: copy a field of one object into fields of others.

use std::path::Path;

use gitops_core::yaml;
use serde::Deserialize;
use serde_json::Value;

use crate::{
    Error, Result, build::Builder, fieldpath, kustomization::Selector, patch::selector_matches,
    resource::Resource,
};

/// kustomize v5.7's replacement selection: exact (not regex) group, version, kind, name and namespace, on
/// any of a resource's current or previous ids, then label and annotation selectors.
fn select(resources: &[Resource], t: &Selector) -> Result<Vec<usize>> {
    let eq = |want: &Option<String>, have: &str| want.as_ref().is_none_or(|w| w.is_empty() || w == have);
    let eff = |ns: &str| {
        if ns.is_empty() {
            "default".to_owned()
        } else {
            ns.to_owned()
        }
    };
    let mut out = Vec::new();
    for (i, r) in resources.iter().enumerate() {
        let hit = r.all_ids().any(|id| {
            eq(&t.group, &id.group)
                && eq(&t.version, &id.version)
                && eq(&t.kind, &id.kind)
                && eq(&t.name, &id.name)
                && t.namespace
                    .as_ref()
                    .is_none_or(|n| n.is_empty() || eff(n) == eff(&id.namespace))
        });
        if !hit {
            continue;
        }
        if let Some(ls) = &t.label_selector
            && !selector_matches(ls, &r.labels())?
        {
            continue;
        }
        if let Some(a) = &t.annotation_selector
            && !selector_matches(a, &r.annotations())?
        {
            continue;
        }
        out.push(i);
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Replacement {
    source: Option<Source>,
    #[serde(default)]
    targets: Vec<Target>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Source {
    group: Option<String>,
    version: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
    field_path: Option<String>,
    options: Option<Options>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    delimiter: Option<String>,
    #[serde(default)]
    index: i64,
    #[serde(default)]
    create: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Target {
    select: Option<Selector>,
    #[serde(default)]
    reject: Vec<Selector>,
    #[serde(default)]
    field_paths: Vec<String>,
    options: Option<Options>,
}

fn pick(v: &str, opts: Option<&Options>) -> String {
    match opts.and_then(|o| o.delimiter.as_deref().map(|d| (d, o.index))) {
        Some((d, i)) if !d.is_empty() => {
            let parts: Vec<&str> = v.split(d).collect();
            usize::try_from(i)
                .ok()
                .and_then(|i| parts.get(i))
                .map_or_else(|| v.to_owned(), |s| (*s).to_owned())
        }
        _ => v.to_owned(),
    }
}

fn put(old: &Value, new: &Value, opts: Option<&Options>) -> Value {
    if let (Some(o), Value::String(old_s)) = (opts, old)
        && let Some(d) = o.delimiter.as_deref().filter(|d| !d.is_empty())
    {
        let mut parts: Vec<String> = old_s.split(d).map(str::to_owned).collect();
        let newv = fieldpath::scalar_text(new);
        let i = o.index;
        if i < 0 {
            parts.insert(0, newv);
        } else if (i as usize) >= parts.len() {
            parts.push(newv);
        } else {
            parts[i as usize] = newv;
        }
        return Value::String(parts.join(d));
    }
    new.clone()
}

/// Runs the `replacements` entries (inline, or `path:` files).
pub(crate) fn run(b: &Builder, dir: &Path, entries: &[Value], resources: &mut [Resource]) -> Result<()> {
    let mut list: Vec<Replacement> = Vec::new();
    for e in entries {
        if let Some(p) = e.get("path").and_then(Value::as_str) {
            let text = b.read_file(dir, p)?;
            for doc in yaml::from_str_multi(&text, &yaml::Limits::default()).map_err(|er| Error::Invalid {
                file: dir.join(p),
                message: er.to_string(),
            })? {
                let items = if let Value::Array(a) = doc { a } else { vec![doc] };
                for it in items {
                    list.push(serde_json::from_value(it).map_err(|er| Error::Invalid {
                        file: dir.join(p),
                        message: er.to_string(),
                    })?);
                }
            }
        } else {
            list.push(
                serde_json::from_value(e.clone())
                    .map_err(|er| Error::build(format!("replacements: {er}")))?,
            );
        }
    }
    for rep in list {
        let src = rep
            .source
            .ok_or_else(|| Error::build("replacements must specify a source"))?;
        let sel = Selector {
            group: src.group.clone(),
            version: src.version.clone(),
            kind: src.kind.clone(),
            name: src.name.clone(),
            namespace: src.namespace.clone(),
            label_selector: None,
            annotation_selector: None,
        };
        let found = select(resources, &sel)?;
        let idx = match found.as_slice() {
            [i] => *i,
            [] => {
                return Err(Error::build(format!(
                    "nothing selected by replacement source {}",
                    src.kind.clone().unwrap_or_default() + "/" + &src.name.clone().unwrap_or_default()
                )));
            }
            _ => {
                return Err(Error::build(
                    "multiple matches for selector of replacement source",
                ));
            }
        };
        let fp = src.field_path.clone().unwrap_or_else(|| "metadata.name".into());
        let values = fieldpath::get(&resources[idx].obj, &fieldpath::parse(&fp));
        let Some(value) = values.first().map(|v| (*v).clone()) else {
            return Err(Error::build(format!(
                "fieldPath `{fp}` is missing for replacement source {}",
                resources[idx].cur_id().display()
            )));
        };
        let value = match (&value, src.options.as_ref()) {
            (Value::String(s), Some(o)) if o.delimiter.is_some() => Value::String(pick(s, Some(o))),
            _ => value,
        };
        for t in &rep.targets {
            let Some(s) = &t.select else {
                return Err(Error::build("target must specify resources to select"));
            };
            let mut chosen = select(resources, s)?;
            for rj in &t.reject {
                let rejected = select(resources, rj)?;
                chosen.retain(|i| !rejected.contains(i));
            }
            for i in chosen {
                for fp in &t.field_paths {
                    let segs = fieldpath::parse(fp);
                    let create = t.options.as_ref().is_some_and(|o| o.create);
                    let opts = t.options.clone();
                    let hit = fieldpath::visit_mut(&mut resources[i].obj, &segs, create, &mut |v| {
                        *v = put(v, &value, opts.as_ref());
                    });
                    if !hit && !create {
                        return Err(Error::build(format!(
                            "unable to find field \"{fp}\" in replacement target {}",
                            resources[i].cur_id().display()
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}
