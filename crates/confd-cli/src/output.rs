//! Rendering configuration for people (TOML with origins) and programs (JSON),
//! and the one place that writes to stdout and stderr: `print!`, `println!`,
//! `eprint!` and `eprintln!` are this crate's own (see main.rs) and end here.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::sync::Mutex;

use confd::{KeyPath, Origin, layer::OriginNode, layer::OriginTable};
use serde_json::{Value as Json, json};
use toml::{Table, Value};

/// Whether stderr gets colour: only on a terminal, never with `NO_COLOR`.
#[allow(clippy::disallowed_methods)] // NO_COLOR is the CLI's own business, not configuration
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The first error writing to stdout, if any (a closed pipe, a full disk).
static STDOUT_FAILURE: Mutex<Option<std::io::Error>> = Mutex::new(None);

/// Writes `text` to stdout, escaping control characters that came from
/// user input (file contents, names, `--set` values): a value can then never
/// move the cursor, retitle the window or clear the screen. Line feeds and
/// tabs stay, as the separators of this program's own output; TOML and JSON
/// output is unchanged but for characters they leave raw (C1 controls, bidi
/// overrides), which become `\uXXXX`, an escape both formats read back.
///
/// A failed write never panics (as `std::println!` does on a closed pipe):
/// it is remembered, later output is dropped, and [`stdout_failure`] tells
/// `main` how to end.
pub(crate) fn stdout(text: &str) {
    stdout_bytes(confd::shown::terminal_safe(text).as_bytes());
}

/// Writes bytes that are ours, not the user's (a completion script, a
/// manual page), to stdout as they are, remembering a failure as [`stdout`] does.
pub(crate) fn stdout_bytes(bytes: &[u8]) {
    let mut failure = STDOUT_FAILURE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if failure.is_some() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        *failure = Some(e);
    }
}

/// Why stdout could not be written, once all output is done: `None` when
/// it was, or when the reader closed the pipe (`nexus config show x | head`
/// is not a failure).
pub(crate) fn stdout_failure() -> Option<std::io::Error> {
    STDOUT_FAILURE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
        .filter(|e| e.kind() != std::io::ErrorKind::BrokenPipe)
}

/// Whether a write to stdout failed already (a closed pipe included): a
/// command that writes until stopped stops then, and [`stdout_failure`]
/// says how to end.
pub(crate) fn stdout_failed() -> bool {
    STDOUT_FAILURE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .is_some()
}

/// Writes `text` to stderr, escaped as [`stdout`] escapes it; an error
/// writing stderr has nowhere to be reported and is ignored.
pub(crate) fn stderr(text: &str) {
    raw_stderr(&confd::shown::terminal_safe(text));
}

fn raw_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

fn diagnostic(label: &str, ansi: &str, message: &str) {
    // Escape the message before colouring it: the colour codes are ours.
    let message = confd::shown::terminal_safe(message);
    if colour() {
        raw_stderr(&format!("\x1b[1;{ansi}m{label}\x1b[0m: {message}\n"));
    } else {
        raw_stderr(&format!("{label}: {message}\n"));
    }
}

/// How much of a long line of a clap error is shown, in characters, from
/// its start and from its end.
const CLAP_LINE_HEAD: usize = 100;
const CLAP_LINE_TAIL: usize = 400;

/// Reports a command line clap refused, escaped like every other message
/// (clap quotes the rejected value, which may hold control characters), and
/// returns its exit status; help and version go to stdout as clap prints them.
/// What follows a secret key on `args` is never quoted (see [`crate::command_line`]).
pub(crate) fn clap_error(e: clap::Error, args: &[String]) -> u8 {
    let code = u8::try_from(e.exit_code()).unwrap_or(2);
    if !e.use_stderr() {
        // `--help` and `--version`: their output failing to be written
        // (`>/dev/full`) is a failure, a closed pipe is not (as for every
        // other command).
        return match e.print() {
            Err(failure) if failure.kind() != std::io::ErrorKind::BrokenPipe => {
                error(&format!("cannot write to standard output: {failure}"));
                1
            }
            _ => code,
        };
    }
    // Clap quotes the rejected value whole before the reason: cut the middle
    // of a long line, so a 100 KB `--set` is short and the reason still shows.
    let text: String = crate::command_line::rendered_error(e, args)
        .lines()
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            if chars.len() <= CLAP_LINE_HEAD + CLAP_LINE_TAIL {
                return format!("{line}\n");
            }
            let head: String = chars[..CLAP_LINE_HEAD].iter().collect();
            let tail: String = chars[chars.len() - CLAP_LINE_TAIL..].iter().collect();
            let cut = chars.len() - CLAP_LINE_HEAD - CLAP_LINE_TAIL;
            format!("{head}… ({cut} characters cut) …{tail}\n")
        })
        .collect();
    match text.strip_prefix("error: ") {
        Some(message) => error(message.trim_end()),
        None => stderr(&text),
    }
    code
}

/// Prints an error on stderr.
pub(crate) fn error(message: &str) {
    diagnostic("error", "31", message);
}

/// Prints a warning on stderr.
pub(crate) fn warning(message: &str) {
    diagnostic("warning", "33", message);
}

/// A key as TOML writes it: bare when it can be, quoted otherwise.
fn toml_key(key: &str) -> String {
    KeyPath::from_segments([key]).to_string()
}

/// The longest line that the origin comments of `show --origin` line up after.
const ORIGIN_COLUMN_LIMIT: usize = 60;

/// A table as a TOML document; with `origins`, each value is followed by a
/// comment naming where it came from, so the output is still valid TOML.
pub(crate) fn toml_document(table: &Table, origins: Option<&OriginTable>) -> String {
    let mut lines: Vec<(String, Option<String>)> = Vec::new();
    collect_lines(table, origins, &KeyPath::default(), &mut lines);
    // Origins line up in a column after the longest line, up to a limit: a
    // 1 MB key or value must not pad every other line to a megabyte.
    let width = lines
        .iter()
        .filter(|(_, o)| o.is_some())
        .map(|(l, _)| l.chars().count())
        .filter(|&n| n <= ORIGIN_COLUMN_LIMIT)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (line, origin) in lines {
        match origin {
            Some(origin) => {
                let pad = width.saturating_sub(line.chars().count());
                let _ = writeln!(out, "{line}{:pad$}  # {origin}", "");
            }
            None => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}

fn collect_lines(
    table: &Table,
    origins: Option<&OriginTable>,
    prefix: &KeyPath,
    lines: &mut Vec<(String, Option<String>)>,
) {
    for (key, value) in table.iter().filter(|(_, v)| !v.is_table()) {
        let origin = origins
            .and_then(|o| o.get(key))
            .map(|n| n.origin().to_string());
        lines.push((format!("{} = {value}", toml_key(key)), origin));
    }
    for (key, value) in table {
        let Value::Table(inner) = value else { continue };
        let path = prefix.child(key);
        if !lines.is_empty() {
            lines.push((String::new(), None));
        }
        lines.push((format!("[{path}]"), None));
        let children = origins.and_then(|o| match o.get(key) {
            Some(OriginNode::Table { children, .. }) => Some(children),
            _ => None,
        });
        collect_lines(inner, children, &path, lines);
    }
}

/// A TOML value as JSON (datetimes become their TOML text).
pub(crate) fn json_value(value: &Value) -> Json {
    match value {
        Value::String(s) => Json::String(s.clone()),
        Value::Integer(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Boolean(b) => Json::Bool(*b),
        Value::Datetime(d) => Json::String(d.to_string()),
        Value::Array(items) => Json::Array(items.iter().map(json_value).collect()),
        Value::Table(t) => {
            Json::Object(t.iter().map(|(k, v)| (k.clone(), json_value(v))).collect())
        }
    }
}

/// An origin as JSON: its layer, its display text, and its parts.
pub(crate) fn json_origin(origin: &Origin) -> Json {
    let mut object = json!({ "layer": origin.precedence().id(), "text": origin.to_string() });
    match origin {
        Origin::ProfileDefault(profile) => object["profile"] = json!(profile.as_str()),
        Origin::File {
            path, line, column, ..
        } => {
            object["path"] = json!(path.display().to_string());
            object["line"] = json!(line);
            object["column"] = json!(column);
        }
        Origin::Etcd { key, line, column } => {
            object["key"] = json!(key.key);
            object["revision"] = json!(key.revision);
            object["line"] = json!(line);
            object["column"] = json!(column);
        }
        Origin::Snapshot { file, host } => {
            object["snapshot"] = json!(file.display().to_string());
            object["host"] = json!(host);
        }
        Origin::Env(var) => object["var"] = json!(var),
        Origin::Cli(_) => {}
    }
    object
}

/// Every leaf of a table with its origin, as `(key path, value, origin)`.
pub(crate) fn leaves<'a>(
    table: &'a Table,
    origins: &'a OriginTable,
    prefix: &KeyPath,
    out: &mut Vec<(KeyPath, &'a Value, &'a Origin)>,
) {
    for (key, value) in table {
        let path = prefix.child(key);
        match (value, origins.get(key)) {
            (Value::Table(inner), Some(OriginNode::Table { children, .. })) => {
                leaves(inner, children, &path, out);
            }
            (value, Some(node)) => out.push((path, value, node.origin())),
            (_, None) => {}
        }
    }
}

/// A path as a one-line message quotes it: a line feed or a tab in a file
/// name cannot fake a line or a column of output.
pub(crate) fn shown_path(path: &std::path::Path) -> String {
    confd::shown::one_line(&path.display().to_string()).into_owned()
}
