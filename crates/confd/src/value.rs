//! Turning the text of an environment variable or a `--set` into a TOML value,
//! guided by the type of the key it sets (DESIGN.md §3).

use toml::Value;

/// The words accepted for a boolean key, in any case.
pub const BOOL_WORDS: &str = "true/false/1/0/yes/no/on/off";

/// Parses `raw` for a key whose default is `default`.
///
/// A string key keeps `"0123"` a string; a bool accepts [`BOOL_WORDS`];
/// numbers, dates and arrays must parse as that TOML type; a key with no
/// default is read as a TOML literal, falling back to a string. The error is
/// the expectation that failed ("expected integer"), never the raw text,
/// which may be a secret.
pub fn parse_typed(raw: &str, default: Option<&Value>) -> Result<Value, String> {
    let Some(default) = default else {
        return Ok(literal(raw).unwrap_or_else(|| Value::String(raw.to_owned())));
    };
    let expected = || format!("expected {}", default.type_str());
    match default {
        Value::String(_) => Ok(Value::String(raw.to_owned())),
        Value::Boolean(_) => parse_bool(raw)
            .map(Value::Boolean)
            .ok_or_else(|| format!("expected a boolean ({BOOL_WORDS})")),
        Value::Integer(_) => match raw
            .trim()
            .parse::<i64>()
            .ok()
            .map(Value::Integer)
            .or_else(|| literal(raw.trim()))
        {
            Some(v @ Value::Integer(_)) => Ok(v),
            _ => Err(expected()),
        },
        Value::Float(_) => match literal(raw.trim()) {
            Some(Value::Integer(i)) => Ok(Value::Float(i as f64)),
            Some(v @ Value::Float(_)) => Ok(v),
            _ => Err(expected()),
        },
        other => match literal(raw) {
            Some(v) if v.same_type(other) => Ok(v),
            _ => Err(expected()),
        },
    }
}

/// `true/false/1/0/yes/no/on/off`, in any case.
#[must_use]
pub fn parse_bool(raw: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["true", "1", "yes", "on"];
    const FALSE: [&str; 4] = ["false", "0", "no", "off"];
    let raw = raw.trim();
    if TRUE.iter().any(|w| w.eq_ignore_ascii_case(raw)) {
        Some(true)
    } else if FALSE.iter().any(|w| w.eq_ignore_ascii_case(raw)) {
        Some(false)
    } else {
        None
    }
}

/// A TOML literal (`5`, `"x"`, `[1, 2]`, `{ a = 1 }`), if `raw` is exactly one:
/// `1\nother = 2` is not a literal (it would smuggle in a second key).
fn literal(raw: &str) -> Option<Value> {
    // A value starts with a quote, a bracket, a brace, a sign or a digit,
    // or is `true`, `false`, `inf` or `nan`: any other letter first is a
    // plain word (`--set brick.name=override`), told without a parse.
    let first = raw.trim_start().chars().next();
    if first.is_some_and(|c| c.is_ascii_alphabetic() && !matches!(c, 't' | 'f' | 'i' | 'n')) {
        return None;
    }
    let document = format!("v = {raw}");
    let mut table: toml::Table = document.parse().ok()?;
    if table.len() != 1 {
        return None;
    }
    table.remove("v")
}

/// Every value of `table` that is not a table, with its key path, in the
/// table's order.
#[must_use]
pub fn leaves(table: &toml::Table) -> Vec<(crate::KeyPath, &toml::Value)> {
    fn walk<'t>(
        table: &'t toml::Table,
        prefix: &mut Vec<String>,
        out: &mut Vec<(crate::KeyPath, &'t toml::Value)>,
    ) {
        for (name, value) in table {
            prefix.push(name.clone());
            match value {
                toml::Value::Table(inner) => walk(inner, prefix, out),
                leaf => out.push((crate::KeyPath::from_segments(prefix.clone()), leaf)),
            }
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    walk(table, &mut Vec::new(), &mut out);
    out
}

/// Every value of `table` with its key path and its origin in `origins`,
/// in the table's order: what a diff compares and what `show --format json`
/// gives an origin.
///
/// Unlike [`leaves`], an empty table is a value of its own (it was set
/// somewhere, and a diff must see it appear), and so is a value of another
/// type where `origins` has a table (a secret table redacted to one string).
/// A value with no origin is left out.
#[must_use]
pub fn leaves_with_origins<'t>(
    table: &'t toml::Table,
    origins: &'t crate::layer::OriginTable,
) -> Vec<(crate::KeyPath, &'t Value, &'t crate::Origin)> {
    use crate::layer::OriginNode;
    fn walk<'t>(
        table: &'t toml::Table,
        origins: &'t crate::layer::OriginTable,
        prefix: &crate::KeyPath,
        out: &mut Vec<(crate::KeyPath, &'t Value, &'t crate::Origin)>,
    ) {
        for (key, value) in table {
            let Some(node) = origins.get(key) else {
                continue;
            };
            let path = prefix.child(key);
            match (value, node) {
                (Value::Table(inner), OriginNode::Table { children, .. }) if !inner.is_empty() => {
                    walk(inner, children, &path, out);
                }
                (value, node) => out.push((path, value, node.origin())),
            }
        }
    }
    let mut out = Vec::new();
    walk(table, origins, &crate::KeyPath::default(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_and_a_redacted_table_are_leaves_with_their_origin() {
        use crate::Origin;
        use crate::layer::{OriginNode, OriginTable};
        let set = |spec: &str| Origin::Cli(spec.to_owned());
        let table: toml::Table =
            toml::from_str("port = 1\n[empty]\n[tls]\nverify = true\n[db]\nurl = \"x\"\n")
                .expect("toml");
        let mut table = table;
        // `db` as `show` prints it when its table is secret.
        table.insert("db".into(), Value::String("<redacted>".into()));
        let branch = |spec: &str, children: OriginTable| OriginNode::Table {
            origin: set(spec),
            children,
        };
        let origins = OriginTable::from([
            ("port".into(), OriginNode::Leaf(set("port"))),
            ("empty".into(), branch("empty", OriginTable::new())),
            (
                "tls".into(),
                branch(
                    "tls",
                    OriginTable::from([("verify".into(), OriginNode::Leaf(set("tls.verify")))]),
                ),
            ),
            (
                "db".into(),
                branch(
                    "db",
                    OriginTable::from([("url".into(), OriginNode::Leaf(set("db.url")))]),
                ),
            ),
        ]);
        let got: Vec<(String, String)> = leaves_with_origins(&table, &origins)
            .into_iter()
            .map(|(key, _, origin)| (key.to_string(), origin.to_string()))
            .collect();
        let want: Vec<(String, String)> = [
            ("db", "--set db"),
            ("empty", "--set empty"),
            ("port", "--set port"),
            ("tls.verify", "--set tls.verify"),
        ]
        .iter()
        .map(|(k, o)| ((*k).to_owned(), (*o).to_owned()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn strings_stay_strings() {
        let s = Value::String(String::new());
        assert_eq!(
            parse_typed("0123", Some(&s)),
            Ok(Value::String("0123".into()))
        );
        assert_eq!(
            parse_typed("true", Some(&s)),
            Ok(Value::String("true".into()))
        );
    }

    #[test]
    fn booleans_accept_the_documented_words_in_any_case() {
        let b = Value::Boolean(false);
        for (raw, want) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("Yes", true),
            ("on", true),
            ("false", false),
            ("0", false),
            ("NO", false),
            ("Off", false),
        ] {
            assert_eq!(
                parse_typed(raw, Some(&b)),
                Ok(Value::Boolean(want)),
                "{raw}"
            );
        }
        assert!(
            parse_typed("maybe", Some(&b))
                .unwrap_err()
                .contains(BOOL_WORDS)
        );
    }

    #[test]
    fn numbers_must_be_numbers() {
        let i = Value::Integer(0);
        assert_eq!(parse_typed("300", Some(&i)), Ok(Value::Integer(300)));
        assert_eq!(parse_typed("1_000", Some(&i)), Ok(Value::Integer(1000)));
        assert_eq!(parse_typed("ten", Some(&i)), Err("expected integer".into()));
        assert_eq!(parse_typed("1.5", Some(&i)), Err("expected integer".into()));
        let f = Value::Float(0.0);
        assert_eq!(parse_typed("2", Some(&f)), Ok(Value::Float(2.0)));
    }

    #[test]
    fn unknown_keys_are_literals_or_strings() {
        assert_eq!(parse_typed("42", None), Ok(Value::Integer(42)));
        assert_eq!(parse_typed("true", None), Ok(Value::Boolean(true)));
        assert_eq!(
            parse_typed("hello world", None),
            Ok(Value::String("hello world".into()))
        );
        assert_eq!(
            parse_typed("\"0123\"", None),
            Ok(Value::String("0123".into()))
        );
        assert_eq!(parse_typed("0123", None), Ok(Value::String("0123".into())));
        // Only exactly one literal: an extra line is not silently dropped.
        assert_eq!(
            parse_typed("1\nother = 2", None),
            Ok(Value::String("1\nother = 2".into()))
        );
        assert_eq!(
            parse_typed("1\nother = 2", Some(&Value::Integer(0))),
            Err("expected integer".into())
        );
    }
}
