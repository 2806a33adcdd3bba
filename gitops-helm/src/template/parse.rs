//! Lexer and parser for Go's `text/template` language, with its grammar, scoping rules and error texts
//! (`template: NAME:LINE: unexpected ...`).

use std::sync::Arc;

/// A parse error, already in Go's `template: NAME:LINE: MESSAGE` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// A keyword of the template language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kw {
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
}

impl Kw {
    fn of(word: &str) -> Option<Kw> {
        Some(match word {
            "block" => Kw::Block,
            "break" => Kw::Break,
            "continue" => Kw::Continue,
            "define" => Kw::Define,
            "else" => Kw::Else,
            "end" => Kw::End,
            "if" => Kw::If,
            "range" => Kw::Range,
            "template" => Kw::Template,
            "with" => Kw::With,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kw::Block => "block",
            Kw::Break => "break",
            Kw::Continue => "continue",
            Kw::Define => "define",
            Kw::Else => "else",
            Kw::End => "end",
            Kw::If => "if",
            Kw::Range => "range",
            Kw::Template => "template",
            Kw::With => "with",
        }
    }
}

/// A token's kind; its text is the source between its item's `pos` and `end` (string literals' values,
/// unquoted once by the lexer, are kept beside the items).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Text,
    LeftDelim,
    RightDelim,
    Space,
    Ident,
    /// `.name`: the name is the text after the dot.
    Field,
    Variable,
    Dot,
    Pipe,
    Bool(bool),
    Number,
    Complex,
    CharConst,
    /// A quoted string: its value's index among the lexer's strings.
    Str(u32),
    RawStr(u32),
    Nil,
    Declare,
    Assign,
    LParen,
    RParen,
    Char(char),
    Comment,
    Keyword(Kw),
    Eof,
}

/// A token and the byte range of the source it was read from (copied freely: it holds no text).
#[derive(Debug, Clone, Copy)]
struct Item {
    tok: Tok,
    pos: usize,
    end: usize,
}

/// Where the first `{{` is in `s` (a byte search for `{`: a substring searcher's setup costs more than
/// the short texts between actions take to scan).
fn find_left_delim(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = s[from..].find('{') {
        let at = from + i;
        if b.get(at + 1) == Some(&b'{') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_space_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// ASCII letters, digits and `_`, by byte.
static ASCII_WORD: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'_';
        b += 1;
    }
    t
};

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    items: Vec<Item>,
    /// The values of the string literals met, in order.
    strs: Vec<Arc<str>>,
    /// The values by the literal's text: templates repeat the same strings (`include "x.labels"`).
    literals: super::NameMap<&'a str, Arc<str>>,
    paren_depth: i32,
}

type LexResult<T> = Result<T, (usize, String)>;

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        match self.input.as_bytes().get(self.pos) {
            Some(&b) if b < 0x80 => Some(char::from(b)),
            Some(_) => self.input[self.pos..].chars().next(),
            None => None,
        }
    }

    fn peek_byte(&self) -> Option<u8> {
        self.input.as_bytes().get(self.pos).copied()
    }

    fn emit(&mut self, tok: Tok, pos: usize) {
        self.items.push(Item {
            tok,
            pos,
            end: self.pos,
        });
    }

    /// Emits the string literal that starts at `pos` and ends here, its value made by `value` from the
    /// literal's text the first time that text is met.
    fn emit_str(
        &mut self,
        raw: bool,
        pos: usize,
        value: impl FnOnce(&'a str) -> Result<Arc<str>, String>,
    ) -> LexResult<()> {
        let text = &self.input[pos..self.pos];
        let v = match self.literals.get(text) {
            Some(v) => v.clone(),
            None => {
                let v = value(text).map_err(|e| (pos, e))?;
                self.literals.insert(text, v.clone());
                v
            }
        };
        let i = u32::try_from(self.strs.len()).unwrap_or(u32::MAX);
        self.strs.push(v);
        self.emit(if raw { Tok::RawStr(i) } else { Tok::Str(i) }, pos);
        Ok(())
    }

    fn run(mut self) -> LexResult<(Vec<Item>, Vec<Arc<str>>)> {
        loop {
            let rest = &self.input[self.pos..];
            let Some(x) = find_left_delim(rest) else {
                if !rest.is_empty() {
                    let start = self.pos;
                    self.pos = self.input.len();
                    self.emit(Tok::Text, start);
                }
                self.emit(Tok::Eof, self.input.len());
                return Ok((self.items, self.strs));
            };
            let start = self.pos;
            let delim = start + x;
            let after = &self.input.as_bytes()[delim + 2..];
            let trim = after.first() == Some(&b'-') && after.get(1).is_some_and(|b| is_space_byte(*b));
            let mut text = &self.input[start..delim];
            if trim {
                text = text.trim_end_matches(is_space);
            }
            if !text.is_empty() {
                self.items.push(Item {
                    tok: Tok::Text,
                    pos: start,
                    end: start + text.len(),
                });
            }
            self.pos = delim + 2;
            let after_marker = if trim { 2 } else { 0 };
            if self.input[self.pos + after_marker..].starts_with("/*") {
                self.pos += after_marker;
                let cpos = self.pos;
                let Some(end) = self.input[self.pos..].find("*/") else {
                    return Err((cpos, "unclosed comment".into()));
                };
                self.pos += end + 2;
                let (is_delim, trim_right) = self.at_right_delim();
                if !is_delim {
                    return Err((cpos, "comment ends before closing delimiter".into()));
                }
                self.emit(Tok::Comment, cpos);
                if trim_right {
                    self.pos += 2;
                }
                self.pos += 2;
                if trim_right {
                    self.skip_leading_space();
                }
                continue;
            }
            self.items.push(Item {
                tok: Tok::LeftDelim,
                pos: delim,
                end: delim + 2,
            });
            self.pos += after_marker;
            self.paren_depth = 0;
            self.inside_action()?;
        }
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let rest = &self.input.as_bytes()[self.pos..];
        match rest {
            [b'}', b'}', ..] => (true, false),
            [s, b'-', b'}', b'}', ..] if is_space_byte(*s) => (true, true),
            _ => (false, false),
        }
    }

    fn skip_leading_space(&mut self) {
        let rest = &self.input.as_bytes()[self.pos..];
        self.pos += rest.iter().take_while(|b| is_space_byte(**b)).count();
    }

    fn at_terminator(&self) -> bool {
        match self.peek_byte() {
            None => true,
            Some(b' ' | b'\t' | b'\r' | b'\n' | b'.' | b',' | b'|' | b':' | b')' | b'(') => true,
            _ => self.input.as_bytes()[self.pos..].starts_with(b"}}"),
        }
    }

    /// The error for a name that does not end where names must (at a space, `.`, `,`, `|`, `:`, a
    /// parenthesis or the closing delimiter).
    fn bad_character(&self, start: usize) -> (usize, String) {
        let c = self.peek().unwrap_or(' ');
        (start, format!("bad character {}", go_rune(c)))
    }

    fn inside_action(&mut self) -> LexResult<()> {
        loop {
            let (is_delim, trim) = self.at_right_delim();
            if is_delim {
                if self.paren_depth != 0 {
                    return Err((self.pos, "unclosed left paren".into()));
                }
                if trim {
                    self.pos += 2;
                }
                let at = self.pos;
                self.pos += 2;
                self.emit(Tok::RightDelim, at);
                if trim {
                    self.skip_leading_space();
                }
                return Ok(());
            }
            let start = self.pos;
            let Some(b) = self.peek_byte() else {
                let opened = self
                    .items
                    .iter()
                    .rev()
                    .find(|i| i.tok == Tok::LeftDelim)
                    .map_or(0, |i| i.pos);
                let line = 1 + self.input[..opened].matches('\n').count();
                return Err((start, format!("unclosed action started at {{NAME}}:{line}")));
            };
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    let rest = &self.input.as_bytes()[self.pos..];
                    let n = rest.iter().take_while(|b| is_space_byte(**b)).count();
                    self.pos += n;
                    // A space that begins a trim-marked right delimiter belongs to it.
                    let back = &self.input.as_bytes()[self.pos - 1..];
                    if back.len() >= 4 && back[1] == b'-' && back[2..].starts_with(b"}}") {
                        self.pos -= 1;
                        if n == 1 {
                            continue;
                        }
                    }
                    self.emit(Tok::Space, start);
                }
                b'=' => {
                    self.pos += 1;
                    self.emit(Tok::Assign, start);
                }
                b':' => {
                    if !self.input[self.pos..].starts_with(":=") {
                        return Err((start, "expected :=".into()));
                    }
                    self.pos += 2;
                    self.emit(Tok::Declare, start);
                }
                b'|' => {
                    self.pos += 1;
                    self.emit(Tok::Pipe, start);
                }
                b'"' => {
                    self.scan_quoted(start, b'"', "unterminated quoted string")?;
                    self.emit_str(false, start, |raw| {
                        let body = &raw[1..raw.len() - 1];
                        if body.contains('\\') {
                            unquote(raw).map(Arc::from)
                        } else {
                            Ok(Arc::from(body))
                        }
                    })?;
                }
                b'`' => {
                    self.pos += 1;
                    let Some(end) = self.input[self.pos..].find('`') else {
                        return Err((start, "unterminated raw quote".into()));
                    };
                    self.pos += end + 1;
                    self.emit_str(true, start, |raw| {
                        let body = &raw[1..raw.len() - 1];
                        Ok(if body.contains('\r') {
                            body.replace('\r', "").into()
                        } else {
                            body.into()
                        })
                    })?;
                }
                b'$' => {
                    self.pos += 1;
                    if !self.at_terminator() {
                        self.scan_alnum();
                        if !self.at_terminator() {
                            return Err(self.bad_character(start));
                        }
                    }
                    self.emit(Tok::Variable, start);
                }
                b'\'' => {
                    self.scan_quoted(start, b'\'', "unterminated character constant")?;
                    self.emit(Tok::CharConst, start);
                }
                b'.' => {
                    // Special look-ahead for ".field" so we don't break l.backup().
                    if self
                        .input
                        .as_bytes()
                        .get(self.pos + 1)
                        .is_some_and(u8::is_ascii_digit)
                    {
                        self.number(start)?;
                        continue;
                    }
                    self.pos += 1;
                    if self.at_terminator() {
                        self.emit(Tok::Dot, start);
                        continue;
                    }
                    self.scan_alnum();
                    if !self.at_terminator() {
                        return Err(self.bad_character(start));
                    }
                    self.emit(Tok::Field, start);
                }
                b'+' | b'-' | b'0'..=b'9' => self.number(start)?,
                b'(' => {
                    self.pos += 1;
                    self.paren_depth += 1;
                    self.emit(Tok::LParen, start);
                }
                b')' => {
                    self.pos += 1;
                    self.paren_depth -= 1;
                    if self.paren_depth < 0 {
                        return Err((start, "unexpected right paren".into()));
                    }
                    self.emit(Tok::RParen, start);
                }
                _ if self.peek().is_some_and(is_alnum) => {
                    self.scan_alnum();
                    if !self.at_terminator() {
                        return Err(self.bad_character(start));
                    }
                    let tok = match &self.input[start..self.pos] {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        w => Kw::of(w).map_or(Tok::Ident, Tok::Keyword),
                    };
                    self.emit(tok, start);
                }
                b if b.is_ascii() && !b.is_ascii_control() => {
                    self.pos += 1;
                    self.emit(Tok::Char(char::from(b)), start);
                }
                _ => {
                    let c = self.peek().unwrap_or(' ');
                    return Err((start, format!("unrecognized character in action: {}", go_rune(c))));
                }
            }
        }
    }

    /// Moves past a `"..."` or `'...'` literal (escapes honoured, no line breaks) that starts at `start`.
    /// Bytes are enough: no byte of a multi-byte character is a quote, a backslash or a line break.
    fn scan_quoted(&mut self, start: usize, quote: u8, unterminated: &str) -> LexResult<()> {
        let b = self.input.as_bytes();
        let mut i = self.pos + 1;
        loop {
            match b.get(i) {
                Some(b'\\') => match b.get(i + 1) {
                    Some(b'\n') | None => return Err((start, unterminated.into())),
                    Some(_) => i += 2,
                },
                Some(b'\n') | None => return Err((start, unterminated.into())),
                Some(c) if *c == quote => {
                    self.pos = i + 1;
                    return Ok(());
                }
                Some(_) => i += 1,
            }
        }
    }

    fn scan_alnum(&mut self) {
        let b = self.input.as_bytes();
        let mut i = self.pos;
        loop {
            while b.get(i).is_some_and(|c| ASCII_WORD[usize::from(*c)]) {
                i += 1;
            }
            match b.get(i) {
                Some(&c) if c >= 0x80 => match self.input[i..].chars().next() {
                    Some(c) if is_alnum(c) => i += c.len_utf8(),
                    _ => break,
                },
                _ => break,
            }
        }
        self.pos = i;
    }

    fn accept(&mut self, set: &str) -> bool {
        match self.peek() {
            Some(c) if set.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, set: &str) {
        while self.accept(set) {}
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alnum) {
            self.pos += self.peek().map_or(0, char::len_utf8);
            return false;
        }
        true
    }

    fn number(&mut self, start: usize) -> LexResult<()> {
        if !self.scan_number() {
            return Err((
                start,
                format!("bad number syntax: {:?}", &self.input[start..self.pos]),
            ));
        }
        if let Some('+' | '-') = self.peek() {
            if !self.scan_number() || !self.input[..self.pos].ends_with('i') {
                return Err((
                    start,
                    format!("bad number syntax: {:?}", &self.input[start..self.pos]),
                ));
            }
            self.emit(Tok::Complex, start);
            return Ok(());
        }
        self.emit(Tok::Number, start);
        Ok(())
    }
}

fn go_rune(c: char) -> String {
    format!("U+{:04X} '{}'", c as u32, c)
}

/// `strconv.Unquote` for a double-quoted Go string or a character constant.
pub(crate) fn unquote(raw: &str) -> Result<String, String> {
    let q = raw.chars().next().unwrap_or('"');
    let body = &raw[1..raw.len() - 1];
    if q == '"' && !body.contains(['\\', '"']) {
        return Ok(body.to_owned());
    }
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    let bad = || format!("invalid syntax: {raw}");
    while let Some(c) = chars.next() {
        if c == q {
            return Err(bad());
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or_else(bad)?;
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '\'' if q == '\'' => out.push('\''),
            '"' if q == '"' => out.push('"'),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| chars.next()).collect();
                if hex.len() != n {
                    return Err(bad());
                }
                let v = u32::from_str_radix(&hex, 16).map_err(|_| bad())?;
                if e == 'x' {
                    // A byte; only valid UTF-8 sequences survive in a Rust string.
                    out.push(char::from_u32(v).ok_or_else(bad)?);
                } else {
                    out.push(char::from_u32(v).ok_or_else(bad)?);
                }
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = chars.next().and_then(|c| c.to_digit(8)).ok_or_else(bad)?;
                    v = v * 8 + d;
                }
                if v > 255 {
                    return Err(bad());
                }
                out.push(char::from_u32(v).ok_or_else(bad)?);
            }
            _ => return Err(bad()),
        }
    }
    if q == '\'' && out.chars().count() != 1 {
        return Err(bad());
    }
    Ok(out)
}

/// A number literal, with every reading Go's parser accepts.
#[derive(Debug, Clone)]
pub struct Number {
    /// The literal text.
    pub text: String,
    /// As an integer, when it is one.
    pub int: Option<i64>,
    /// Whether it is an unsigned integer (possibly too large for int64).
    pub is_uint: bool,
    /// As a float, when it is one.
    pub float: Option<f64>,
    /// Whether it is a complex constant.
    pub complex: bool,
    /// Real and imaginary parts of a complex constant.
    pub complex_parts: (f64, f64),
}

fn parse_go_int(text: &str) -> Option<i128> {
    let (neg, t) = match text.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let t = t.replace('_', "");
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h.to_string())
    } else if let Some(o) = t.strip_prefix("0o").or_else(|| t.strip_prefix("0O")) {
        (8, o.to_string())
    } else if let Some(b) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        (2, b.to_string())
    } else if t.len() > 1 && t.starts_with('0') {
        (8, t[1..].to_string())
    } else {
        (10, t)
    };
    if digits.is_empty() {
        return None;
    }
    let v = i128::from_str_radix(&digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

impl Number {
    fn parse(text: &str, char_const: bool) -> Result<Number, String> {
        // Most literals are small decimal integers (`2`, `63`): read without the general path's copies.
        if !char_const
            && (1..=18).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_digit())
            && (text.len() == 1 || !text.starts_with('0'))
            && let Ok(v) = text.parse::<i64>()
        {
            return Ok(Number {
                text: text.to_string(),
                int: Some(v),
                is_uint: true,
                float: Some(v as f64),
                complex: false,
                complex_parts: (0.0, 0.0),
            });
        }
        Number::parse_any(text, char_const)
    }

    fn parse_any(text: &str, char_const: bool) -> Result<Number, String> {
        let mut n = Number {
            text: text.to_string(),
            int: None,
            is_uint: false,
            float: None,
            complex: false,
            complex_parts: (0.0, 0.0),
        };
        if char_const {
            let s = unquote(text)?;
            let c = s
                .chars()
                .next()
                .ok_or_else(|| format!("malformed character constant: {text}"))?;
            n.int = Some(c as i64);
            n.is_uint = true;
            n.float = Some(c as u32 as f64);
            return Ok(n);
        }
        if let Some(body) = text.strip_suffix('i') {
            // "1.5i" or "1+2i": a real part, then a signed imaginary part.
            let split = body
                .char_indices()
                .skip(1)
                .filter(|(i, c)| matches!(c, '+' | '-') && !body[..*i].ends_with(['e', 'E', 'p', 'P']))
                .map(|(i, _)| i)
                .last();
            let (re, im) = match split {
                Some(i) => (&body[..i], &body[i..]),
                None => ("0", body),
            };
            let parse = |t: &str| -> Option<f64> {
                let t = t.replace('_', "");
                if let Some(v) = parse_go_int(&t) {
                    return Some(v as f64);
                }
                t.parse::<f64>().ok()
            };
            match (parse(re), parse(im)) {
                (Some(re), Some(im)) => {
                    n.complex = true;
                    n.complex_parts = (re, im);
                    if im == 0.0 {
                        n.float = Some(re);
                        if re.fract() == 0.0 {
                            n.int = Some(re as i64);
                        }
                    }
                    return Ok(n);
                }
                _ => return Err(format!("illegal number syntax: {text:?}")),
            }
        }
        if let Some(v) = parse_go_int(text) {
            if v >= 0 && v <= u64::MAX as i128 {
                n.is_uint = true;
            }
            if v >= i64::MIN as i128 && v <= i64::MAX as i128 {
                n.int = Some(v as i64);
                n.float = Some(v as f64);
            } else if !n.is_uint {
                return Err(format!("illegal number syntax: {text:?}"));
            }
            if n.int.is_none() && n.is_uint {
                n.float = Some(v as f64);
            }
            return Ok(n);
        }
        let clean = text.replace('_', "");
        let f = if clean.contains(['x', 'X']) {
            parse_hex_float(&clean)
        } else {
            clean
                .parse::<f64>()
                .ok()
                .filter(|_| !clean.starts_with("0b") && !clean.starts_with("0o"))
        };
        match f {
            Some(f) => {
                if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                    return Err(format!("integer overflow: {text:?}"));
                }
                n.float = Some(f);
                if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 {
                    n.int = Some(f as i64);
                }
                if f.fract() == 0.0 && f >= 0.0 && f < u64::MAX as f64 {
                    n.is_uint = true;
                }
                Ok(n)
            }
            None => Err(format!("illegal number syntax: {text:?}")),
        }
    }
}

fn parse_hex_float(s: &str) -> Option<f64> {
    let (neg, t) = match s.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let t = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X"))?;
    let (mant, exp) = match t.find(['p', 'P']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().ok()?),
        None => return None,
    };
    let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
    let mut v = 0f64;
    for c in ip.chars() {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in fp.chars() {
        v += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    let v = v * 2f64.powi(exp);
    Some(if neg { -v } else { v })
}

/// The field names of a chain (`.A.B`), shared by every place a text writes the same chain.
pub type Fields = Arc<[Arc<str>]>;

/// An operand of a command.
#[derive(Debug, Clone)]
pub enum Arg {
    /// `.A.B`
    Field(usize, Fields),
    /// `$x.A.B`
    Variable(usize, Arc<str>, Fields),
    /// `.`
    Dot(usize),
    /// `nil`
    Nil(usize),
    /// `true` / `false`
    Bool(usize, bool),
    /// A number literal.
    Number(usize, Box<Number>),
    /// A string literal: its value, and its text as written when quoting the value would not give that
    /// text back (a raw string, escapes), for printing the node as Go does.
    Str(usize, Arc<str>, Option<Arc<str>>),
    /// A function name.
    Ident(usize, Arc<str>),
    /// `( pipeline )`
    Pipe(Box<Pipe>),
    /// `(x).A.B`
    Chain(usize, Box<Arg>, Fields),
}

impl Arg {
    /// Byte offset in the template text.
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field(p, _)
            | Arg::Variable(p, _, _)
            | Arg::Dot(p)
            | Arg::Nil(p)
            | Arg::Bool(p, _)
            | Arg::Number(p, _)
            | Arg::Str(p, ..)
            | Arg::Ident(p, _)
            | Arg::Chain(p, _, _) => *p,
            Arg::Pipe(p) => p.pos,
        }
    }
}

impl std::fmt::Display for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arg::Field(_, id) => {
                for i in id.iter() {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Variable(_, v, id) => {
                f.write_str(v)?;
                for i in id.iter() {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Dot(_) => f.write_str("."),
            Arg::Nil(_) => f.write_str("nil"),
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Number(_, n) => f.write_str(&n.text),
            Arg::Str(_, _, Some(text)) => f.write_str(text),
            Arg::Str(_, s, None) => f.write_str(&super::fmt::quote(s)),
            Arg::Ident(_, s) => f.write_str(s),
            Arg::Pipe(p) => write!(f, "({p})"),
            Arg::Chain(_, n, id) => {
                match &**n {
                    Arg::Pipe(p) => write!(f, "({p})")?,
                    n => write!(f, "{n}")?,
                }
                for i in id.iter() {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
        }
    }
}

/// A command: operands, the first of which may be a function.
#[derive(Debug, Clone)]
pub struct Cmd {
    /// Byte offset.
    pub pos: usize,
    /// The operands.
    pub args: Box<[Arg]>,
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

/// A pipeline with optional variable declarations.
#[derive(Debug, Clone)]
pub struct Pipe {
    /// Byte offset.
    pub pos: usize,
    /// `$x = ...` rather than `$x := ...`.
    pub is_assign: bool,
    /// Declared variables.
    pub decl: Box<[Arc<str>]>,
    /// The commands.
    pub cmds: Box<[Cmd]>,
}

impl std::fmt::Display for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// The pipeline and bodies of `{{if}}`, `{{range}}` and `{{with}}` (boxed: nodes stay small).
pub type Control = (Pipe, Box<[Node]>, Option<Box<[Node]>>);

/// A node of the tree.
#[derive(Debug, Clone)]
pub enum Node {
    /// Plain text: a byte range of the tree's source.
    Text(usize, usize),
    /// `{{pipeline}}`
    Action(usize, Box<Pipe>),
    /// `{{if}}`
    If(usize, Box<Control>),
    /// `{{range}}`
    Range(usize, Box<Control>),
    /// `{{with}}`
    With(usize, Box<Control>),
    /// `{{template "name" pipeline}}`
    Template(usize, Box<(String, Option<Pipe>)>),
    /// `{{break}}`
    Break(usize),
    /// `{{continue}}`
    Continue(usize),
}

/// One parsed template. Cloning shares the body.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The template's name.
    pub name: String,
    /// The name of the text it was parsed from (for error positions).
    pub parse_name: Arc<str>,
    /// The text it was parsed from.
    pub source: Arc<str>,
    /// The body.
    pub root: Arc<[Node]>,
}

impl Tree {
    /// The same tree under other names: the template's own (when it is a file's main tree) and that of
    /// the text it came from.
    pub(crate) fn renamed(&self, name: Option<&str>, parse_name: &Arc<str>) -> Tree {
        Tree {
            name: name.map_or_else(|| self.name.clone(), str::to_owned),
            parse_name: parse_name.clone(),
            source: self.source.clone(),
            root: self.root.clone(),
        }
    }

    /// `NAME:LINE:COL` of a byte offset, as Go's `ErrorContext` prints it.
    pub fn location(&self, pos: usize) -> String {
        let pos = pos.min(self.source.len());
        let text = &self.source[..pos];
        let line = 1 + text.matches('\n').count();
        let col = match text.rfind('\n') {
            Some(i) => pos - (i + 1),
            None => pos,
        };
        format!("{}:{}:{}", self.parse_name, line, col)
    }

    /// Whether the body is only whitespace (an empty definition does not replace another).
    pub fn is_empty(&self) -> bool {
        self.root
            .iter()
            .all(|n| matches!(n, Node::Text(a, b) if self.source[*a..*b].trim().is_empty()))
    }

    /// Calls `f` with every function call of the tree whose first argument is a string literal: the
    /// function's name and the literal.
    pub(crate) fn calls_with_literal(&self, f: &mut dyn FnMut(&str, &str)) {
        fn pipe(p: &Pipe, f: &mut dyn FnMut(&str, &str)) {
            for c in &p.cmds {
                if let (Some(Arg::Ident(_, name)), Some(Arg::Str(_, lit, _))) =
                    (c.args.first(), c.args.get(1))
                {
                    f(name, lit);
                }
                c.args.iter().for_each(|a| arg(a, f));
            }
        }
        fn arg(a: &Arg, f: &mut dyn FnMut(&str, &str)) {
            match a {
                Arg::Pipe(p) => pipe(p, f),
                Arg::Chain(_, inner, _) => arg(inner, f),
                _ => {}
            }
        }
        fn nodes(list: &[Node], f: &mut dyn FnMut(&str, &str)) {
            for n in list {
                match n {
                    Node::Action(_, p) => pipe(p, f),
                    Node::If(_, c) | Node::Range(_, c) | Node::With(_, c) => {
                        pipe(&c.0, f);
                        nodes(&c.1, f);
                        if let Some(e) = &c.2 {
                            nodes(e, f);
                        }
                    }
                    Node::Template(_, t) => {
                        if let Some(p) = &t.1 {
                            pipe(p, f);
                        }
                    }
                    Node::Text(..) | Node::Break(_) | Node::Continue(_) => {}
                }
            }
        }
        nodes(&self.root, f);
    }
}

struct Parser<'a> {
    name: Arc<str>,
    source: Arc<str>,
    input: &'a str,
    items: Vec<Item>,
    /// The string literals' values, indexed by their tokens.
    strs: Vec<Arc<str>>,
    i: usize,
    vars: Vec<&'a str>,
    range_depth: usize,
    has_func: &'a dyn Fn(&str) -> bool,
    defined: Vec<Tree>,
    /// Nodes, commands and operands of the lists being parsed, innermost last: each list is moved out
    /// in one allocation of its exact size when it ends (most are one to three long, and growing them
    /// one push at a time would leave room for four).
    nodes: Vec<Node>,
    cmds: Vec<Cmd>,
    args: Vec<Arg>,
    /// Names met in this text, shared: templates repeat the same few fields, functions and variables
    /// thousands of times, and one allocation each is enough. The flag says whether a name was checked
    /// to be a function.
    atoms: super::NameMap<&'a str, (Arc<str>, bool)>,
    /// Field chains by their text (`.Values.image.tag`), shared the same way.
    chains: super::NameMap<&'a str, Fields>,
}

type PResult<T> = Result<T, ParseError>;

/// Parses one template text; returns the main tree and every `{{define}}`d one.
pub(crate) fn parse(
    name: &str,
    text: &str,
    has_func: &dyn Fn(&str) -> bool,
) -> Result<(Tree, Vec<Tree>), ParseError> {
    parse_shared(name, &Arc::from(text), has_func)
}

/// [`parse`] of a text the trees share rather than copy.
pub(crate) fn parse_shared(
    name: &str,
    source: &Arc<str>,
    has_func: &dyn Fn(&str) -> bool,
) -> Result<(Tree, Vec<Tree>), ParseError> {
    let text: &str = source;
    let (items, strs) = Lexer {
        input: text,
        pos: 0,
        // About one token per eight bytes of template text.
        items: Vec::with_capacity(text.len() / 8),
        strs: Vec::new(),
        // Sized for a helper file's distinct literals and names, which grow these tables most.
        literals: super::NameMap::with_capacity_and_hasher(text.len() / 256, Default::default()),
        paren_depth: 0,
    }
    .run()
    .map_err(|(pos, msg)| {
        let line = 1 + text[..pos.min(text.len())].matches('\n').count();
        ParseError(format!(
            "template: {name}:{line}: {}",
            msg.replace("{NAME}", name)
        ))
    })?;
    let mut p = Parser {
        name: name.into(),
        source: source.clone(),
        input: text,
        items,
        strs,
        i: 0,
        vars: vec!["$"],
        range_depth: 0,
        has_func,
        defined: Vec::new(),
        nodes: Vec::new(),
        cmds: Vec::new(),
        args: Vec::new(),
        atoms: super::NameMap::with_capacity_and_hasher(text.len() / 128, Default::default()),
        chains: super::NameMap::with_capacity_and_hasher(text.len() / 128, Default::default()),
    };
    let root = p.parse_top()?;
    let tree = Tree {
        name: name.to_string(),
        parse_name: p.name.clone(),
        source: source.clone(),
        root: root.into(),
    };
    Ok((tree, p.defined))
}

impl<'a> Parser<'a> {
    fn err<T>(&self, pos: usize, msg: impl Into<String>) -> PResult<T> {
        let line = 1 + self.source[..pos.min(self.source.len())].matches('\n').count();
        Err(ParseError(format!(
            "template: {}:{}: {}",
            self.name,
            line,
            msg.into()
        )))
    }

    fn peek(&self) -> Item {
        self.items[self.i.min(self.items.len() - 1)]
    }

    fn next(&mut self) -> Item {
        let it = self.items[self.i.min(self.items.len() - 1)];
        self.i += 1;
        it
    }

    /// The source text of a token.
    fn text(&self, it: Item) -> &'a str {
        &self.input[it.pos..it.end]
    }

    /// The shared copy of a name.
    fn atom(&mut self, name: &'a str) -> Arc<str> {
        self.atoms
            .entry(name)
            .or_insert_with(|| (name.into(), false))
            .0
            .clone()
    }

    /// The name a field token holds (its text after the dot).
    fn field_name(&mut self, it: Item) -> Arc<str> {
        self.atom(&self.input[it.pos + 1..it.end])
    }

    /// A string literal's value.
    fn string(&self, it: Item) -> Option<Arc<str>> {
        match it.tok {
            Tok::Str(i) | Tok::RawStr(i) => self.strs.get(i as usize).cloned(),
            _ => None,
        }
    }

    fn backup(&mut self) {
        self.i -= 1;
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let it = self.next();
            if it.tok != Tok::Space {
                return it;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let it = self.next_non_space();
        self.backup();
        it
    }

    /// A token as Go's parser names it in errors (`item.String()`): keywords, `.` and `nil` in angle
    /// brackets, the rest quoted, cut to ten characters when longer.
    fn describe(&self, it: Item) -> String {
        match it.tok {
            Tok::Eof => "EOF".into(),
            Tok::Keyword(_) | Tok::Dot | Tok::Nil => format!("<{}>", self.text(it)),
            _ => {
                let val = self.text(it);
                if val.len() > 10 {
                    let cut = val.char_indices().nth(10).map_or(val.len(), |(i, _)| i);
                    format!("{}...", super::fmt::quote(&val[..cut]))
                } else {
                    super::fmt::quote(val)
                }
            }
        }
    }

    fn unexpected<T>(&self, it: Item, context: &str) -> PResult<T> {
        self.err(it.pos, format!("unexpected {} in {}", self.describe(it), context))
    }

    fn parse_top(&mut self) -> PResult<Vec<Node>> {
        let base = self.nodes.len();
        while self.peek().tok != Tok::Eof {
            if self.peek().tok == Tok::LeftDelim {
                let save = self.i;
                self.next();
                if self.next_non_space().tok == Tok::Keyword(Kw::Define) {
                    self.parse_definition()?;
                    continue;
                }
                self.i = save;
            }
            match self.text_or_action()? {
                Parsed::Node(n) => self.nodes.push(n),
                Parsed::Comment => {}
                Parsed::End(pos) => return self.err(pos, "unexpected {{end}}"),
                Parsed::Else(pos, _) => return self.err(pos, "unexpected {{else}}"),
            }
        }
        Ok(self.nodes.drain(base..).collect())
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let it = self.next_non_space();
        let Some(name) = self.string(it) else {
            return self.unexpected(it, context);
        };
        let name = name.to_string();
        let it = self.next_non_space();
        if it.tok != Tok::RightDelim {
            return self.unexpected(it, context);
        }
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$"]);
        let (list, end) = self.item_list()?;
        match end {
            Parsed::End(_) => {}
            Parsed::Else(pos, _) => return self.err(pos, format!("unexpected {{{{else}}}} in {context}")),
            _ => unreachable!(),
        }
        self.vars = saved_vars;
        let tree = Tree {
            name: name.clone(),
            parse_name: self.name.clone(),
            source: self.source.clone(),
            root: list.into(),
        };
        if let Some(prev) = self.defined.iter().position(|t| t.name == name) {
            if !self.defined[prev].is_empty() && !tree.is_empty() {
                return self.err(
                    it.pos,
                    format!("template: multiple definition of template {name:?}"),
                );
            }
            if !tree.is_empty() {
                self.defined[prev] = tree;
            }
        } else {
            self.defined.push(tree);
        }
        Ok(())
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, Parsed)> {
        let base = self.nodes.len();
        while self.peek_non_space().tok != Tok::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => self.nodes.push(n),
                Parsed::Comment => {}
                end => return Ok((self.nodes.drain(base..).collect(), end)),
            }
        }
        let pos = self.peek().pos;
        self.err(pos, "unexpected EOF")
    }

    fn text_or_action(&mut self) -> PResult<Parsed> {
        let it = self.next_non_space();
        match it.tok {
            Tok::Text => Ok(Parsed::Node(Node::Text(it.pos, it.end))),
            Tok::LeftDelim => self.action(),
            Tok::Comment => Ok(Parsed::Comment),
            _ => self.unexpected(it, "input"),
        }
    }

    fn action(&mut self) -> PResult<Parsed> {
        let it = self.next_non_space();
        match it.tok {
            Tok::Keyword(Kw::Block) => return self.block_control(it.pos).map(Parsed::Node),
            Tok::Keyword(Kw::Break) => return self.break_control(it.pos, true).map(Parsed::Node),
            Tok::Keyword(Kw::Continue) => return self.break_control(it.pos, false).map(Parsed::Node),
            Tok::Keyword(Kw::Else) => return self.else_control(it.pos),
            Tok::Keyword(Kw::End) => {
                let t = self.next_non_space();
                if t.tok != Tok::RightDelim {
                    return self.unexpected(t, "end");
                }
                return Ok(Parsed::End(it.pos));
            }
            Tok::Keyword(Kw::If) => return self.control(it.pos, "if").map(Parsed::Node),
            Tok::Keyword(Kw::Range) => return self.control(it.pos, "range").map(Parsed::Node),
            Tok::Keyword(Kw::Template) => return self.template_control(it.pos).map(Parsed::Node),
            Tok::Keyword(Kw::With) => return self.control(it.pos, "with").map(Parsed::Node),
            Tok::Keyword(Kw::Define) => return self.unexpected(it, "command"),
            _ => {}
        }
        self.backup();
        let pos = self.peek().pos;
        let pipe = self.pipeline("command", Tok::RightDelim)?;
        Ok(Parsed::Node(Node::Action(pos, Box::new(pipe))))
    }

    fn break_control(&mut self, pos: usize, is_break: bool) -> PResult<Node> {
        let word = if is_break { "break" } else { "continue" };
        let t = self.next_non_space();
        if t.tok != Tok::RightDelim {
            return self.unexpected(t, &format!("{{{{{word}}}}}"));
        }
        if self.range_depth == 0 {
            return self.err(pos, format!("{{{{{word}}}}} outside {{{{range}}}}"));
        }
        Ok(if is_break {
            Node::Break(pos)
        } else {
            Node::Continue(pos)
        })
    }

    fn else_control(&mut self, pos: usize) -> PResult<Parsed> {
        let peek = self.peek_non_space();
        if let Tok::Keyword(k @ (Kw::If | Kw::With)) = peek.tok {
            return Ok(Parsed::Else(pos, Some(k.name())));
        }
        let t = self.next_non_space();
        if t.tok != Tok::RightDelim {
            return self.unexpected(t, "else");
        }
        Ok(Parsed::Else(pos, None))
    }

    fn control(&mut self, pos: usize, context: &'static str) -> PResult<Node> {
        let nvars = self.vars.len();
        let pipe = self.pipeline(context, Tok::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        match next {
            Parsed::End(_) => {}
            Parsed::Else(epos, chained) => {
                if let Some(k) = chained {
                    if k == context && (context == "if" || context == "with") {
                        // "{{else if ...}}" is "{{else}}{{if ...}}...{{end}}{{end}}" with one end.
                        self.next_non_space();
                        let inner = self.control(epos, context)?;
                        else_list = Some(vec![inner]);
                        self.vars.truncate(nvars);
                        return Ok(make_control(context, pos, pipe, list, else_list));
                    }
                    // "{{else with}}" inside "if" (or vice versa) is not allowed: parse as plain else.
                    let t = self.next_non_space();
                    return self.unexpected(t, "else");
                }
                let (elist, next) = self.item_list()?;
                if !matches!(next, Parsed::End(_)) {
                    return self.err(epos, "expected end; found {{else}}");
                }
                else_list = Some(elist);
            }
            _ => unreachable!(),
        }
        self.vars.truncate(nvars);
        Ok(make_control(context, pos, pipe, list, else_list))
    }

    /// The name of a `template` or `block` and its position (Go gives the node that position).
    fn template_name(&mut self, context: &str) -> PResult<(String, usize)> {
        let t = self.next_non_space();
        match self.string(t) {
            Some(s) => Ok((s.to_string(), t.pos)),
            None => self.unexpected(t, context),
        }
    }

    fn template_control(&mut self, _pos: usize) -> PResult<Node> {
        let context = "template clause";
        let (name, pos) = self.template_name(context)?;
        let t = self.next_non_space();
        let pipe = if t.tok != Tok::RightDelim {
            self.backup();
            Some(self.pipeline(context, Tok::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template(pos, Box::new((name, pipe))))
    }

    fn block_control(&mut self, action_pos: usize) -> PResult<Node> {
        let context = "block clause";
        let (name, pos) = self.template_name(context)?;
        let pipe = self.pipeline(context, Tok::RightDelim)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$"]);
        let saved_depth = std::mem::replace(&mut self.range_depth, 0);
        let (list, end) = self.item_list()?;
        if !matches!(end, Parsed::End(_)) {
            return self.err(action_pos, format!("unexpected {{{{else}}}} in {context}"));
        }
        self.vars = saved_vars;
        self.range_depth = saved_depth;
        let tree = Tree {
            name: name.clone(),
            parse_name: self.name.clone(),
            source: self.source.clone(),
            root: list.into(),
        };
        if let Some(prev) = self.defined.iter().position(|t| t.name == name) {
            if !self.defined[prev].is_empty() && !tree.is_empty() {
                return self.err(
                    action_pos,
                    format!("template: multiple definition of template {name:?}"),
                );
            }
            self.defined[prev] = tree;
        } else {
            self.defined.push(tree);
        }
        Ok(Node::Template(pos, Box::new((name, Some(pipe)))))
    }

    fn pipeline(&mut self, context: &str, end: Tok) -> PResult<Pipe> {
        let pos = self.peek_non_space().pos;
        let mut pipe = Pipe {
            pos,
            is_assign: false,
            decl: Box::default(),
            cmds: Box::default(),
        };
        let mut decl = Vec::new();
        // Declarations.
        'decls: loop {
            let v = self.peek_non_space();
            if v.tok != Tok::Variable {
                break;
            }
            let name = self.text(v);
            let save = self.i;
            self.next_non_space();
            let after = self.peek();
            let next = self.peek_non_space();
            match next.tok {
                Tok::Assign | Tok::Declare => {
                    pipe.is_assign = next.tok == Tok::Assign;
                    self.next_non_space();
                    decl.push(self.atom(name));
                    self.vars.push(name);
                }
                Tok::Char(',') => {
                    self.next_non_space();
                    decl.push(self.atom(name));
                    self.vars.push(name);
                    if context == "range" && decl.len() < 2 {
                        match self.peek_non_space().tok {
                            Tok::Variable | Tok::RightDelim | Tok::RParen => continue 'decls,
                            _ => return self.err(next.pos, "range can only initialize variables"),
                        }
                    }
                    return self.err(next.pos, format!("too many declarations in {context}"));
                }
                _ if after.tok == Tok::Space => {
                    self.i = save;
                }
                _ => {
                    self.i = save;
                }
            }
            break;
        }
        let base = self.cmds.len();
        loop {
            let t = self.next_non_space();
            if t.tok == end {
                pipe.cmds = self.cmds.drain(base..).collect();
                pipe.decl = decl.into();
                self.check_pipeline(&pipe, context, t.pos)?;
                return Ok(pipe);
            }
            match t.tok {
                Tok::Bool(_)
                | Tok::CharConst
                | Tok::Complex
                | Tok::Dot
                | Tok::Field
                | Tok::Ident
                | Tok::Number
                | Tok::Nil
                | Tok::RawStr(_)
                | Tok::Str(_)
                | Tok::Variable
                | Tok::LParen => {
                    self.backup();
                    let cmd = self.command()?;
                    self.cmds.push(cmd);
                }
                _ => return self.unexpected(t, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str, pos: usize) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return self.err(pos, format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0],
                Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Number(..) | Arg::Str(..)
            ) {
                return self.err(
                    c.pos,
                    format!("non executable command in pipeline stage {}", i + 1),
                );
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Cmd> {
        let pos = self.peek_non_space().pos;
        let base = self.args.len();
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                self.args.push(op);
            }
            let t = self.next();
            match t.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RParen => self.backup(),
                Tok::Pipe => {}
                _ => return self.unexpected(t, "operand"),
            }
            break;
        }
        if self.args.len() == base {
            return self.err(pos, "empty command");
        }
        Ok(Cmd {
            pos,
            args: self.args.drain(base..).collect(),
        })
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else { return Ok(None) };
        // Fields and variables took the fields that follow them (see `term`): what still has fields
        // after it is another term.
        if self.peek().tok == Tok::Field {
            let pos = self.peek().pos;
            let fields = self.fields(self.i);
            return Ok(Some(match node {
                Arg::Bool(..) | Arg::Str(..) | Arg::Number(..) | Arg::Nil(_) | Arg::Dot(_) => {
                    return self.err(pos, format!("unexpected . after term {:?}", node.to_string()));
                }
                n => Arg::Chain(pos, Box::new(n), fields),
            }));
        }
        Ok(Some(node))
    }

    /// The names of the field tokens from `from` on (the tokens of one chain touch: its text is theirs).
    fn fields(&mut self, from: usize) -> Fields {
        let n = self.items[from..]
            .iter()
            .take_while(|it| it.tok == Tok::Field)
            .count();
        let (start, end) = match n {
            0 => (0, 0),
            _ => (self.items[from].pos, self.items[from + n - 1].end),
        };
        self.i = from + n;
        let text = &self.input[start..end];
        if let Some(f) = self.chains.get(text) {
            return f.clone();
        }
        let fields: Fields = (from..from + n).map(|k| self.field_name(self.items[k])).collect();
        self.chains.insert(text, fields.clone());
        fields
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        Ok(Some(match t.tok {
            Tok::Ident => {
                let name = self.text(t);
                let (atom, checked) = self.atoms.entry(name).or_insert_with(|| (name.into(), false));
                if !*checked {
                    if !(self.has_func)(name) {
                        return self.err(t.pos, format!("function {name:?} not defined"));
                    }
                    *checked = true;
                }
                Arg::Ident(t.pos, atom.clone())
            }
            Tok::Dot => Arg::Dot(t.pos),
            Tok::Nil => Arg::Nil(t.pos),
            Tok::Variable => {
                let v = self.text(t);
                if !self.vars.contains(&v) {
                    return self.err(t.pos, format!("undefined variable {v:?}"));
                }
                let v = self.atom(v);
                // "$x.y" arrives as a variable followed by fields. As Go's parser: a variable or field
                // that continues with fields takes the position of the first continuing field (where
                // its chain node began), which execution errors report.
                let pos = if self.peek().tok == Tok::Field {
                    self.peek().pos
                } else {
                    t.pos
                };
                Arg::Variable(pos, v, self.fields(self.i))
            }
            Tok::Field => {
                let pos = if self.peek().tok == Tok::Field {
                    self.peek().pos
                } else {
                    t.pos
                };
                Arg::Field(pos, self.fields(self.i - 1))
            }
            Tok::Bool(b) => Arg::Bool(t.pos, b),
            Tok::CharConst => {
                let n = Number::parse(self.text(t), true).or_else(|e| self.err(t.pos, e))?;
                Arg::Number(t.pos, Box::new(n))
            }
            Tok::Complex | Tok::Number => {
                let n = Number::parse(self.text(t), false).or_else(|e| self.err(t.pos, e))?;
                Arg::Number(t.pos, Box::new(n))
            }
            Tok::LParen => {
                let p = self.pipeline("parenthesized pipeline", Tok::RParen)?;
                Arg::Pipe(Box::new(p))
            }
            Tok::Str(_) | Tok::RawStr(_) => {
                let text = self.text(t);
                // Quoting gives back a double-quoted literal of printable ASCII without escapes.
                let requote = matches!(t.tok, Tok::Str(_))
                    && text.bytes().all(|b| (b' '..0x7f).contains(&b) && b != b'\\');
                let written = (!requote).then(|| Arc::from(text));
                Arg::Str(t.pos, self.string(t).unwrap_or_default(), written)
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

enum Parsed {
    Node(Node),
    Comment,
    End(usize),
    Else(usize, Option<&'static str>),
}

fn make_control(
    context: &str,
    pos: usize,
    pipe: Pipe,
    list: Vec<Node>,
    else_list: Option<Vec<Node>>,
) -> Node {
    let (list, else_list) = (list.into_boxed_slice(), else_list.map(Vec::into_boxed_slice));
    match context {
        "if" => Node::If(pos, Box::new((pipe, list, else_list))),
        "range" => Node::Range(pos, Box::new((pipe, list, else_list))),
        _ => Node::With(pos, Box::new((pipe, list, else_list))),
    }
}

#[cfg(test)]
mod number_tests {
    use super::Number;

    /// The quick reading of small decimal integers agrees with the general one.
    #[test]
    fn decimal_literals_read_as_the_general_path_reads_them() {
        let mut texts: Vec<String> = (0..20_000).map(|i| i.to_string()).collect();
        texts.extend(["00", "007", "0", "999999999999999999", "123456789012345678"].map(String::from));
        for t in texts {
            let (a, b) = (Number::parse(&t, false), Number::parse_any(&t, false));
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{t}");
        }
    }
}

#[cfg(test)]
mod size_tests {
    /// Trees of large charts hold tens of thousands of nodes: keep them small.
    #[test]
    fn nodes_stay_small() {
        assert!(std::mem::size_of::<super::Node>() <= 24);
        assert!(std::mem::size_of::<super::Arg>() <= 48);
        assert!(std::mem::size_of::<super::Cmd>() <= 24);
        assert!(std::mem::size_of::<super::Pipe>() <= 48);
    }
}
