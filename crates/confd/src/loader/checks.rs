//! The structural checks of a merged table against its schema's defaults:
//! types and unknown keys, with a suggestion for a typo.

use toml::{Table, Value};

use crate::layer::{OriginNode, OriginTable};
use crate::{BrickName, Error, KeyPath};

/// Adds the offending text to an expectation, unless it is a secret.
pub(super) fn with_found(expected: String, raw: &str, secret: bool) -> String {
    if secret {
        expected
    } else {
        format!("{expected}, found `{}`", crate::shown::quoted_input(raw))
    }
}

/// Type errors and unknown keys of a merged table against the brick's
/// defaults, which list every key it knows with its type, and its
/// declaration, which also knows the keys without a default (an `Option`).
pub(super) fn check_against_defaults(
    brick: &BrickName,
    table: &Table,
    origins: &OriginTable,
    defaults: &Table,
    declared: &dyn Fn(&str) -> bool,
    prefix: &mut Vec<String>,
    problems: &mut Vec<Error>,
) {
    // Runs on every load: paths and messages are only built for problems.
    let full_key = |prefix: &[String], key: &str| {
        let path = KeyPath::from_segments(prefix.iter().map(String::as_str).chain([key]));
        format!("{brick}.{path}")
    };
    // The three maps are sorted by key: walk the origins and the defaults
    // alongside the table instead of searching them for every key.
    let (mut origins, mut known) = (origins.iter().peekable(), defaults.iter().peekable());
    for (key, value) in table {
        let Some(node) = seek(&mut origins, key) else {
            continue;
        };
        let Some(expected) = seek(&mut known, key) else {
            let dotted =
                KeyPath::from_segments(prefix.iter().map(String::as_str).chain([key.as_str()]));
            if declared(&dotted.to_string()) {
                continue;
            }
            problems.push(Error::UnknownKey {
                key: full_key(prefix, key),
                origin: node.origin().clone(),
                suggestion: suggest(key, defaults.keys()),
            });
            continue;
        };
        match (expected, value) {
            (Value::Table(expected), Value::Table(actual)) => {
                if let OriginNode::Table { children, .. } = node {
                    prefix.push(key.clone());
                    check_against_defaults(
                        brick, actual, children, expected, declared, prefix, problems,
                    );
                    prefix.pop();
                }
            }
            (Value::Float(_), Value::Integer(_)) => {}
            (expected, actual) if expected.same_type(actual) => {}
            (expected, actual) => problems.push(Error::InvalidType {
                key: full_key(prefix, key),
                origin: node.origin().clone(),
                expected: expected.type_str(),
                found: actual.type_str(),
            }),
        }
    }
}

/// The value at `key` of a map walked in key order, `iter` advanced past
/// every smaller key; the keys asked for must come in increasing order.
fn seek<'a, V: 'a>(
    iter: &mut std::iter::Peekable<impl Iterator<Item = (&'a String, &'a V)>>,
    key: &str,
) -> Option<&'a V> {
    while iter.next_if(|(k, _)| k.as_str() < key).is_some() {}
    iter.next_if(|(k, _)| k.as_str() == key).map(|(_, v)| v)
}

/// The known name most like `unknown`, if one is close enough to be a typo
/// (`auto_synk` → `sync_on_start`, `mount` → `relay`).
#[must_use]
pub fn suggest<'a>(unknown: &str, known: impl IntoIterator<Item = &'a String>) -> Option<String> {
    // The distance is at least the difference in length, so a name much
    // longer or shorter cannot score 0.6: skip it, and a 1 MB key in a file
    // costs no 1 MB × len edit-distance table per known key.
    let close_in_length = |k: &String| {
        let (a, b) = (unknown.chars().count(), k.chars().count());
        a.abs_diff(b) * 5 <= a.max(b) * 2
    };
    known
        .into_iter()
        .filter(|k| close_in_length(k))
        .map(|k| (strsim::normalized_damerau_levenshtein(unknown, k), k))
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.clone())
}
