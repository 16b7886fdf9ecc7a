//! The one merge rule of DESIGN.md §3: a table stacked on a table merges key
//! by key, recursively; any other value (arrays included) replaces the lower
//! one whole, with its origin.

use toml::{Table, Value};

use super::{OriginNode, OriginTable};

/// Stacks a copy of `src` (with its origins) on top of `dst`. The upper
/// layer is kept for `explain`, so its values are cloned once, straight into
/// place.
pub(super) fn merge(
    dst: &mut Table,
    dst_origins: &mut OriginTable,
    src: &Table,
    src_origins: &OriginTable,
) {
    for (key, value) in src {
        let Some(origin) = src_origins.get(key) else {
            continue;
        };
        match (dst.get_mut(key), value, dst_origins.get_mut(key), origin) {
            (
                Some(Value::Table(lower)),
                Value::Table(upper),
                Some(OriginNode::Table {
                    origin: lower_origin,
                    children: lower_children,
                }),
                OriginNode::Table { origin, children },
            ) => {
                lower_origin.clone_from(origin);
                merge(lower, lower_children, upper, children);
            }
            (Some(slot), _, Some(origin_slot), _) => {
                *slot = value.clone();
                *origin_slot = origin.clone();
            }
            _ => {
                dst.insert(key.clone(), value.clone());
                dst_origins.insert(key.clone(), origin.clone());
            }
        }
    }
}
