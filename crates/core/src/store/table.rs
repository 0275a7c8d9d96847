//! Shard tables: which piece holds each shard of a kind.
//!
//! A sharded kind (documents, search, technologies...) is split into
//! `2^bits` pieces (1 to 256) by the leading bits of a hash of each item's
//! key (the document's path, the entity id, the resolver key), so which
//! piece an item lands in depends only on the item and on how many items
//! there are, never on the history of edits that led to the run. `bits`
//! grows with the number of items ([`bits_for`]), so a small collection
//! has a few pieces and a large one up to 256, each a few dozen items:
//! an edit rewrites one small piece. When the count crosses a power of
//! two the kind is split again, once.
//!
//! A table names its pieces in two levels of 16: a top node (the bits, the
//! item count and up to 16 leaves), each leaf naming up to 16 pieces. An
//! edit of one shard writes one new piece, one new leaf and one new top
//! (about a kilobyte of table), and every other node is shared with the
//! previous run.

use crate::error::{Error, Result};
use crate::store::id::ObjectId;
use crate::store::layout::StoreLayout;
use crate::store::piece::{self, PieceKind, PieceSink};
use serde::{Deserialize, Serialize};

/// The most shards of a kind.
pub const SHARDS: usize = 256;
/// Entries per table node.
const FANOUT: usize = 16;

/// One stored table node: `level` 1 is the top (its slots name leaves),
/// `level` 0 a leaf (its slots name pieces).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Node {
    level: u8,
    /// The table's bits and item count (the top node only).
    bits: u8,
    items: u64,
    slots: Vec<Option<ObjectId>>,
}

/// The pieces of one kind in a run, by shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardTable {
    bits: u8,
    items: u64,
    slots: Vec<Option<ObjectId>>,
}

impl Default for ShardTable {
    fn default() -> Self {
        ShardTable::empty(0)
    }
}

/// The bits for `items` items at about `target` per shard.
pub fn bits_for(items: u64, target: u64) -> u8 {
    let mut bits = 0u8;
    while bits < 8 && items.div_ceil(1u64 << bits) > target {
        bits += 1;
    }
    bits
}

/// The shard of a key whose hash starts with `byte`, under `bits`.
pub fn shard_of(byte: u8, bits: u8) -> u8 {
    if bits == 0 {
        0
    } else {
        byte >> (8 - bits.min(8))
    }
}

impl ShardTable {
    pub fn empty(bits: u8) -> ShardTable {
        ShardTable {
            bits: bits.min(8),
            items: 0,
            slots: vec![None; SHARDS],
        }
    }

    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// How many items the pieces hold.
    pub fn items(&self) -> u64 {
        self.items
    }

    pub fn set_items(&mut self, items: u64) {
        self.items = items;
    }

    /// The shard of a key whose hash starts with `byte`.
    pub fn shard(&self, byte: u8) -> u8 {
        shard_of(byte, self.bits)
    }

    pub fn get(&self, shard: u8) -> Option<ObjectId> {
        self.slots[shard as usize]
    }

    /// The piece holding keys whose hash starts with `byte`.
    pub fn piece_for(&self, byte: u8) -> Option<ObjectId> {
        self.get(self.shard(byte))
    }

    pub fn set(&mut self, shard: u8, piece: Option<ObjectId>) {
        self.slots[shard as usize] = piece;
    }

    /// Every (shard, piece), in shard order.
    pub fn pieces(&self) -> impl Iterator<Item = (u8, ObjectId)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.map(|p| (i as u8, p)))
    }

    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// Stores the table's nodes into `sink`; returns the top's id. The same
    /// table always gives the same nodes (and ids).
    pub fn store(&self, sink: &dyn PieceSink) -> Result<ObjectId> {
        let mut top = Vec::with_capacity(FANOUT);
        for leaf in self.slots.chunks(FANOUT) {
            if leaf.iter().all(Option::is_none) {
                top.push(None);
            } else {
                let node = Node {
                    level: 0,
                    bits: 0,
                    items: 0,
                    slots: leaf.to_vec(),
                };
                top.push(Some(piece::put(sink, PieceKind::Table, &node)?));
            }
        }
        piece::put(
            sink,
            PieceKind::Table,
            &Node {
                level: 1,
                bits: self.bits,
                items: self.items,
                slots: top,
            },
        )
    }

    /// Reads a table from its top node.
    pub fn load(layout: &StoreLayout, top: ObjectId) -> Result<ShardTable> {
        Ok(ShardTable::load_with_nodes(layout, top)?.0)
    }

    /// Reads a table and returns the ids of its nodes (top first) too.
    pub fn load_with_nodes(
        layout: &StoreLayout,
        top: ObjectId,
    ) -> Result<(ShardTable, Vec<ObjectId>)> {
        ShardTable::load_sharing(layout, top, &mut Leaves::new())
    }

    /// [`ShardTable::load_with_nodes`], reading only the leaves `known`
    /// does not hold yet (and adding them): a reader of many runs' tables,
    /// which share most leaves, reads each leaf once.
    pub fn load_sharing(
        layout: &StoreLayout,
        top: ObjectId,
        known: &mut Leaves,
    ) -> Result<(ShardTable, Vec<ObjectId>)> {
        use rayon::prelude::*;
        let origin = layout.dir.join(top.rel_path());
        let head: Node = piece::read(layout, PieceKind::Table, top)?;
        check_node(&head, 1, &origin)?;
        let missing: Vec<ObjectId> = head
            .slots
            .iter()
            .flatten()
            .filter(|id| !known.contains_key(id))
            .copied()
            .collect();
        let read: Vec<(ObjectId, Vec<Option<ObjectId>>)> = missing
            .par_iter()
            .map(|id| {
                let node: Node = piece::read(layout, PieceKind::Table, *id)?;
                check_node(&node, 0, &layout.dir.join(id.rel_path()))?;
                Ok((*id, node.slots))
            })
            .collect::<Result<_>>()?;
        known.extend(read);
        let mut nodes = vec![top];
        let mut table = ShardTable::empty(head.bits);
        table.items = head.items;
        for (i, id) in head.slots.iter().enumerate() {
            if let Some(id) = id
                && let Some(leaf) = known.get(id)
            {
                nodes.push(*id);
                table.slots[i * FANOUT..(i + 1) * FANOUT].copy_from_slice(leaf);
            }
        }
        let shards = 1usize << table.bits;
        if table.slots[shards..].iter().any(Option::is_some) {
            return Err(Error::corrupt(
                origin,
                format!("a table of {shards} shard(s) names a piece beyond them"),
            ));
        }
        Ok((table, nodes))
    }
}

/// Leaves already read (their slots), by id; see [`ShardTable::load_sharing`].
pub type Leaves = std::collections::HashMap<ObjectId, Vec<Option<ObjectId>>>;

fn check_node(node: &Node, level: u8, origin: &std::path::Path) -> Result<()> {
    if node.level != level || node.slots.len() != FANOUT || node.bits > 8 {
        return Err(Error::corrupt(
            origin,
            format!(
                "a table node of level {} with {} slots where a level-{level} node of {FANOUT} was expected",
                node.level,
                node.slots.len()
            ),
        ));
    }
    Ok(())
}

/// The first byte of the hash a document's id is made of: its shard,
/// under any bits.
pub fn document_byte(path: &str) -> u8 {
    crate::hashing::FieldHasher::new("doc").field(path).finish()[0]
}

/// Documents per shard the document kinds aim at.
pub const DOCUMENTS_PER_SHARD: u64 = 32;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::piece::MemorySink;

    #[test]
    fn tables_store_only_what_they_hold_and_share_untouched_leaves() {
        let sink = MemorySink::keeping();
        let mut table = ShardTable::empty(8);
        let empty_top = table.store(&sink).unwrap();
        table.set(3, Some(ObjectId::of(b"three")));
        table.set(200, Some(ObjectId::of(b"two hundred")));
        let top = table.store(&sink).unwrap();
        assert_ne!(top, empty_top);
        // Top + two leaves (+ the empty table's top).
        assert_eq!(sink.pieces.lock().unwrap().len(), 4);
        table.set(4, Some(ObjectId::of(b"four")));
        table.store(&sink).unwrap();
        // One new leaf and one new top; the leaf of shard 200 is shared.
        assert_eq!(sink.pieces.lock().unwrap().len(), 6);
        assert_eq!(
            table.pieces().map(|(s, _)| s).collect::<Vec<_>>(),
            vec![3, 4, 200]
        );
    }

    #[test]
    fn bits_grow_with_the_items() {
        assert_eq!(bits_for(0, 32), 0);
        assert_eq!(bits_for(32, 32), 0);
        assert_eq!(bits_for(33, 32), 1);
        assert_eq!(bits_for(7426, 32), 8);
        assert_eq!(bits_for(1_000_000, 32), 8);
        assert_eq!(shard_of(0xff, 0), 0);
        assert_eq!(shard_of(0xff, 1), 1);
        assert_eq!(shard_of(0xab, 8), 0xab);
        assert_eq!(shard_of(0xab, 4), 0xa);
    }
}
