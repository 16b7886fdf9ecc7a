//! The lines a parse error shows: positions in a text and the snippet with
//! a caret under the column.

/// What an error snippet may show of the offending line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Snippets {
    /// The line as written.
    Shown,
    /// The key only, the value hidden: for bricks whose files hold secrets.
    Redacted,
}

/// Line starts of a text, to turn byte offsets into `line:column`.
pub(crate) struct LineIndex<'a> {
    pub(crate) text: &'a str,
    starts: Vec<usize>,
    /// Whether every character is one byte, so a column is a byte count:
    /// the common case, asked once per key of every file.
    ascii: bool,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        // Every file of every load is indexed: count the lines first (a
        // vectorised pass over the byte slice), so the starts are pushed
        // without reallocating.
        let bytes = text.as_bytes();
        let lines = bytes.iter().filter(|&&b| b == b'\n').count();
        let mut starts = Vec::with_capacity(lines + 1);
        starts.push(0);
        // Eight bytes at a time: lines are short, and a search per line
        // (`match_indices`) or a branch per byte costs more.
        let mut words = bytes.chunks_exact(8);
        let mut base = 0;
        for word in &mut words {
            let mut word_bytes = [0u8; 8];
            word_bytes.copy_from_slice(word);
            let mut newlines = newline_bytes(u64::from_le_bytes(word_bytes));
            while newlines != 0 {
                starts.push(base + (newlines.trailing_zeros() / 8) as usize + 1);
                newlines &= newlines - 1;
            }
            base += 8;
        }
        for (i, &b) in words.remainder().iter().enumerate() {
            if b == b'\n' {
                starts.push(base + i + 1);
            }
        }
        LineIndex {
            text,
            starts,
            ascii: text.is_ascii(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub(crate) fn position(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let column = if self.ascii {
            offset - start
        } else {
            self.text
                .get(start..offset)
                .map_or(offset - start, |s| s.chars().count())
        };
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

/// The high bit of each byte of `word` that is `\n`, and no other bit.
///
/// Exact (no false positives, unlike the shorter "has a zero byte" test):
/// a byte's high bit survives only if the byte XOR `\n` is zero, i.e. its
/// low seven bits plus `0x7f` do not carry into the high bit and its own
/// high bit is clear.
fn newline_bytes(word: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ 0x0a0a_0a0a_0a0a_0a0a;
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// The offending line with a caret under the column, `rustc`-style.
pub(crate) fn snippet(index: &LineIndex<'_>, line: u32, column: u32, snippets: Snippets) -> String {
    let mut text = index.line_text(line).to_owned();
    if snippets == Snippets::Redacted {
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
