//! A secret value: the marker it is shown as, and the type that keeps it out
//! of `Debug` and `Display`.

use std::fmt;

use serde::{Deserialize, Serialize};
use toml::Value;

/// What secret values are shown as.
pub const REDACTED: &str = "<redacted>";

/// A secret value as it may be shown: an empty one stays visible (there is
/// nothing to hide, and `""` tells the user it is unset).
#[must_use]
pub fn redact(value: &Value) -> Value {
    match value {
        Value::String(s) if s.is_empty() => value.clone(),
        _ => Value::String(REDACTED.to_owned()),
    }
}

/// A secret string: serialized as itself, but never shown by `Debug` or
/// `Display`. Call [`Secret::expose`] where the value is really needed.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no value is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(\"\")")
        } else {
            write!(f, "Secret({REDACTED})")
        }
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "" } else { REDACTED })
    }
}
