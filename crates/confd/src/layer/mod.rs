//! One source of configuration, parsed into a table with the origin of every
//! key, and the merge that stacks layers into the effective configuration.
//!
//! Parse pure, load thin: [`Layer::parse`] works on text and is tested
//! without a disk; the loader reads files and hands their text here.
//!
//! - `parse`: text to a layer, or a positioned error;
//! - `merge`: the one rule that stacks a layer on the layers below, moving
//!   its values into the merged tree;
//! - `kept`: a merged layer seen whole again, for `explain`;
//! - `snippet`: the offending line an error shows.

mod kept;
mod merge;
mod parse;
mod snippet;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use toml::{Table, Value};

pub(crate) use merge::{Kept, Merged};
pub(crate) use parse::TextSource;
pub(crate) use snippet::LineIndex;
pub use snippet::Snippets;

use crate::{Error, KeyPath, Origin, Precedence, origin::EtcdKey, origin::FileKind};

/// The deepest nesting accepted: each key segment, table and array level
/// counts, so `a.b = [1]` puts `1` at depth 3. Deeper documents are refused
/// with a positioned error instead of risking the stack (a 10,000-deep inline
/// table is a few kilobytes of text), and every value a file may hold has a
/// key path of at most [`MAX_KEY_PATH_SEGMENTS`](crate::key_path::MAX_KEY_PATH_SEGMENTS).
pub const MAX_DEPTH: usize = 64;

/// Where each key of a [`Table`] came from, mirroring its shape.
pub type OriginTable = BTreeMap<String, OriginNode>;

/// The origin of one entry of a table.
#[derive(Clone, Debug, PartialEq)]
pub enum OriginNode {
    /// A value that is not a table (arrays are replaced whole, so they are leaves).
    Leaf(Origin),
    /// A table, which merges key by key.
    Table {
        /// Where the table was last declared.
        origin: Origin,
        /// Its entries.
        children: OriginTable,
    },
}

impl OriginNode {
    /// Where this entry came from.
    #[must_use]
    pub fn origin(&self) -> &Origin {
        match self {
            OriginNode::Leaf(origin) | OriginNode::Table { origin, .. } => origin,
        }
    }
}

/// The origins of `table` when all of it came from `origin`.
fn origins_of(table: &Table, origin: &Origin) -> OriginTable {
    table
        .iter()
        .map(|(k, v)| {
            let node = match v {
                Value::Table(t) => OriginNode::Table {
                    origin: origin.clone(),
                    children: origins_of(t, origin),
                },
                _ => OriginNode::Leaf(origin.clone()),
            };
            (k.clone(), node)
        })
        .collect()
}

/// Finds the origin node at `path`.
#[must_use]
pub(crate) fn origin_at<'a>(origins: &'a OriginTable, path: &KeyPath) -> Option<&'a OriginNode> {
    let (last, parents) = path.segments().split_last()?;
    let mut table = origins;
    for segment in parents {
        match table.get(segment)? {
            OriginNode::Table { children, .. } => table = children,
            OriginNode::Leaf(_) => return None,
        }
    }
    table.get(last)
}

/// Finds the value at `path`.
#[must_use]
pub fn value_at<'a>(table: &'a Table, path: &KeyPath) -> Option<&'a Value> {
    let (last, parents) = path.segments().split_last()?;
    let mut current = table;
    for segment in parents {
        current = current.get(segment)?.as_table()?;
    }
    current.get(last)
}

/// Removes the value at `path`, if there is one.
pub(crate) fn remove_at(table: &mut Table, path: &KeyPath) -> Option<Value> {
    let (last, parents) = path.segments().split_last()?;
    let mut current = table;
    for segment in parents {
        current = current.get_mut(segment)?.as_table_mut()?;
    }
    current.remove(last)
}

/// One layer of configuration: a table and the origin of each of its keys.
#[derive(Clone, Debug)]
pub struct Layer {
    precedence: Precedence,
    /// The file it was read from, if any: with the precedence, what tells
    /// the origins of this layer from those of the others of a load.
    source: Option<Arc<Path>>,
    table: Table,
    origins: OriginTable,
}

impl Layer {
    /// An empty layer.
    #[must_use]
    pub fn empty(precedence: Precedence) -> Self {
        Layer {
            precedence,
            source: None,
            table: Table::new(),
            origins: OriginTable::new(),
        }
    }

    /// A layer whose every key comes from one origin (profile defaults).
    #[must_use]
    pub fn from_table(table: Table, origin: &Origin) -> Self {
        Layer {
            precedence: origin.precedence(),
            source: origin.path().map(Arc::from),
            origins: origins_of(&table, origin),
            table,
        }
    }

    /// A layer read from `source` whose every value has an origin of its
    /// own (a snapshot's values, each with where the host found it); a table
    /// has `table_origin`.
    pub(crate) fn with_origins(
        table: Table,
        source: Arc<Path>,
        table_origin: &Origin,
        leaf_origin: &dyn Fn(&KeyPath) -> Origin,
    ) -> Self {
        fn origins_of(
            table: &Table,
            prefix: &KeyPath,
            table_origin: &Origin,
            leaf_origin: &dyn Fn(&KeyPath) -> Origin,
        ) -> OriginTable {
            table
                .iter()
                .map(|(k, v)| {
                    let path = prefix.child(k);
                    let node = match v {
                        Value::Table(t) => OriginNode::Table {
                            origin: table_origin.clone(),
                            children: origins_of(t, &path, table_origin, leaf_origin),
                        },
                        _ => OriginNode::Leaf(leaf_origin(&path)),
                    };
                    (k.clone(), node)
                })
                .collect()
        }
        Layer {
            precedence: table_origin.precedence(),
            source: Some(source),
            origins: origins_of(&table, &KeyPath::default(), table_origin, leaf_origin),
            table,
        }
    }

    /// Parses a TOML document read from `path`; every key's origin is the
    /// position of its value in `text`. `snippets` says whether an error may
    /// show the offending line ([`Snippets::Redacted`] for bricks whose files
    /// hold secrets).
    pub fn parse(
        text: &str,
        path: &Path,
        kind: FileKind,
        snippets: Snippets,
    ) -> Result<Self, Error> {
        let source = TextSource::File {
            path: Arc::from(path),
            kind,
        };
        parse::parse(text, source, snippets).and_then(parse::Parsed::into_layer)
    }

    /// Parses the TOML text of an etcd key of the fleet layer (DESIGN.md
    /// §10) by the same rules as a file; every key's origin is
    /// `etcd KEY@REVISION:LINE:COL`.
    pub fn parse_etcd(text: &str, key: EtcdKey, snippets: Snippets) -> Result<Self, Error> {
        parse::parse(text, TextSource::Etcd(Arc::new(key)), snippets)
            .and_then(parse::Parsed::into_layer)
    }

    /// Adds one value at `path`, creating intermediate tables.
    pub(crate) fn insert(&mut self, path: &KeyPath, value: Value, origin: Origin) {
        let Some((last, parents)) = path.segments().split_last() else {
            return;
        };
        let mut table = &mut self.table;
        let mut origins = &mut self.origins;
        for segment in parents {
            let entry = table
                .entry(segment.clone())
                .or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            let node = origins
                .entry(segment.clone())
                .and_modify(|n| {
                    if matches!(n, OriginNode::Leaf(_)) {
                        *n = OriginNode::Table {
                            origin: origin.clone(),
                            children: OriginTable::new(),
                        };
                    }
                })
                .or_insert_with(|| OriginNode::Table {
                    origin: origin.clone(),
                    children: OriginTable::new(),
                });
            let (Value::Table(t), OriginNode::Table { children, .. }) = (entry, node) else {
                unreachable!("both were made tables just above");
            };
            table = t;
            origins = children;
        }
        // A table value (`--set 'b.t={x=1}'`) is a table of the layer, so it
        // merges key by key as the same table in a file would (DESIGN.md §3).
        let node = match &value {
            Value::Table(t) => OriginNode::Table {
                children: origins_of(t, &origin),
                origin,
            },
            _ => OriginNode::Leaf(origin),
        };
        table.insert(last.clone(), value);
        origins.insert(last.clone(), node);
    }

    /// The layer's precedence.
    #[must_use]
    pub fn precedence(&self) -> Precedence {
        self.precedence
    }

    /// The layer's values.
    #[must_use]
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Where each of the layer's values came from.
    #[must_use]
    pub fn origins(&self) -> &OriginTable {
        &self.origins
    }
}
