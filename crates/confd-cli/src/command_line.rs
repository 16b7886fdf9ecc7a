//! What of a command line clap refused its message may quote.
//!
//! Clap quotes the argument it could not place ("unrecognized subcommand
//! 'sk-…'"), and that argument is often a secret typed with a space where an
//! `=` belongs (`--set llm.api_key sk-…`, `config get llm.api_key sk-…`).
//! So the rendered message never holds an argument that follows a secret
//! key, a value glued to `--stdin=`, or the value part of a `BRICK.key=…`.

use std::collections::BTreeSet;

use clap::error::{ContextKind, ContextValue};
use confd::{KeyPath, secret::REDACTED};

/// A piece of the command line that a message must not quote, and what it
/// shows instead.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Hidden {
    text: String,
    shown: String,
}

/// Whether `target`, a `BRICK.key` (perhaps with something glued on), names
/// a key whose value is secret in a registered brick: what is typed after it
/// may be that value. A key that does not parse counts when its brick holds
/// secrets (`llm.api_key:sk-…`).
fn names_secret(target: &str) -> bool {
    let Some((brick, key)) = target.split_once('.') else {
        return false;
    };
    let Some(schema) = crate::config::schema::lookup(&brick.to_ascii_lowercase()) else {
        return false;
    };
    match key.parse::<KeyPath>() {
        Ok(key) => schema.is_secret(&key),
        Err(_) => !schema.secret_keys().is_empty(),
    }
}

/// Whether `arg` is the path of a file of a brick that holds secrets
/// (`/etc/conf.d/llm`, `conf.d/llm.d/10-x.toml`): what follows it on a
/// `vfs write` line is that file's text.
fn names_secret_file(arg: &str) -> bool {
    let components: Vec<&str> = arg.split('/').filter(|c| !c.is_empty()).collect();
    components.windows(2).any(|pair| {
        let brick = pair[1].strip_suffix(".d").unwrap_or(pair[1]);
        pair[0] == "conf.d"
            && crate::config::schema::lookup(brick)
                .is_some_and(|schema| !schema.secret_keys().is_empty())
    })
}

/// The pieces of `args` (without the program's name) that a message about
/// them must not quote; `known_flags` are the command's own (`--format`).
pub(crate) fn hidden_pieces(args: &[String], known_flags: &BTreeSet<String>) -> Vec<Hidden> {
    let mut hidden = Vec::new();
    let mut after_secret = false;
    let mut set_value_next = false;
    for arg in args {
        if after_secret {
            // A flag of the command is no secret; of `--flag=value`, the
            // value may be.
            let value = match arg.split_once('=') {
                _ if known_flags.contains(arg) => continue,
                Some((flag, value)) if known_flags.contains(flag) => value,
                _ => arg.as_str(),
            };
            hidden.push(Hidden {
                text: value.to_owned(),
                shown: REDACTED.to_owned(),
            });
            continue;
        }
        let (prefix, target) = if set_value_next {
            ("", arg.as_str())
        } else if let Some(target) = arg.strip_prefix("--set=") {
            ("--set=", target)
        } else if let Some(value) = arg.strip_prefix("--stdin=") {
            hidden.push(Hidden {
                text: value.to_owned(),
                shown: REDACTED.to_owned(),
            });
            continue;
        } else if arg.starts_with('-') {
            set_value_next = arg == "--set";
            continue;
        } else {
            ("", arg.as_str())
        };
        set_value_next = false;
        match target.split_once('=') {
            // A value glued on: whatever the key, the rest is not quoted.
            Some(_) => hidden.push(Hidden {
                text: arg.clone(),
                shown: format!("{prefix}{}", confd::secret::quotable_key(target)),
            }),
            None if names_secret_file(target) => after_secret = true,
            None if names_secret(target) => {
                after_secret = true;
                let shown = confd::secret::quotable_key(target);
                if shown != target {
                    hidden.push(Hidden {
                        text: arg.clone(),
                        shown: format!("{prefix}{shown}"),
                    });
                }
            }
            None => {}
        }
    }
    hidden.retain(|piece| !piece.text.is_empty());
    hidden
}

/// `text` with each hidden piece replaced by what it shows, or `None` when
/// it holds none. A text that is only a part of a hidden piece (clap quotes
/// `-s` of `-sk-…`), whole or in quotes, is hidden too.
fn redacted(text: &str, hidden: &[Hidden]) -> Option<String> {
    let is_part = |fragment: &str| {
        !fragment.is_empty() && hidden.iter().any(|piece| piece.text.contains(fragment))
    };
    if is_part(text) {
        return Some(REDACTED.to_owned());
    }
    let mut out = text.to_owned();
    for piece in hidden {
        out = replace_words(&out, &piece.text, &piece.shown);
    }
    // Clap quotes in single quotes: `'-s'`, and `'-- -s'` in its tips.
    let mut shown = String::with_capacity(out.len());
    let mut pieces = out.split('\'');
    if let Some(first) = pieces.next() {
        shown.push_str(first);
    }
    let mut quoted = true;
    for piece in pieces {
        shown.push('\'');
        let bare = piece.strip_prefix("-- ").unwrap_or(piece);
        if quoted && is_part(bare) {
            shown.push_str(&piece[..piece.len() - bare.len()]);
            shown.push_str(REDACTED);
        } else {
            shown.push_str(piece);
        }
        quoted = !quoted;
    }
    (shown != text).then_some(shown)
}

/// `text` with each `word` that is not part of a longer word replaced by
/// `by`: a one-letter piece hides that letter alone, not every `a` of
/// "argument".
fn replace_words(text: &str, word: &str, by: &str) -> String {
    if word.is_empty() {
        return text.to_owned();
    }
    let is_word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut before = None;
    while let Some(at) = rest.find(word) {
        let after = rest[at + word.len()..].chars().next();
        let prev = rest[..at].chars().next_back().or(before);
        let starts_word = word.starts_with(char::is_alphanumeric);
        let ends_word = word.ends_with(char::is_alphanumeric);
        // A piece of punctuation alone (`=`) is hidden only where it is
        // quoted whole: elsewhere it is the message's own.
        let is_quote = |c: Option<char>| matches!(c, Some('\'' | '`'));
        let symbols_only = !word.contains(char::is_alphanumeric);
        if (starts_word && is_word(prev))
            || (ends_word && is_word(after))
            || (symbols_only && !(is_quote(prev) && is_quote(after)))
        {
            let step = at + rest[at..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[..step]);
            before = out.chars().next_back();
            rest = &rest[step..];
        } else {
            out.push_str(&rest[..at]);
            out.push_str(by);
            before = word.chars().next_back();
            rest = &rest[at + word.len()..];
        }
    }
    out.push_str(rest);
    out
}

/// The long flags of the command and its subcommands, as typed (`--format`),
/// and the short ones for help and version.
fn known_flags(command: &clap::Command) -> BTreeSet<String> {
    let mut flags: BTreeSet<String> = ["--", "-h", "-V"].map(str::to_owned).into();
    let mut commands = vec![command];
    while let Some(command) = commands.pop() {
        for arg in command.get_arguments() {
            flags.extend(
                arg.get_long_and_visible_aliases()
                    .into_iter()
                    .flatten()
                    .map(|l| format!("--{l}")),
            );
        }
        flags.extend(["--help", "--version"].map(str::to_owned));
        commands.extend(command.get_subcommands());
    }
    flags
}

/// Rewrites what `error` quotes of the command line so that no hidden piece
/// is left in it, and returns its rendered text, with the pieces replaced
/// there too (a value parser's own message may quote its input).
pub(crate) fn rendered_error(mut error: clap::Error, args: &[String]) -> String {
    use clap::CommandFactory as _;
    let hidden = hidden_pieces(args, &known_flags(&crate::Cli::command()));
    if hidden.is_empty() {
        return error.render().to_string();
    }
    let changes: Vec<(ContextKind, ContextValue)> = error
        .context()
        .filter_map(|(kind, value)| {
            let value = match value {
                ContextValue::String(s) => ContextValue::String(redacted(s, &hidden)?),
                ContextValue::Strings(all) => {
                    let shown: Vec<Option<String>> =
                        all.iter().map(|s| redacted(s, &hidden)).collect();
                    if shown.iter().all(Option::is_none) {
                        return None;
                    }
                    ContextValue::Strings(
                        shown
                            .into_iter()
                            .zip(all)
                            .map(|(shown, s)| shown.unwrap_or_else(|| s.clone()))
                            .collect(),
                    )
                }
                ContextValue::StyledStr(s) => {
                    ContextValue::StyledStr(redacted(&s.to_string(), &hidden)?.into())
                }
                ContextValue::StyledStrs(all) => {
                    let shown: Vec<Option<String>> = all
                        .iter()
                        .map(|s| redacted(&s.to_string(), &hidden))
                        .collect();
                    if shown.iter().all(Option::is_none) {
                        return None;
                    }
                    ContextValue::StyledStrs(
                        shown
                            .into_iter()
                            .zip(all)
                            .map(|(shown, s)| shown.map_or_else(|| s.clone(), Into::into))
                            .collect(),
                    )
                }
                _ => return None,
            };
            Some((kind, value))
        })
        .collect();
    for (kind, value) in changes {
        error.insert(kind, value);
    }
    let text = error.render().to_string();
    redacted(&text, &hidden).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn hidden(args: &str) -> Vec<(String, String)> {
        let args: Vec<String> = args.split(' ').map(str::to_owned).collect();
        hidden_pieces(&args, &known_flags(&crate::Cli::command()))
            .into_iter()
            .map(|piece| (piece.text, piece.shown))
            .collect()
    }

    fn pair(text: &str, shown: &str) -> (String, String) {
        (text.to_owned(), shown.to_owned())
    }

    #[test]
    fn what_follows_a_secret_key_is_hidden() {
        let r = REDACTED;
        assert_eq!(
            hidden("--set llm.api_key sk-1 config show llm"),
            [
                pair("sk-1", r),
                pair("config", r),
                pair("show", r),
                pair("llm", r)
            ]
        );
        assert_eq!(hidden("--set=database.url sk-1"), [pair("sk-1", r)]);
        assert_eq!(hidden("config get llm.api_key sk-1"), [pair("sk-1", r)]);
        // A key unknown to a brick that holds secrets may be a misspelt one.
        assert_eq!(
            hidden("config get llm.apikey sk-1"),
            [pair("llm.apikey", "llm.…"), pair("sk-1", r)]
        );
        assert_eq!(
            hidden("config get llm.api_key.sk-1 x"),
            [pair("llm.api_key.sk-1", "llm.api_key…"), pair("x", r)]
        );
        assert_eq!(
            hidden("vfs write /etc/conf.d/llm api_key = sk-1"),
            [pair("api_key", r), pair("=", r), pair("sk-1", r)]
        );
        assert_eq!(
            hidden("vfs cat /etc/conf.d/llm.d/x.toml sk-1"),
            [pair("sk-1", r)]
        );
        assert_eq!(hidden("vfs cat /etc/conf.d/mounts x"), []);
        assert_eq!(
            hidden("config set database.url --stdin=sk-1"),
            [pair("sk-1", r)]
        );
    }

    #[test]
    fn what_is_not_secret_stays_quotable() {
        assert_eq!(hidden("--set cache.backend bogus config show cache"), []);
        assert_eq!(hidden("config get llm.model extra"), []);
        // The command's own flags after a secret key.
        assert_eq!(
            hidden("config get llm.api_key --format=sk-1 --profile"),
            [pair("sk-1", REDACTED)]
        );
        assert_eq!(hidden("config bogus"), []);
        assert_eq!(hidden("--format sk-1 --set"), []);
    }

    #[test]
    fn a_value_glued_with_an_equals_sign_is_hidden() {
        assert_eq!(
            hidden("config show llm llm.api_key=sk-1 --set=x.y=sk-2"),
            [
                pair("llm.api_key=sk-1", "llm.api_key=<redacted>"),
                pair("--set=x.y=sk-2", "--set=x.y=<redacted>"),
            ]
        );
    }

    #[test]
    fn a_short_piece_is_hidden_where_it_stands_alone() {
        assert_eq!(replace_words("argument 'a' a", "a", "X"), "argument 'X' X");
        assert_eq!(replace_words("'-x' -xy", "-x", "X"), "'X' -xy");
        assert_eq!(replace_words("aaa", "", "X"), "aaa");
        assert_eq!(replace_words("K=V '=' `=`", "=", "X"), "K=V 'X' `X`");
    }

    #[test]
    fn a_fragment_of_a_hidden_piece_is_hidden_whole() {
        let pieces = hidden_pieces(
            &["llm.api_key".to_owned(), "-sk-1".to_owned()],
            &BTreeSet::new(),
        );
        assert_eq!(redacted("-s", &pieces).as_deref(), Some(REDACTED));
        assert_eq!(
            redacted("to pass '-s' as a value, use '-- -s'", &pieces).as_deref(),
            Some("to pass '<redacted>' as a value, use '-- <redacted>'")
        );
        assert_eq!(redacted("--help", &pieces), None);
    }
}
