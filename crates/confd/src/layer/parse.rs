//! Parsing one file into a [`Layer`]: pure (text in, layer or positioned
//! error out), so it is tested without a disk.

use std::path::Path;
use std::sync::Arc;

use toml::de::{DeTable, DeValue};
use toml::{Table, Value};

use super::snippet::{LineIndex, Snippets, snippet};
use super::{Layer, MAX_DEPTH, OriginNode, OriginTable};
use crate::{Error, FileKind, Origin};

/// What a document nested deeper than [`MAX_DEPTH`] is told.
const TOO_DEEP: &str = "keys, tables and arrays nest deeper than 64 levels";

/// Parses a TOML document read from `path`; every key's origin is the
/// position of its value in `text`.
pub(super) fn parse(
    text: &str,
    path: &Path,
    kind: FileKind,
    snippets: Snippets,
) -> Result<Layer, Error> {
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
            snippet: snippet(&index, line, column, snippets),
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
        kind,
        index: &index,
    };
    let (table, origins) = converter
        .table(document.into_inner(), 0)
        .map_err(|(offset, message)| malformed(offset, message))?;
    Ok(Layer {
        precedence: kind.precedence(),
        table,
        origins,
    })
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

/// Turns toml's parse tree (spans, borrowed text) into a table and its
/// origins.
struct Converter<'a> {
    path: Arc<Path>,
    kind: FileKind,
    index: &'a LineIndex<'a>,
}

type ConvertError = (usize, String);

impl Converter<'_> {
    fn origin(&self, offset: usize) -> Origin {
        let (line, column) = self.index.position(offset);
        Origin::File {
            path: Arc::clone(&self.path),
            kind: self.kind,
            line,
            column,
        }
    }

    /// Converts `de`, a table at `depth`, with the origin of each entry.
    ///
    /// The parse tree's keys come sorted and unique (it is a map), so both
    /// tables are built in bulk from sorted entries rather than by one
    /// search and insertion per key: this runs for every key of every file.
    fn table(&self, de: DeTable<'_>, depth: usize) -> Result<(Table, OriginTable), ConvertError> {
        // Header tables and dotted keys nest without brackets, so the
        // bracket scan before parsing cannot see them: count levels here.
        let depth = depth + 1;
        let mut values = Vec::with_capacity(de.len());
        let mut origins = Vec::with_capacity(de.len());
        for (key, value) in de {
            let key = key.into_inner().into_owned();
            let start = value.span().start;
            if depth > MAX_DEPTH {
                return Err((start, TOO_DEEP.to_owned()));
            }
            let origin = self.origin(start);
            match value.into_inner() {
                DeValue::Table(inner) => {
                    let (table, children) = self.table(inner, depth)?;
                    values.push((key.clone(), Value::Table(table)));
                    origins.push((key, OriginNode::Table { origin, children }));
                }
                other => {
                    values.push((key.clone(), self.value(other, depth, start)?));
                    origins.push((key, OriginNode::Leaf(origin)));
                }
            }
        }
        Ok((values.into_iter().collect(), origins.into_iter().collect()))
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
                            self.value(item.into_inner(), depth + 1, start)
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            // An inline table in an array: arrays are leaves, so the
            // origins inside it are not kept.
            DeValue::Table(t) => Value::Table(self.table(t, depth)?.0),
        })
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
