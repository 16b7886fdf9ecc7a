//! The seeding record, `$STATE/var/lib/confd/seeded.toml`: for each conf.d
//! file seeding wrote, the hash of the shipped default it was last given.
//!
//! It lives outside `etc` because `etc` is scanned for configuration and
//! mounted read-only in the VFS; the record is bookkeeping, not configuration.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SeedError;

/// The record format this code reads and writes.
const FORMAT: u32 = 1;

const HEADER: &str = "\
# Written by `nexus config init`; do not edit.
# For each file in etc/conf.d that seeding wrote: the blake3 hash of the
# shipped default it was last given. `init` compares it with the shipped
# defaults to tell an untouched file (upgraded) from an edited one (kept).
";

/// What seeding remembers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    format: u32,
    /// By file name.
    #[serde(default)]
    files: BTreeMap<String, Entry>,
}

/// What seeding remembers about one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    /// The hash of the shipped default last given to the file (seeded,
    /// upgraded to, or offered as `NAME.new`).
    seeded: String,
}

impl Default for Record {
    fn default() -> Self {
        Record {
            format: FORMAT,
            files: BTreeMap::new(),
        }
    }
}

impl Record {
    /// Reads the record at `path`; a missing record is an empty one (nothing
    /// seeded yet, or a state dir from before records existed).
    pub(crate) fn load(path: &Path) -> Result<Self, SeedError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Record::default()),
            Err(e) => return Err(super::io_err(path)(e)),
        };
        Self::parse(&text).map_err(|message| SeedError::Record {
            path: path.to_owned(),
            message,
        })
    }

    fn parse(text: &str) -> Result<Self, String> {
        let record: Record = toml::from_str(text).map_err(|e| e.to_string())?;
        if record.format != FORMAT {
            return Err(format!(
                "format {} is not {FORMAT}: written by another version of confd",
                record.format
            ));
        }
        Ok(record)
    }

    /// The record as its file holds it.
    pub(crate) fn to_text(&self) -> String {
        // Serializing a struct of strings and integers cannot fail.
        format!("{HEADER}{}", toml::to_string(self).unwrap_or_default())
    }

    /// The hash last seeded into file `name`, if seeding ever wrote it.
    pub(crate) fn seeded(&self, name: &str) -> Option<&str> {
        self.files.get(name).map(|e| e.seeded.as_str())
    }

    /// Remembers that file `name` was given the default with `hash`.
    pub(crate) fn set_seeded(&mut self, name: &str, hash: String) {
        self.files.insert(name.to_owned(), Entry { seeded: hash });
    }

    /// The names of every file in the record.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_formats() -> Result<(), String> {
        let mut record = Record::default();
        record.set_seeded("relay", "ab".repeat(32));
        let text = record.to_text();
        assert!(text.starts_with("# Written by"));
        assert_eq!(Record::parse(&text)?, record);
        assert_eq!(
            Record::parse(&text)?.seeded("relay"),
            Some("ab".repeat(32).as_str())
        );
        assert!(Record::parse("format = 2\n").is_err());
        assert!(Record::parse("files = 3\n").is_err());
        Ok(())
    }
}
