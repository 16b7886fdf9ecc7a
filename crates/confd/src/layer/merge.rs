//! The one merge rule of DESIGN.md §3: a table stacked on a table merges key
//! by key, recursively; any other value (arrays included) replaces the lower
//! one whole, with its origin.
//!
//! Values are moved, not copied, so each exists once: a layer's values move
//! into the merged tree, and a value the merged tree lets go of (a lower
//! layer's, replaced by a higher one) moves back into the layer its origin
//! names. The merged tree then holds every winner and each kept layer what
//! lost, which is all `explain` needs (see `kept`).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::mem;
use std::path::Path;
use std::sync::Arc;

use toml::{Table, Value};

use super::parse::TextSource;
use super::{Layer, OriginNode, OriginTable, Snippets, parse};
use crate::{Error, Origin};

/// A layer as a load keeps it beside the merged tree.
#[derive(Debug)]
pub(crate) enum Kept {
    /// A layer other loads share (a schema's defaults): whole; the merged
    /// tree holds copies of its values.
    Shared(Arc<Layer>),
    /// A layer of this load alone, holding only what the merged tree
    /// displaced from it: its other values are in the merged tree, where
    /// their origins name it.
    Own(Layer),
}

/// A brick's merged tree and its layers, lowest first.
///
/// A shared layer stacked lowest (a schema's defaults) is not copied in
/// first, to be overwritten by the files key by key: it waits `beneath`,
/// and only what no layer above set is copied from it at the end
/// ([`Merged::into_parts`]), which gives the same tree (see `fill_beneath`).
#[derive(Debug, Default)]
pub(crate) struct Merged {
    pub(crate) table: Table,
    pub(crate) origins: OriginTable,
    pub(crate) layers: Layers,
    beneath: Option<Arc<Layer>>,
}

/// A load's layers, lowest first, with where to find the one an origin
/// names: by the file's path (a load may have thousands of drop-ins, each
/// displacing the one below), or among the few that are not files.
#[derive(Debug, Default)]
pub(crate) struct Layers {
    pub(crate) kept: Vec<Kept>,
    /// Layer index by the address of the file's path, which every origin
    /// the file's parse made shares.
    by_file: HashMap<usize, usize, BuildHasherDefault<AddressHasher>>,
    /// Indices of the layers that are not files.
    others: Vec<usize>,
}

impl Kept {
    fn layer(&self) -> &Layer {
        match self {
            Kept::Shared(layer) => layer,
            Kept::Own(layer) => layer,
        }
    }
}

impl Layers {
    fn push(&mut self, kept: Kept) {
        let index = self.kept.len();
        match &kept.layer().source {
            Some(path) => {
                self.by_file.insert(address(path), index);
            }
            None => self.others.push(index),
        }
        self.kept.push(kept);
    }

    /// The index of the layer of this load that `origin` points into;
    /// `None` for a shared layer, which still holds all its values.
    fn own_index_of(&self, origin: &Origin) -> Option<usize> {
        let kept = &self.kept;
        let owns = |i: &usize| kept.get(*i).is_some_and(|k| k.layer().owns(origin));
        let index = match origin {
            // A path not in the map (an origin made elsewhere) is still found.
            Origin::File { path, .. } => self
                .by_file
                .get(&address(path))
                .copied()
                .filter(owns)
                .or_else(|| (0..kept.len()).find(owns)),
            _ => self.others.iter().copied().find(owns),
        }?;
        matches!(kept[index], Kept::Own(_)).then_some(index)
    }

    /// The layer of this load that `origin` points into, as
    /// [`Layers::own_index_of`] finds it.
    fn own_layer_of(&mut self, origin: &Origin) -> Option<&mut Layer> {
        let index = self.own_index_of(origin)?;
        match self.kept.get_mut(index) {
            Some(Kept::Own(layer)) => Some(layer),
            _ => None,
        }
    }
}

fn address(path: &Arc<Path>) -> usize {
    Arc::as_ptr(path).cast::<u8>() as usize
}

/// Hashes an address (asked for every value a file displaces): addresses
/// are distinct and not chosen by an attacker, so a multiply spreads them
/// well enough, and SipHash's resistance to chosen keys buys nothing here.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `usize` keys are hashed; this keeps any other key correct.
        for &b in bytes {
            self.write_usize(self.0 as usize ^ usize::from(b));
        }
    }

    fn write_usize(&mut self, address: usize) {
        // The product's low bits depend only on the address's low bits,
        // which alignment makes zero; the table indexes by the low bits, so
        // fold the high bits down.
        let spread = (address as u64).wrapping_mul(FIBONACCI);
        self.0 = spread ^ (spread >> 29);
    }
}

/// 2^64 / φ: multiplying by it spreads nearby addresses over the high bits.
const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

impl Merged {
    /// Stacks a layer other loads share on top. The lowest one waits
    /// beneath the merged tree (see [`Merged`]); any other is copied in.
    pub(crate) fn push_shared(&mut self, layer: Arc<Layer>) {
        if self.layers.kept.is_empty() {
            self.beneath = Some(Arc::clone(&layer));
            self.layers.push(Kept::Shared(layer));
            return;
        }
        self.fill_beneath();
        let (table, origins) = (layer.table.clone(), layer.origins.clone());
        self.layers.push(Kept::Shared(layer));
        self.stack(table, origins);
    }

    /// The merged tree, its origins and the layers, lowest first.
    pub(crate) fn into_parts(mut self) -> (Table, OriginTable, Vec<Kept>) {
        self.fill_beneath();
        (self.table, self.origins, self.layers.kept)
    }

    /// Copies from the shared layer waiting beneath what no layer above it
    /// set, as if it had been stacked first.
    fn fill_beneath(&mut self) {
        if let Some(beneath) = self.beneath.take() {
            let (table, origins) = (&mut self.table, &mut self.origins);
            let below = (&beneath.table, &beneath.origins);
            fill_beneath(table, origins, below, &mut Vec::new(), &self.layers);
        }
    }

    /// Stacks one of this load's own layers on top: its values are moved.
    pub(crate) fn push(&mut self, mut layer: Layer) {
        let table = mem::take(&mut layer.table);
        let origins = mem::take(&mut layer.origins);
        self.layers.push(Kept::Own(layer));
        self.stack(table, origins);
    }

    /// Parses a file (or an etcd key's text) and stacks it on top. The first layer with values
    /// becomes the merged tree; any later file is merged straight into it,
    /// so a key the tree has already costs no allocation.
    pub(crate) fn push_text(
        &mut self,
        text: &str,
        source: TextSource,
        snippets: Snippets,
    ) -> Result<(), Error> {
        let parsed = parse::parse(text, source, snippets)?;
        if self.table.is_empty() && self.origins.is_empty() {
            self.push(parsed.into_layer()?);
        } else {
            let layer = parsed.merge_into(&mut self.table, &mut self.origins, &mut self.layers)?;
            self.layers.push(Kept::Own(layer));
        }
        Ok(())
    }

    fn stack(&mut self, table: Table, origins: OriginTable) {
        if self.table.is_empty() && self.origins.is_empty() {
            // The lowest layer with values: nothing to merge with or displace.
            self.table = table;
            self.origins = origins;
        } else {
            let mut path = Vec::new();
            merge(
                &mut self.table,
                &mut self.origins,
                table,
                origins,
                &mut path,
                &mut self.layers,
            );
        }
    }
}

/// Copies into `dst` (at `path` of the merged tree) the entries of the
/// lowest layer's table there (`below`, with its origins) that stacking it
/// first would have left.
///
/// A key no layer above set is copied with its origin. A table that the
/// merged tree holds too is filled in key by key, unless a layer above set
/// a non-table there in between (displaced since by a higher table, and
/// kept by that layer): that value replaced the lowest layer's table whole.
/// Anything else above replaced the lowest layer's value.
fn fill_beneath(
    dst: &mut Table,
    dst_origins: &mut OriginTable,
    (below, below_origins): (&Table, &OriginTable),
    path: &mut Vec<String>,
    layers: &Layers,
) {
    // All four maps are sorted by key: walk them side by side (one
    // comparison per key, not a search of two maps per key); what is
    // missing is inserted once the walk has let go of `dst`.
    let mut lower = below.iter().zip(below_origins).peekable();
    let mut missing = Vec::new();
    for ((key, value), (origin_key, node)) in dst.iter_mut().zip(dst_origins.iter_mut()) {
        debug_assert_eq!(key, origin_key, "origins mirror their table");
        let mut same_key = None;
        while let Some(((lower_key, _), _)) = lower.peek() {
            match lower_key.as_str().cmp(key) {
                Ordering::Less => missing.extend(lower.next()),
                Ordering::Equal => {
                    same_key = lower.next();
                    break;
                }
                Ordering::Greater => break,
            }
        }
        if let (
            Value::Table(inner),
            OriginNode::Table { children, .. },
            Some((
                (_, Value::Table(lower_table)),
                (
                    _,
                    OriginNode::Table {
                        children: lower_children,
                        ..
                    },
                ),
            )),
        ) = (value, node, same_key)
        {
            path.push(key.clone());
            if !layers.replaced_whole(path) {
                fill_beneath(inner, children, (lower_table, lower_children), path, layers);
            }
            path.pop();
        }
    }
    missing.extend(lower);
    for ((key, value), (_, node)) in missing {
        dst.insert(key.clone(), value.clone());
        dst_origins.insert(key.clone(), node.clone());
    }
}

/// The table at `path` of `table`, with its origins.
fn tables_at<'a>(
    mut table: &'a Table,
    mut origins: &'a OriginTable,
    path: &[String],
) -> Option<(&'a Table, &'a OriginTable)> {
    for segment in path {
        match (table.get(segment)?, origins.get(segment)?) {
            (Value::Table(t), OriginNode::Table { children, .. }) => {
                table = t;
                origins = children;
            }
            _ => return None,
        }
    }
    Some((table, origins))
}

impl Layers {
    /// Whether one of this load's layers set a value that is not a table at
    /// `path` (the merged tree let go of it: it is kept by its layer).
    fn replaced_whole(&self, path: &[String]) -> bool {
        let Some((last, parents)) = path.split_last() else {
            return false;
        };
        self.kept.iter().any(|kept| match kept {
            Kept::Own(layer) => tables_at(&layer.table, &layer.origins, parents)
                .and_then(|(table, _)| table.get(last))
                .is_some_and(|value| !value.is_table()),
            Kept::Shared(_) => false,
        })
    }
}

/// Stacks `src` (with its origins) on top of `dst`, which is at `path` of
/// the merged tree; what it displaces goes back to `layers`.
fn merge(
    dst: &mut Table,
    dst_origins: &mut OriginTable,
    src: Table,
    src_origins: OriginTable,
    path: &mut Vec<String>,
    layers: &mut Layers,
) {
    for ((key, value), (origin_key, origin)) in entries(src, src_origins) {
        match (value, origin) {
            (Value::Table(upper), OriginNode::Table { origin, children }) => {
                path.push(key);
                if let Some((lower, lower_children)) =
                    table_slot(dst, dst_origins, origin, path, layers)
                {
                    merge(lower, lower_children, upper, children, path, layers);
                }
                path.pop();
            }
            (value, origin) => {
                let key = (key, Some(origin_key));
                put_leaf(dst, dst_origins, key, value, origin, path, layers);
            }
        }
    }
}

/// The rule for a table stacked at `path` (whose last segment is its key):
/// a table there stays, to merge with it key by key, and only its
/// declaration is displaced; anything else there is displaced whole by an
/// empty table. Returns the table to merge the upper one's entries into.
/// (`None` only for an empty `path`.)
pub(super) fn table_slot<'t>(
    dst: &'t mut Table,
    dst_origins: &'t mut OriginTable,
    origin: Origin,
    path: &[String],
    layers: &mut Layers,
) -> Option<(&'t mut Table, &'t mut OriginTable)> {
    let key = path.last()?;
    let merges = matches!(
        (dst.get(key), dst_origins.get(key)),
        (Some(Value::Table(_)), Some(OriginNode::Table { .. }))
    );
    if merges {
        if let Some(OriginNode::Table {
            origin: declared, ..
        }) = dst_origins.get_mut(key)
        {
            let declared = mem::replace(declared, origin);
            give_back_table(layers, path, declared);
        }
    } else {
        let node = OriginNode::Table {
            origin,
            children: OriginTable::new(),
        };
        let value = dst.insert(key.clone(), Value::Table(Table::new()));
        let displaced = dst_origins.insert(key.clone(), node);
        if let (Some(value), Some(displaced)) = (value, displaced) {
            give_back(layers, &mut path.to_vec(), value, displaced);
        }
    }
    match (dst.get_mut(key), dst_origins.get_mut(key)) {
        (Some(Value::Table(table)), Some(OriginNode::Table { children, .. })) => {
            Some((table, children))
        }
        // Not reachable: a table was made or found there just above.
        _ => None,
    }
}

/// The rule for any other value (arrays included), stacked at `key` of the
/// table at `path`: it replaces whatever is there, which is displaced whole.
/// `key` comes with a second copy for the origins, if the caller has one.
pub(super) fn put_leaf<K: AsRef<str> + Into<String>>(
    dst: &mut Table,
    dst_origins: &mut OriginTable,
    (key, spare): (K, Option<String>),
    value: Value,
    origin: OriginNode,
    path: &mut Vec<String>,
    layers: &mut Layers,
) {
    match (dst.get_mut(key.as_ref()), dst_origins.get_mut(key.as_ref())) {
        (Some(slot), Some(origin_slot)) => {
            let value = mem::replace(slot, value);
            let origin = mem::replace(origin_slot, origin);
            // A default a file replaces is still in its shared layer: then
            // there is nothing to give back, and no path to build for it.
            if matches!(origin, OriginNode::Leaf(_))
                && layers.own_index_of(origin.origin()).is_none()
            {
                return;
            }
            path.push(key.into());
            give_back(layers, path, value, origin);
            path.pop();
        }
        _ => {
            let key: String = key.into();
            let spare = spare.unwrap_or_else(|| key.clone());
            dst.insert(key, value);
            dst_origins.insert(spare, origin);
        }
    }
}

/// A table's entries with their origins, by value.
///
/// Both maps are sorted by key (toml's `preserve_order` is off, which a
/// test checks) and hold the same keys, so they are walked side by side
/// rather than by one search and removal per key; an entry whose key is not
/// in both is skipped. Each entry comes with both maps' copies of its key,
/// so that inserting it into two maps allocates none.
fn entries(
    table: Table,
    origins: OriginTable,
) -> impl Iterator<Item = ((String, Value), (String, OriginNode))> {
    table
        .into_iter()
        .zip(origins)
        .filter(|((key, _), (origin_key, _))| {
            debug_assert_eq!(key, origin_key, "origins mirror their table");
            key == origin_key
        })
}

/// Returns a value the merged tree displaced from `path` to the layers its
/// origins name: a table's entries may come from several layers.
fn give_back(layers: &mut Layers, path: &mut Vec<String>, value: Value, origin: OriginNode) {
    match (value, origin) {
        (Value::Table(table), OriginNode::Table { origin, children }) => {
            give_back_table(layers, path, origin);
            for ((key, value), (_, child)) in entries(table, children) {
                path.push(key);
                give_back(layers, path, value, child);
                path.pop();
            }
        }
        (value, origin) => {
            if let Some(layer) = layers.own_layer_of(origin.origin())
                && let Some((key, parents)) = path.split_last_mut()
            {
                // The key moves into the layer; the caller pops what is left.
                layer.keep(parents, mem::take(key), value, origin);
            }
        }
    }
}

/// Returns where a table was declared, displaced from `path` by a higher
/// layer's declaration (or value), to the layer that declared it.
fn give_back_table(layers: &mut Layers, path: &[String], origin: Origin) {
    if let Some(layer) = layers.own_layer_of(&origin) {
        let node = OriginNode::Table {
            origin,
            children: OriginTable::new(),
        };
        if let Some((key, parents)) = path.split_last() {
            layer.keep(parents, key.clone(), Value::Table(Table::new()), node);
        }
    }
}

impl Layer {
    /// Whether `origin` points into this layer: each layer of a load has its
    /// own precedence, or, for files, its own path.
    pub(super) fn owns(&self, origin: &Origin) -> bool {
        origin.precedence() == self.precedence
            && match (origin, &self.source) {
                (Origin::File { path, .. } | Origin::Snapshot { file: path, .. }, Some(source)) => {
                    Arc::ptr_eq(path, source) || path == source
                }
                (Origin::File { .. }, None) | (_, Some(_)) => false,
                (_, None) => true,
            }
    }

    /// Takes back a value displaced from `key` of the table at `parents` in
    /// the merged tree. Those parent tables are here already: a layer's
    /// tables are displaced before anything inside them (parents first), or
    /// are still in the merged tree with only their own declaration
    /// displaced, which put them here.
    fn keep(&mut self, parents: &[String], key: String, value: Value, origin: OriginNode) {
        let (mut table, mut origins) = (&mut self.table, &mut self.origins);
        for segment in parents {
            if !table.contains_key(segment) {
                let declared = origin.origin().clone();
                table.insert(segment.clone(), Value::Table(Table::new()));
                origins.insert(
                    segment.clone(),
                    OriginNode::Table {
                        origin: declared,
                        children: OriginTable::new(),
                    },
                );
            }
            match (table.get_mut(segment), origins.get_mut(segment)) {
                (Some(Value::Table(t)), Some(OriginNode::Table { children, .. })) => {
                    table = t;
                    origins = children;
                }
                // Not reachable by the invariant above; dropping the value
                // beats a panic, and `explain` then omits only this layer.
                _ => return,
            }
        }
        table.insert(key.clone(), value);
        origins.insert(key, origin);
    }
}
