//! What a supervisor must do to bring its bricks in line with their
//! configuration, decided by effective-config hashes alone.

use std::collections::{HashMap, HashSet};

use crate::{BrickName, EffectiveHash};

/// What to do with one brick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Wanted but not running: start it.
    Start,
    /// Running with a configuration whose hash differs from the wanted one.
    Restart,
    /// Running but no longer wanted: stop it.
    Stop,
    /// Running with exactly the wanted configuration: leave it alone.
    Keep,
}

impl Action {
    /// The action as a lower-case word: `start`, `restart`, `stop`, `keep`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Restart => "restart",
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

/// Compares the bricks a supervisor wants, with the hash of each one's
/// configuration now, against the hashes it last applied.
///
/// Returns one action per brick: first the `desired` bricks in their order
/// ([`Start`](Action::Start) if never applied, [`Restart`](Action::Restart)
/// if the hash differs, [`Keep`](Action::Keep) if equal), then
/// [`Stop`](Action::Stop) for each applied brick no longer desired, sorted by
/// name. A brick listed twice in `desired` counts once, with its first hash.
///
/// ```
/// use std::collections::HashMap;
/// use confd::{Action, BrickName, EffectiveHash, plan};
///
/// let name = |n: &str| BrickName::new(n).unwrap();
/// let (a, b) = (EffectiveHash::from_bytes([1; 32]), EffectiveHash::from_bytes([2; 32]));
/// let desired = [(name("queue"), a), (name("relay"), b)];
/// let applied = HashMap::from([(name("relay"), a), (name("index"), a)]);
/// assert_eq!(
///     plan(&desired, &applied),
///     [(name("queue"), Action::Start), (name("relay"), Action::Restart), (name("index"), Action::Stop)]
/// );
/// ```
#[must_use]
pub fn plan(
    desired: &[(BrickName, EffectiveHash)],
    applied: &HashMap<BrickName, EffectiveHash>,
) -> Vec<(BrickName, Action)> {
    let mut seen = HashSet::new();
    let mut steps = Vec::with_capacity(desired.len());
    for (brick, hash) in desired {
        if !seen.insert(brick) {
            continue;
        }
        let action = match applied.get(brick) {
            None => Action::Start,
            Some(running) if running == hash => Action::Keep,
            Some(_) => Action::Restart,
        };
        steps.push((brick.clone(), action));
    }
    let mut stops: Vec<&BrickName> = applied.keys().filter(|b| !seen.contains(b)).collect();
    stops.sort();
    steps.extend(stops.into_iter().map(|b| (b.clone(), Action::Stop)));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
