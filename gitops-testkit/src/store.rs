//! The object store: objects by resource, namespace and name, a global resourceVersion, and the event
//! history watches resume from.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Arc,
};

use serde_json::Value;
use tokio::sync::broadcast;

/// Where an object lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    pub(crate) group: String,
    pub(crate) plural: String,
    pub(crate) namespace: String,
    pub(crate) name: String,
}

/// A change, as watches see it.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) rv: u64,
    pub(crate) kind: &'static str,
    pub(crate) key: Key,
    /// Shared with the store and the other watchers: one copy per object state, however many hold it.
    pub(crate) object: Arc<Value>,
}

/// How many events watches can resume from; older resourceVersions get 410 Gone.
const HISTORY: usize = 10_000;

pub(crate) struct Store {
    pub(crate) rv: u64,
    pub(crate) objects: BTreeMap<Key, Arc<Value>>,
    history: VecDeque<Event>,
    pub(crate) events: broadcast::Sender<Event>,
    uid_counter: u64,
    service_ips: u64,
}

impl Store {
    pub(crate) fn new() -> Self {
        let (events, _) = broadcast::channel(4096);
        Self {
            rv: 1,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            events,
            uid_counter: 0,
            service_ips: 0,
        }
    }

    pub(crate) fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// The next Service cluster IP's ordinal (1, 2, ...).
    pub(crate) fn next_service_ip(&mut self) -> u64 {
        self.service_ips += 1;
        self.service_ips
    }

    pub(crate) fn uid(&mut self) -> String {
        self.uid_counter += 1;
        let h = gitops_core::Digest::sha256(
            format!("{}-{}", self.uid_counter, jiff::Timestamp::now()).as_bytes(),
        );
        let x = h.hex();
        format!(
            "{}-{}-4{}-a{}-{}",
            &x[0..8],
            &x[8..12],
            &x[13..16],
            &x[17..20],
            &x[20..32]
        )
    }

    pub(crate) fn record(&mut self, kind: &'static str, key: Key, object: Arc<Value>, rv: u64) {
        let ev = Event {
            rv,
            kind,
            key,
            object,
        };
        self.history.push_back(ev.clone());
        if self.history.len() > HISTORY {
            self.history.pop_front();
        }
        let _ = self.events.send(ev);
    }

    /// Stores `object` at `key` and records the change; the store and the event share one copy.
    pub(crate) fn put(&mut self, kind: &'static str, key: Key, object: Value, rv: u64) {
        let object = Arc::new(object);
        self.objects.insert(key.clone(), object.clone());
        self.record(kind, key, object, rv);
    }

    /// Events after `rv`, or `None` when they are no longer kept.
    pub(crate) fn since(&self, rv: u64) -> Option<Vec<Event>> {
        if let Some(first) = self.history.front()
            && rv + 1 < first.rv
            && self.history.len() >= HISTORY
        {
            return None;
        }
        Some(self.history.iter().filter(|e| e.rv > rv).cloned().collect())
    }
}
