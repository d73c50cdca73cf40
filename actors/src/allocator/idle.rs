//! The allocator's index of idle adapters: by registration order and by `type`, so that
//! filling one slot looks only at adapters of the type it accepts.

use super::AdapterEntry;
use crate::requirement::{ClientRequirement, Registration};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The pool key of cases whose slot accepts any type of adapter.
pub(super) const ANY_TYPE: &str = "";

/// Which pool a requirement draws from: its type, or [`ANY_TYPE`].
pub(super) fn pool_key(requirement: &ClientRequirement) -> &str {
    requirement.type_key().unwrap_or(ANY_TYPE)
}

/// Idle adapters (uuid by registration sequence), all and per type.
#[derive(Default)]
pub(super) struct IdleIndex {
    by_type: HashMap<String, BTreeMap<u64, String>>,
    all: BTreeMap<u64, String>,
}

impl IdleIndex {
    pub(super) fn insert(&mut self, seq: u64, uuid: &str, registration: &Registration) {
        if let Some(t) = registration.get("type").and_then(Value::as_str) {
            self.by_type.entry(t.to_string()).or_default().insert(seq, uuid.to_string());
        }
        self.all.insert(seq, uuid.to_string());
    }

    pub(super) fn remove(&mut self, seq: u64, registration: &Registration) {
        if let Some(t) = registration.get("type").and_then(Value::as_str) {
            if let Some(of_type) = self.by_type.get_mut(t) {
                of_type.remove(&seq);
                if of_type.is_empty() {
                    self.by_type.remove(t);
                }
            }
        }
        self.all.remove(&seq);
    }

    pub(super) fn len(&self) -> usize {
        self.all.len()
    }

    fn pool(&self, requirement: &ClientRequirement) -> Option<&BTreeMap<u64, String>> {
        match requirement.type_key() {
            Some(t) => self.by_type.get(t),
            None => Some(&self.all),
        }
    }

    /// Whether any idle adapter, taken or not, meets `requirement`. Requirements on more
    /// than the type are looked up once per allocation pass (`known_unmet` remembers the
    /// misses), so many cases sharing an unmet requirement cost one scan, not one each.
    pub(super) fn can_meet(
        &self,
        requirement: &ClientRequirement,
        adapters: &HashMap<String, AdapterEntry>,
        known_unmet: &mut HashSet<String>,
    ) -> bool {
        let Some(pool) = self.pool(requirement) else { return false };
        if let ClientRequirement::Type(_) = requirement {
            return !pool.is_empty();
        }
        let key = serde_json::to_string(requirement).unwrap_or_default();
        if known_unmet.contains(&key) {
            return false;
        }
        let met = pool.values().any(|uuid| adapters.get(uuid).is_some_and(|e| requirement.matches(&e.registration)));
        if !met {
            known_unmet.insert(key);
        }
        met
    }

    /// Up to `limit` idle adapters, oldest first, that meet `requirement` and are not
    /// `taken`. A case with k slots never needs more than k candidates per slot: a slot
    /// with k of them always finds one free, whatever the other k-1 slots took.
    pub(super) fn candidates(
        &self,
        requirement: &ClientRequirement,
        limit: usize,
        taken: &HashSet<String>,
        adapters: &HashMap<String, AdapterEntry>,
    ) -> Vec<String> {
        let Some(pool) = self.pool(requirement) else { return Vec::new() };
        pool.values()
            .filter(|uuid| !taken.contains(*uuid))
            .filter(|uuid| adapters.get(*uuid).is_some_and(|e| requirement.matches(&e.registration)))
            .take(limit)
            .cloned()
            .collect()
    }
}
