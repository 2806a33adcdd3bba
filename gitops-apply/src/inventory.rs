//! The inventory: which objects an apply owns, in Flux's `status.inventory` format, and what left it.

use std::collections::BTreeMap;

use gitops_core::{ChangeSet, ObjectId};
use serde::{Deserialize, Serialize};

/// One inventory entry: `{"id": "<namespace>_<name>_<group>_<kind>", "v": "<version>"}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    /// The object's id.
    pub id: String,
    /// Its API version (without the group).
    pub v: String,
}

/// The objects an apply owns, sorted by id as Flux stores them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// The entries.
    #[serde(default)]
    pub entries: Vec<Entry>,
}

impl Inventory {
    /// The inventory of what `changes` applied (every object but the skipped ones).
    pub fn from_change_set(changes: &ChangeSet) -> Self {
        let mut inv = Self::default();
        for c in &changes.changes {
            if c.action != gitops_core::Action::Skipped && c.action != gitops_core::Action::Deleted {
                inv.insert(&c.id, &c.version);
            }
        }
        inv
    }

    /// Adds (or updates the version of) one object.
    pub fn insert(&mut self, id: &ObjectId, version: &str) {
        let id = id.to_string();
        match self.entries.binary_search_by(|e| e.id.cmp(&id)) {
            Ok(i) => version.clone_into(&mut self.entries[i].v),
            Err(i) => self.entries.insert(
                i,
                Entry {
                    id,
                    v: version.to_owned(),
                },
            ),
        }
    }

    /// Adds every entry of `other` not already here.
    pub fn merge(&mut self, other: &Inventory) {
        for e in &other.entries {
            if self.entries.binary_search_by(|x| x.id.cmp(&e.id)).is_err()
                && let Ok(id) = e.id.parse::<ObjectId>()
            {
                self.insert(&id, &e.v);
            }
        }
    }

    /// The objects in `self` that are not in `newer`, with the version they were applied with: what to
    /// prune. Entries that do not parse are left out.
    pub fn stale(&self, newer: &Inventory) -> Vec<(ObjectId, String)> {
        let keep: BTreeMap<&str, ()> = newer.entries.iter().map(|e| (e.id.as_str(), ())).collect();
        self.entries
            .iter()
            .filter(|e| !keep.contains_key(e.id.as_str()))
            .filter_map(|e| Some((e.id.parse().ok()?, e.v.clone())))
            .collect()
    }

    /// Whether it holds no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use gitops_core::{Action, Change};

    use super::*;

    fn id(s: &str) -> ObjectId {
        s.parse().unwrap()
    }

    #[test]
    fn built_from_changes_sorted_and_diffed() {
        let mut cs = ChangeSet::default();
        for (i, a) in [
            ("default_web_apps_Deployment", Action::Created),
            ("_apps__Namespace", Action::Unchanged),
            ("default_skip__ConfigMap", Action::Skipped),
        ] {
            cs.changes.push(Change {
                id: id(i),
                version: "v1".into(),
                action: a,
            });
        }
        let inv = Inventory::from_change_set(&cs);
        assert_eq!(
            serde_json::to_value(&inv).unwrap(),
            serde_json::json!({"entries": [{"id": "_apps__Namespace", "v": "v1"}, {"id": "default_web_apps_Deployment", "v": "v1"}]})
        );
        let mut older = inv.clone();
        older.insert(&id("default_old__ConfigMap"), "v1");
        assert_eq!(
            older.stale(&inv),
            [(id("default_old__ConfigMap"), "v1".to_owned())]
        );
        let mut merged = Inventory::default();
        merged.merge(&older);
        assert_eq!(merged, older);
    }
}
