//! The effective-config hash: one value that changes if and only if a brick's
//! merged configuration changes.
//!
//! A supervisor records the hash of the configuration a brick was started
//! with and compares it later (see [`plan`](crate::watch::plan)) to learn whether the
//! brick must restart. For that the hash covers the merged *values* only:
//!
//! - not origins, so moving `sync_on_start = true` from the main file to a drop-in
//!   changes nothing;
//! - not text, so comments, whitespace, key order, quoting styles and dotted
//!   versus `[table]` spelling change nothing;
//! - but every value's type, so `1`, `1.0` and `"1"` all differ.
//!
//! # Encoding (version 1, stable)
//!
//! The hash is BLAKE3 over a prefix, `confd effective-config v1` and a NUL
//! byte, then the merged table encoded as follows, all integers as unsigned or
//! two's-complement 64-bit little-endian, so the result is the same in every
//! process, on every platform and with any `toml` map ordering:
//!
//! | value | encoding |
//! |---|---|
//! | table | `T`, entry count, then per entry sorted byte-wise by key: key as string, value |
//! | string | `s`, then the string: byte length, UTF-8 bytes |
//! | integer | `i`, the integer |
//! | float | `f`, the IEEE-754 bits, with `-0.0` written as `0.0` and every NaN as `0x7ff8000000000000` |
//! | boolean | `b`, one byte 0 or 1 |
//! | datetime | `d`, its TOML text as a string |
//! | array | `a`, item count, items in order |
//!
//! Length prefixes make the encoding injective: `{a = "bc"}` and `{ab = "c"}`
//! cannot collide. A test pins the hash of a sample table, so any change to
//! this encoding fails it; such a change must bump the `v1` prefix, because
//! supervisors persist hashes across upgrades.
//!
//! # Restart or reload
//!
//! A brick may apply some keys live (those it declares `reload`, DESIGN.md
//! §9). Its [`ConfigHashes`] hold two hashes of one configuration:
//!
//! - `effective`, the hash above, over **every** value: it changes whenever
//!   the configuration does, and is the same value it always was (the split
//!   added a second hash, it did not change this one);
//! - `restart`, the same encoding and prefix over the merged table with every
//!   `reload` key (and anything under it) taken out: it changes when a value
//!   the brick reads only at start changes. Keys the schema does not declare
//!   `reload` count here, unknown keys and unregistered bricks' keys included,
//!   so a brick without `reload` keys has `restart == effective`.
//!
//! Two configurations with equal `restart` but different `effective` hashes
//! differ only in `reload` keys: [`plan`](crate::watch::plan) says
//! [`Reload`](crate::watch::Action::Reload).

use std::fmt;
use std::str::FromStr;

use toml::{Table, Value};

use crate::KeyPath;

/// The effective-config hash of a brick: BLAKE3 over a canonical encoding of
/// its merged values (see the [module docs](self) for the encoding).
///
/// Displays and parses as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EffectiveHash([u8; 32]);

/// The two hashes of one configuration that tell a restart from a reload
/// (see the [module docs](self#restart-or-reload)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConfigHashes {
    /// The hash of every value: [`BrickConfig::effective_hash`](crate::BrickConfig::effective_hash).
    pub effective: EffectiveHash,
    /// The hash of the values without the brick's `reload` keys:
    /// [`BrickConfig::restart_hash`](crate::BrickConfig::restart_hash).
    pub restart: EffectiveHash,
}

impl From<EffectiveHash> for ConfigHashes {
    /// The hashes of a configuration known only by its effective hash (one
    /// recorded before the split, say): every change of it is a restart.
    fn from(effective: EffectiveHash) -> Self {
        ConfigHashes {
            effective,
            restart: effective,
        }
    }
}

/// Why a string is not an [`EffectiveHash`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid effective-config hash `{text}`: expected 64 hex digits")]
pub struct InvalidHash {
    /// The rejected text.
    pub text: String,
}

const DOMAIN: &[u8] = b"confd effective-config v1\0";

impl EffectiveHash {
    /// The hash of a merged configuration table.
    #[must_use]
    pub fn of(table: &Table) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(DOMAIN);
        encode_table(table, &mut hasher);
        EffectiveHash(*hasher.finalize().as_bytes())
    }

    /// The hash of `table` without the values at `skipped` (and anything
    /// under them): the restart hash, when `skipped` are a brick's `reload`
    /// keys. With nothing skipped it is [`EffectiveHash::of`].
    #[must_use]
    pub fn of_without(table: &Table, skipped: &[KeyPath]) -> Self {
        if !skipped
            .iter()
            .any(|key| crate::layer::value_at(table, key).is_some())
        {
            return Self::of(table);
        }
        let mut kept = table.clone();
        for key in skipped {
            remove_at(&mut kept, key.segments());
        }
        Self::of(&kept)
    }

    /// A hash from its 32 bytes, as [`EffectiveHash::as_bytes`] gave them.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        EffectiveHash(bytes)
    }

    /// The 32 bytes of the hash.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 12 hex digits, enough to tell configurations apart in a log
    /// line, as `git` shortens commit ids.
    #[must_use]
    pub fn short(&self) -> String {
        let mut text = self.to_string();
        text.truncate(12);
        text
    }
}

impl fmt::Display for EffectiveHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for EffectiveHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EffectiveHash({})", self.short())
    }
}

impl FromStr for EffectiveHash {
    type Err = InvalidHash;

    fn from_str(text: &str) -> Result<Self, InvalidHash> {
        let invalid = || InvalidHash {
            text: text.to_owned(),
        };
        if text.len() != 64 || !text.is_ascii() {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
            // The text is ASCII, so every pair of bytes is a valid &str.
            let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
        }
        Ok(EffectiveHash(bytes))
    }
}

/// Takes the value at `path` out of `table`; a missing key, or a value on
/// the way that is not a table, leaves it as it is.
fn remove_at(table: &mut Table, path: &[String]) {
    match path {
        [] => {}
        [last] => {
            table.remove(last);
        }
        [first, rest @ ..] => {
            if let Some(Value::Table(inner)) = table.get_mut(first) {
                remove_at(inner, rest);
            }
        }
    }
}

/// Where the canonical encoding goes: the hasher, or a buffer to compare
/// two values with the same notion of equality as the hash.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for blake3::Hasher {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

fn encode_len(len: usize, sink: &mut impl Sink) {
    sink.put(&(len as u64).to_le_bytes());
}

fn encode_str(text: &str, sink: &mut impl Sink) {
    encode_len(text.len(), sink);
    sink.put(text.as_bytes());
}

fn encode_table(table: &Table, sink: &mut impl Sink) {
    // `toml::Table` is sorted today, but only without its `preserve_order`
    // feature, which any crate in a build can turn on; sort here so the hash
    // never depends on that.
    let mut entries: Vec<(&String, &Value)> = table.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    sink.put(b"T");
    encode_len(entries.len(), sink);
    for (key, value) in entries {
        encode_str(key, sink);
        encode_value(value, sink);
    }
}

/// Writes the canonical encoding of one value.
pub(crate) fn encode_value(value: &Value, sink: &mut impl Sink) {
    match value {
        Value::String(s) => {
            sink.put(b"s");
            encode_str(s, sink);
        }
        Value::Integer(i) => {
            sink.put(b"i");
            sink.put(&i.to_le_bytes());
        }
        Value::Float(f) => {
            sink.put(b"f");
            sink.put(&canonical_float_bits(*f).to_le_bytes());
        }
        Value::Boolean(b) => sink.put(if *b { b"b\x01" } else { b"b\x00" }),
        Value::Datetime(d) => {
            sink.put(b"d");
            encode_str(&d.to_string(), sink);
        }
        Value::Array(items) => {
            sink.put(b"a");
            encode_len(items.len(), sink);
            for item in items {
                encode_value(item, sink);
            }
        }
        Value::Table(t) => encode_table(t, sink),
    }
}

/// `-0.0 == 0.0` and every NaN is "not a number": neither difference is a
/// configuration change, so both collapse to one bit pattern.
fn canonical_float_bits(f: f64) -> u64 {
    if f.is_nan() {
        0x7ff8_0000_0000_0000
    } else if f == 0.0 {
        0
    } else {
        f.to_bits()
    }
}

/// Whether two values are the same configuration, by the hash's rules: like
/// `==`, except that NaN equals NaN (so a `nan` setting is not "changed" on
/// every reload) and `-0.0` equals `0.0`.
pub(crate) fn same_value(a: &Value, b: &Value) -> bool {
    let (mut left, mut right) = (Vec::new(), Vec::new());
    encode_value(a, &mut left);
    encode_value(b, &mut right);
    left == right
}

#[cfg(test)]
mod tests {
    use super::*;
    use indoc::indoc;

    fn hash(text: &str) -> EffectiveHash {
        EffectiveHash::of(&toml::from_str(text).expect("valid TOML"))
    }

    #[test]
    fn the_encoding_is_pinned() {
        // If this fails, the encoding changed: every hash a supervisor stored
        // would now read as "changed". Bump the `v1` prefix on purpose instead.
        let h = hash(indoc! {r#"
            name = "nexus"
            count = 3
            ratio = 0.5
            on = true
            when = 1979-05-27T07:32:00Z
            list = [1, "two", [3.0]]
            [nested]
            key = "value"
        "#});
        assert_eq!(
            h.to_string(),
            "bbe5f39874679e2e5d6a15466a3e03c69e126cf8880b472844fb62bf48e61d35"
        );
        assert_eq!(
            EffectiveHash::of(&Table::new()).to_string(),
            "68add0fe3df0b693ebdedb2bc46aed338027af44b0d4c8b7c6eb661520242435"
        );
    }

    #[test]
    fn the_encoding_is_as_documented() {
        let table: Table = toml::from_str("b = [true, -0.0]\na = \"x\"\n").expect("TOML");
        let mut bytes = Vec::new();
        encode_table(&table, &mut bytes);
        let mut expected = b"T".to_vec();
        expected.extend(2u64.to_le_bytes());
        expected.extend(1u64.to_le_bytes());
        expected.extend(b"as");
        expected.extend(1u64.to_le_bytes());
        expected.extend(b"x");
        expected.extend(1u64.to_le_bytes());
        expected.extend(b"ba");
        expected.extend(2u64.to_le_bytes());
        expected.extend(b"b\x01f");
        expected.extend(0u64.to_le_bytes());
        assert_eq!(bytes, expected);
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"confd effective-config v1\0");
        hasher.update(&expected);
        assert_eq!(
            EffectiveHash::of(&table).as_bytes(),
            hasher.finalize().as_bytes()
        );
    }

    #[test]
    fn comments_whitespace_order_and_spelling_do_not_count() {
        let plain = hash("a = 1\nb = \"x\"\n[t]\nc = [1, 2]\n");
        let noisy = hash(indoc! {r#"
            # a comment
            b   =   'x'      # literal string, same value
            t.c = [ 1,
                    2, ]

            a = 0x1
        "#});
        assert_eq!(plain, noisy);
    }

    #[test]
    fn key_order_does_not_count() {
        let mut forward = Table::new();
        let mut backward = Table::new();
        for key in ["a", "b", "c"] {
            forward.insert(key.into(), Value::Integer(1));
        }
        for key in ["c", "b", "a"] {
            backward.insert(key.into(), Value::Integer(1));
        }
        assert_eq!(EffectiveHash::of(&forward), EffectiveHash::of(&backward));
    }

    #[test]
    fn types_and_values_count() {
        let all = [
            hash("a = 1\n"),
            hash("a = 1.0\n"),
            hash("a = \"1\"\n"),
            hash("a = true\n"),
            hash("a = [1]\n"),
            hash("a = { b = 1 }\n"),
            hash("a = 2\n"),
            hash("b = 1\n"),
            hash(""),
        ];
        for (i, x) in all.iter().enumerate() {
            for y in &all[i + 1..] {
                assert_ne!(x, y);
            }
        }
    }

    #[test]
    fn length_prefixes_keep_the_encoding_injective() {
        assert_ne!(hash("a = \"bc\"\n"), hash("ab = \"c\"\n"));
        assert_ne!(hash("a = [\"a\", \"b\"]\n"), hash("a = [\"ab\"]\n"));
        assert_ne!(hash("a = [[1], 2]\n"), hash("a = [[1, 2]]\n"));
    }

    #[test]
    fn signed_zero_and_nan_payloads_are_one_value() {
        assert_eq!(hash("a = -0.0\n"), hash("a = 0.0\n"));
        assert_eq!(hash("a = -nan\n"), hash("a = nan\n"));
        let mut odd = Table::new();
        odd.insert(
            "a".into(),
            Value::Float(f64::from_bits(0x7ff0_0000_0000_0001)),
        );
        assert_eq!(EffectiveHash::of(&odd), hash("a = nan\n"));
        assert!(same_value(
            &Value::Float(f64::NAN),
            &Value::Float(-f64::NAN)
        ));
        assert!(!same_value(&Value::Float(1.0), &Value::Integer(1)));
    }

    fn keys(paths: &[&str]) -> Vec<KeyPath> {
        paths.iter().map(|p| p.parse().expect("key path")).collect()
    }

    #[test]
    fn the_restart_hash_leaves_out_reload_keys_and_nothing_else() {
        let table = |text: &str| -> Table { toml::from_str(text).expect("valid TOML") };
        let live = keys(&["ttl", "tls.timeout"]);
        let base = table("host = \"a\"\nttl = 5\n[tls]\nverify = true\ntimeout = 3\n");
        let restart = EffectiveHash::of_without(&base, &live);
        // The effective hash is untouched by the split.
        assert_eq!(
            EffectiveHash::of(&base),
            hash("host = \"a\"\nttl = 5\n[tls]\nverify = true\ntimeout = 3\n")
        );
        assert_ne!(restart, EffectiveHash::of(&base));
        // It is the effective hash of the table without those keys.
        assert_eq!(restart, hash("host = \"a\"\n[tls]\nverify = true\n"));
        // Reload keys changed, added or removed: the same restart hash.
        for same in [
            "host = \"a\"\nttl = 50\n[tls]\nverify = true\ntimeout = 30\n",
            "host = \"a\"\n[tls]\nverify = true\n",
            "host = \"a\"\nttl = \"x\"\n[tls]\nverify = true\ntimeout = [1]\n",
        ] {
            assert_eq!(
                EffectiveHash::of_without(&table(same), &live),
                restart,
                "{same}"
            );
        }
        // Any other key changed, added or removed: a different one.
        for other in [
            "host = \"b\"\nttl = 5\n[tls]\nverify = true\ntimeout = 3\n",
            "host = \"a\"\nttl = 5\n[tls]\nverify = false\ntimeout = 3\n",
            "host = \"a\"\nttl = 5\nport = 1\n[tls]\nverify = true\ntimeout = 3\n",
            "host = \"a\"\nttl = 5\n",
        ] {
            assert_ne!(
                EffectiveHash::of_without(&table(other), &live),
                restart,
                "{other}"
            );
        }
        // Nothing to leave out: the effective hash itself.
        assert_eq!(
            EffectiveHash::of_without(&base, &[]),
            EffectiveHash::of(&base)
        );
        assert_eq!(
            EffectiveHash::of_without(&base, &keys(&["absent", "host.deeper"])),
            EffectiveHash::of(&base)
        );
    }

    #[test]
    fn a_reload_table_leaves_out_everything_under_it() {
        let live = keys(&["tls"]);
        assert_eq!(
            EffectiveHash::of_without(
                &toml::from_str("a = 1\n[tls]\nb = 2\n[tls.c]\nd = 3\n").expect("TOML"),
                &live
            ),
            hash("a = 1\n")
        );
    }

    #[test]
    fn hashes_of_a_plain_hash_are_both_that_hash() {
        let h = hash("a = 1\n");
        assert_eq!(
            ConfigHashes::from(h),
            ConfigHashes {
                effective: h,
                restart: h
            }
        );
    }

    #[test]
    fn hex_round_trips() -> Result<(), InvalidHash> {
        let h = hash("a = 1\n");
        assert_eq!(h.to_string().parse::<EffectiveHash>()?, h);
        assert_eq!(h.short().len(), 12);
        assert!(h.to_string().starts_with(&h.short()));
        for bad in ["", "xyz", &"0".repeat(63), &"g".repeat(64), &"é".repeat(32)] {
            assert!(bad.parse::<EffectiveHash>().is_err(), "{bad:?}");
        }
        Ok(())
    }
}
