//! One source of configuration, parsed into a table with the origin of every
//! key, and the merge that stacks layers into the effective configuration.
//!
//! Parse pure, load thin: [`Layer::parse`] works on text and is tested
//! without a disk; the loader reads files and hands their text here.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use toml::de::{DeTable, DeValue};
use toml::{Spanned, Table, Value};

use crate::{Error, KeyPath, Origin, Precedence};

/// The deepest nesting accepted: each key segment, table and array level
/// counts, so `a.b = [1]` puts `1` at depth 3. Deeper documents are refused
/// with a positioned error instead of risking the stack (a 10,000-deep inline
/// table is a few kilobytes of text), and every value a file may hold has a
/// key path of at most [`MAX_KEY_PATH_SEGMENTS`](crate::MAX_KEY_PATH_SEGMENTS).
pub const MAX_DEPTH: usize = 64;

/// What a document nested deeper than [`MAX_DEPTH`] is told.
const TOO_DEEP: &str = "keys, tables and arrays nest deeper than 64 levels";

/// Where each key of a [`Table`] came from, mirroring its shape.
pub type OriginTable = BTreeMap<String, OriginNode>;

/// The origin of one entry of a table.
#[derive(Clone, Debug, PartialEq)]
pub enum OriginNode {
    /// A value that is not a table (arrays are replaced whole, so they are leaves).
    Leaf(Origin),
    /// A table, which merges key by key.
    Table {
        /// Where the table was last declared.
        origin: Origin,
        /// Its entries.
        children: OriginTable,
    },
}

impl OriginNode {
    /// Where this entry came from.
    #[must_use]
    pub fn origin(&self) -> &Origin {
        match self {
            OriginNode::Leaf(origin) | OriginNode::Table { origin, .. } => origin,
        }
    }
}

/// Finds the origin node at `path`.
#[must_use]
pub fn origin_at<'a>(origins: &'a OriginTable, path: &KeyPath) -> Option<&'a OriginNode> {
    let (last, parents) = path.segments().split_last()?;
    let mut table = origins;
    for segment in parents {
        match table.get(segment)? {
            OriginNode::Table { children, .. } => table = children,
            OriginNode::Leaf(_) => return None,
        }
    }
    table.get(last)
}

/// Finds the value at `path`.
#[must_use]
pub fn value_at<'a>(table: &'a Table, path: &KeyPath) -> Option<&'a Value> {
    let (last, parents) = path.segments().split_last()?;
    let mut current = table;
    for segment in parents {
        current = current.get(segment)?.as_table()?;
    }
    current.get(last)
}

/// Line starts of a text, to turn byte offsets into `line:column`.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub(crate) fn position(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line as u32 + 1, column as u32 + 1)
    }

    /// The text of the line holding `offset`, without its line break.
    pub(crate) fn line_text(&self, line: u32) -> &'a str {
        let start = self.starts[(line - 1) as usize];
        let end = self
            .starts
            .get(line as usize)
            .map_or(self.text.len(), |&next| next - 1);
        self.text[start..end].trim_end_matches('\r')
    }
}

/// One layer of configuration: a table and the origin of each of its keys.
#[derive(Clone, Debug)]
pub struct Layer {
    precedence: Precedence,
    table: Table,
    origins: OriginTable,
}

impl Layer {
    /// An empty layer.
    #[must_use]
    pub fn empty(precedence: Precedence) -> Self {
        Layer {
            precedence,
            table: Table::new(),
            origins: OriginTable::new(),
        }
    }

    /// A layer whose every key comes from one origin (profile defaults).
    #[must_use]
    pub fn from_table(table: Table, origin: &Origin) -> Self {
        fn origins_of(table: &Table, origin: &Origin) -> OriginTable {
            table
                .iter()
                .map(|(k, v)| {
                    let node = match v {
                        Value::Table(t) => OriginNode::Table {
                            origin: origin.clone(),
                            children: origins_of(t, origin),
                        },
                        _ => OriginNode::Leaf(origin.clone()),
                    };
                    (k.clone(), node)
                })
                .collect()
        }
        Layer {
            precedence: origin.precedence(),
            origins: origins_of(&table, origin),
            table,
        }
    }

    /// Parses a TOML document read from `path`; every key's origin is the
    /// position of its value in `text`.
    ///
    /// `redact_snippet` hides values in the error snippet, for bricks whose
    /// files hold secrets.
    pub fn parse(
        text: &str,
        path: &Path,
        precedence: Precedence,
        redact_snippet: bool,
    ) -> Result<Self, Error> {
        let mut layer = Layer::empty(precedence);
        parse_into(
            text,
            path,
            precedence,
            redact_snippet,
            &mut layer.table,
            &mut layer.origins,
        )?;
        Ok(layer)
    }

    /// Adds one value at `path`, creating intermediate tables.
    pub(crate) fn insert(&mut self, path: &KeyPath, value: Value, origin: Origin) {
        let Some((last, parents)) = path.segments().split_last() else {
            return;
        };
        let mut table = &mut self.table;
        let mut origins = &mut self.origins;
        for segment in parents {
            let entry = table
                .entry(segment.clone())
                .or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            let node = origins
                .entry(segment.clone())
                .and_modify(|n| {
                    if matches!(n, OriginNode::Leaf(_)) {
                        *n = OriginNode::Table {
                            origin: origin.clone(),
                            children: OriginTable::new(),
                        };
                    }
                })
                .or_insert_with(|| OriginNode::Table {
                    origin: origin.clone(),
                    children: OriginTable::new(),
                });
            let (Value::Table(t), OriginNode::Table { children, .. }) = (entry, node) else {
                unreachable!("both were made tables just above");
            };
            table = t;
            origins = children;
        }
        table.insert(last.clone(), value);
        origins.insert(last.clone(), OriginNode::Leaf(origin));
    }

    /// The layer's precedence.
    #[must_use]
    pub fn precedence(&self) -> Precedence {
        self.precedence
    }

    /// The layer's values.
    #[must_use]
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Where each of the layer's values came from.
    #[must_use]
    pub fn origins(&self) -> &OriginTable {
        &self.origins
    }

    /// Stacks a copy of `self` on top of `base`: tables merge key by key,
    /// recursively; any other value (arrays included) replaces the lower one
    /// whole. The layer itself is kept (for `explain`), so values are cloned
    /// once, straight into place.
    pub(crate) fn merge_into(&self, base_table: &mut Table, base_origins: &mut OriginTable) {
        merge(base_table, base_origins, &self.table, &self.origins);
    }
}

/// One source of a load, kept so each layer can be shown on its own.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// Defaults, environment or command line: small, kept as a layer.
    Layer(Arc<Layer>),
    /// A file, kept as its text and parsed again only when asked.
    File {
        path: std::path::PathBuf,
        text: String,
        precedence: Precedence,
        redact: bool,
    },
}

impl Source {
    /// The source as a layer of its own.
    pub(crate) fn layer(&self) -> Option<Layer> {
        match self {
            Source::Layer(layer) => Some(Layer::clone(layer)),
            Source::File {
                path,
                text,
                precedence,
                redact,
            } => Layer::parse(text, path, *precedence, *redact).ok(),
        }
    }
}

/// Parses a TOML document read from `path` straight into a merged table, as
/// if it were parsed into a [`Layer`] and merged on top: a load skips
/// building one table per file (DESIGN.md §3 merge rules hold either way).
///
/// `redact_snippet` hides values in the error snippet, for bricks whose files
/// hold secrets. On error, `table` may hold part of the document.
pub(crate) fn parse_into(
    text: &str,
    path: &Path,
    precedence: Precedence,
    redact_snippet: bool,
    table: &mut Table,
    origins: &mut OriginTable,
) -> Result<(), Error> {
    // Editors on Windows write a BOM; TOML does not allow one.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let index = LineIndex::new(text);
    let malformed = |offset: usize, message: String| {
        let (line, column) = index.position(offset);
        Error::Malformed {
            path: path.to_owned(),
            line,
            column,
            message,
            snippet: snippet(&index, line, column, redact_snippet),
        }
    };
    if let Some(offset) = nesting_too_deep(text) {
        return Err(malformed(offset, TOO_DEEP.to_owned()));
    }
    let document = DeTable::parse(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        // The parser's own guard (a dotted key or header of 80 segments)
        // says only "recursion limit": say what the limit is about.
        let message = e.message().trim_end();
        let message = if message.contains("recursion") {
            TOO_DEEP
        } else {
            message
        };
        malformed(offset, message.to_owned())
    })?;
    let converter = Converter {
        path: Arc::from(path),
        precedence,
        index: &index,
    };
    converter
        .merge_table(document.into_inner(), 0, table, origins)
        .map_err(|(offset, message)| malformed(offset, message))
}

fn merge(dst: &mut Table, dst_origins: &mut OriginTable, src: &Table, src_origins: &OriginTable) {
    for (key, value) in src {
        let Some(origin) = src_origins.get(key) else {
            continue;
        };
        match (dst.get_mut(key), value, dst_origins.get_mut(key), origin) {
            (
                Some(Value::Table(lower)),
                Value::Table(upper),
                Some(OriginNode::Table {
                    origin: lower_origin,
                    children: lower_children,
                }),
                OriginNode::Table { origin, children },
            ) => {
                lower_origin.clone_from(origin);
                merge(lower, lower_children, upper, children);
            }
            _ => replace(dst, dst_origins, key, value.clone(), origin.clone()),
        }
    }
}

/// Sets `key` in a table and its origins, reusing the existing entries (and
/// their key allocations) when there are some.
fn replace<K: AsRef<str> + Into<String>>(
    dst: &mut Table,
    dst_origins: &mut OriginTable,
    key: K,
    value: Value,
    origin: OriginNode,
) {
    match (dst.get_mut(key.as_ref()), dst_origins.get_mut(key.as_ref())) {
        (Some(slot), Some(origin_slot)) => {
            *slot = value;
            *origin_slot = origin;
        }
        _ => {
            let key: String = key.into();
            dst.insert(key.clone(), value);
            dst_origins.insert(key, origin);
        }
    }
}

/// The offset of the first bracket that opens more than [`MAX_DEPTH`] levels,
/// counted without parsing (brackets inside strings and comments only make
/// the count larger, which errs on the side of refusing absurd input).
fn nesting_too_deep(text: &str) -> Option<usize> {
    // Only inline tables and arrays nest; header tables (`[a.b.c]`) and dotted
    // keys do not recurse in the parser, so only those brackets count, and a
    // cheap upper bound avoids the scan for ordinary files.
    if text.bytes().filter(|&b| b == b'[' || b == b'{').count() <= MAX_DEPTH {
        return None;
    }
    let mut depth = 0usize;
    let mut in_comment = false;
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        if in_comment {
            in_comment = b != b'\n';
            continue;
        }
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' && q == b'"' {
                escaped = true;
            } else if b == q || b == b'\n' {
                quote = None;
            }
            continue;
        }
        match b {
            b'#' => in_comment = true,
            b'"' | b'\'' => quote = Some(b),
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The offending line with a caret under the column, `rustc`-style.
fn snippet(index: &LineIndex<'_>, line: u32, column: u32, redact: bool) -> String {
    let mut text = index.line_text(line).to_owned();
    if redact {
        // Keep the key so the user can find the line; hide what follows `=`,
        // and all of a line that is inside a (perhaps secret) string.
        text = crate::secret::snippet_line(index.text, line);
    }
    // A hostile or generated file can have a line of megabytes: show a
    // window around the column, not the whole line.
    let (text, caret) = window(&text, column.saturating_sub(1) as usize, SNIPPET_WIDTH);
    let (text, caret) = escaped_line(&text, caret);
    let gutter = line.to_string();
    let pad = " ".repeat(gutter.len());
    let caret_pad = " ".repeat(caret);
    format!("{pad} |\n{gutter} | {text}\n{pad} | {caret_pad}^")
}

/// A snippet line with its control characters escaped (a file can hold an
/// escape sequence in a comment or a string), and where the caret moves to.
/// Tabs stay: they are ordinary TOML white space.
fn escaped_line(text: &str, caret: usize) -> (String, usize) {
    let mut shown = String::with_capacity(text.len());
    let mut shown_caret = caret;
    for (i, c) in text.chars().enumerate() {
        let escaped = crate::shown::terminal_safe(c.encode_utf8(&mut [0; 4])).into_owned();
        if i < caret {
            shown_caret += escaped.chars().count() - 1;
        }
        shown.push_str(&escaped);
    }
    (shown, shown_caret)
}

/// The widest snippet line shown, in characters.
const SNIPPET_WIDTH: usize = 100;

/// At most `width` characters of `text` around character `column`, with `…`
/// where it was cut, and the caret's position in the result.
fn window(text: &str, column: usize, width: usize) -> (String, usize) {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= width {
        return (text.to_owned(), column);
    }
    let start = column
        .saturating_sub(width / 2)
        .min(chars.len().saturating_sub(width));
    let end = (start + width).min(chars.len());
    let mut shown: String = chars[start..end].iter().collect();
    let mut caret = column - start;
    if start > 0 {
        shown.insert(0, '…');
        caret += 1;
    }
    if end < chars.len() {
        shown.push('…');
    }
    (shown, caret)
}

struct Converter<'a> {
    path: Arc<Path>,
    precedence: Precedence,
    index: &'a LineIndex<'a>,
}

type ConvertError = (usize, String);

impl Converter<'_> {
    fn origin(&self, offset: usize) -> Origin {
        let (line, column) = self.index.position(offset);
        Origin::File {
            path: Arc::clone(&self.path),
            precedence: self.precedence,
            line,
            column,
        }
    }

    /// Converts `de`, a table at `depth`, into `dst`, merging: a table into
    /// an existing table recurses, anything else replaces what is there.
    fn merge_table(
        &self,
        de: DeTable<'_>,
        depth: usize,
        dst: &mut Table,
        dst_origins: &mut OriginTable,
    ) -> Result<(), ConvertError> {
        // Header tables and dotted keys nest without brackets, so the
        // bracket scan before parsing cannot see them: count levels here.
        let depth = depth + 1;
        for (key, value) in de {
            let key = key.into_inner();
            let start = value.span().start;
            if depth > MAX_DEPTH {
                return Err((start, TOO_DEEP.to_owned()));
            }
            match value.into_inner() {
                DeValue::Table(inner) => {
                    if let (
                        Some(Value::Table(lower)),
                        Some(OriginNode::Table { origin, children }),
                    ) = (dst.get_mut(key.as_ref()), dst_origins.get_mut(key.as_ref()))
                    {
                        *origin = self.origin(start);
                        self.merge_table(inner, depth, lower, children)?;
                        continue;
                    }
                    let (mut t, mut children) = (Table::new(), OriginTable::new());
                    self.merge_table(inner, depth, &mut t, &mut children)?;
                    let node = OriginNode::Table {
                        origin: self.origin(start),
                        children,
                    };
                    replace(dst, dst_origins, key, Value::Table(t), node);
                }
                other => {
                    let value = self.value(other, depth, start)?;
                    let node = OriginNode::Leaf(self.origin(start));
                    replace(dst, dst_origins, key, value, node);
                }
            }
        }
        Ok(())
    }

    /// Converts a value found at `depth`.
    fn value(&self, de: DeValue<'_>, depth: usize, start: usize) -> Result<Value, ConvertError> {
        Ok(match de {
            DeValue::String(s) => Value::String(s.into_owned()),
            DeValue::Integer(i) => {
                Value::Integer(i64::from_str_radix(i.as_str(), i.radix()).map_err(|_| {
                    (
                        start,
                        "integer out of range for a 64-bit signed integer".to_owned(),
                    )
                })?)
            }
            DeValue::Float(f) => Value::Float(
                parse_float(f.as_str())
                    .ok_or_else(|| (start, format!("invalid float `{}`", f.as_str())))?,
            ),
            DeValue::Boolean(b) => Value::Boolean(b),
            DeValue::Datetime(d) => Value::Datetime(d),
            DeValue::Array(items) => {
                if depth >= MAX_DEPTH && !items.is_empty() {
                    return Err((start, TOO_DEEP.to_owned()));
                }
                Value::Array(
                    items
                        .into_iter()
                        .map(|item| {
                            let start = item.span().start;
                            self.plain(item, depth + 1, start)
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            DeValue::Table(t) => {
                let (mut table, mut origins) = (Table::new(), OriginTable::new());
                self.merge_table(t, depth, &mut table, &mut origins)?;
                Value::Table(table)
            }
        })
    }

    fn plain(
        &self,
        item: Spanned<DeValue<'_>>,
        depth: usize,
        start: usize,
    ) -> Result<Value, ConvertError> {
        self.value(item.into_inner(), depth, start)
    }
}

fn parse_float(text: &str) -> Option<f64> {
    let unsigned = text.trim_start_matches(['+', '-']);
    if unsigned == "nan" {
        let nan = f64::NAN;
        return Some(if text.starts_with('-') { -nan } else { nan });
    }
    text.replace('_', "").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use indoc::indoc;

    fn parse(text: &str) -> Result<Layer, Error> {
        Layer::parse(text, Path::new("/c/x"), Precedence::MainFile, false)
    }

    fn origin(layer: &Layer, path: &str) -> String {
        origin_at(layer.origins(), &path.parse().unwrap())
            .unwrap()
            .origin()
            .to_string()
    }

    #[test]
    fn every_leaf_points_at_its_value() -> Result<(), Error> {
        let layer = parse(indoc! {r#"
            a = 1
            [server]
            host = "h"
              port  =  80
            dotted.key = true
            inline = { x = 1.5 }
        "#})?;
        assert_eq!(origin(&layer, "a"), "/c/x:1:5");
        assert_eq!(origin(&layer, "server.host"), "/c/x:3:8");
        assert_eq!(origin(&layer, "server.port"), "/c/x:4:12");
        assert_eq!(origin(&layer, "server.dotted.key"), "/c/x:5:14");
        assert_eq!(origin(&layer, "server.inline.x"), "/c/x:6:16");
        assert_eq!(layer.table()["server"]["inline"]["x"].as_float(), Some(1.5));
        Ok(())
    }

    #[test]
    fn values_match_the_toml_crate() -> Result<(), Error> {
        let text = indoc! {r#"
            hex = 0xff
            oct = 0o17
            bin = 0b101
            under = 1_000
            neg = -5
            f = 6.02e23
            inf = -inf
            s = 'lit'
            ml = """
            two
            lines"""
            d = 1979-05-27T07:32:00Z
            arr = [1, [2, 3], { k = "v" }]
        "#};
        let expected: Table = toml::from_str(text).unwrap();
        assert_eq!(parse(text)?.table(), &expected);
        Ok(())
    }

    #[test]
    fn columns_count_characters_not_bytes() -> Result<(), Error> {
        let layer = parse("\"é\" = 1\n")?;
        assert_eq!(origin(&layer, "\"é\""), "/c/x:1:7");
        Ok(())
    }

    #[test]
    fn malformed_documents_give_position_and_snippet() {
        let err = parse("a = 1\nb = = 2\n").unwrap_err();
        let Error::Malformed {
            line,
            column,
            snippet,
            ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!((*line, *column), (2, 5));
        assert_eq!(snippet, "  |\n2 | b = = 2\n  |     ^");
    }

    #[test]
    fn a_huge_line_is_shown_as_a_window_around_the_error() {
        let line = format!("a = [{}, ]]\n", "1, ".repeat(5_000));
        let err = parse(&line).unwrap_err();
        let Error::Malformed {
            snippet, column, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert!(snippet.len() < 400, "{snippet}");
        let lines: Vec<&str> = snippet.lines().collect();
        let caret = lines[2].find('^').unwrap() - "  | ".len();
        let shown: Vec<char> = lines[1]["1 | ".len()..].chars().collect();
        // The caret still points at the character the parser named.
        let original: Vec<char> = line.chars().collect();
        assert_eq!(shown[caret], original[*column as usize - 1]);
    }

    #[test]
    fn the_snippet_escapes_control_characters_and_keeps_the_caret_in_place() {
        // TOML refuses control characters even in comments: the error
        // points at the first one, and the snippet must show it escaped.
        let err = parse("a = 1\nb = \"\u{7}\" # \u{1b}[2J\n").unwrap_err();
        let Error::Malformed { snippet, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(!err.to_string().contains('\u{1b}'), "{err}");
        assert!(!err.to_string().contains('\u{7}'), "{err}");
        let lines: Vec<&str> = snippet.lines().collect();
        assert_eq!(lines[1], "2 | b = \"\\u0007\" # \\u001B[2J");
        // The parser names the one in the comment; the caret sits under its
        // escape, past the wider escape before it.
        let caret = lines[2].find('^').unwrap();
        assert_eq!(&lines[1][caret..caret + 6], "\\u001B");
    }

    #[test]
    fn secrets_never_reach_the_snippet() {
        let err = Layer::parse(
            "api_key = \"sk-live-123\" x\n",
            Path::new("/c/llm"),
            Precedence::MainFile,
            true,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("sk-live-123"), "{text}");
        assert!(text.contains("api_key = <redacted>"), "{text}");
    }

    #[test]
    fn absurd_nesting_is_refused_not_overflowed() {
        let deep = format!("a = {}1{}\n", "[".repeat(10_000), "]".repeat(10_000));
        let err = parse(&deep).unwrap_err();
        assert!(err.to_string().contains("nest deeper than 64"), "{err}");
        let shallow = format!("a = {}1{}\n", "[".repeat(40), "]".repeat(40));
        assert!(parse(&shallow).is_ok());
    }

    #[test]
    fn headers_and_dotted_keys_count_towards_the_depth_limit() {
        let path = |n: usize| vec!["a"; n].join(".");
        // Each form alone stays under the parser's own guard of 80 segments;
        // together they nest past MAX_DEPTH, which only the converter sees.
        for text in [
            format!("[{}]\n{} = 1\n", path(40), path(40)),
            format!("{} = {{ {} = 1 }}\n", path(40), path(30)),
            format!(
                "[{}]\nx = [{}1{}]\n",
                path(60),
                "[".repeat(10),
                "]".repeat(10)
            ),
        ] {
            let err = parse(&text).unwrap_err();
            assert!(err.to_string().contains("nest deeper than 64"), "{err}");
            assert!(
                matches!(err, Error::Malformed { line: 1 | 2, .. }),
                "{err:?}"
            );
        }
        let err = parse(&format!("[{}]\n", path(10_000))).unwrap_err();
        assert!(err.to_string().contains("nest deeper than 64"), "{err}");
        // The deepest accepted value has a key path `get` can address.
        let deepest = format!("[{}]\n{} = 1\n", path(32), path(32));
        let layer = parse(&deepest).expect("64 levels load");
        let key: KeyPath = path(64).parse().expect("64 segments parse");
        assert_eq!(value_at(layer.table(), &key), Some(&Value::Integer(1)));
    }

    #[test]
    fn merge_recurses_into_tables_and_replaces_arrays() -> Result<(), Error> {
        let lower = parse("list = [1, 2]\n[t]\nx = 1\ny = 2\n")?;
        let upper = Layer::parse(
            "list = [3]\n[t]\ny = 20\n",
            Path::new("/c/x.d/a.toml"),
            Precedence::DropIn,
            false,
        )?;
        let (mut table, mut origins) = (Table::new(), OriginTable::new());
        lower.merge_into(&mut table, &mut origins);
        upper.merge_into(&mut table, &mut origins);
        let expected: Table = toml::from_str("list = [3]\n[t]\nx = 1\ny = 20\n").unwrap();
        assert_eq!(table, expected);
        let at = |p: &str| {
            origin_at(&origins, &p.parse().unwrap())
                .unwrap()
                .origin()
                .to_string()
        };
        assert_eq!(at("t.x"), "/c/x:3:5");
        assert_eq!(at("t.y"), "/c/x.d/a.toml:3:5");
        assert_eq!(at("list"), "/c/x.d/a.toml:1:8");
        Ok(())
    }

    #[test]
    fn a_scalar_replaces_a_table_and_forgets_its_origins() -> Result<(), Error> {
        let lower = parse("[t]\nx = 1\n")?;
        let upper = parse("t = 5\n")?;
        let (mut table, mut origins) = (Table::new(), OriginTable::new());
        lower.merge_into(&mut table, &mut origins);
        upper.merge_into(&mut table, &mut origins);
        assert_eq!(table["t"].as_integer(), Some(5));
        assert!(origin_at(&origins, &"t.x".parse().unwrap()).is_none());
        Ok(())
    }
}
