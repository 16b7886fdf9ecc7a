//! What a watch reports: a brick reloaded, or invalid, one line each.

use std::fmt;
use std::sync::Arc;

use super::Change;
use crate::{BrickConfig, BrickName, EffectiveHash, Error};

/// What happened to a watched brick's configuration.
#[derive(Debug)]
#[non_exhaustive]
pub enum WatchEvent {
    /// A new effective configuration is in force.
    Reloaded(Reloaded),
    /// The files no longer load; the last good configuration stays in force.
    Invalid(Invalid),
}

/// A new effective configuration, now served by `current()`.
#[derive(Debug)]
#[non_exhaustive]
pub struct Reloaded {
    /// The brick.
    pub brick: BrickName,
    /// The configuration now in force (the same `Arc` `current()` returns).
    pub config: Arc<BrickConfig>,
    /// The keys whose values changed, sorted; empty when the brick recovers
    /// from [`Invalid`] to a configuration equal to the last good one.
    pub changes: Vec<Change>,
    /// The hash of `config`.
    pub hash: EffectiveHash,
    /// The hash of the configuration it replaces; `None` if the brick had
    /// none (it was invalid since the watch started).
    pub previous: Option<EffectiveHash>,
    /// Whether the brick must restart to apply it: a key it does not declare
    /// `reload` changed, or it had no configuration before. `false` when
    /// only `reload` keys changed (the brick applies them live) or nothing
    /// did (valid again, unchanged). [`plan`](crate::watch::plan) decides the same
    /// from [`BrickConfig::hashes`].
    pub restart: bool,
}

/// A failed reload.
#[derive(Debug)]
#[non_exhaustive]
pub struct Invalid {
    /// The brick.
    pub brick: BrickName,
    /// Why the configuration does not load, naming file, line and key.
    pub error: Error,
    /// The hash of the last good configuration, still in force; `None` if
    /// the brick has never loaded since the watch started.
    pub serving: Option<EffectiveHash>,
}

impl WatchEvent {
    /// The brick the event is about.
    #[must_use]
    pub fn brick(&self) -> &BrickName {
        match self {
            WatchEvent::Reloaded(r) => &r.brick,
            WatchEvent::Invalid(i) => &i.brick,
        }
    }
}

impl WatchEvent {
    /// The event as its `Display` line, but with secret values shown (for
    /// `--show-secrets`).
    #[must_use]
    pub fn showing_secrets(&self) -> impl fmt::Display + '_ {
        EventLine {
            event: self,
            secrets: true,
        }
    }
}

impl fmt::Display for WatchEvent {
    /// One line per event for logs, secrets redacted; an error's snippet is
    /// left out (each problem's first line is kept). A reload says
    /// `(restart)` when the brick must restart to apply it, `(live)` when
    /// only `reload` keys changed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        EventLine {
            event: self,
            secrets: false,
        }
        .fmt(f)
    }
}

/// An event's line, with or without its secret values.
struct EventLine<'a> {
    event: &'a WatchEvent,
    secrets: bool,
}

/// `hash` as a brick's lines may show it: not at all for a brick that holds
/// secrets, unless secrets are shown. The hash covers the secrets' values,
/// so anyone could confirm a guessed password by hashing a configuration of
/// their own with it.
#[must_use]
pub fn shown_hash<'h>(
    brick: &BrickName,
    hash: &'h EffectiveHash,
    show_secrets: bool,
) -> Option<&'h EffectiveHash> {
    (show_secrets || !crate::shipped::holds_secrets(brick.as_str())).then_some(hash)
}

impl fmt::Display for EventLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |brick, hash| {
            shown_hash(brick, hash, self.secrets)
                .map_or_else(|| crate::secret::REDACTED.to_owned(), EffectiveHash::short)
        };
        match self.event {
            WatchEvent::Reloaded(r) => {
                write!(f, "reloaded {} {}", r.brick, short(&r.brick, &r.hash))?;
                if r.changes.is_empty() {
                    return f.write_str(": valid again, unchanged");
                }
                // What the brick needs to apply it, where an operator reads
                // first: only a `reload` key changed, or something else.
                f.write_str(if r.restart { " (restart)" } else { " (live)" })?;
                for (i, change) in r.changes.iter().enumerate() {
                    f.write_str(if i == 0 { ": " } else { "; " })?;
                    if self.secrets && change.secret {
                        let mut shown = change.clone();
                        shown.secret = false;
                        write!(f, "{shown}")?;
                    } else {
                        write!(f, "{change}")?;
                    }
                }
                Ok(())
            }
            WatchEvent::Invalid(i) => {
                let serving = i
                    .serving
                    .as_ref()
                    .map_or("nothing".to_owned(), |h| short(&i.brick, h));
                write!(f, "invalid {} (serving {serving}): ", i.brick)?;
                for (n, problem) in i.error.problems().iter().enumerate() {
                    let text = problem.to_string();
                    let first = text.lines().next().unwrap_or_default();
                    f.write_str(if n == 0 { "" } else { "; " })?;
                    f.write_str(first)?;
                }
                Ok(())
            }
        }
    }
}
