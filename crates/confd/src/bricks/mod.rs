//! Bricks: a Rust type per brick that declares its keys, their defaults per
//! profile, deprecated environment variables, secret and reload marks and
//! rules across keys (DESIGN.md §9), and the registry of every brick linked
//! into the program.
//!
//! A brick declares itself with `#[derive(confd::Brick)]`, nested tables with
//! `#[derive(confd::Section)]`; a hand-written `impl Brick` works too, and
//! [`register_brick!`](crate::register_brick) registers it.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Profile;

mod declared;
mod registry;
mod schema;

/// The secret string type, at home in [`crate::secret`].
pub use crate::secret::Secret;
pub use declared::KeyDecl;
pub use registry::{Registration, lookup, registered, schema_of};
pub use schema::Schema;
pub(crate) use schema::violation_error;

/// A deprecated environment variable that still sets a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnvAlias {
    /// The variables, in order of preference: the first one set wins
    /// (`NEXUS_QUEUE_URL`, then `QUEUE_URL`).
    pub vars: &'static [&'static str],
    /// The key it sets, as a dotted path inside the brick.
    pub key: &'static str,
    /// Whether a true value means `false` (`NEXUS_DISABLE_PREFETCH`
    /// sets `enable_prefetch`).
    pub inverted: bool,
}

impl EnvAlias {
    /// An alias read from `vars` (first set wins) into `key`.
    #[must_use]
    pub const fn new(vars: &'static [&'static str], key: &'static str) -> Self {
        EnvAlias {
            vars,
            key,
            inverted: false,
        }
    }

    /// The same alias with its boolean meaning inverted.
    #[must_use]
    pub const fn inverted(self) -> Self {
        EnvAlias {
            inverted: true,
            ..self
        }
    }
}

/// A rule across keys that a configuration breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule, with the values involved (never a secret).
    pub message: String,
    /// The keys involved, so the error can say where each value came from.
    pub keys: Vec<&'static str>,
}

/// A brick with a schema: its configuration type.
///
/// `#[derive(confd::Brick)]` writes this impl from the declaration; by hand,
/// the type's `Serialize` form for a profile's defaults is the schema (it
/// lists every key and its TOML type) and the constants say the rest.
pub trait Brick: Serialize + DeserializeOwned + 'static {
    /// The brick's name, which is also its file name in `conf.d`.
    const NAME: &'static str;
    /// What the brick is for (the derive takes the struct's doc comment).
    const DOC: &'static str = "";
    /// Deprecated environment variables, for a hand-written impl (the derive
    /// declares them per key with `env`).
    const ENV_ALIASES: &'static [EnvAlias] = &[];
    /// Keys whose values are never printed in full, for a hand-written impl
    /// (the derive marks them per key with `secret` or the type [`Secret`]).
    const SECRET_KEYS: &'static [&'static str] = &[];
    /// The content hashes (blake3, hex) of every default file shipped for
    /// this brick before the current one, so an upgrade recognises an
    /// untouched old default (DESIGN.md §5).
    const SHIPPED_HISTORY: &'static [&'static str] = &[];

    /// The built-in defaults for a profile.
    fn defaults(profile: Profile) -> Self;

    /// Rules across keys, checked after the layers are merged.
    fn validate(&self) -> Result<(), Violation> {
        Ok(())
    }

    /// The keys as declared: documentation, variables, secret and reload
    /// marks, nested tables. A hand-written impl may leave this out: its keys
    /// are then those of its defaults, with the constants above.
    fn declare_keys(keys: &mut Vec<KeyDecl>) {
        let _ = keys;
    }
}

/// A nested table of a brick (`#[derive(confd::Section)]`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a nested table of the brick",
    label = "this field has no `#[brick(default = …)]`",
    note = "give the key a default, or derive `confd::Section` for `{Self}` if it is a nested table"
)]
pub trait Section: Serialize + DeserializeOwned {
    /// The table's defaults for a profile.
    fn defaults(profile: Profile) -> Self;
    /// Its keys, each path under `prefix` (the table's own path).
    fn declare_keys(prefix: &str, keys: &mut Vec<KeyDecl>);
}

/// What the derive's generated code calls; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use inventory;

    /// A `default = EXPR` converted into the field's type through serde, so
    /// `"auto"` becomes an enum and `["a"]` a `Vec<String>`.
    ///
    /// # Panics
    /// When the value does not convert: a mistake in the declaration, found
    /// by the first load (and so by the brick's own tests).
    pub fn convert_default<T: serde::de::DeserializeOwned, V: serde::Serialize + ?Sized>(
        value: &V,
        brick: &str,
        key: &str,
    ) -> T {
        toml::Value::try_from(value)
            .map_err(|e| e.to_string())
            .and_then(|v| v.try_into::<T>().map_err(|e| e.to_string()))
            .unwrap_or_else(|e| {
                panic!("brick `{brick}`: the default of `{key}` does not fit its type: {e}")
            })
    }

    /// `prefix.key`, or `key` at the top, as a key path is written (a key
    /// that is not bare, `"api.key"`, quoted), so it parses back to the
    /// same segments.
    #[must_use]
    pub fn key_path(prefix: &str, key: &str) -> String {
        let parent: crate::KeyPath = prefix.parse().unwrap_or_default();
        parent.child(key).to_string()
    }
}
