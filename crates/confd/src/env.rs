//! The one seam to the process environment. Everything else receives an
//! [`Env`], so tests pass a map and never mutate the process environment
//! (clippy.toml forbids `std::env::var` elsewhere).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

/// An environment variable confd reads is not valid UTF-8.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("environment variable `{var}` is not valid UTF-8")]
pub struct EnvNotUtf8 {
    /// The variable.
    pub var: String,
}

/// The environment a load reads: the process's, or a map given by the caller.
#[derive(Clone, Debug, Default)]
pub(crate) enum Env {
    /// `std::env`, read variable by variable.
    #[default]
    Process,
    /// A fixed set of variables that replaces the process environment.
    Map(HashMap<String, String>),
}

impl Env {
    /// The value of `var`. Unset and empty are the same: `VAR= cmd` turns a
    /// variable off, as the original Python loader's `os.environ.get(...) or`
    /// did, so an empty `NEXUS_QUEUE_URL` falls back to `QUEUE_URL`.
    pub(crate) fn get(&self, var: &str) -> Result<Option<String>, EnvNotUtf8> {
        let value = match self {
            #[allow(clippy::disallowed_methods)]
            Env::Process => match std::env::var(var) {
                Ok(v) => Some(v),
                Err(std::env::VarError::NotPresent) => None,
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(EnvNotUtf8 {
                        var: var.to_owned(),
                    });
                }
            },
            Env::Map(map) => map.get(var).cloned(),
        };
        Ok(value.filter(|v| !v.is_empty()))
    }
}

/// Whether this process has not yet warned about `var`; marks it warned.
pub(crate) fn first_warning_for(var: &str) -> bool {
    static WARNED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut warned = WARNED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Asked on every load that reads `var`: only the first allocates.
    !warned.contains(var) && warned.insert(var.to_owned())
}
