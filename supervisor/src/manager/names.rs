//! Unit names to ids without a second copy of each name: a hash table of ids, hashed by the
//! name in the unit's own entry (a `BTreeMap<String, UnitId>` took about 80 bytes a unit:
//! the copy, its allocation, the tree's nodes; this takes 5). Aliases, few, have a map of
//! their own, looked at first.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use super::UnitEntry;
use crate::job::graph::UnitId;

#[derive(Default)]
pub struct Names {
    ids: HashTable<UnitId>,
    aliases: BTreeMap<String, UnitId>,
    hasher: RandomState,
}

impl Names {
    pub fn get(&self, list: &[UnitEntry], name: &str) -> Option<UnitId> {
        if let Some(id) = self.aliases.get(name) {
            return Some(*id);
        }
        let is = |id: &UnitId| list.get(*id as usize).is_some_and(|u| u.name == name);
        self.ids.find(self.hasher.hash_one(name), is).copied()
    }

    /// Indexes unit `id` by the name its entry has (now in `list`); a unit indexed by the same
    /// name before is not found by it any more (the newest wins, as a map's insert).
    pub fn insert(&mut self, list: &[UnitEntry], id: UnitId) {
        let Some(u) = list.get(id as usize) else {
            return;
        };
        let hasher = &self.hasher;
        let hash = hasher.hash_one(&u.name);
        let same = |i: &UnitId| list.get(*i as usize).is_some_and(|o| o.name == u.name);
        match self.ids.find_entry(hash, same) {
            Ok(mut e) => *e.get_mut() = id,
            Err(_) => {
                let rehash = |i: &UnitId| {
                    list.get(*i as usize)
                        .map_or(0, |u| hasher.hash_one(&u.name))
                };
                self.ids.insert_unique(hash, id, rehash);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.ids.len()
    }

    /// Forgets unit `id` by its entry's name (before that name changes).
    pub fn remove(&mut self, list: &[UnitEntry], id: UnitId) {
        let Some(u) = list.get(id as usize) else {
            return;
        };
        if let Ok(e) = self
            .ids
            .find_entry(self.hasher.hash_one(&u.name), |i| *i == id)
        {
            e.remove();
        }
    }

    pub fn alias(&mut self, alias: String, id: UnitId) {
        self.aliases.insert(alias, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::Units;
    use crate::unit::load::Catalog;
    use crate::unit::specifier::Context;

    #[test]
    fn names_aliases_and_renames_find_their_unit() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..500 {
            std::fs::write(
                d.path().join(format!("s{i}.service")),
                "[Service]\nExecStart=/bin/true\n",
            )
            .unwrap();
        }
        std::os::unix::fs::symlink("s7.service", d.path().join("seven.service")).unwrap();
        let cat = Catalog::scan(&[d.path().to_path_buf()]);
        let mut units = Units::build(&cat, &Context::default(), &[]);
        for (i, u) in units.list.iter().enumerate() {
            assert_eq!(units.lookup(&u.name), Some(i as UnitId), "{}", u.name);
        }
        let s7 = units.lookup("s7.service").unwrap();
        assert_eq!(units.lookup("seven.service"), Some(s7));
        assert_eq!(units.lookup("s500.service"), None);
        // An Accept=yes instance takes a dead one's slot: the old name goes, the new one comes.
        std::fs::write(
            d.path().join("e@.service"),
            "[Service]\nExecStart=/bin/true\n",
        )
        .unwrap();
        let cat = Catalog::scan(&[d.path().to_path_buf()]);
        let spec = Context::default();
        let a = units.add_runtime(&cat, "e@1.service", &spec, None);
        let indexed = units.names.len();
        for i in 2..50 {
            let b = units.add_runtime(&cat, &format!("e@{i}.service"), &spec, Some(a));
            assert_eq!(a, b);
        }
        assert_eq!(
            units.names.len(),
            indexed,
            "the old names are gone from the index"
        );
        assert_eq!(units.lookup("e@1.service"), None);
        assert_eq!(units.lookup("e@49.service"), Some(a));
        // The same name loaded again in a new slot: the newest answers to it.
        let c = units.add_runtime(&cat, "e@49.service", &spec, None);
        assert_ne!(a, c);
        assert_eq!(units.lookup("e@49.service"), Some(c));
        assert_eq!(
            units
                .lookup("s499.service")
                .map(|i| units.get(i).unwrap().name.as_str()),
            Some("s499.service")
        );
    }
}
