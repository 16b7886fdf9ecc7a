//! A kept layer seen whole again, for `explain` and `BrickConfig::layers`:
//! what the merged tree displaced from it, with the values the merged tree
//! holds whose origins name it.

use toml::{Table, Value};

use super::merge::Kept;
use super::{Layer, OriginNode, OriginTable, origin_at, value_at};
use crate::{KeyPath, Origin};

impl Kept {
    /// The layer as it was parsed.
    pub(crate) fn whole(&self, merged: &Table, merged_origins: &OriginTable) -> Layer {
        match self {
            Kept::Shared(layer) => Layer::clone(layer),
            Kept::Own(layer) => {
                let (table, origins) = layer.view(
                    Some((&layer.table, &layer.origins)),
                    Some((merged, merged_origins)),
                );
                Layer {
                    precedence: layer.precedence,
                    source: layer.source.clone(),
                    table,
                    origins,
                }
            }
        }
    }

    /// This layer's value at `key` and its origin, if it sets `key`.
    pub(crate) fn at(
        &self,
        key: &KeyPath,
        merged: &Table,
        merged_origins: &OriginTable,
    ) -> Option<(Value, Origin)> {
        let layer = match self {
            Kept::Shared(layer) => {
                let value = value_at(layer.table(), key)?;
                let origin = origin_at(layer.origins(), key)?.origin();
                return Some((value.clone(), origin.clone()));
            }
            Kept::Own(layer) => layer,
        };
        let in_merged = || Some((value_at(merged, key)?, origin_at(merged_origins, key)?));
        if let Some(node) = origin_at(&layer.origins, key) {
            let value = value_at(&layer.table, key)?;
            return Some(match (node, value) {
                (OriginNode::Table { origin, children }, Value::Table(table)) => {
                    let merged = in_merged().and_then(|(value, node)| tables(value, node));
                    let (table, _) = layer.view(Some((table, children)), merged);
                    (Value::Table(table), origin.clone())
                }
                (node, value) => (value.clone(), node.origin().clone()),
            });
        }
        let (value, node) = in_merged()?;
        if !layer.owns(node.origin()) {
            return None;
        }
        Some(match tables(value, node) {
            Some(merged) => (
                Value::Table(layer.view(None, Some(merged)).0),
                node.origin().clone(),
            ),
            None => (value.clone(), node.origin().clone()),
        })
    }
}

/// A table and its origins, if `value` is one.
fn tables<'a>(value: &'a Value, node: &'a OriginNode) -> Option<(&'a Table, &'a OriginTable)> {
    match (value, node) {
        (Value::Table(table), OriginNode::Table { children, .. }) => Some((table, children)),
        _ => None,
    }
}

impl Layer {
    /// This layer's part of one table: its `kept` entries (displaced from
    /// the merged tree) and the entries of the `merged` table whose origins
    /// name it. A table this layer declared where a higher one declared it
    /// too is among the kept ones (its declaration was displaced), so a
    /// merged table that names another layer holds nothing of this one.
    fn view(
        &self,
        kept: Option<(&Table, &OriginTable)>,
        merged: Option<(&Table, &OriginTable)>,
    ) -> (Table, OriginTable) {
        let (mut table, mut origins) = (Table::new(), OriginTable::new());
        let merged_child = |key: &str| {
            let (values, nodes) = merged?;
            Some((values.get(key)?, nodes.get(key)?))
        };
        if let Some((values, nodes)) = kept {
            for (key, node) in nodes {
                let Some(value) = values.get(key) else {
                    continue;
                };
                let (value, node) = match (value, node) {
                    (Value::Table(inner), OriginNode::Table { origin, children }) => {
                        let merged = merged_child(key).and_then(|(v, n)| tables(v, n));
                        let (inner, children) = self.view(Some((inner, children)), merged);
                        (
                            Value::Table(inner),
                            OriginNode::Table {
                                origin: origin.clone(),
                                children,
                            },
                        )
                    }
                    _ => (value.clone(), node.clone()),
                };
                table.insert(key.clone(), value);
                origins.insert(key.clone(), node);
            }
        }
        if let Some((values, nodes)) = merged {
            for (key, node) in nodes {
                let Some(value) = values.get(key) else {
                    continue;
                };
                if origins.contains_key(key) || !self.owns(node.origin()) {
                    continue;
                }
                let (value, node) = match tables(value, node) {
                    Some(inner) => {
                        let (inner, children) = self.view(None, Some(inner));
                        (
                            Value::Table(inner),
                            OriginNode::Table {
                                origin: node.origin().clone(),
                                children,
                            },
                        )
                    }
                    None => (value.clone(), node.clone()),
                };
                table.insert(key.clone(), value);
                origins.insert(key.clone(), node);
            }
        }
        (table, origins)
    }
}
