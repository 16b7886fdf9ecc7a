//! Everything about secrets, in one place: the marker they are shown as, the
//! [`Secret`] type, which keys are secret, and the redaction of values,
//! origins, snippets, malformed arguments and the text of a secret-holding
//! file (`nexus config diff` prints the file itself, not the loaded values).
//!
//! What is secret is decided from the parsed document, never from the look of
//! a line: a key may be quoted or escaped (`"api\u005fkey"`), follow a BOM,
//! sit in a table or an inline table, and a value may run over several lines.
//! A commented-out line is parsed as the TOML it would be once uncommented.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use toml::Table;

use crate::bricks::Schema;
use crate::layer::value_at;
use crate::{KeyPath, Profile};

mod file_text;
mod lex;
mod value;

pub use value::{REDACTED, Secret, redact};

#[cfg(test)]
use file_text::redact_text;
pub use file_text::{RedactedText, redact_file_text};
use lex::scan;

/// Whether `path` is one of `secret_keys` or lies under one: a table set
/// where a secret belongs holds the secret in its entries.
pub(crate) fn at_or_under(secret_keys: &[&str], path: &KeyPath) -> bool {
    secret_keys.iter().any(|secret| {
        secret
            .parse::<KeyPath>()
            .is_ok_and(|secret| path.segments().starts_with(secret.segments()))
    })
}

/// `key` as a message may show it: cut after the declared secret it lies
/// strictly under, with `…` for the rest. What follows a secret is a value
/// typed after a `.` instead of an `=` (`token.sk-…`), never a key.
pub(crate) fn shown_key(secret_keys: &[&str], key: &KeyPath) -> String {
    let segments = key.segments();
    secret_keys
        .iter()
        .filter_map(|secret| secret.parse::<KeyPath>().ok())
        .find(|secret| {
            secret.segments().len() < segments.len() && segments.starts_with(secret.segments())
        })
        .map_or_else(|| key.to_string(), |secret| format!("{secret}…"))
}

/// `BRICK.key` as a message may show it: nothing of `key` after a secret
/// key that the registered brick `brick` declares (as `shown_key` cuts it).
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
/// #[brick(name = "vault")]
/// struct Vault {
///     #[brick(default = "")]
///     token: confd::Secret,
/// }
///
/// let key = "token.sk-1".parse().unwrap();
/// assert_eq!(confd::secret::shown_brick_key("vault", &key), "vault.token…");
/// ```
#[must_use]
pub fn shown_brick_key(brick: &str, key: &KeyPath) -> String {
    let secret_keys = crate::bricks::lookup(brick).map_or(&[][..], |schema| schema.secret_keys());
    format!("{brick}.{}", shown_key(secret_keys, key))
}

/// What of a malformed `BRICK.key` or `BRICK.key=value` command-line
/// argument a message may quote: the key, as far as it reads as one, never a
/// value (`config set vault.token=sk-…` is an easy slip).
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
/// #[brick(name = "vault")]
/// struct Vault {
///     #[brick(default = "")]
///     token: confd::Secret,
/// }
///
/// assert_eq!(confd::secret::quotable_key("VAULT.token=sk-1"), "VAULT.token=<redacted>");
/// assert_eq!(confd::secret::quotable_key("vault.token:sk-1"), "vault.token…");
/// ```
#[must_use]
pub fn quotable_key(arg: &str) -> String {
    match arg.split_once('=') {
        Some((target, _)) => shown_override(target, true),
        None => shown_override(arg, false),
    }
}

/// What of a malformed `--set` an error may quote, given the text before its
/// `=` (or all of it when there is none): the key, as far as it reads as
/// one, never the value. Without an `=` nothing tells the key from a value
/// glued to it (`vault.token:sk-…`), so only names a registered brick knows
/// are quoted; and nothing after a declared secret key is ever quoted, with
/// or without an `=` (`vault.token.sk-…` is a value typed after a `.`).
/// What is left out is shown as `…`, the value as [`REDACTED`].
pub(crate) fn shown_override(target: &str, has_value: bool) -> String {
    let is_key_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let segments: Vec<&str> = target.split('.').collect();
    let mut shown = String::new();
    let mut complete = true;
    let mut schema = None;
    let mut known_path = Vec::new();
    let mut secrets: Vec<KeyPath> = Vec::new();
    for (n, segment) in segments.iter().enumerate() {
        let trimmed = segment.trim_matches(' ');
        let indent = &segment[..segment.len() - segment.trim_start_matches(' ').len()];
        let run = &trimmed[..trimmed.bytes().take_while(|&b| is_key_byte(b)).count()];
        let quoted = trimmed.len() >= 2
            && (trimmed.starts_with('"') && trimmed.ends_with('"')
                || trimmed.starts_with('\'') && trimmed.ends_with('\''))
            && !trimmed.chars().any(char::is_control);
        let whole = run.len() == trimmed.len() || quoted;
        if n == 0 {
            schema = crate::bricks::lookup(&run.to_ascii_lowercase());
            secrets = schema.map_or_else(Vec::new, |s| {
                s.secret_keys()
                    .iter()
                    .filter_map(|k| k.parse::<KeyPath>().ok())
                    .collect()
            });
        } else {
            known_path.push(if quoted {
                trimmed[1..trimmed.len() - 1].to_ascii_lowercase()
            } else {
                run.to_ascii_lowercase()
            });
        }
        let quotable = if has_value {
            true
        } else if n == 0 {
            schema.is_some()
        } else {
            schema.is_some_and(|s| {
                let path = KeyPath::from_segments(known_path.iter().cloned());
                at_or_under(s.secret_keys(), &path)
                    || crate::layer::value_at(&s.defaults(crate::Profile::default()), &path)
                        .is_some()
            })
        };
        if n > 0 {
            shown.push('.');
        }
        if !quotable {
            complete = false;
            break;
        }
        if whole && (has_value || !quoted) {
            shown.push_str(segment);
        } else {
            shown.push_str(indent);
            shown.push_str(run);
            complete = false;
            break;
        }
        let is_declared_secret = n > 0 && secrets.iter().any(|k| k.segments() == known_path);
        if is_declared_secret && n + 1 < segments.len() {
            complete = false;
            break;
        }
    }
    if !complete {
        shown.push('…');
    }
    if has_value {
        shown.push('=');
        shown.push_str(REDACTED);
    }
    shown
}

/// The line of `text` at `line` (1-based) as an error snippet may show it
/// for a file that holds secrets: the key before `=`, nothing after it, and
/// nothing at all of a line inside a string, array or inline table.
pub(crate) fn snippet_line(text: &str, line: u32) -> String {
    let lines = scan(text);
    let Some(info) = lines.get((line as usize).saturating_sub(1)) else {
        return REDACTED.to_owned();
    };
    match info.assign {
        Some(eq) if !info.continues => format!("{} {REDACTED}", &text[info.start..=eq]),
        _ => REDACTED.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indoc::indoc;

    fn shown(text: &str) -> String {
        let shown = redact_text(text, &["token", "url"], None);
        assert!(shown.parsed, "{text}");
        shown.text
    }

    #[test]
    fn values_are_hidden_wherever_the_key_is_written() {
        let text = indoc! {r#"
            "to\u006ben" = "s1"
            model = "m"
            [vault]
            'token' = "s2" # the old one was s3
            inline = { url = "s4", other = 1 }
        "#};
        assert_eq!(
            shown(text),
            indoc! {r#"
                "to\u006ben" = <redacted>
                model = "m"
                [vault]
                'token' = <redacted>
                inline = { url = <redacted>
            "#}
        );
    }

    #[test]
    fn every_line_of_a_multi_line_value_is_hidden() {
        let text = "url = \"\"\"\ns1\ns2\"\"\"\nmodel = '''\nm\n'''\ntoken = '''\ns3\n'''\n";
        assert_eq!(
            shown(text),
            "url = <redacted>\n<redacted>\n<redacted>\nmodel = '''\nm\n'''\ntoken = <redacted>\n<redacted>\n<redacted>\n"
        );
    }

    #[test]
    fn entries_under_a_secret_are_hidden_with_their_keys() {
        let text = "url.sub = \"s1\"\n[token]\nk = \"s2\"\n\"s3\" = 1\n";
        assert_eq!(
            shown(text),
            "url.<redacted>\n[token]\n<redacted>\n<redacted>\n"
        );
    }

    #[test]
    fn a_bom_and_crlf_are_kept_and_see_through() {
        assert_eq!(
            shown("\u{feff}token = \"s1\"\r\nmodel = 1\r\n"),
            "\u{feff}token = <redacted>\r\nmodel = 1\r\n"
        );
    }

    #[test]
    fn commented_assignments_are_read_as_toml() {
        let text = indoc! {r#"
            # The key (secret).
            #token = "s1"
            ## "token"='s2'
            #token = ""
            #model = "m"
            #url = """
            #s3
            #"""
            # url = "s4
            #[token]
            #k = "s5"
            pool = 1 # url = "s6"
        "#};
        assert_eq!(
            shown(text),
            indoc! {r#"
                # The key (secret).
                #token = <redacted>
                ## "token"=<redacted>
                #token = ""
                #model = "m"
                #url = <redacted>
                #<redacted>
                #<redacted>
                # url = <redacted>
                #[token]
                #k = <redacted>
                pool = 1 # url = <redacted>
            "#}
        );
    }

    #[test]
    fn an_assignment_inside_another_value_is_judged_on_its_own() {
        let text =
            "# a = \"\"\"\n#token = \"s1\"\n# \"\"\"\nmodel = \"\"\"\ntoken = \"s2\"\nm\n\"\"\"\n";
        assert_eq!(
            shown(text),
            "# a = \"\"\"\n#token = <redacted>\n# \"\"\"\nmodel = \"\"\"\ntoken = <redacted>\nm\n\"\"\"\n"
        );
    }

    #[test]
    fn a_commented_unterminated_secret_hides_the_rest_of_the_comment() {
        let text = "#url = \"\"\"\n#s1\n#s2\nmodel = 1\n";
        assert_eq!(
            shown(text),
            "#url = <redacted>\n#<redacted>\n#<redacted>\nmodel = 1\n"
        );
    }

    #[test]
    fn a_file_that_does_not_parse_has_every_value_hidden() {
        let text = "[t]\nmodel = \"m\" junk\ntoken = \"\"\"\ns1\n\"\"\"\nstray s2\n# note\n";
        let shown = redact_text(text, &["token"], None);
        assert!(!shown.parsed);
        assert_eq!(
            shown.text,
            "[t]\nmodel = <redacted>\ntoken = <redacted>\n<redacted>\n<redacted>\n<redacted>\n# note\n"
        );
    }

    /// A brick holding a secret, as the tests of this module need one.
    #[derive(serde::Serialize, serde::Deserialize, crate::Brick)]
    #[brick(name = "vault")]
    struct Vault {
        /// Not secret.
        #[brick(default = "")]
        model: String,
        /// Secret by its type.
        #[brick(default = "")]
        token: crate::Secret,
    }

    /// A second one, whose secret is marked by attribute.
    #[derive(serde::Serialize, serde::Deserialize, crate::Brick)]
    #[brick(name = "store")]
    struct Store {
        #[brick(default = "", secret)]
        url: String,
    }

    #[test]
    fn generated_default_files_are_shown_unchanged() {
        // Their secrets are empty and their prose is not TOML: a diff of an
        // untouched file stays empty.
        for schema in [
            crate::bricks::schema_of::<Vault>(),
            crate::bricks::schema_of::<Store>(),
        ] {
            let generated = crate::shipped::default_file(schema);
            let shown = redact_file_text(&generated, schema);
            assert!(shown.parsed, "{}", schema.name());
            assert_eq!(shown.text, generated, "{}", schema.name());
        }
    }

    #[test]
    fn keys_the_brick_does_not_know_are_hidden_as_show_hides_them() {
        let vault = crate::bricks::lookup("vault").expect("registered by the derive");
        let text = "model = \"m\"\napikey = \"s1\"\n#TOKEN = \"s2\"\n#!token = \"s3\n#> token = 's4'\n#token = \"\" # empty\n";
        assert_eq!(
            redact_file_text(text, vault).text,
            "model = \"m\"\napikey = <redacted>\n#TOKEN = <redacted>\n#!token = <redacted>\n#> token = <redacted>\n#token = \"\" # empty\n"
        );
    }

    #[test]
    fn a_file_without_secrets_is_unchanged() {
        let text = "a = \"x\"\n#url = \"y\"\n";
        assert_eq!(redact_text(text, &[], None).text, text);
        assert_eq!(shown(text), "a = \"x\"\n#url = <redacted>\n");
    }

    #[test]
    fn snippets_keep_only_the_key() {
        let text = "url = \"\"\"\na=b\"\"\" x\ntoken = \"s\" x\n";
        assert_eq!(snippet_line(text, 2), "<redacted>");
        assert_eq!(snippet_line(text, 3), "token = <redacted>");
    }

    #[test]
    fn a_malformed_override_shows_its_key_and_never_its_value() {
        let cases = [
            ("vault.token:sk-1", false, "vault.token…"),
            ("vault.token", false, "vault.token"),
            ("vault.token-sk-1", false, "vault.…"),
            ("sk-1", false, "…"),
            ("foo.bar", false, "…"),
            ("VAULT.token", true, "VAULT.token=<redacted>"),
            ("store.url ", true, "store.url =<redacted>"),
            (" store. url", true, " store. url=<redacted>"),
            (
                "store.url:postgres://u:pw@h/db?ssl",
                true,
                "store.url…=<redacted>",
            ),
            ("vault.token sk-1", true, "vault.token…=<redacted>"),
            ("vault.\"a b\".c\n", true, "vault.\"a b\".c…=<redacted>"),
            // No control character is quoted, not even a tab.
            ("vault.token\t", true, "vault.token…=<redacted>"),
            ("vault.\"a\u{1b}[2J\"", true, "vault.…=<redacted>"),
            // Nothing after a declared secret: a value typed after a `.`.
            ("vault.token.sk-1", false, "vault.token…"),
            ("vault.token.sk-1", true, "vault.token…=<redacted>"),
            ("VAULT.TOKEN.sk-1", true, "VAULT.TOKEN…=<redacted>"),
            ("vault.\"token\".sk-1", true, "vault.\"token\"…=<redacted>"),
            ("store.url.postgres://u:pw@h", true, "store.url…=<redacted>"),
        ];
        for (target, has_value, want) in cases {
            assert_eq!(shown_override(target, has_value), want, "{target:?}");
        }
    }

    #[test]
    fn secrets_and_the_keys_under_them() {
        let path = |p: &str| p.parse::<KeyPath>().unwrap();
        assert!(at_or_under(&["url"], &path("url")));
        assert!(at_or_under(&["url"], &path("url.sub")));
        assert!(!at_or_under(&["url"], &path("urls")));
        assert!(!at_or_under(&["url"], &path("x.url")));
    }
}
