//! Parsing one file: pure (text in, layer or positioned error out), so it
//! is tested without a disk.
//!
//! A document is checked whole first (depth, number ranges), so that
//! converting it cannot fail half way: a file with an error contributes
//! nothing to a load, and one without is converted either into a layer of
//! its own or, by the one merge rule, straight into the merged tree.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use toml::de::{DeFloat, DeInteger, DeTable, DeValue};
use toml::{Table, Value};

use super::merge::{Layers, put_leaf, table_slot};
use super::snippet::{LineIndex, Snippets, snippet};
use super::{Layer, MAX_DEPTH, OriginNode, OriginTable};
use crate::{Error, Origin, Precedence, origin::EtcdKey, origin::FileKind};

/// Where a text to parse came from: a file, or an etcd key of the fleet
/// layer. Both are parsed by the same code; only their origins and the
/// way an error names them differ.
#[derive(Clone, Debug)]
pub(crate) enum TextSource {
    /// A main file or a drop-in.
    File {
        /// The file, as it was opened.
        path: Arc<Path>,
        /// Which of the two.
        kind: FileKind,
    },
    /// The value of an etcd key at a revision.
    Etcd(Arc<EtcdKey>),
}

impl TextSource {
    fn precedence(&self) -> Precedence {
        match self {
            TextSource::File { kind, .. } => kind.precedence(),
            TextSource::Etcd(key) => key.layer.precedence(),
        }
    }

    /// The path a layer of this text is told apart by (`None` for etcd: a
    /// load has at most one layer of each fleet precedence).
    fn path(&self) -> Option<Arc<Path>> {
        match self {
            TextSource::File { path, .. } => Some(Arc::clone(path)),
            TextSource::Etcd(_) => None,
        }
    }

    fn origin(&self, line: u32, column: u32) -> Origin {
        match self {
            TextSource::File { path, kind } => Origin::File {
                path: Arc::clone(path),
                kind: *kind,
                line,
                column,
            },
            TextSource::Etcd(key) => Origin::Etcd {
                key: Arc::clone(key),
                line,
                column,
            },
        }
    }

    fn malformed(&self, line: u32, column: u32, message: String, snippet: String) -> Error {
        match self {
            TextSource::File { path, .. } => Error::Malformed {
                path: path.to_path_buf(),
                line,
                column,
                message,
                snippet,
            },
            TextSource::Etcd(key) => Error::MalformedEtcd {
                key: Box::new(EtcdKey::clone(key)),
                line,
                column,
                message,
                snippet,
            },
        }
    }
}

/// What a document nested deeper than [`MAX_DEPTH`] is told.
const TOO_DEEP: &str = "keys, tables and arrays nest deeper than 64 levels";

/// A document parsed, ready to convert: checked while it is converted into
/// a layer of its own (an error then drops the half-built layer), or whole
/// before it is merged into the merged tree (which must not change half way).
pub(super) struct Parsed<'t> {
    document: DeTable<'t>,
    converter: Converter<'t>,
    snippets: Snippets,
}

/// Parses a TOML document read from `source`; what converting it would
/// refuse (depth, number ranges) is found by [`Parsed::into_layer`] or
/// [`Parsed::merge_into`].
pub(super) fn parse<'t>(
    text: &'t str,
    source: TextSource,
    snippets: Snippets,
) -> Result<Parsed<'t>, Error> {
    // Editors on Windows write a BOM; TOML does not allow one.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let converter = Converter {
        source,
        index: LineIndex::new(text),
    };
    if let Some(offset) = nesting_too_deep(text) {
        return Err(converter.malformed((offset, TOO_DEEP.to_owned()), snippets));
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
        converter.malformed((offset, message.to_owned()), snippets)
    })?;
    Ok(Parsed {
        document: document.into_inner(),
        converter,
        snippets,
    })
}

impl Parsed<'_> {
    /// The document as a layer of its own, checked as it is converted (one
    /// walk instead of a check and a conversion).
    pub(super) fn into_layer(self) -> Result<Layer, Error> {
        let converter = self.converter;
        let (table, origins) = converter
            .table(self.document, 0)
            .map_err(|e| converter.malformed(e, self.snippets))?;
        Ok(Layer {
            precedence: converter.source.precedence(),
            source: converter.source.path(),
            table,
            origins,
        })
    }

    /// Merges the document straight into the merged tree `dst`, once it is
    /// checked whole: a key the tree has already keeps its allocation, and
    /// what the document displaces goes back to `layers`. Returns the
    /// document's layer, which holds nothing yet.
    pub(super) fn merge_into(
        self,
        dst: &mut Table,
        dst_origins: &mut OriginTable,
        layers: &mut Layers,
    ) -> Result<Layer, Error> {
        let converter = self.converter;
        check_table(&self.document, 0).map_err(|e| converter.malformed(e, self.snippets))?;
        converter.merge(self.document, dst, dst_origins, &mut Vec::new(), layers);
        let mut layer = Layer::empty(converter.source.precedence());
        layer.source = converter.source.path();
        Ok(layer)
    }
}

type CheckError = (usize, String);

/// Checks a table found at `depth` for what converting it would refuse.
fn check_table(de: &DeTable<'_>, depth: usize) -> Result<(), CheckError> {
    // Header tables and dotted keys nest without brackets, so the bracket
    // scan before parsing cannot see them: count levels here.
    let depth = depth + 1;
    for value in de.values() {
        let start = value.span().start;
        if depth > MAX_DEPTH {
            return Err((start, TOO_DEEP.to_owned()));
        }
        check_value(value.get_ref(), depth, start)?;
    }
    Ok(())
}

/// Checks a value found at `depth`.
fn check_value(de: &DeValue<'_>, depth: usize, start: usize) -> Result<(), CheckError> {
    match de {
        DeValue::Integer(i) => integer(i, start).map(drop),
        DeValue::Float(f) => float(f, start).map(drop),
        DeValue::Array(items) => {
            if depth >= MAX_DEPTH && !items.is_empty() {
                return Err((start, TOO_DEEP.to_owned()));
            }
            items
                .iter()
                .try_for_each(|item| check_value(item.get_ref(), depth + 1, item.span().start))
        }
        DeValue::Table(t) => check_table(t, depth),
        DeValue::String(_) | DeValue::Boolean(_) | DeValue::Datetime(_) => Ok(()),
    }
}

fn integer(i: &DeInteger<'_>, start: usize) -> Result<i64, CheckError> {
    i64::from_str_radix(i.as_str(), i.radix()).map_err(|_| {
        (
            start,
            "integer out of range for a 64-bit signed integer".to_owned(),
        )
    })
}

fn float(f: &DeFloat<'_>, start: usize) -> Result<f64, CheckError> {
    parse_float(f.as_str()).ok_or_else(|| (start, format!("invalid float `{}`", f.as_str())))
}

/// The offset of the first bracket that opens more than [`MAX_DEPTH`] levels,
/// counted without parsing (brackets inside strings and comments only make
/// the count larger, which errs on the side of refusing absurd input).
fn nesting_too_deep(text: &str) -> Option<usize> {
    // Only inline tables and arrays nest; header tables (`[a.b.c]`) and dotted
    // keys do not recurse in the parser, so only those brackets count, and a
    // cheap upper bound avoids the scan for ordinary files.
    // (Over the byte slice: `str::bytes` is not vectorised.)
    let brackets = text.as_bytes().iter().filter(|&&b| b == b'[' || b == b'{');
    if brackets.count() <= MAX_DEPTH {
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

/// Turns toml's parse tree (spans, borrowed text), checked already, into
/// tables and their origins.
struct Converter<'t> {
    source: TextSource,
    index: LineIndex<'t>,
}

impl Converter<'_> {
    fn origin(&self, offset: usize) -> Origin {
        let (line, column) = self.index.position(offset);
        self.source.origin(line, column)
    }

    /// The error for a problem at a byte offset of the text.
    fn malformed(&self, (offset, message): CheckError, snippets: Snippets) -> Error {
        let (line, column) = self.index.position(offset);
        let shown = snippet(&self.index, line, column, snippets);
        self.source.malformed(line, column, message, shown)
    }

    /// Converts `de`, found at `depth`, into a new table with the origin of
    /// each entry, refusing what `check_table` refuses, in the same order.
    ///
    /// The parse tree's keys come sorted and unique (it is a map), so both
    /// tables are built in bulk from sorted entries rather than by one
    /// search and insertion per key: this runs for every key of every file.
    fn table(&self, de: DeTable<'_>, depth: usize) -> Result<(Table, OriginTable), CheckError> {
        let depth = depth + 1;
        let mut values = Vec::with_capacity(de.len());
        let mut origins = Vec::with_capacity(de.len());
        for (key, value) in de {
            let start = value.span().start;
            if depth > MAX_DEPTH {
                return Err((start, TOO_DEEP.to_owned()));
            }
            let key = key.into_inner().into_owned();
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

    /// Merges `de`, checked already, into `dst`, at `path` of the merged
    /// tree, by the one merge rule (`merge::table_slot` and `merge::put_leaf`).
    fn merge(
        &self,
        de: DeTable<'_>,
        dst: &mut Table,
        dst_origins: &mut OriginTable,
        path: &mut Vec<String>,
        layers: &mut Layers,
    ) {
        for (key, value) in de {
            let key: Cow<'_, str> = key.into_inner();
            let start = value.span().start;
            let origin = self.origin(start);
            match value.into_inner() {
                DeValue::Table(inner) => {
                    path.push(key.into_owned());
                    if let Some((table, origins)) =
                        table_slot(dst, dst_origins, origin, path, layers)
                    {
                        self.merge(inner, table, origins, path, layers);
                    }
                    path.pop();
                }
                other => {
                    // Not reached: `check_table` saw the whole document.
                    let Ok(value) = self.value(other, path.len() + 1, start) else {
                        continue;
                    };
                    let node = OriginNode::Leaf(origin);
                    put_leaf(dst, dst_origins, (key, None), value, node, path, layers);
                }
            }
        }
    }

    /// Converts a value found at `depth` (at byte `start`), refusing what
    /// `check_value` refuses.
    fn value(&self, de: DeValue<'_>, depth: usize, start: usize) -> Result<Value, CheckError> {
        Ok(match de {
            DeValue::String(s) => Value::String(s.into_owned()),
            DeValue::Integer(i) => Value::Integer(integer(&i, start)?),
            DeValue::Float(f) => Value::Float(float(&f, start)?),
            DeValue::Boolean(b) => Value::Boolean(b),
            DeValue::Datetime(d) => Value::Datetime(d),
            DeValue::Array(items) => {
                if depth >= MAX_DEPTH && !items.is_empty() {
                    return Err((start, TOO_DEEP.to_owned()));
                }
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    let start = item.span().start;
                    values.push(self.value(item.into_inner(), depth + 1, start)?);
                }
                Value::Array(values)
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
    // Most floats have no digit separators: parse those without a copy.
    if text.contains('_') {
        text.replace('_', "").parse().ok()
    } else {
        text.parse().ok()
    }
}
