//! What a supervisor must do to bring its bricks in line with their
//! configuration, decided by configuration hashes alone.

use std::collections::{HashMap, HashSet};

use crate::{BrickName, hash::ConfigHashes};

/// What to do with one brick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Wanted but not running: start it.
    Start,
    /// Running with a configuration that differs from the wanted one in a
    /// key the brick reads only at start: restart it.
    Restart,
    /// Running with a configuration that differs from the wanted one only in
    /// keys the brick declares `reload`: let it apply them live.
    Reload,
    /// Running but no longer wanted: stop it.
    Stop,
    /// Running with exactly the wanted configuration: leave it alone.
    Keep,
}

impl Action {
    /// The action as a lower-case word: `start`, `restart`, `reload`,
    /// `stop`, `keep`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Restart => "restart",
            Action::Reload => "reload",
            Action::Stop => "stop",
            Action::Keep => "keep",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares the bricks a supervisor wants, with the hashes of each one's
/// configuration now, against the hashes it last applied.
///
/// Returns one action per brick: first the `desired` bricks in their order
/// ([`Start`](Action::Start) if never applied, [`Keep`](Action::Keep) if the
/// effective hashes are equal, [`Reload`](Action::Reload) if only they differ
/// (the restart hashes are equal: only `reload` keys changed),
/// [`Restart`](Action::Restart) otherwise), then [`Stop`](Action::Stop) for
/// each applied brick no longer desired, sorted by name. A brick listed twice
/// in `desired` counts once, with its first hashes.
///
/// The hashes are [`ConfigHashes`] ([`BrickConfig::hashes`](crate::BrickConfig::hashes),
/// [`BrickSetWatch::config_hashes`](crate::watch::BrickSetWatch::config_hashes)), or
/// plain [`EffectiveHash`](crate::EffectiveHash)es as before the split, which
/// know no reload: every change of one is a `Restart`. A plain hash recorded
/// before the split and compared with both hashes now stands for both: it
/// never equals the restart hash of a configuration whose `reload` keys have
/// values (the restart hash leaves them out), so such a change is a
/// `Restart`, the safe side, until the supervisor records both.
///
/// ```
/// use std::collections::HashMap;
/// use confd::{watch::Action, BrickName, hash::ConfigHashes, EffectiveHash, watch::plan};
///
/// let name = |n: &str| BrickName::new(n).unwrap();
/// let h = |byte| EffectiveHash::from_bytes([byte; 32]);
/// let both = |effective, restart| ConfigHashes { effective: h(effective), restart: h(restart) };
/// let desired = [(name("queue"), both(1, 1)), (name("relay"), both(2, 2)), (name("store"), both(3, 9))];
/// let applied = HashMap::from([
///     (name("relay"), both(1, 1)), // a key read at start changed
///     (name("store"), both(4, 9)), // only `reload` keys changed
///     (name("index"), both(1, 1)),
/// ]);
/// assert_eq!(
///     plan(&desired, &applied),
///     [
///         (name("queue"), Action::Start),
///         (name("relay"), Action::Restart),
///         (name("store"), Action::Reload),
///         (name("index"), Action::Stop),
///     ]
/// );
/// ```
#[must_use]
pub fn plan<H>(
    desired: &[(BrickName, H)],
    applied: &HashMap<BrickName, H>,
) -> Vec<(BrickName, Action)>
where
    H: Copy + Into<ConfigHashes>,
{
    let mut seen = HashSet::new();
    let mut steps = Vec::with_capacity(desired.len());
    for (brick, wanted) in desired {
        if !seen.insert(brick) {
            continue;
        }
        let action = match applied.get(brick) {
            None => Action::Start,
            Some(running) => step((*running).into(), (*wanted).into()),
        };
        steps.push((brick.clone(), action));
    }
    let mut stops: Vec<&BrickName> = applied.keys().filter(|b| !seen.contains(b)).collect();
    stops.sort();
    steps.extend(stops.into_iter().map(|b| (b.clone(), Action::Stop)));
    steps
}

/// What a running brick needs to go from `running` to `wanted`.
fn step(running: ConfigHashes, wanted: ConfigHashes) -> Action {
    if running.effective == wanted.effective {
        Action::Keep
    } else if running.restart == wanted.restart {
        Action::Reload
    } else {
        Action::Restart
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EffectiveHash;

    fn name(n: &str) -> BrickName {
        BrickName::new(n).expect("valid name")
    }

    fn h(byte: u8) -> EffectiveHash {
        EffectiveHash::from_bytes([byte; 32])
    }

    #[test]
    fn each_of_the_four_outcomes() {
        let desired = [
            (name("new"), h(1)),
            (name("changed"), h(2)),
            (name("same"), h(3)),
        ];
        let applied = HashMap::from([
            (name("changed"), h(9)),
            (name("same"), h(3)),
            (name("zgone"), h(4)),
            (name("gone"), h(5)),
        ]);
        assert_eq!(
            plan(&desired, &applied),
            [
                (name("new"), Action::Start),
                (name("changed"), Action::Restart),
                (name("same"), Action::Keep),
                (name("gone"), Action::Stop),
                (name("zgone"), Action::Stop),
            ]
        );
    }

    #[test]
    fn nothing_applied_starts_everything_and_nothing_desired_stops_everything() {
        let desired = [(name("a"), h(1))];
        assert_eq!(
            plan(&desired, &HashMap::new()),
            [(name("a"), Action::Start)]
        );
        let applied = HashMap::from([(name("a"), h(1))]);
        assert_eq!(plan(&[], &applied), [(name("a"), Action::Stop)]);
    }

    #[test]
    fn a_brick_listed_twice_counts_once() {
        let desired = [(name("a"), h(1)), (name("a"), h(2))];
        let applied = HashMap::from([(name("a"), h(1))]);
        assert_eq!(plan(&desired, &applied), [(name("a"), Action::Keep)]);
    }

    fn both(effective: u8, restart: u8) -> ConfigHashes {
        ConfigHashes {
            effective: h(effective),
            restart: h(restart),
        }
    }

    #[test]
    fn a_change_only_in_reload_keys_is_a_reload() {
        let desired = [
            (name("live"), both(2, 7)),
            (name("cold"), both(3, 8)),
            (name("same"), both(4, 9)),
        ];
        let applied = HashMap::from([
            (name("live"), both(1, 7)),
            (name("cold"), both(1, 7)),
            (name("same"), both(4, 9)),
        ]);
        assert_eq!(
            plan(&desired, &applied),
            [
                (name("live"), Action::Reload),
                (name("cold"), Action::Restart),
                (name("same"), Action::Keep),
            ]
        );
    }

    #[test]
    fn a_plain_effective_hash_knows_no_reload() {
        // Before the split a supervisor had one hash: any change restarts.
        let desired = [(name("a"), h(2))];
        let applied = HashMap::from([(name("a"), h(1))]);
        assert_eq!(plan(&desired, &applied), [(name("a"), Action::Restart)]);
        // One recorded that way, against both hashes now: equal effective
        // hashes keep, and a different one restarts.
        assert_eq!(step(ConfigHashes::from(h(1)), both(1, 5)), Action::Keep);
        assert_eq!(step(ConfigHashes::from(h(1)), both(2, 5)), Action::Restart);
    }

    #[test]
    fn the_actions_read_as_words() {
        let words: Vec<&str> = [
            Action::Start,
            Action::Restart,
            Action::Reload,
            Action::Stop,
            Action::Keep,
        ]
        .map(Action::as_str)
        .to_vec();
        assert_eq!(words, ["start", "restart", "reload", "stop", "keep"]);
    }
}
