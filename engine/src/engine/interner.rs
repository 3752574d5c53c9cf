//! Small per-tenant string interner (service types, assignees): tickets store a `u32`.

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// Names to dense ids and back. Each name is kept once: the index holds ids and compares
/// through `names`.
#[derive(Debug, Default)]
pub struct Interner {
    ids: HashTable<u32>,
    names: Vec<Box<str>>,
    hasher: foldhash::fast::FixedState,
}

impl Interner {
    /// The id of a name, adding it if new.
    pub fn intern(&mut self, name: &str) -> u32 {
        let names = &self.names;
        let hasher = &self.hasher;
        let entry = self.ids.entry(
            hasher.hash_one(name),
            |&id| *names[id as usize] == *name,
            |&id| hasher.hash_one(&*names[id as usize]),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(id) => *id.get(),
            hashbrown::hash_table::Entry::Vacant(slot) => {
                let id = names.len() as u32;
                slot.insert(id);
                self.names.push(name.into());
                id
            }
        }
    }

    /// Every name, by id.
    pub fn names(&self) -> &[Box<str>] {
        &self.names
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
        self.names.get(id as usize).map_or("", |n| n)
    }
}
