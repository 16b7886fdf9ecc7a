//! The keys that differ between two effective configurations of a brick.

use std::collections::BTreeMap;
use std::fmt;

use toml::{Table, Value};

use crate::hash::same_value;
use crate::layer::{OriginNode, OriginTable};
use crate::{BrickConfig, KeyPath, Origin, secret::redact};

/// One value of a key and where it came from.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Setting {
    /// The value, secrets included: redact with [`redact`] before printing
    /// when [`Change::secret`] is set.
    pub value: Value,
    /// Where the value came from.
    pub origin: Origin,
}

/// A key whose effective value differs between two loads of a brick.
///
/// Keys are leaves: a value that is not a table (arrays are leaves, since
/// they replace whole) or an empty table. `Debug` and `Display` redact secret
/// values.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Change {
    /// The key inside the brick.
    pub key: KeyPath,
    /// The value before, or `None` if the key was not set.
    pub old: Option<Setting>,
    /// The value now, or `None` if the key is no longer set.
    pub new: Option<Setting>,
    /// Whether the key is secret: its values must not be printed as they are.
    pub secret: bool,
    /// Whether the brick declares the key `reload`: it applies the change
    /// live. A change of any other key needs a restart.
    pub reload: bool,
}

impl Change {
    fn shown(&self, setting: Option<&Setting>) -> String {
        match setting {
            None => "(unset)".to_owned(),
            Some(s) if self.secret => redact(&s.value).to_string(),
            Some(s) => s.value.to_string(),
        }
    }
}

impl fmt::Display for Change {
    /// `key: old -> new (origin of new)`, secrets redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} -> {}",
            self.key,
            self.shown(self.old.as_ref()),
            self.shown(self.new.as_ref())
        )?;
        match (&self.new, &self.old) {
            (Some(new), _) => write!(f, " ({})", new.origin),
            (None, Some(old)) => write!(f, " (was {})", old.origin),
            (None, None) => Ok(()),
        }
    }
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |s: &Option<Setting>| {
            s.as_ref().map(|s| {
                let value = if self.secret {
                    redact(&s.value)
                } else {
                    s.value.clone()
                };
                (value, s.origin.to_string())
            })
        };
        f.debug_struct("Change")
            .field("key", &self.key.to_string())
            .field("old", &side(&self.old))
            .field("new", &side(&self.new))
            .field("secret", &self.secret)
            .field("reload", &self.reload)
            .finish()
    }
}

/// Every leaf of a configuration with its origin, by key path.
fn leaves(config: &BrickConfig) -> BTreeMap<KeyPath, Setting> {
    fn walk(
        table: &Table,
        origins: &OriginTable,
        prefix: &KeyPath,
        out: &mut BTreeMap<KeyPath, Setting>,
    ) {
        for (key, value) in table {
            let path = prefix.child(key);
            let Some(node) = origins.get(key) else {
                continue;
            };
            match (value, node) {
                (Value::Table(inner), OriginNode::Table { children, .. }) if !inner.is_empty() => {
                    walk(inner, children, &path, out);
                }
                (value, node) => {
                    out.insert(
                        path,
                        Setting {
                            value: value.clone(),
                            origin: node.origin().clone(),
                        },
                    );
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(
        config.table(),
        config.origins(),
        &KeyPath::default(),
        &mut out,
    );
    out
}

/// The keys whose values differ from `old` (nothing, for a first load) to
/// `new`, sorted by key. A value that only moved to another layer or line is
/// not a change.
pub(crate) fn diff(old: Option<&BrickConfig>, new: &BrickConfig) -> Vec<Change> {
    let mut before = old.map(leaves).unwrap_or_default();
    let after = leaves(new);
    let mut changes = Vec::new();
    for (key, now) in after {
        let was = before.remove(&key);
        if was
            .as_ref()
            .is_some_and(|w| same_value(&w.value, &now.value))
        {
            continue;
        }
        changes.push(Change {
            secret: new.is_secret(&key),
            reload: new.is_reload(&key),
            key,
            old: was,
            new: Some(now),
        });
    }
    for (key, was) in before {
        changes.push(Change {
            secret: old.is_some_and(|o| o.is_secret(&key)) || new.is_secret(&key),
            // A key gone is applied live only if both sides say so.
            reload: new.is_reload(&key) && old.is_some_and(|o| o.is_reload(&key)),
            key,
            old: Some(was),
            new: None,
        });
    }
    changes.sort_by(|a, b| a.key.cmp(&b.key));
    changes
}
