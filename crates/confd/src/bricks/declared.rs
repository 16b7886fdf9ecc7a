//! What a brick type declares, worked out once per program: its keys with
//! their marks, its variables, its secret keys and its defaults per profile.

use std::marker::PhantomData;
use std::sync::OnceLock;

use toml::Table;

use super::{Brick, EnvAlias, Schema, Shape, violation_error};
use crate::{BrickConfig, Error, Profile};

/// One declared key of a brick (or a nested table of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyDecl {
    /// The dotted path inside the brick (`tls.verify`).
    pub path: String,
    /// Its documentation (the field's doc comment).
    pub doc: &'static str,
    /// The environment variables that set it, first set wins.
    pub env: &'static [&'static str],
    /// Whether a true variable means `false`.
    pub env_inverted: bool,
    /// Whether its value is never shown.
    pub secret: bool,
    /// Whether the brick applies a change live; any other key needs a
    /// restart.
    pub reload: bool,
    /// Whether this is a nested table rather than a value.
    pub table: bool,
}

/// The type-erased schema of brick type `T`.
pub(super) struct Declared<T> {
    keys: OnceLock<Keys>,
    shape: OnceLock<Shape>,
    defaults: [OnceLock<Table>; Profile::ALL.len()],
    brick: PhantomData<fn() -> T>,
}

/// The keys of a brick, in declaration order, and the views the loader asks
/// for on every load.
struct Keys {
    keys: Vec<KeyDecl>,
    env_aliases: &'static [EnvAlias],
    secret_keys: &'static [&'static str],
    optional_keys: &'static [&'static str],
}

impl<T: Brick> Declared<T> {
    pub(super) const fn new() -> Self {
        Declared {
            keys: OnceLock::new(),
            shape: OnceLock::new(),
            defaults: [const { OnceLock::new() }; Profile::ALL.len()],
            brick: PhantomData,
        }
    }

    fn keys_once(&self) -> &Keys {
        self.keys.get_or_init(|| {
            let mut keys = Vec::new();
            T::declare_keys(&mut keys);
            // A hand-written impl declares nothing: its keys are its
            // defaults' leaves, marked by its constants.
            for (leaf, _) in crate::value::leaves(&self.defaults(Profile::Full)) {
                let path = leaf.to_string();
                // A declared key whose value is a table (a map, an enum with
                // data) holds its entries: they are not keys of their own.
                let under_declared = keys.iter().any(|k| {
                    !k.table
                        && k.path
                            .parse::<crate::KeyPath>()
                            .is_ok_and(|declared| leaf.segments().starts_with(declared.segments()))
                });
                if !under_declared {
                    let alias = T::ENV_ALIASES.iter().find(|a| a.key == path);
                    keys.push(KeyDecl {
                        secret: crate::secret::at_or_under(T::SECRET_KEYS, &leaf),
                        env: alias.map_or(&[], |a| a.vars),
                        env_inverted: alias.is_some_and(|a| a.inverted),
                        path,
                        doc: "",
                        reload: false,
                        table: false,
                    });
                }
            }
            // Leaked once per brick and program (a schema lives as long as
            // the program), so the loader's views are `'static`.
            let leak = |path: &str| -> &'static str { Box::leak(path.into()) };
            let mut env_aliases = T::ENV_ALIASES.to_vec();
            let mut secret_keys = T::SECRET_KEYS.to_vec();
            for key in &keys {
                if !key.env.is_empty() && !env_aliases.iter().any(|a| a.key == key.path) {
                    let alias = EnvAlias::new(key.env, leak(&key.path));
                    env_aliases.push(if key.env_inverted {
                        alias.inverted()
                    } else {
                        alias
                    });
                }
                if key.secret && !secret_keys.contains(&key.path.as_str()) {
                    secret_keys.push(leak(&key.path));
                }
            }
            let full = self.defaults(Profile::Full);
            let optional_keys: Vec<&'static str> = keys
                .iter()
                .filter(|k| {
                    !k.table
                        && k.path
                            .parse::<crate::KeyPath>()
                            .is_ok_and(|path| crate::layer::value_at(&full, &path).is_none())
                })
                .map(|k| leak(&k.path))
                .collect();
            Keys {
                keys,
                env_aliases: Box::leak(env_aliases.into_boxed_slice()),
                secret_keys: Box::leak(secret_keys.into_boxed_slice()),
                optional_keys: Box::leak(optional_keys.into_boxed_slice()),
            }
        })
    }
}

impl<T: Brick> Schema for Declared<T> {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn doc(&self) -> &'static str {
        T::DOC
    }

    fn defaults(&self, profile: Profile) -> Table {
        let index = Profile::ALL.iter().position(|p| *p == profile).unwrap_or(0);
        self.defaults[index]
            .get_or_init(|| {
                // A struct of plain fields always serializes into a table; a
                // brick whose type cannot is a programming error that its
                // first load reports.
                Table::try_from(T::defaults(profile)).unwrap_or_else(|e| {
                    panic!("brick `{}`: its defaults do not serialize: {e}", T::NAME)
                })
            })
            .clone()
    }

    fn keys(&self) -> &[KeyDecl] {
        &self.keys_once().keys
    }

    fn shape(&self) -> Shape {
        self.shape
            .get_or_init(|| Shape::of_type::<T>(&self.defaults(Profile::Full)))
            .clone()
    }

    fn env_aliases(&self) -> &'static [EnvAlias] {
        self.keys_once().env_aliases
    }

    fn secret_keys(&self) -> &'static [&'static str] {
        self.keys_once().secret_keys
    }

    fn optional_keys(&self) -> &'static [&'static str] {
        self.keys_once().optional_keys
    }

    fn shipped_history(&self) -> &'static [&'static str] {
        T::SHIPPED_HISTORY
    }

    fn cache_id(&self) -> Option<&'static str> {
        Some(std::any::type_name::<T>())
    }

    fn check(&self, config: &BrickConfig) -> Result<(), Error> {
        let typed: T = config.deserialize()?;
        typed
            .validate()
            .map_err(|violation| violation_error(T::NAME, config, violation))
    }
}
