//! Setting one key in a user's TOML text, the way a person editing the file
//! would: everything else is kept byte for byte, including comments, layout,
//! CRLF line endings and a byte-order mark.
//!
//! Where the new line goes is decided from the parsed document (the spans of
//! every key, value and table header), never from line patterns, so a
//! `#key = …` line inside a multi-line string or under another table is
//! never mistaken for the key's commented default.

use std::ops::Range;

use confd::KeyPath;
use toml_edit::{DocumentMut, Item};

/// `text` with `key` set to `value`.
///
/// - A key that is set keeps its place and trailing comment.
/// - Else a commented default of the key (`#key = …`), when it is a comment
///   line of the key's own table, is replaced by the setting, so the file
///   does not say one thing commented and another below.
/// - Else the key goes after the last key of its table; in a table with no
///   keys yet, after the table's header comment (the comment block that opens
///   the file, or that follows `[table]`, up to a blank line).
/// - A table that does not exist yet is appended.
pub(crate) fn set_in_document(
    text: &str,
    key: &KeyPath,
    value: &toml::Value,
) -> Result<String, String> {
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    };
    // Edit a CRLF file as LF and convert back: every line written then has
    // the file's own ending. A file that mixes endings is edited as it is.
    let crlf = body.contains("\r\n") && body.matches('\n').count() == body.matches("\r\n").count();
    let updated = if crlf {
        set_in_lf_text(&body.replace("\r\n", "\n"), key, value)?.replace('\n', "\r\n")
    } else {
        set_in_lf_text(body, key, value)?
    };
    Ok(format!("{bom}{updated}"))
}

fn set_in_lf_text(text: &str, key: &KeyPath, value: &toml::Value) -> Result<String, String> {
    let parsed = toml_edit::Document::parse(text).map_err(|e| e.message().to_owned())?;
    let (last, parents) = key.segments().split_last().ok_or("empty key")?;
    let new_value: toml_edit::Value = one_line(value)
        .parse()
        .map_err(|e: toml_edit::TomlError| e.message().to_owned())?;

    let new_text = new_value.to_string();
    let new_text = new_text.trim();
    let layout = Layout::of(&parsed);
    let line = format!("{} = {new_text}", toml_edit::Key::new(last.as_str()));
    let edited = match value_span(parsed.as_table(), key) {
        // Set already: only its value's text changes, comments and all
        // stay.
        Some(Some(span)) => Some(splice(text, span, new_text)),
        Some(None) => None,
        None => match layout.region_of(parents) {
            Some(region) => match layout.commented_default(text, region.clone(), last) {
                Some(span) => Some(splice(text, span, &line)),
                None => match layout.last_pair_in(&region) {
                    Some(end) => Some(insert_after_line(text, end, &line)),
                    None => Some(insert_after_header_comment(text, region, &line)),
                },
            },
            // A table the file lacks goes at its end, after any comments.
            None => Some(append_table(text, parents, &line)),
        },
    };
    // The text edit is checked against the meaning it must have; a layout
    // it did not foresee (a key in an inline or dotted table) falls back to
    // toml_edit's structural edit, which may normalise line endings.
    if let Some(edited) = edited
        && means_set(text, &edited, key, value)
    {
        return Ok(edited);
    }
    set_structurally(parsed.into_mut(), key, new_value)
}

/// `value` as TOML on one line: a string with a line feed is escaped rather
/// than spread over lines (a setting is one line of the file, and a CRLF
/// file's line endings are converted around it).
fn one_line(value: &toml::Value) -> String {
    use toml_writer::ToTomlValue;
    match value {
        toml::Value::String(s) => toml_writer::TomlStringBuilder::new(s)
            .as_basic()
            .to_toml_value(),
        toml::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(one_line).collect();
            format!("[{}]", items.join(", "))
        }
        toml::Value::Table(table) => {
            let entries: Vec<String> = table
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_edit::Key::new(k.as_str()), one_line(v)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
        other => other.to_string(),
    }
}

/// Where the value of `key` is in the text: `None` when the key is not set,
/// `Some(None)` when it is set but has no span of its own (a table).
fn value_span(table: &toml_edit::Table, key: &KeyPath) -> Option<Option<Range<usize>>> {
    let (last, parents) = key.segments().split_last()?;
    let mut current: &dyn toml_edit::TableLike = table;
    for segment in parents {
        current = current.get(segment)?.as_table_like()?;
    }
    match current.get(last)? {
        Item::Value(value) => Some(value.span()),
        _ => Some(None),
    }
}

/// Sets `key` through toml_edit: in place for a set key, appended to its
/// table otherwise.
fn set_structurally(
    mut document: DocumentMut,
    key: &KeyPath,
    new_value: toml_edit::Value,
) -> Result<String, String> {
    let (last, parents) = key.segments().split_last().ok_or("empty key")?;
    let mut table: &mut dyn toml_edit::TableLike = document.as_table_mut();
    for segment in parents {
        let entry = table.entry(segment).or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        table = entry
            .as_table_like_mut()
            .ok_or_else(|| format!("`{segment}` is a value, not a table"))?;
    }
    match table.get_mut(last) {
        Some(Item::Value(old)) => {
            let decor = old.decor().clone();
            *old = new_value;
            *old.decor_mut() = decor;
        }
        Some(Item::Table(_) | Item::ArrayOfTables(_)) => {
            return Err(format!("`{key}` is a table; set its keys one by one"));
        }
        _ => {
            table.insert(last, Item::Value(new_value));
        }
    }
    Ok(document.to_string())
}

/// Where a document's table headers and key/value pairs are.
struct Layout {
    /// `[a.b]` headers: the table's path and the header's span. Arrays of
    /// tables have no path (a key can't be set in them by path).
    headers: Vec<(Option<Vec<String>>, Range<usize>)>,
    /// From the start of each key to the end of its value; comment-looking
    /// text in here (a multi-line string, an array) is not a comment.
    pairs: Vec<Range<usize>>,
}

impl Layout {
    fn of(document: &toml_edit::Document<&str>) -> Self {
        let mut layout = Layout {
            headers: Vec::new(),
            pairs: Vec::new(),
        };
        layout.walk(document.as_table(), &mut Vec::new(), true);
        layout.headers.sort_by_key(|(_, span)| span.start);
        // Sorted, pairs (which never overlap) are searched by halving: a
        // file of 100,000 keys and comments is looked at in one pass.
        layout.pairs.sort_by_key(|pair| pair.start);
        layout
    }

    /// Records `table`'s headers and pairs; a header is `addressable` (has
    /// a path a key can be set under) unless it is inside an array of tables.
    fn walk(&mut self, table: &toml_edit::Table, path: &mut Vec<String>, addressable: bool) {
        for (name, item) in table.iter() {
            path.push(name.to_owned());
            let key_start = table.key(name).and_then(toml_edit::Key::span);
            match item {
                Item::Value(value) => {
                    if let (Some(start), Some(end)) = (key_start, value.span()) {
                        self.pairs.push(start.start..end.end);
                    }
                }
                Item::Table(inner) => {
                    if !inner.is_implicit()
                        && !inner.is_dotted()
                        && let Some(span) = inner.span()
                    {
                        self.headers.push((addressable.then(|| path.clone()), span));
                    }
                    self.walk(inner, path, addressable);
                }
                Item::ArrayOfTables(array) => {
                    for inner in array.iter() {
                        if let Some(span) = inner.span() {
                            self.headers.push((None, span));
                        }
                        self.walk(inner, path, false);
                    }
                }
                Item::None => {}
            }
            path.pop();
        }
    }

    /// The text a table's own lines are in: the root's, up to the first
    /// header; a `[table]`'s, from the end of its header line to the next.
    fn region_of(&self, table: &[String]) -> Option<Range<usize>> {
        let next_header_after = |offset: usize| {
            self.headers
                .iter()
                .map(|(_, span)| span.start)
                .find(|&start| start >= offset)
        };
        if table.is_empty() {
            return Some(0..next_header_after(0).unwrap_or(usize::MAX));
        }
        let (_, header) = self
            .headers
            .iter()
            .find(|(path, _)| path.as_deref() == Some(table))?;
        Some(header.end..next_header_after(header.end).unwrap_or(usize::MAX))
    }

    fn is_in_pair(&self, offset: usize) -> bool {
        let after = self.pairs.partition_point(|pair| pair.start <= offset);
        after > 0 && self.pairs[after - 1].contains(&offset)
    }

    /// Where the last key/value pair of `region` ends.
    fn last_pair_in(&self, region: &Range<usize>) -> Option<usize> {
        self.pairs
            .iter()
            .filter(|pair| region.contains(&pair.start))
            .map(|pair| pair.end)
            .max()
    }

    /// The span (from `#` to the end of the line) of the first comment line
    /// in `region` that, uncommented, sets exactly `key`.
    fn commented_default(
        &self,
        text: &str,
        region: Range<usize>,
        key: &str,
    ) -> Option<Range<usize>> {
        lines(text, region).find_map(|line| {
            let hash = line.start + text[line.clone()].find(|c: char| c != ' ' && c != '\t')?;
            if !text[hash..].starts_with('#') || self.is_in_pair(hash) {
                return None;
            }
            let uncommented: toml::Table = text[hash + 1..line.end].parse().ok()?;
            let sets_key = uncommented.len() == 1
                && uncommented.get(key).is_some_and(|value| !value.is_table());
            sets_key.then_some(hash..line.end)
        })
    }
}

/// The lines that start inside `region`, as spans without their newline.
fn lines(text: &str, region: Range<usize>) -> impl Iterator<Item = Range<usize>> + '_ {
    let end = region.end.min(text.len());
    let mut start = line_start_at_or_after(text, region.start);
    std::iter::from_fn(move || {
        if start >= end {
            return None;
        }
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        // A CR before the LF ends the line too (a file that mixes endings).
        let content_end = if text[..line_end].ends_with('\r') {
            line_end - 1
        } else {
            line_end
        };
        let line = start..content_end.max(start);
        start = line_end + 1;
        Some(line)
    })
}

fn line_start_at_or_after(text: &str, offset: usize) -> usize {
    if offset == 0 || offset > text.len() {
        return offset.min(text.len());
    }
    text[offset - 1..]
        .find('\n')
        .map_or(text.len(), |i| offset + i)
}

/// Inserts `line` on a line of its own after the line holding `offset`,
/// ended as that line is (LF or CRLF).
fn insert_after_line(text: &str, offset: usize, line: &str) -> String {
    match text[offset..].find('\n') {
        Some(i) => {
            let end = offset + i + 1;
            let ending = if text[..end].ends_with("\r\n") {
                "\r\n"
            } else {
                "\n"
            };
            format!("{}{line}{ending}{}", &text[..end], &text[end..])
        }
        None => format!("{text}\n{line}\n"),
    }
}

fn splice(text: &str, span: Range<usize>, replacement: &str) -> String {
    format!("{}{replacement}{}", &text[..span.start], &text[span.end..])
}

/// Inserts `line` into a table that has no keys yet: after its header
/// comment (a block of comment lines that a blank line or the table's end
/// closes), else at the table's start.
fn insert_after_header_comment(text: &str, region: Range<usize>, line: &str) -> String {
    let first = line_start_at_or_after(text, region.start);
    let is_comment = |l: &Range<usize>| text[l.clone()].trim_start().starts_with('#');
    // The comment lines that open the table, and what ends them.
    let mut block_end = None;
    let mut closed_by_blank = false;
    for l in lines(text, region.clone()) {
        if is_comment(&l) {
            block_end = Some(l.end);
        } else {
            closed_by_blank = text[l].trim().is_empty();
            break;
        }
    }
    // Comments that run into the next `[table]` document that table.
    let header_comment = block_end.filter(|_| closed_by_blank || region.end >= text.len());
    match header_comment {
        Some(end) => {
            let after = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
            let newline = if text[..after].ends_with('\n') {
                ""
            } else {
                "\n"
            };
            format!("{}{newline}\n{line}\n{}", &text[..after], &text[after..])
        }
        None => {
            let newline = if text[..first].ends_with('\n') || first == 0 {
                ""
            } else {
                "\n"
            };
            // Kept apart from a comment that documents what follows.
            let gap = if block_end.is_some() { "\n" } else { "" };
            format!("{}{newline}{line}\n{gap}{}", &text[..first], &text[first..])
        }
    }
}

/// `text` followed by a new `[table]` holding `line`.
fn append_table(text: &str, table: &[String], line: &str) -> String {
    let header: Vec<String> = table
        .iter()
        .map(|segment| toml_edit::Key::new(segment.as_str()).to_string())
        .collect();
    let separator = match text {
        "" => "",
        t if t.ends_with("\n\n") => "",
        t if t.ends_with('\n') => "\n",
        _ => "\n\n",
    };
    format!("{text}{separator}[{}]\n{line}\n", header.join("."))
}

/// Whether `edited` means `original` with `key` set to `value`, and nothing else changed.
fn means_set(original: &str, edited: &str, key: &KeyPath, value: &toml::Value) -> bool {
    let (Ok(mut expected), Ok(actual)) = (
        original.parse::<toml::Table>(),
        edited.parse::<toml::Table>(),
    ) else {
        return false;
    };
    let (last, parents) = key
        .segments()
        .split_last()
        .expect("key paths are never empty");
    let mut table = &mut expected;
    for segment in parents {
        let entry = table
            .entry(segment.as_str())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(inner) = entry.as_table_mut() else {
            return false;
        };
        table = inner;
    }
    table.insert(last.clone(), value.clone());
    expected == actual
}

#[cfg(test)]
mod tests {
    use super::*;
    use indoc::indoc;

    fn set(text: &str, key: &str, value: impl Into<toml::Value>) -> String {
        set_in_document(text, &key.parse().unwrap(), &value.into()).unwrap()
    }

    #[test]
    fn replaces_the_shipped_commented_line() {
        let text = "# Sync at start-up.\n#auto_sync = false\n# after\n";
        assert_eq!(
            set(text, "auto_sync", true),
            "# Sync at start-up.\nauto_sync = true\n# after\n"
        );
    }

    #[test]
    fn keeps_comments_order_and_trailing_comments() {
        let text = "# head\nb = 1 # keep me\na = 2\n";
        assert_eq!(set(text, "b", 5), "# head\nb = 5 # keep me\na = 2\n");
    }

    #[test]
    fn appends_new_keys_and_nested_tables() {
        assert_eq!(set("a = 1\n", "c", "x"), "a = 1\nc = \"x\"\n");
        let nested = set("a = 1\n", "server.port", 80);
        let parsed: toml::Table = nested.parse().unwrap();
        assert_eq!(parsed["server"]["port"].as_integer(), Some(80));
        assert!(nested.starts_with("a = 1\n"));
    }

    #[test]
    fn an_uncommented_key_wins_over_its_commented_twin() {
        assert_eq!(set("#a = 1\na = 2\n", "a", 3), "#a = 1\na = 3\n");
    }

    #[test]
    fn a_commented_line_inside_a_multi_line_string_is_not_a_default() {
        for text in [
            "url = \"\"\"\n#kv_size = 5\n\"\"\"\n",
            "url = '''\n#kv_size = 5\n'''\n",
            "list = [\n#kv_size = 5\n1,\n]\n",
        ] {
            let updated = set(text, "kv_size", 9);
            assert!(updated.starts_with(text), "{text:?} became {updated:?}");
            assert_eq!(&updated[text.len()..], "kv_size = 9\n");
        }
    }

    #[test]
    fn a_commented_line_of_another_table_is_not_a_default() {
        let text = "[server]\n#port = 80\n";
        let updated = set(text, "foo.port", 1);
        assert_eq!(updated, "[server]\n#port = 80\n\n[foo]\nport = 1\n");
        let parsed: toml::Table = updated.parse().unwrap();
        assert_eq!(parsed["foo"]["port"].as_integer(), Some(1));
        assert!(parsed["server"].as_table().unwrap().is_empty());
        // A root key is not taken from a table's commented line either.
        let updated = set(text, "port", 1);
        assert_eq!(updated, "port = 1\n[server]\n#port = 80\n");
    }

    #[test]
    fn a_commented_default_in_the_right_table_is_replaced() {
        let text = "a = 1\n\n[server]\n# The port.\n#port = 80\n\n[other]\n#port = 81\n";
        assert_eq!(
            set(text, "server.port", 8080),
            "a = 1\n\n[server]\n# The port.\nport = 8080\n\n[other]\n#port = 81\n"
        );
    }

    #[test]
    fn a_new_key_goes_after_the_header_comment() {
        let text = indoc! {"
            # conf.d/cache: the header.
            # Second line.

            # Doc of another key.
            #backend = \"auto\"
        "};
        assert_eq!(
            set(text, "kv_size", 9),
            indoc! {"
                # conf.d/cache: the header.
                # Second line.

                kv_size = 9

                # Doc of another key.
                #backend = \"auto\"
            "}
        );
        assert_eq!(
            set("# only a comment", "a", 1),
            "# only a comment\n\na = 1\n"
        );
        assert_eq!(set("", "a", 1), "a = 1\n");
        assert_eq!(set("\n[t]\nx = 1\n", "a", 1), "a = 1\n\n[t]\nx = 1\n");
    }

    #[test]
    fn a_comment_right_above_a_table_stays_with_that_table() {
        assert_eq!(
            set("# Server settings:\n[server]\nport = 1\n", "kv_size", 9),
            "kv_size = 9\n\n# Server settings:\n[server]\nport = 1\n"
        );
        // A header comment closed by a blank line is still the file's own.
        assert_eq!(
            set("# File.\n\n# Server:\n[server]\n", "a", 1),
            "# File.\n\na = 1\n\n# Server:\n[server]\n"
        );
        // In a file that mixes endings, the line goes after the CRLF.
        assert_eq!(set("# head\r\n\n", "a", 1), "# head\r\n\na = 1\n\n");
    }

    #[test]
    fn crlf_and_a_byte_order_mark_are_kept() {
        let text = "\u{feff}# head\r\n#a = 1\r\nb = \"\"\"\r\nx\r\n\"\"\"\r\n";
        let updated = set(text, "a", 2);
        assert_eq!(
            updated,
            "\u{feff}# head\r\na = 2\r\nb = \"\"\"\r\nx\r\n\"\"\"\r\n"
        );
        let appended = set("\u{feff}x = 1\r\n", "y", 2);
        assert_eq!(appended, "\u{feff}x = 1\r\ny = 2\r\n");
    }

    #[test]
    fn a_value_with_a_line_feed_stays_on_its_line_and_keeps_its_meaning() {
        let crlf = "# head\r\n#a = 0\r\n";
        let updated = set(crlf, "a", "/x\n/y");
        assert_eq!(updated, "# head\r\na = \"/x\\n/y\"\r\n");
        let parsed: toml::Table = updated.parse().unwrap();
        assert_eq!(parsed["a"].as_str(), Some("/x\n/y"));
        let nested = toml::Value::Array(vec!["a\nb".into(), 1.into()]);
        assert_eq!(set("", "l", nested), "l = [\"a\\nb\", 1]\n");
    }

    #[test]
    fn a_file_that_mixes_line_endings_keeps_every_one() {
        assert_eq!(
            set("# head\r\n#a = 0\r\nb = 1\n", "a", 1),
            "# head\r\na = 1\r\nb = 1\n"
        );
        assert_eq!(set("a = 1\r\nb = 2\n", "c", 3), "a = 1\r\nb = 2\nc = 3\n");
        assert_eq!(set("a = 1\r\nb = 2\n", "a", 3), "a = 3\r\nb = 2\n");
        assert_eq!(
            set("a = 1 # one\r\nb = 2\n", "a", 3),
            "a = 3 # one\r\nb = 2\n"
        );
    }

    #[test]
    fn keys_in_inline_and_dotted_tables_are_set_in_place() {
        assert_eq!(set("s = { a = 1 }\n", "s.a", 2), "s = { a = 2 }\n");
        let added = set("s = { a = 1 }\n", "s.b", 2);
        let parsed: toml::Table = added.parse().unwrap();
        assert_eq!(parsed["s"]["b"].as_integer(), Some(2));
        assert_eq!(set("s.a = 1\n", "s.a", 2), "s.a = 2\n");
        let dotted = set("s.a = 1\n", "s.b", 2);
        let parsed: toml::Table = dotted.parse().unwrap();
        assert_eq!(parsed["s"]["b"].as_integer(), Some(2));
    }

    #[test]
    fn a_table_inside_an_array_of_tables_is_not_a_top_level_table() {
        let text = "[[srv]]\nname = \"a\"\n[srv.tls]\n#cert = \"x\"\n";
        let updated = set(text, "tls.cert", "y");
        assert!(updated.starts_with(text), "{updated:?}");
        let parsed: toml::Table = updated.parse().unwrap();
        assert_eq!(parsed["tls"]["cert"].as_str(), Some("y"));
    }

    #[test]
    fn a_hand_commented_line_with_spaces_counts_but_prose_does_not() {
        assert_eq!(set("#  a = 1\n", "a", 2), "a = 2\n");
        let prose = "# a = the answer, see docs\n";
        assert_eq!(set(prose, "a", 2), "# a = the answer, see docs\n\na = 2\n");
    }
}
