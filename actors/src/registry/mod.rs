//! Who is registered: uuid → the adapter's actor, in 64 shards behind read-write locks.
//! The allocator is the only writer (registration, dropping); HTTP handlers read it and
//! send polls, responds, errors and uploads straight to the adapter's mailbox, so the
//! allocator stays off the request path.

use crate::adapter::AdapterActor;
use actix::Addr;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};

const SHARDS: usize = 64;

/// An adapter as the registry knows it.
#[derive(Clone)]
pub enum Entry {
    /// Registered, its actor running.
    Live(Addr<AdapterActor>),
    /// Finished and retired: its actor has stopped; this is all that is left of it.
    Retired(Arc<Retired>),
}

/// What a finished adapter leaves behind, enough to answer its late requests as the
/// protocol says (an exit to its polls; its uploads still stored with its case).
#[derive(Clone, Debug)]
pub struct Retired {
    /// Why it finished: its polls are answered `exit` with this.
    pub reason: String,
    /// Where its uploads go, if it was given a case.
    pub upload: Option<crate::adapter::UploadTarget>,
    /// What a test that asks it for an action now gets (its remembered error, if any).
    pub refusal: crate::body::ActionError,
    /// Its last view, for the dashboard.
    pub snapshot: crate::snapshot::AdapterSnapshot,
}

/// The shared map. Cloning shares it.
#[derive(Clone)]
pub struct Registry {
    shards: Arc<[RwLock<HashMap<String, Entry>>]>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry { shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect() }
    }
}

impl Registry {
    fn shard(&self, uuid: &str) -> &RwLock<HashMap<String, Entry>> {
        let mut hasher = DefaultHasher::new();
        uuid.hash(&mut hasher);
        &self.shards[hasher.finish() as usize % SHARDS]
    }

    /// The adapter `uuid`, if registered.
    pub fn get(&self, uuid: &str) -> Option<Entry> {
        self.shard(uuid).read().unwrap_or_else(|e| e.into_inner()).get(uuid).cloned()
    }

    /// The running actor of `uuid`, if it has one.
    pub fn live(&self, uuid: &str) -> Option<Addr<AdapterActor>> {
        match self.get(uuid)? {
            Entry::Live(addr) => Some(addr),
            Entry::Retired(_) => None,
        }
    }

    pub(crate) fn insert(&self, uuid: String, entry: Entry) {
        self.shard(&uuid).write().unwrap_or_else(|e| e.into_inner()).insert(uuid, entry);
    }

    pub(crate) fn remove(&self, uuid: &str) -> Option<Entry> {
        self.shard(uuid).write().unwrap_or_else(|e| e.into_inner()).remove(uuid)
    }

    /// How many adapters are registered (running or retired).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len()).sum()
    }

    /// Whether no adapter is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
