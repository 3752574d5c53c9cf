//! Small per-tenant string interner (service types, assignees): tickets store a `u32`.

use std::hash::BuildHasher;

use compact_str::CompactString;
use vigil_schema::prefetch::prefetch;

use super::probe::ProbeIndex;

/// Names to dense ids and back. Each name is kept once, inline up to 24 bytes: the index
/// holds ids and compares through `names` without following a pointer to another cache line
/// (with a thousand tenants interning as events arrive, each line read is likely a miss).
#[derive(Debug, Default)]
pub struct Interner {
    ids: ProbeIndex,
    names: Vec<CompactString>,
    hasher: foldhash::fast::FixedState,
}

impl Interner {
    /// The id of a name, adding it if new.
    pub fn intern(&mut self, name: &str) -> u32 {
        let hash = self.hasher.hash_one(name);
        let names = &self.names;
        if let Some(id) = self.ids.find(hash, |id| names[id as usize] == name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(hash, id);
        self.names.push(name.into());
        id
    }

    /// Starts loading where [`intern`](Self::intern) of `name` looks first.
    pub fn prefetch(&self, name: &str) {
        self.ids.prefetch(self.hasher.hash_one(name));
    }

    /// Starts loading the name [`intern`](Self::intern) of `name` compares it with, once what
    /// [`prefetch`](Self::prefetch) asked for has arrived.
    pub fn prefetch_name(&self, name: &str) {
        let id = self.ids.prefetch_value(self.hasher.hash_one(name));
        if let Some(held) = id.and_then(|id| self.names.get(id as usize)) {
            prefetch(held);
        }
    }

    /// Every name, by id.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(CompactString::as_str)
    }

    /// An interner holding `names`, by id (as [`names`](Self::names) gave them).
    pub fn from_names(names: Vec<Box<str>>) -> Interner {
        let mut interner = Interner::default();
        for name in names {
            interner.intern(&name);
        }
        interner
    }

    /// The name of an id (empty if unknown).
    pub fn name(&self, id: u32) -> &str {
        self.names
            .get(id as usize)
            .map_or("", CompactString::as_str)
    }
}
