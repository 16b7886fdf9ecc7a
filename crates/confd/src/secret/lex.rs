//! A line-by-line lexer of TOML text, enough to know where a line's
//! comment starts and whether a value goes on to the next line: what the
//! redaction of a file's text needs besides the parser.

/// Where the lexer is at the start of a line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Lex {
    Normal,
    Basic,
    Literal,
    MultiBasic,
    MultiLiteral,
}

/// One line of a document, as a TOML lexer sees it.
pub(super) struct Line {
    /// Byte offset of the line's first character.
    pub(super) start: usize,
    /// Byte offset of its end, before `\r\n` or `\n`.
    pub(super) end: usize,
    /// Whether the line starts inside a string, an array or an inline table.
    pub(super) continues: bool,
    /// Where a comment starts on it (the `#`), outside strings.
    pub(super) comment: Option<usize>,
    /// Its first `=` outside strings and comments.
    pub(super) assign: Option<usize>,
}

/// Where the lexer is between lines: in which string, and how many arrays
/// and inline tables deep.
#[derive(Clone, Copy)]
pub(super) struct LexState {
    pub(super) lex: Lex,
    pub(super) depth: usize,
}

impl LexState {
    pub(super) const START: LexState = LexState {
        lex: Lex::Normal,
        depth: 0,
    };

    /// Whether a value that was open has closed: no string, array or
    /// inline table is left open.
    pub(super) fn is_closed(self) -> bool {
        self.lex == Lex::Normal && self.depth == 0
    }

    /// Lexes one line (without its line break), returning where on it a
    /// comment starts and its first `=` outside strings and comments.
    pub(super) fn line(&mut self, bytes: &[u8]) -> (Option<usize>, Option<usize>) {
        let (mut comment, mut assign) = (None, None);
        let mut i = 0;
        while i < bytes.len() {
            let rest = &bytes[i..];
            match (self.lex, bytes[i]) {
                (Lex::Normal, b'#') => {
                    comment = Some(i);
                    break;
                }
                (Lex::Normal, b'"') if rest.starts_with(b"\"\"\"") => {
                    self.lex = Lex::MultiBasic;
                    i += 2;
                }
                (Lex::Normal, b'"') => self.lex = Lex::Basic,
                (Lex::Normal, b'\'') if rest.starts_with(b"'''") => {
                    self.lex = Lex::MultiLiteral;
                    i += 2;
                }
                (Lex::Normal, b'\'') => self.lex = Lex::Literal,
                (Lex::Normal, b'[' | b'{') => self.depth += 1,
                (Lex::Normal, b']' | b'}') => self.depth = self.depth.saturating_sub(1),
                (Lex::Normal, b'=') if assign.is_none() => assign = Some(i),
                (Lex::Basic | Lex::MultiBasic, b'\\') => i += 1,
                (Lex::Basic, b'"') | (Lex::Literal, b'\'') => self.lex = Lex::Normal,
                (Lex::MultiBasic, b'"') | (Lex::MultiLiteral, b'\'') if rest.len() >= 3 => {
                    let quote = bytes[i];
                    if rest[..3].iter().all(|&b| b == quote) {
                        // Up to two more quotes belong to the string.
                        let run = rest.iter().take_while(|&&b| b == quote).count();
                        i += run - 1;
                        self.lex = Lex::Normal;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        // A single-line string ends with its line, even an unterminated one.
        if matches!(self.lex, Lex::Basic | Lex::Literal) {
            self.lex = Lex::Normal;
        }
        (comment, assign)
    }
}

/// Splits `text` into lines, lexing just enough TOML to know where strings
/// and comments are. It works on text that does not parse, where it is what
/// is left to tell a value from a key.
pub(super) fn scan(text: &str) -> Vec<Line> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut lexer = LexState::START;
    let mut start = 0;
    loop {
        let newline = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| start + i);
        let mut end = newline;
        if end > start && bytes[end - 1] == b'\r' {
            end -= 1;
        }
        let continues = !lexer.is_closed();
        let (comment, assign) = lexer.line(&bytes[start..end]);
        lines.push(Line {
            start,
            end,
            continues,
            comment: comment.map(|i| start + i),
            assign: assign.map(|i| start + i),
        });
        if newline >= bytes.len() {
            return lines;
        }
        start = newline + 1;
    }
}
