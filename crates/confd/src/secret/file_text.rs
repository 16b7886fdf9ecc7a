//! The text of a secret-holding file as it may be shown: every secret's
//! value, its continuation lines and any commented line that would set one,
//! hidden.

use super::lex::*;
#[allow(clippy::wildcard_imports)]
use super::*;

/// The text of a configuration file with every secret hidden.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct RedactedText {
    /// The file with each secret replaced by [`REDACTED`], line for line.
    pub text: String,
    /// Whether the file parsed. When it did not, every value is hidden,
    /// since no one can tell which of them is a secret.
    pub parsed: bool,
}

/// Hides every secret of a configuration file's `text`, keeping its lines
/// (a diff of the result still points at the right line numbers).
///
/// Hidden are: the value of each key at, under or misplaced below a secret
/// key (`token`, `[token]` entries, `[vault] token`) or unknown to the
/// brick (a misspelt `apikey`, as `show` hides it), every line the
/// value spans and the rest of the line it ends on (a trailing comment about
/// a secret is part of it); and each comment that would set such a key once
/// uncommented, over several lines when the value does. An empty secret
/// (`token = ""`, as the shipped files have it) stays visible. A file that
/// does not parse has every value hidden.
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize, confd::Brick)]
/// #[brick(name = "vault")]
/// struct Vault {
///     #[brick(default = "")]
///     model: String,
///     #[brick(default = "")]
///     token: confd::Secret,
/// }
///
/// let vault = confd::bricks::schema_of::<Vault>();
/// let text = "model = \"m\"\n\"to\\u006ben\" = \"sk-1\"\n#token = 'sk-0'\n";
/// let shown = confd::secret::redact_file_text(text, vault);
/// assert_eq!(shown.text, "model = \"m\"\n\"to\\u006ben\" = <redacted>\n#token = <redacted>\n");
/// ```
pub fn redact_file_text(text: &str, schema: &dyn Schema) -> RedactedText {
    let known = schema.defaults(Profile::default());
    redact_text(text, schema.secret_keys(), Some(&known))
}

/// [`redact_file_text`] for a brick with these secrets and, when `known` is
/// given, these keys: a key it does not know is hidden too, as `show` hides
/// it (a misspelt `apikey` is somebody's key all the same).
pub(super) fn redact_text(text: &str, secret_keys: &[&str], known: Option<&Table>) -> RedactedText {
    let secrets: Vec<KeyPath> = secret_keys.iter().filter_map(|k| k.parse().ok()).collect();
    if secrets.is_empty() {
        return RedactedText {
            text: text.to_owned(),
            parsed: true,
        };
    }
    let bom = if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    let body = &text[bom..];
    let lines = scan(body);
    let names_secret = |path: &[String]| {
        names_secret(&secrets, path)
            || known.is_some_and(|known| {
                value_at(known, &KeyPath::from_segments(path.iter().cloned())).is_none()
            })
    };
    let mut hidden = Vec::new();
    let parsed = match DeTable::parse(body) {
        Ok(document) => {
            collect_secrets(
                body,
                document.get_ref(),
                &mut Vec::new(),
                &names_secret,
                false,
                &mut hidden,
            );
            true
        }
        Err(_) => {
            hide_every_value(body, &lines, &mut hidden);
            false
        }
    };
    hide_commented_secrets(body, &lines, &names_secret, &mut hidden);
    let mut shown = String::with_capacity(text.len());
    shown.push_str(&text[..bom]);
    shown.push_str(&render(body, &lines, hidden));
    RedactedText {
        text: shown,
        parsed,
    }
}

/// Whether a secret's segments appear anywhere in `path`, in order and side
/// by side. Wider than [`at_or_under`] on purpose: the raw text of a secret
/// file is shown, and `[vault]\ntoken = …` in `conf.d/vault` is somebody's key
/// in the wrong table.
fn names_secret(secrets: &[KeyPath], path: &[String]) -> bool {
    secrets.iter().any(|secret| {
        let secret = secret.segments();
        path.windows(secret.len()).any(|window| window == secret)
    })
}

/// Collects the ranges of `table` that hold a secret. Under a secret
/// (`inside`) keys are hidden too: `[url]` entries are all part of `url`.
fn collect_secrets(
    text: &str,
    table: &DeTable<'_>,
    path: &mut Vec<String>,
    names_secret: &dyn Fn(&[String]) -> bool,
    inside: bool,
    hidden: &mut Vec<Range<usize>>,
) {
    for (key, value) in table {
        path.push(key.get_ref().to_string());
        if inside || names_secret(path) {
            hide_entry(text, key, value, path, names_secret, inside, hidden);
        } else {
            match value.get_ref() {
                DeValue::Table(inner) => {
                    collect_secrets(text, inner, path, names_secret, false, hidden);
                }
                DeValue::Array(items) => {
                    for item in items.iter() {
                        if let DeValue::Table(inner) = item.get_ref() {
                            collect_secrets(text, inner, path, names_secret, false, hidden);
                        }
                    }
                }
                _ => {}
            }
        }
        path.pop();
    }
}

/// Hides one secret entry: its value (to the end of the line it ends on),
/// and with `hide_key` its key as well.
fn hide_entry(
    text: &str,
    key: &Spanned<std::borrow::Cow<'_, str>>,
    value: &Spanned<DeValue<'_>>,
    path: &mut Vec<String>,
    names_secret: &dyn Fn(&[String]) -> bool,
    hide_key: bool,
    hidden: &mut Vec<Range<usize>>,
) {
    let span = value.span();
    let starts_with = |prefix: &str| {
        text.get(span.clone())
            .is_some_and(|s| s.starts_with(prefix))
    };
    match value.get_ref() {
        DeValue::String(s) if s.is_empty() && !hide_key => {}
        // A `[table]` or dotted-key table: its span is its header or key, and
        // its entries are elsewhere in the file.
        DeValue::Table(inner) if !starts_with("{") => {
            if hide_key {
                hidden.push(key.span());
            }
            collect_secrets(text, inner, path, names_secret, true, hidden);
        }
        // An array of `[[tables]]`: each table's entries, likewise.
        DeValue::Array(items)
            if items.iter().any(|item| {
                item.get_ref().is_table()
                    && text.get(item.span()).is_some_and(|s| s.starts_with('['))
            }) =>
        {
            for item in items.iter() {
                if let DeValue::Table(inner) = item.get_ref() {
                    collect_secrets(text, inner, path, names_secret, true, hidden);
                }
            }
        }
        _ => {
            let start = if hide_key {
                key.span().start
            } else {
                span.start
            };
            hidden.push(start..line_end(text, span.end));
        }
    }
}

/// Where the value of an assignment whose `=` is at `eq` starts: after the
/// blanks that follow the `=`.
fn value_start(text: &str, eq: usize) -> usize {
    let after = &text[eq + 1..];
    eq + 1 + (after.len() - after.trim_start_matches([' ', '\t']).len())
}

/// The end of the line holding `offset`, before its line break.
fn line_end(text: &str, offset: usize) -> usize {
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    if end > offset && text.as_bytes()[end - 1] == b'\r' {
        end - 1
    } else {
        end
    }
}

/// For a file that does not parse: hides everything after each `=`, and
/// every line that is not blank, a comment or a table header (it may be the
/// middle of a string).
fn hide_every_value(text: &str, lines: &[Line], hidden: &mut Vec<Range<usize>>) {
    for line in lines {
        let content = &text[line.start..line.end];
        let trimmed = content.trim_start();
        let first = line.end - trimmed.len();
        if trimmed.is_empty() || (!line.continues && trimmed.starts_with('#')) {
            continue;
        }
        if !line.continues && trimmed.starts_with('[') {
            let header = &text[line.start..line.comment.unwrap_or(line.end)];
            if DeTable::parse(header).is_ok() {
                continue;
            }
        }
        match line.assign {
            Some(eq) if !line.continues => hidden.push(value_start(text, eq)..line.end),
            _ => hidden.push(first..line.end),
        }
    }
}

/// At most this many comment lines, and this many bytes of them, are joined
/// to find the end of a value that a commented-out assignment starts; a
/// commented secret that runs longer hides the rest of its comment.
const MAX_JOINED_COMMENT_LINES: usize = 64;
const MAX_JOINED_COMMENT_BYTES: usize = 16 * 1024;

/// Hides every comment that would set a secret once uncommented.
fn hide_commented_secrets(
    text: &str,
    lines: &[Line],
    names_secret: &dyn Fn(&[String]) -> bool,
    hidden: &mut Vec<Range<usize>>,
) {
    // A comment is read in the table it sits in, and in the table a
    // commented-out `#[header]` above it would open.
    let mut table: Vec<String> = Vec::new();
    let mut commented_table: Option<Vec<String>> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        let content = &text[line.start..line.end];
        let trimmed = content.trim_start();
        if !line.continues && trimmed.starts_with('[') {
            let header = &text[line.start..line.comment.unwrap_or(line.end)];
            table = header_path(header).unwrap_or_default();
            commented_table = None;
        }
        // A line that looks like a comment is read as one even inside a
        // string: it would be one if the string's quotes moved.
        if trimmed.starts_with('#') {
            let run_end = (i..lines.len())
                .find(|&j| {
                    !text[lines[j].start..lines[j].end]
                        .trim_start()
                        .starts_with('#')
                })
                .unwrap_or(lines.len());
            let run: Vec<(usize, &str)> = lines[i..run_end]
                .iter()
                .map(|l| uncomment(text, l.start, l.end))
                .collect();
            hide_in_comment_run(&run, &table, &mut commented_table, names_secret, hidden);
            i = run_end;
            continue;
        }
        if line.continues {
            // The middle of a string: data, but an assignment to a secret in
            // it would be one if the quotes moved.
            let run = [(line.start, content)];
            hide_in_comment_run(&run, &table, &mut None, names_secret, hidden);
        }
        if let Some(hash) = line.comment {
            let run = [uncomment(text, hash, line.end)];
            let mut none = None;
            hide_in_comment_run(&run, &table, &mut none, names_secret, hidden);
        }
        i += 1;
    }
}

/// The text of a comment line with its `#`s and leading blanks removed, and
/// where that text starts in the file.
fn uncomment(text: &str, start: usize, end: usize) -> (usize, &str) {
    let content = &text[start..end];
    let rest = content.trim_start().trim_start_matches('#');
    (end - rest.len(), rest)
}

/// Hides what sets a secret in consecutive comment lines, each given as
/// `(offset in the file, uncommented text)`: each line on its own, then the
/// values that span several lines. Both, so that a line is judged alone even
/// when it also reads as the middle of a longer value.
fn hide_in_comment_run(
    run: &[(usize, &str)],
    table: &[String],
    commented_table: &mut Option<Vec<String>>,
    names_secret: &dyn Fn(&[String]) -> bool,
    hidden: &mut Vec<Range<usize>>,
) {
    let in_context = |tables: &[Vec<String>], path: &[String]| {
        tables
            .iter()
            .any(|t| names_secret(&[t.as_slice(), path].concat()))
    };
    // The tables each line is read in (an index into `contexts`, which grows
    // only when a commented-out header changes them), and whether it parses
    // alone.
    let context = |commented_table: &Option<Vec<String>>| -> Vec<Vec<String>> {
        std::iter::once(table.to_vec())
            .chain(commented_table.clone())
            .collect()
    };
    let mut contexts = vec![context(commented_table)];
    let mut lines: Vec<(usize, bool)> = Vec::with_capacity(run.len());
    for &(offset, uncommented) in run {
        let tables = &contexts[contexts.len() - 1];
        let secret = |path: &[String]| in_context(tables, path);
        let parses = DeTable::parse(uncommented).is_ok();
        if parses && uncommented.trim_start().starts_with('[') {
            lines.push((contexts.len() - 1, parses));
            *commented_table = header_path(uncommented);
            contexts.push(context(commented_table));
            continue;
        } else if parses {
            hide_parsed(
                &[(0, offset, uncommented.len())],
                uncommented,
                &secret,
                hidden,
            );
        } else if let Some(eq) = assignment_of_secret(uncommented, &secret) {
            // Not TOML, but a broken assignment to a secret.
            hidden.push(offset + value_start(uncommented, eq)..offset + uncommented.len());
        }
        lines.push((contexts.len() - 1, parses));
    }
    let mut k = 0;
    while k < run.len() {
        let (_, uncommented) = run[k];
        let (context, parses) = lines[k];
        let tables = &contexts[context];
        let secret = |path: &[String]| in_context(tables, path);
        let mut lexer = LexState::START;
        let (_, assign) = lexer.line(uncommented.as_bytes());
        // Only an assignment that opens a value going on below is joined with
        // the lines after it: a secret's, or an array's or inline table's,
        // which may hold secrets. Anything else was judged line by line.
        let (Some(eq), false, false) = (assign, parses, lexer.is_closed()) else {
            k += 1;
            continue;
        };
        let secret_eq = assignment_of_secret(uncommented, &secret);
        if secret_eq.is_none() && !uncommented[eq + 1..].trim_start().starts_with(['[', '{']) {
            k += 1;
            continue;
        }
        // Lexed line by line to where the value closes, and parsed once
        // there: each line is read a bounded number of times.
        let mut bytes = uncommented.len();
        let closes_at = run
            .iter()
            .enumerate()
            .skip(k + 1)
            .take(MAX_JOINED_COMMENT_LINES)
            .take_while(|(_, (_, next))| {
                bytes += 1 + next.len();
                bytes <= MAX_JOINED_COMMENT_BYTES
            })
            .find(|(_, (_, next))| {
                lexer.line(next.as_bytes());
                lexer.is_closed()
            })
            .map(|(j, _)| j);
        if let Some(j) = closes_at {
            let mut joined = String::with_capacity(bytes);
            let mut map = Vec::with_capacity(j + 1 - k);
            for (n, &(line_offset, line)) in run[k..=j].iter().enumerate() {
                if n > 0 {
                    joined.push('\n');
                }
                map.push((joined.len(), line_offset, line.len()));
                joined.push_str(line);
            }
            if DeTable::parse(&joined).is_ok() {
                hide_parsed(&map, &joined, &secret, hidden);
                k = j + 1;
                continue;
            }
        }
        if secret_eq.is_some_and(|eq| opens_a_multi_line_value(&uncommented[eq + 1..])) {
            // Where the value would end is unknown: hide the rest of the comment.
            for &(next_offset, next) in &run[k + 1..] {
                hidden.push(next_offset..next_offset + next.len());
            }
            return;
        }
        k += 1;
    }
}

/// Hides the secrets of a parsed piece of uncommented text; `map` says where
/// each of its lines is in the file: `(offset in text, offset in file, length)`.
fn hide_parsed(
    map: &[(usize, usize, usize)],
    text: &str,
    names_secret: &dyn Fn(&[String]) -> bool,
    hidden: &mut Vec<Range<usize>>,
) {
    let Ok(document) = DeTable::parse(text) else {
        return;
    };
    let mut found = Vec::new();
    collect_secrets(
        text,
        document.get_ref(),
        &mut Vec::new(),
        names_secret,
        false,
        &mut found,
    );
    for range in found {
        for &(at, in_file, len) in map {
            let (start, end) = (range.start.max(at), range.end.min(at + len));
            if start < end {
                hidden.push(in_file + (start - at)..in_file + (end - at));
            }
        }
    }
}

/// Whether `text` opens a string, array or inline table it does not close.
fn opens_a_multi_line_value(text: &str) -> bool {
    ["\"\"\"", "'''", "[", "{"]
        .iter()
        .any(|opener| text.contains(opener))
}

/// The offset of the `=` of `text` when what comes before it is a TOML key
/// naming a secret.
fn assignment_of_secret(text: &str, names_secret: &dyn Fn(&[String]) -> bool) -> Option<usize> {
    let eq = scan(text).first()?.assign?;
    let value = text[eq + 1..].trim_start();
    if ["\"\"", "''"].iter().any(|empty| {
        value
            .strip_prefix(empty)
            .is_some_and(|rest| rest.trim().is_empty() || rest.trim_start().starts_with('#'))
    }) {
        // An empty secret stays visible, as in the shipped files.
        return None;
    }
    let key = text[..eq].trim();
    // A key behind some decoration (`#!token`, `#> token`) counts too.
    let undecorated =
        key.trim_start_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '"' || c == '\''));
    [key, undecorated]
        .into_iter()
        .filter(|key| !key.is_empty())
        .filter_map(|key| header_path(&format!("{key} = 0\n")))
        .any(|path| names_secret(&path))
        .then_some(eq)
}

/// The key path a one-entry document sets: `[a."b"]` and `a."b" = 1` are
/// both `a.b`.
fn header_path(text: &str) -> Option<Vec<String>> {
    let document = DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    let mut table = document.get_ref();
    loop {
        let mut entries = table.iter();
        let (Some((key, value)), None) = (entries.next(), entries.next()) else {
            return Some(path);
        };
        path.push(key.get_ref().to_string());
        match value.get_ref() {
            DeValue::Table(inner) => table = inner,
            DeValue::Array(items) => match items.iter().last().map(|i| i.get_ref()) {
                Some(DeValue::Table(inner)) => table = inner,
                _ => return Some(path),
            },
            _ => return Some(path),
        }
    }
}

/// `text` with each hidden range replaced by [`REDACTED`] on every line it
/// touches; line breaks are kept.
fn render(text: &str, lines: &[Line], mut hidden: Vec<Range<usize>>) -> String {
    hidden.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(hidden.len());
    for range in hidden {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut first = 0;
    for (n, line) in lines.iter().enumerate() {
        let next = lines.get(n + 1).map_or(text.len(), |l| l.start);
        while first < merged.len() && merged[first].end <= line.start {
            first += 1;
        }
        let mut at = line.start;
        for range in merged[first..].iter().take_while(|r| r.start < line.end) {
            let (start, end) = (range.start.max(line.start), range.end.min(line.end));
            if start < end {
                out.push_str(&text[at..start]);
                out.push_str(REDACTED);
                at = end;
            }
        }
        out.push_str(&text[at..line.end]);
        out.push_str(&text[line.end..next]);
    }
    out
}
