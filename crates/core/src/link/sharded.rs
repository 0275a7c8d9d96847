//! A map stored as a sharded kind of piece, read a shard at a time and
//! written back only where it changed.
//!
//! Each piece holds the entries of one shard, sorted by key; which shard an
//! entry belongs to depends on its key and on the number of shards alone
//! (see [`crate::store::table`]), and the number of shards on the number
//! of entries (or is the document kinds' own), so the pieces are a
//! function of the entries, whatever edits led to them.

use crate::error::{Error, Result};
use crate::pipeline::postcondition::Scanner;
use crate::store::id::ObjectId;
use crate::store::layout::StoreLayout;
use crate::store::piece::{self, PieceKind, PieceSink};
use crate::store::table::{ShardTable, bits_for, shard_of};
use foldhash::{HashMap, HashMapExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};

/// An entry of a sharded map.
pub trait ShardedEntry: Serialize + DeserializeOwned + Clone + PartialEq + Send + Sync {
    type Key: Ord + Clone + Send + Sync + std::fmt::Debug;
    const KIND: PieceKind;
    fn key(&self) -> Self::Key;
    /// The first byte of the key's hash (its shard under any bits).
    fn hash_byte(key: &Self::Key) -> u8;
    /// An entry that says nothing is removed instead of stored.
    fn is_empty(&self) -> bool;
}

/// How many shards a map is written in.
#[derive(Debug, Clone, Copy)]
pub enum Bits {
    /// These bits (the document kinds follow the documents).
    Fixed(u8),
    /// As many as keep about this many entries per shard.
    PerShard(u64),
}

pub struct Sharded<E: ShardedEntry> {
    layout: StoreLayout,
    base: ShardTable,
    bits: Bits,
    /// Loaded shards of the base table (base numbering).
    loaded: HashMap<u8, BTreeMap<E::Key, E>>,
    dirty: BTreeSet<u8>,
    items: i64,
}

/// What [`Sharded::finish`] wrote.
pub struct Written<E> {
    pub table: ShardTable,
    /// The shards written (new numbering), with their entries.
    pub shards: BTreeMap<u8, Vec<E>>,
}

impl<E: ShardedEntry> Sharded<E> {
    /// The map a run's table of [`ShardedEntry::KIND`] pieces holds.
    pub fn new(layout: &StoreLayout, base: ShardTable, bits: Bits) -> Sharded<E> {
        let items = base.items() as i64;
        Sharded {
            layout: layout.clone(),
            base,
            bits,
            loaded: HashMap::new(),
            dirty: BTreeSet::new(),
            items,
        }
    }

    fn base_shard(&self, key: &E::Key) -> u8 {
        self.base.shard(E::hash_byte(key))
    }

    /// Loads these base shards (on every core) unless loaded already.
    fn preload_shards(&mut self, shards: impl IntoIterator<Item = u8>) -> Result<()> {
        use rayon::prelude::*;
        let wanted: BTreeSet<u8> = shards
            .into_iter()
            .filter(|s| !self.loaded.contains_key(s))
            .collect();
        let layout = &self.layout;
        let base = &self.base;
        let read: Vec<(u8, BTreeMap<E::Key, E>)> = wanted
            .into_par_iter()
            .map(|shard| {
                let entries = match base.get(shard) {
                    None => BTreeMap::new(),
                    Some(id) => {
                        let list: Vec<E> = piece::read(layout, E::KIND, id)?;
                        list.into_iter().map(|e| (e.key(), e)).collect()
                    }
                };
                Ok((shard, entries))
            })
            .collect::<Result<_>>()?;
        self.loaded.extend(read);
        Ok(())
    }

    /// Loads the shards holding these keys.
    pub fn preload_keys<'k>(&mut self, keys: impl IntoIterator<Item = &'k E::Key>) -> Result<()>
    where
        E::Key: 'k,
    {
        let shards: BTreeSet<u8> = keys.into_iter().map(|k| self.base_shard(k)).collect();
        self.preload_shards(shards)
    }

    /// Every shard, loaded.
    pub fn preload_all(&mut self) -> Result<()> {
        let all: Vec<u8> = (0..(1u16 << self.base.bits())).map(|s| s as u8).collect();
        self.preload_shards(all)
    }

    /// The entry under `key`; its shard must have been loaded.
    pub fn get(&self, key: &E::Key) -> Result<Option<&E>> {
        let shard = self.base_shard(key);
        match self.loaded.get(&shard) {
            Some(entries) => Ok(entries.get(key)),
            None => Err(Error::Failed {
                message: format!(
                    "internal: the {} shard {shard} of {key:?} was not loaded",
                    E::KIND.name()
                ),
            }),
        }
    }

    /// Changes (or adds, or with `None` removes) the entry under `key`,
    /// loading its shard if needed.
    pub fn update(&mut self, key: E::Key, change: impl FnOnce(&mut Option<E>)) -> Result<()> {
        let shard = self.base_shard(&key);
        if !self.loaded.contains_key(&shard) {
            self.preload_shards([shard])?;
        }
        let entries = self.loaded.entry(shard).or_default();
        // Changed in place (never copied: an entry can be a long list, and
        // a cold run updates it once per document). The shard is written
        // again even if nothing changed: its piece is then the same piece.
        let mut value = entries.remove(&key);
        let existed = value.is_some();
        change(&mut value);
        let value = value.filter(|v| !v.is_empty());
        self.items += i64::from(value.is_some()) - i64::from(existed);
        if existed || value.is_some() {
            self.dirty.insert(shard);
        }
        if let Some(v) = value {
            entries.insert(key, v);
        }
        Ok(())
    }

    /// How many entries the map holds.
    pub fn entry_count(&self) -> i64 {
        self.items
    }

    /// Applies many changes on every core: `change` is called once per
    /// `(key, op)`, and the changes of one key in the order given, so the
    /// result is that of [`Sharded::update`] in a loop (which a cold run
    /// would spend seconds in on one core). Keys, not shards, are the unit
    /// of work: a cold run starts from a table of one shard.
    pub fn update_all<Op: Send>(
        &mut self,
        mut changes: Vec<(E::Key, Op)>,
        change: impl Fn(&E::Key, &mut Option<E>, Op) + Sync,
    ) -> Result<()> {
        use rayon::prelude::*;
        // Stable: the changes of a key keep their order.
        changes.par_sort_by(|a, b| a.0.cmp(&b.0));
        let shards: BTreeSet<u8> = changes.iter().map(|(k, _)| self.base_shard(k)).collect();
        self.preload_shards(shards)?;
        // (key, whether it had an entry, its entry now, its changes)
        type Work<K, E, Op> = (K, bool, Option<E>, Vec<Op>);
        let mut work: Vec<Work<E::Key, E, Op>> = Vec::new();
        for (key, op) in changes {
            match work.last_mut() {
                Some((last, _, _, ops)) if *last == key => ops.push(op),
                _ => {
                    let shard = self.base_shard(&key);
                    let entry = self
                        .loaded
                        .get_mut(&shard)
                        .and_then(|entries| entries.remove(&key));
                    work.push((key, entry.is_some(), entry, vec![op]));
                }
            }
        }
        work.par_iter_mut().for_each(|(key, _, value, ops)| {
            for op in std::mem::take(ops) {
                change(key, value, op);
                // As `update` stores it between two changes.
                if value.as_ref().is_some_and(E::is_empty) {
                    *value = None;
                }
            }
        });
        for (key, existed, value, _) in work {
            let shard = self.base_shard(&key);
            let value = value.filter(|v| !v.is_empty());
            self.items += i64::from(value.is_some()) - i64::from(existed);
            if existed || value.is_some() {
                self.dirty.insert(shard);
            }
            if let Some(v) = value {
                self.loaded.entry(shard).or_default().insert(key, v);
            }
        }
        Ok(())
    }

    /// The bits the map is written in.
    fn target_bits(&self) -> u8 {
        match self.bits {
            Bits::Fixed(b) => b,
            Bits::PerShard(n) => bits_for(self.items.max(0) as u64, n),
        }
    }

    /// Writes the changed shards (every shard, when the number of shards
    /// changes); returns the new table and what was written.
    pub fn finish(mut self, sink: &dyn PieceSink, scan: &Scanner<'_>) -> Result<Written<E>> {
        use rayon::prelude::*;
        let bits = self.target_bits();
        let regroup = bits != self.base.bits();
        let mut groups: BTreeMap<u8, Vec<E>> = BTreeMap::new();
        if regroup {
            self.preload_all()?;
            for entries in std::mem::take(&mut self.loaded).into_values() {
                for (key, e) in entries {
                    groups
                        .entry(shard_of(E::hash_byte(&key), bits))
                        .or_default()
                        .push(e);
                }
            }
            for list in groups.values_mut() {
                list.sort_by_key(|e| e.key());
            }
            for s in 0..(1u16 << bits) {
                groups.entry(s as u8).or_default();
            }
        } else {
            for shard in &self.dirty {
                groups.insert(
                    *shard,
                    self.loaded
                        .remove(shard)
                        .map(|m| m.into_values().collect())
                        .unwrap_or_default(),
                );
            }
        }
        let written: Vec<(u8, Option<ObjectId>)> = groups
            .par_iter()
            .map(|(shard, entries)| {
                if entries.is_empty() {
                    return Ok((*shard, None));
                }
                let id = piece::put(sink, E::KIND, entries)?;
                scan.piece(id, entries, &|_| false);
                Ok((*shard, Some(id)))
            })
            .collect::<Result<_>>()?;
        let mut table = if regroup {
            ShardTable::empty(bits)
        } else {
            self.base.clone()
        };
        for (shard, id) in written {
            table.set(shard, id);
        }
        table.set_items(self.items.max(0) as u64);
        Ok(Written {
            table,
            shards: groups,
        })
    }
}
