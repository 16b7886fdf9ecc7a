//! The default files shipped in `etc/conf.d`, embedded in the library so an
//! installed binary, copied anywhere, can seed them, and the record of every
//! version ever shipped, which lets an upgrade tell an untouched default from
//! a user's edit.

use std::collections::{BTreeMap, BTreeSet};

use include_dir::{Dir, include_dir};

static SHIPPED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/etc/conf.d");

/// The hashes of every version of every shipped file, oldest first. Whoever
/// changes a file in `etc/conf.d` appends its new hash here (a unit test
/// fails until they do), and no line is ever removed: a user's file that
/// matches any of them is an unmodified default.
const HISTORY: &str = include_str!("../etc/shipped-history.toml");

/// One shipped default file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShippedFile {
    /// The brick name, which is also the file name.
    pub name: &'static str,
    /// The file's text.
    pub contents: &'static str,
}

impl ShippedFile {
    /// The hash seeding records for this file: blake3 of its bytes, in hex.
    #[must_use]
    pub fn hash(&self) -> String {
        content_hash(self.contents.as_bytes())
    }
}

/// The hash seeding records for file contents: blake3 of the bytes, in hex.
///
/// Bytes, not meaning: like dpkg, a file whose only change is a comment or
/// white space counts as edited, so nothing the user typed is ever replaced.
#[must_use]
pub fn content_hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// One release's set of shipped defaults: the files themselves and, for each,
/// the hashes of every version ever shipped (the current one included).
///
/// [`Shipped::builtin`] is what this build ships. Tests build others with
/// [`Shipped::new`] to present an older or newer release without rebuilding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shipped {
    files: Vec<ShippedFile>,
    history: BTreeMap<String, BTreeSet<String>>,
}

impl Shipped {
    /// The defaults embedded in this build, with the history recorded in
    /// `etc/shipped-history.toml`.
    #[must_use]
    pub fn builtin() -> Self {
        // The history is compiled in and a unit test parses it, so this
        // fallback is unreachable in a tested build; were it reached, an
        // empty history only makes upgrades keep users' files (the safe side).
        let past: BTreeMap<String, Vec<String>> = toml::from_str(HISTORY).unwrap_or_default();
        Shipped::new(shipped_files(), past)
    }

    /// A release shipping `files`, where `past` lists, per file name, the
    /// hashes of earlier versions. Each file's current hash is always part of
    /// its history.
    #[must_use]
    pub fn new<I, H>(files: impl IntoIterator<Item = ShippedFile>, past: I) -> Self
    where
        I: IntoIterator<Item = (String, H)>,
        H: IntoIterator<Item = String>,
    {
        let mut files: Vec<ShippedFile> = files.into_iter().collect();
        files.sort_by_key(|f| f.name);
        files.dedup_by_key(|f| f.name);
        let mut history: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, hashes) in past {
            history.entry(name).or_default().extend(hashes);
        }
        for file in &files {
            history
                .entry(file.name.to_owned())
                .or_default()
                .insert(file.hash());
        }
        Shipped { files, history }
    }

    /// The files, sorted by name.
    #[must_use]
    pub fn files(&self) -> &[ShippedFile] {
        &self.files
    }

    /// Whether `hash` is any version ever shipped of file `name`.
    #[must_use]
    pub fn was_shipped(&self, name: &str, hash: &str) -> bool {
        self.history.get(name).is_some_and(|h| h.contains(hash))
    }

    /// The hashes of every version of file `name` ever shipped.
    #[must_use]
    pub fn history(&self, name: &str) -> Option<&BTreeSet<String>> {
        self.history.get(name)
    }
}

/// Every shipped default file, sorted by name.
#[must_use]
pub fn shipped_files() -> Vec<ShippedFile> {
    let mut files: Vec<ShippedFile> = SHIPPED
        .files()
        .filter_map(|f| {
            Some(ShippedFile {
                name: f.path().file_name()?.to_str()?,
                contents: f.contents_utf8()?,
            })
        })
        .collect();
    files.sort_by_key(|f| f.name);
    files
}

/// The shipped default file of a brick, if there is one.
#[must_use]
pub fn shipped_file(name: &str) -> Option<ShippedFile> {
    shipped_files().into_iter().find(|f| f.name == name)
}

/// Whether a brick's file holds secrets and is created with mode 0600.
#[must_use]
pub fn holds_secrets(name: &str) -> bool {
    crate::bricks::lookup(name).is_some_and(|s| !s.secret_keys().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_parses_and_names_only_shipped_files() -> Result<(), toml::de::Error> {
        let past: BTreeMap<String, Vec<String>> = toml::from_str(HISTORY)?;
        let names: BTreeSet<&str> = shipped_files().iter().map(|f| f.name).collect();
        for (name, hashes) in &past {
            assert!(
                names.contains(name.as_str()),
                "history names `{name}`, which is not shipped"
            );
            for hash in hashes {
                assert!(
                    hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
                    "`{name}`: `{hash}` is not a blake3 hex hash"
                );
            }
        }
        Ok(())
    }

    /// Whoever changes a shipped default must record its hash, or users who
    /// never edited the new version would have it treated as an edit at the
    /// next upgrade after it.
    #[test]
    fn every_current_shipped_file_is_in_the_history() -> Result<(), toml::de::Error> {
        let past: BTreeMap<String, Vec<String>> = toml::from_str(HISTORY)?;
        let missing: Vec<String> = shipped_files()
            .iter()
            .filter(|f| !past.get(f.name).is_some_and(|h| h.contains(&f.hash())))
            .map(|f| format!("{} = [..., \"{}\"]", f.name, f.hash()))
            .collect();
        assert!(
            missing.is_empty(),
            "append these hashes to crates/confd/etc/shipped-history.toml (never remove one):\n{}",
            missing.join("\n")
        );
        Ok(())
    }

    #[test]
    fn builtin_history_knows_every_current_file() {
        let shipped = Shipped::builtin();
        for file in shipped.files() {
            assert!(shipped.was_shipped(file.name, &file.hash()));
        }
        assert!(!shipped.was_shipped("mounts", &content_hash(b"auto_sync = true\n")));
    }
}
