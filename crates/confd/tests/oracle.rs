//! Reference walks of a TOML table, written independently of the library's
//! (`confd::layer::value_at`, `confd::value::leaves`) so that the property
//! tests (`properties.rs`) and the fuzz target `layer_merge` check the
//! library against something it does not share. One copy for both: the fuzz
//! target includes this file by `#[path]`.

use toml::{Table, Value};

/// The value at `path` in `table`, through nested tables.
pub fn value_at<'a>(table: &'a Table, path: &[String]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut t = table;
    for segment in parents {
        t = t.get(segment)?.as_table()?;
    }
    t.get(last)
}

/// Every leaf path of a table, in its order (an empty table counts as a leaf).
pub fn leaves(table: &Table) -> Vec<Vec<String>> {
    fn walk(table: &Table, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        for (key, value) in table {
            prefix.push(key.clone());
            match value {
                Value::Table(t) if !t.is_empty() => walk(t, prefix, out),
                _ => out.push(prefix.clone()),
            }
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    walk(table, &mut Vec::new(), &mut out);
    out
}
