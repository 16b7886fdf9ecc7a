//! dpkg's conffile table, as a pure function of hashes.

use super::SeedAction;

/// What stands at a shipped file's path in `conf.d`: a regular file is
/// known by `T`, its bytes when read, their hash when decided on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found<T> {
    /// Nothing.
    Absent,
    /// A regular file.
    File(T),
    /// A symlink, directory, FIFO…: never touched, even with `--force`.
    Other,
}

impl<T> Found<T> {
    /// The regular file's `T`, if there is one.
    pub(crate) fn file(&self) -> Option<&T> {
        match self {
            Found::File(t) => Some(t),
            _ => None,
        }
    }

    /// The same finding, with the file known by `f` of it.
    pub(crate) fn map<'a, U>(&'a self, f: impl FnOnce(&'a T) -> U) -> Found<U> {
        match self {
            Found::Absent => Found::Absent,
            Found::File(t) => Found::File(f(t)),
            Found::Other => Found::Other,
        }
    }
}

/// What to do with one shipped file.
///
/// `recorded` is the hash the seeding record holds for it (`None`: seeding
/// never wrote it, or the state dir predates records), `current` the hash of
/// this release's default, and `was_shipped` says whether a hash is any
/// version ever shipped.
pub(crate) fn decide(
    found: Found<&str>,
    recorded: Option<&str>,
    current: &str,
    was_shipped: impl Fn(&str) -> bool,
    force: bool,
) -> SeedAction {
    match found {
        Found::Absent if recorded.is_some() && !force => SeedAction::DeletedByUser,
        Found::Absent => SeedAction::Created,
        Found::Other => SeedAction::NotSeeded,
        // Already the new default, whoever put it there.
        Found::File(on_disk) if on_disk == current => SeedAction::Unchanged,
        Found::File(on_disk) => match recorded {
            // The default has not changed since it was last given: whatever
            // the user did to the file is theirs, as in dpkg.
            Some(seeded) if seeded == current && !force => SeedAction::Unchanged,
            // Byte for byte a shipped default: nothing of the user's to lose.
            // This includes a file from before records existed (`None`).
            _ if was_shipped(on_disk) => SeedAction::Upgraded,
            _ if force => SeedAction::Forced,
            Some(_) => SeedAction::Kept,
            None => SeedAction::NotSeeded,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SeedAction::*;

    const V1: &str = "v1";
    const V2: &str = "v2";
    const EDIT: &str = "edited";

    fn shipped(hash: &str) -> bool {
        hash == V1 || hash == V2
    }

    /// The whole table: (found, recorded, force) → action, with V2 current.
    #[test]
    fn dpkg_table() {
        let cases: &[(Found<&str>, Option<&str>, bool, SeedAction)] = &[
            (Found::Absent, None, false, Created),
            (Found::Absent, Some(V1), false, DeletedByUser),
            (Found::Absent, Some(V1), true, Created),
            (Found::Other, None, false, NotSeeded),
            (Found::Other, Some(V1), true, NotSeeded),
            (Found::File(V2), Some(V2), false, Unchanged),
            (Found::File(V2), Some(V1), false, Unchanged),
            (Found::File(V2), None, false, Unchanged),
            (Found::File(V2), Some(V1), true, Unchanged),
            // Default unchanged since seeding, user edited: theirs.
            (Found::File(EDIT), Some(V2), false, Unchanged),
            (Found::File(V1), Some(V2), false, Unchanged),
            (Found::File(EDIT), Some(V2), true, Forced),
            // Default changed, file is a shipped version: upgrade.
            (Found::File(V1), Some(V1), false, Upgraded),
            (Found::File(V1), Some("v0"), false, Upgraded),
            (Found::File(V1), None, false, Upgraded),
            (Found::File(V1), Some(V1), true, Upgraded),
            // Default changed, file edited: keep theirs, offer NAME.new.
            (Found::File(EDIT), Some(V1), false, Kept),
            (Found::File(EDIT), Some(V1), true, Forced),
            // Not written by seeding.
            (Found::File(EDIT), None, false, NotSeeded),
            (Found::File(EDIT), None, true, Forced),
        ];
        for &(found, recorded, force, expected) in cases {
            assert_eq!(
                decide(found, recorded, V2, shipped, force),
                expected,
                "{found:?} recorded {recorded:?} force {force}"
            );
        }
    }
}
