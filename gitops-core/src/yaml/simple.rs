//! A fast reader for the block-style YAML that values files, chart metadata and rendered manifests are
//! written in: block mappings and sequences, plain scalars (also over several lines), one-line quoted
//! scalars, literal and folded block scalars, one-line flow collections and comments.
//!
//! It is an accelerator, not a second parser: anything outside that subset (anchors, aliases, tags,
//! multi-line quoted scalars, complex keys, several documents, tabs, unusual number spellings,
//! duplicate keys) and anything that is not valid YAML makes it give up with `None`, and the caller reads
//! the text with the general reader, which then gives the value or the error. What it does return is the
//! value the general reader gives an untyped target ([`super::Untyped`]), scalar for scalar: the
//! differential test in `tests/simple_yaml.rs` holds it to that over every YAML file of the conformance
//! corpora.

use std::borrow::Cow;

use super::Limits;

/// A YAML node as an untyped target receives it from the general reader.
#[derive(Debug, Clone, PartialEq)]
pub enum Simple<'a> {
    /// `null`, `~`, or nothing.
    Null,
    /// A boolean (YAML 1.1 spellings too when [`Limits::yaml_1_1_booleans`] is set).
    Bool(bool),
    /// A negative integer.
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// A finite float.
    Float(f64),
    /// A string, borrowed from the input when it needed no unescaping.
    Str(Cow<'a, str>),
    /// A sequence.
    Seq(Vec<Simple<'a>>),
    /// A mapping with string keys, in document order (keys are unique).
    Map(Vec<(Cow<'a, str>, Simple<'a>)>),
}

/// Reads a one-document YAML text whose top level is a mapping, or gives up (`None`) when the text is
/// outside the subset this reader handles or is not valid YAML.
pub fn parse_mapping<'a>(text: &'a str, limits: &Limits) -> Option<Simple<'a>> {
    read_top(text, limits, None)
}

/// Reads a text as [`parse_mapping`] does, but builds only the values of the top-level keys in `keys`:
/// the returned mapping holds those entries, and the rest of the text is checked (the same subset, the
/// same validity, duplicate keys included) without building anything.
///
/// This is how rendered manifests are read for their `kind` and `metadata` alone.
pub fn parse_mapping_keys<'a>(text: &'a str, limits: &Limits, keys: &[&str]) -> Option<Simple<'a>> {
    read_top(text, limits, Some(keys))
}

fn read_top<'a>(text: &'a str, limits: &Limits, only: Option<&[&str]>) -> Option<Simple<'a>> {
    if text.len() > limits.max_document_bytes || !plain_text(text.as_bytes()) {
        return None;
    }
    let mut r = Reader {
        src: text,
        pos: 0,
        depth: 0,
        limits,
        build: true,
        only,
        keys: Vec::new(),
        last: std::cell::Cell::new(None),
    };
    // An optional `---` line first.
    if let Some(l) = r.next_line()
        && l.indent == 0
        && let Some(rest) = r.src[l.content..l.end].strip_prefix("---")
    {
        if (!rest.is_empty() && !rest.starts_with(' ')) || !is_blank_or_comment(rest) {
            return None;
        }
        r.pos = l.next;
    }
    let first = r.next_line()?;
    if first.indent != 0 {
        return None;
    }
    let map = if r.src[first.content..first.end].starts_with('{') {
        let (Simple::Map(m), _) = r.one_line(first.content, first)? else {
            return None;
        };
        Simple::Map(m)
    } else {
        r.mapping(0, first.content)?
    };
    // Nothing may follow the top-level mapping.
    if r.next_line().is_some() {
        return None;
    }
    Some(map)
}

/// No byte the subset leaves to the general reader: tabs, carriage returns and other control
/// characters, a byte order mark, C1 controls, Unicode line separators and non-characters.
fn plain_text(b: &[u8]) -> bool {
    // Printable ASCII and newlines, a chunk at a time without branches; the rest byte by byte.
    let ascii = |c: &[u8]| {
        c.iter()
            .fold(true, |ok, &c| ok & ((0x20..0x7f).contains(&c) | (c == b'\n')))
    };
    let mut start = 0;
    for chunk in b.chunks(64) {
        if !ascii(chunk) {
            break;
        }
        start += chunk.len();
    }
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        if c < 0x20 && c != b'\n' || c == 0x7f {
            return false;
        }
        if c >= 0xc2 {
            let next = b.get(i + 1).copied().unwrap_or(0);
            let third = b.get(i + 2).copied().unwrap_or(0);
            match (c, next, third) {
                (0xc2, 0x80..=0x9f, _)
                | (0xef, 0xbb, 0xbf)
                | (0xef, 0xbf, 0xbe | 0xbf)
                | (0xe2, 0x80, 0xa8 | 0xa9) => return false,
                _ => {}
            }
        }
        i += 1;
    }
    true
}

fn is_blank_or_comment(s: &str) -> bool {
    let t = s.trim_start_matches(' ');
    t.is_empty() || t.starts_with('#')
}

/// A line with content: where its text starts (after the indentation) and ends (before the newline),
/// and where the following line starts.
#[derive(Clone, Copy)]
struct Line {
    start: usize,
    indent: usize,
    content: usize,
    end: usize,
    next: usize,
}

struct Reader<'a, 'l> {
    src: &'a str,
    /// Start of the next unread line.
    pos: usize,
    depth: usize,
    limits: &'l Limits,
    /// Whether the node being read is built; when not, it is only checked and reads as null.
    build: bool,
    /// The top-level keys whose values are built, when not all are.
    only: Option<&'l [&'l str]>,
    /// The keys of the block mappings being read, innermost last (for the duplicate check).
    keys: Vec<Cow<'a, str>>,
    /// The line last measured: a line is looked at several times (peeked at by the value before it,
    /// then read by its collection).
    last: std::cell::Cell<Option<Line>>,
}

impl<'a> Reader<'a, '_> {
    fn line_at(&self, start: usize) -> Option<Line> {
        if let Some(l) = self.last.get()
            && l.start == start
        {
            return Some(l);
        }
        if start >= self.src.len() {
            return None;
        }
        let b = self.src.as_bytes();
        let (end, next) = match memchr::memchr(b'\n', &b[start..]) {
            Some(i) => (start + i, start + i + 1),
            None => (b.len(), b.len()),
        };
        let indent = b[start..end].iter().take_while(|&&c| c == b' ').count();
        let line = Line {
            start,
            indent,
            content: start + indent,
            end,
            next,
        };
        self.last.set(Some(line));
        Some(line)
    }

    /// The next line with content (not blank, not only a comment), skipping those before it; `pos` is
    /// left at its start.
    fn next_line(&mut self) -> Option<Line> {
        while let Some(l) = self.line_at(self.pos) {
            let rest = &self.src[l.content..l.end];
            if rest.is_empty() || rest.starts_with('#') {
                self.pos = l.next;
                continue;
            }
            return Some(l);
        }
        None
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= self.limits.max_depth).then_some(())
    }

    /// A block mapping whose entries start at column `indent`; the first entry's key starts at byte
    /// `first` (inside the current line, which may be a sequence entry's).
    fn mapping(&mut self, indent: usize, first: usize) -> Option<Simple<'a>> {
        self.enter()?;
        let building = self.build;
        // At the top of a filtered read only some entries are kept.
        let only = if self.depth == 1 { self.only } else { None };
        // Every key, kept or not, for the duplicate check.
        let base = self.keys.len();
        let mut entries: Vec<(Cow<'a, str>, Simple<'a>)> = Vec::new();
        let mut at = first;
        loop {
            let line = self.line_at(self.pos)?;
            let (key, after) = self.key(at, line.end)?;
            if key == "<<" || self.keys[base..].contains(&key) {
                return None;
            }
            let keep = building && only.is_none_or(|o| o.contains(&&*key));
            self.build = keep;
            let value = self.value_after_colon(after, line, indent, true);
            self.build = building;
            let value = value?;
            self.keys.push(key.clone());
            if keep {
                entries.push((key, value));
            }
            match self.next_line() {
                Some(l) if l.indent == indent => {
                    if self.src[l.content..].starts_with("- ") || &self.src[l.content..l.end] == "-" {
                        return None;
                    }
                    at = l.content;
                }
                Some(l) if l.indent > indent => return None,
                _ => break,
            }
        }
        self.depth -= 1;
        self.keys.truncate(base);
        Some(if building {
            Simple::Map(entries)
        } else {
            Simple::Null
        })
    }

    /// A block sequence whose `-` indicators are at column `indent`, starting on the current line.
    fn sequence(&mut self, indent: usize) -> Option<Simple<'a>> {
        self.enter()?;
        let mut items = Vec::new();
        loop {
            let line = self.line_at(self.pos)?;
            let dash = line.content;
            let after = dash + 1;
            let rest = &self.src[after..line.end];
            let item = if rest.is_empty() || is_blank_or_comment(rest) && rest.starts_with(' ') {
                self.pos = line.next;
                self.nested_block(indent, false)?
            } else if let Some(r) = rest.strip_prefix(' ') {
                let col = after + 1 + r.len() - r.trim_start_matches(' ').len();
                let s = &self.src[col..line.end];
                if s.starts_with("- ") || s == "-" {
                    return None;
                }
                if self.looks_like_key(col, line.end) {
                    self.mapping(col - line.start, col)?
                } else {
                    self.value(col, line, indent)?
                }
            } else {
                return None;
            };
            if self.build {
                items.push(item);
            }
            match self.next_line() {
                Some(l) if l.indent == indent => {
                    let s = &self.src[l.content..l.end];
                    if !(s.starts_with("- ") || s == "-") {
                        // A mapping's key after a same-indented sequence: the mapping's business.
                        break;
                    }
                }
                Some(l) if l.indent > indent => return None,
                _ => break,
            }
        }
        self.depth -= 1;
        Some(if self.build {
            Simple::Seq(items)
        } else {
            Simple::Null
        })
    }

    /// The node on the lines after a `key:` or `-` with nothing after it: a block collection indented
    /// more than `parent` (or, for a mapping value, a sequence at the same column), else null.
    fn nested_block(&mut self, parent: usize, in_mapping: bool) -> Option<Simple<'a>> {
        let Some(l) = self.next_line() else {
            return Some(Simple::Null);
        };
        let s = &self.src[l.content..l.end];
        let is_seq = s.starts_with("- ") || s == "-";
        if l.indent > parent {
            if s.starts_with(['{', '[']) {
                // A flow collection on the line after its key (`strategy:\n    {}`).
                return self.value(l.content, l, parent);
            }
            if is_seq {
                self.sequence(l.indent)
            } else {
                self.mapping(l.indent, l.content)
            }
        } else if l.indent == parent && in_mapping && is_seq {
            self.sequence(l.indent)
        } else {
            Some(Simple::Null)
        }
    }

    /// The value after a key's colon at byte `after` of `line`, for a key at column `indent`.
    fn value_after_colon(
        &mut self,
        after: usize,
        line: Line,
        indent: usize,
        in_mapping: bool,
    ) -> Option<Simple<'a>> {
        let rest = &self.src[after..line.end];
        let trimmed = rest.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') && trimmed.len() < rest.len() {
            self.pos = line.next;
            return self.nested_block(indent, in_mapping);
        }
        if trimmed.len() == rest.len() {
            return None; // `key:value` is not a mapping entry
        }
        self.value(line.end - trimmed.len(), line, indent)
    }

    /// A value starting at byte `at` of `line` (not at its end), inside a collection at column
    /// `parent`; leaves `pos` after the value's last line.
    fn value(&mut self, at: usize, line: Line, parent: usize) -> Option<Simple<'a>> {
        let b = self.src.as_bytes()[at];
        if b == b'|' || b == b'>' {
            self.pos = line.next;
            return self.block_scalar(&self.src[at..line.end], parent);
        }
        let (mut value, plain) = self.one_line(at, line)?;
        if plain {
            value = self.plain_continued(value, at, line, parent)?;
        }
        // A more-indented line after the value would continue it (after a comment, or a quoted scalar).
        if let Some(l) = self.next_line()
            && l.indent > parent
        {
            return None;
        }
        Some(value)
    }

    /// A one-line value at byte `at` of `line`: a quoted or plain scalar or a flow collection, with at
    /// most a comment after it; `pos` moves to the next line. The flag says whether it was a plain scalar
    /// with nothing after it (which the next lines may continue).
    fn one_line(&mut self, at: usize, line: Line) -> Option<(Simple<'a>, bool)> {
        let s = &self.src[at..line.end];
        let b = s.as_bytes()[0];
        let mut plain = false;
        let (value, end) = match b {
            b'"' => double_quoted(s)?,
            b'\'' => single_quoted(s)?,
            b'[' | b'{' => {
                let mut f = Flow {
                    s,
                    i: 0,
                    yaml_1_1: self.limits.yaml_1_1_booleans,
                    depth_left: self.limits.max_depth.saturating_sub(self.depth),
                };
                let v = f.node()?;
                (v, f.i)
            }
            b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b'#' | b',' | b']' | b'}' | b'|' | b'>' => {
                return None;
            }
            // `-`, `?` and `:` start a plain scalar (`:metric:sum`, `::1`) when a non-space follows.
            b'-' | b'?' | b':' if s.len() == 1 || s.as_bytes()[1] == b' ' => return None,
            _ => {
                let text = plain_end(s);
                let raw = &s[..text];
                if mapping_colon(raw).is_some() {
                    return None;
                }
                plain = text == s.len();
                // A scalar nothing is built for is still typed when it may be a number: `.inf`, say,
                // is one the general reader may refuse.
                let value = if self.build || matches!(raw.as_bytes()[0], b'0'..=b'9' | b'.' | b'+' | b'-') {
                    resolve(raw, self.limits.yaml_1_1_booleans)?
                } else {
                    Simple::Null
                };
                (value, text)
            }
        };
        if !is_blank_or_comment(&s[end..]) || (!s[end..].is_empty() && !s[end..].starts_with(' ')) {
            return None;
        }
        self.pos = line.next;
        Some((value, plain))
    }

    /// A plain scalar starting at byte `at` of `line` that may go on over more-indented lines (folded
    /// into one, a blank line giving a line break); `pos` is after its first line, and `first` is what
    /// the first line alone reads as.
    fn plain_continued(
        &mut self,
        first: Simple<'a>,
        at: usize,
        line: Line,
        parent: usize,
    ) -> Option<Simple<'a>> {
        let mut folded: Option<String> = None;
        let mut blank_run = 0;
        let mut p = self.pos;
        while let Some(l) = self.line_at(p) {
            if l.content == l.end {
                blank_run += 1;
                p = l.next;
                continue;
            }
            let text = &self.src[l.content..l.end];
            if l.indent <= parent || text.starts_with('#') {
                break;
            }
            let t = text.trim_end_matches(' ');
            if mapping_colon(t).is_some()
                || comment_start(t).is_some()
                || t.starts_with("- ")
                || t == "-"
                || matches!(
                    t.as_bytes()[0],
                    b'?' | b':'
                        | b'&'
                        | b'*'
                        | b'!'
                        | b'|'
                        | b'>'
                        | b'%'
                        | b'@'
                        | b'`'
                        | b'{'
                        | b'['
                        | b'"'
                        | b'\''
                )
            {
                return None;
            }
            if self.build {
                let out =
                    folded.get_or_insert_with(|| self.src[at..line.end].trim_end_matches(' ').to_owned());
                if blank_run == 0 {
                    out.push(' ');
                }
                (0..blank_run).for_each(|_| out.push('\n'));
                out.push_str(t);
            }
            blank_run = 0;
            p = l.next;
            self.pos = p;
        }
        let Some(text) = folded else {
            return Some(first);
        };
        // The whole text must still read as a string (it does unless the first line alone did not).
        match (first, resolve(&text, self.limits.yaml_1_1_booleans)?) {
            (Simple::Str(_), Simple::Str(_)) => Some(Simple::Str(Cow::Owned(text))),
            _ => None,
        }
    }

    /// Whether the text at `at` is a mapping key followed by `: ` or a final `:`.
    fn looks_like_key(&self, at: usize, end: usize) -> bool {
        let s = &self.src[at..end];
        match s.as_bytes()[0] {
            b'"' | b'\'' => {
                let close = if s.starts_with('"') {
                    double_quoted(s)
                } else {
                    single_quoted(s)
                };
                close.is_some_and(|(_, n)| s[n..].trim_start_matches(' ').starts_with(':'))
            }
            b'[' | b'{' | b'|' | b'>' => false,
            _ => {
                let raw = &s[..plain_end(s)];
                mapping_colon(raw).is_some()
            }
        }
    }

    /// A mapping key at byte `at`; returns it and the byte after its colon.
    fn key(&self, at: usize, end: usize) -> Option<(Cow<'a, str>, usize)> {
        let s = &self.src[at..end];
        let (key, n) = match s.as_bytes()[0] {
            b'"' => {
                let (k, n) = double_quoted(s)?;
                let Simple::Str(k) = k else { return None };
                (k, n)
            }
            b'\'' => {
                let (k, n) = single_quoted(s)?;
                let Simple::Str(k) = k else { return None };
                (k, n)
            }
            b'&' | b'*' | b'!' | b'?' | b'%' | b'@' | b'`' | b'#' | b',' | b'[' | b']' | b'{' | b'}'
            | b'|' | b'>' | b':' | b'-' => return None,
            _ => {
                let colon = mapping_colon(s)?;
                let raw = s[..colon].trim_end_matches(' ');
                if comment_start(raw).is_some() {
                    return None;
                }
                // Keys must read as strings; `on:`, `1:` and `null:` are left to the general reader.
                match resolve(raw, self.limits.yaml_1_1_booleans)? {
                    Simple::Str(k) => (k, colon),
                    _ => return None,
                }
            }
        };
        let after_key = s[n..].trim_start_matches(' ');
        let colon = s.len() - after_key.len();
        if !after_key.starts_with(':') {
            return None;
        }
        Some((key, at + colon + 1))
    }

    /// A literal (`|`) or folded (`>`) block scalar whose header is `header`, in a collection at column
    /// `parent`; `pos` is at the line after the header.
    fn block_scalar(&mut self, header: &str, parent: usize) -> Option<Simple<'a>> {
        let folded = header.starts_with('>');
        let mut chomp = b' ';
        let mut rest = &header[1..];
        if let Some(c @ (b'-' | b'+')) = rest.bytes().next() {
            chomp = c;
            rest = &rest[1..];
        }
        // Indentation indicators and keep chomping are left to the general reader.
        if chomp == b'+' || !is_blank_or_comment(rest) || (!rest.is_empty() && !rest.starts_with(' ')) {
            return None;
        }
        // The content's indentation is the first non-blank line's.
        let mut indent = None;
        let mut p = self.pos;
        let mut leading_blank_max = 0;
        while let Some(l) = self.line_at(p) {
            if l.content == l.end {
                leading_blank_max = leading_blank_max.max(l.indent);
                p = l.next;
                continue;
            }
            if l.indent > parent {
                indent = Some(l.indent);
            }
            break;
        }
        let Some(indent) = indent else {
            return None; // an empty block scalar: rare, left to the general reader
        };
        if leading_blank_max > indent {
            return None;
        }
        let mut out = String::new();
        let mut blank_run = 0usize;
        let mut had_text = false;
        while let Some(l) = self.line_at(self.pos) {
            if l.content == l.end {
                if l.indent > indent {
                    return None; // spaces-only line carrying content spaces
                }
                blank_run += 1;
                self.pos = l.next;
                continue;
            }
            if l.indent < indent {
                break;
            }
            if l.next == l.end && chomp != b'-' {
                // The text ends without a final line break, which a kept or clipped block would end
                // with: left to the general reader (a stripped block drops it anyway).
                return None;
            }
            let text = &self.src[l.start + indent..l.end];
            if folded && l.indent > indent {
                return None; // more-indented lines keep their breaks: left to the general reader
            }
            // A block nothing is built for is only checked: its lines are not joined.
            if self.build {
                if !folded {
                    let breaks = if had_text { blank_run + 1 } else { blank_run };
                    (0..breaks).for_each(|_| out.push('\n'));
                } else if had_text && blank_run == 0 {
                    out.push(' ');
                } else {
                    (0..blank_run).for_each(|_| out.push('\n'));
                }
                out.push_str(text);
            }
            had_text = true;
            blank_run = 0;
            self.pos = l.next;
        }
        if !self.build {
            return Some(Simple::Null);
        }
        // Trailing blank lines belong to nothing: clip and strip chomping drop them.
        if chomp != b'-' {
            out.push('\n');
        }
        Some(Simple::Str(Cow::Owned(out)))
    }
}

fn has_key(entries: &[(Cow<'_, str>, Simple<'_>)], key: &str) -> bool {
    entries.iter().any(|(k, _)| k == key)
}

/// Length of a plain scalar at the start of `s` in block context: up to a ` #` comment or the end of
/// the line, trailing spaces dropped.
fn plain_end(s: &str) -> usize {
    let end = comment_start(s).unwrap_or(s.len());
    s[..end].trim_end_matches(' ').len()
}

/// A one-line double-quoted scalar at the start of `s`; returns it and the byte after the closing quote.
fn double_quoted(s: &str) -> Option<(Simple<'_>, usize)> {
    let b = s.as_bytes();
    let mut i = 1;
    let mut owned: Option<String> = None;
    let mut run = 1;
    while i < b.len() {
        match b[i] {
            b'"' => return Some((quoted(s, owned, run, i), i + 1)),
            b'\\' => {
                let o = owned.get_or_insert_with(String::new);
                o.push_str(&s[run..i]);
                let e = *b.get(i + 1)?;
                let mut next = i + 2;
                match e {
                    b'\\' => o.push('\\'),
                    b'"' => o.push('"'),
                    b'/' => o.push('/'),
                    b'n' => o.push('\n'),
                    b't' => o.push('\t'),
                    b'r' => o.push('\r'),
                    b'0' => o.push('\0'),
                    b'x' | b'u' | b'U' => {
                        let n = match e {
                            b'x' => 2,
                            b'u' => 4,
                            _ => 8,
                        };
                        let hex = s.get(i + 2..i + 2 + n)?;
                        if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                            return None;
                        }
                        o.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
                        next = i + 2 + n;
                    }
                    _ => return None,
                }
                i = next;
                run = next;
            }
            _ => i += 1,
        }
    }
    None // not closed on this line
}

/// A one-line single-quoted scalar at the start of `s`; returns it and the byte after the closing quote.
fn single_quoted(s: &str) -> Option<(Simple<'_>, usize)> {
    let b = s.as_bytes();
    let mut i = 1;
    let mut owned: Option<String> = None;
    let mut run = 1;
    while i < b.len() {
        if b[i] == b'\'' {
            if b.get(i + 1) == Some(&b'\'') {
                let o = owned.get_or_insert_with(String::new);
                o.push_str(&s[run..=i]);
                i += 2;
                run = i;
                continue;
            }
            return Some((quoted(s, owned, run, i), i + 1));
        }
        i += 1;
    }
    None
}

/// The string a quoted scalar `s` ending at its closing quote `close` reads as: its text borrowed when
/// nothing was unescaped, else what was (`owned`) and the text since (from `run`).
fn quoted(s: &str, owned: Option<String>, run: usize, close: usize) -> Simple<'_> {
    Simple::Str(match owned {
        None => Cow::Borrowed(&s[1..close]),
        Some(mut o) => {
            o.push_str(&s[run..close]);
            Cow::Owned(o)
        }
    })
}

/// A one-line flow collection (`[a, "b"]`, `{k: v}`), possibly nested.
struct Flow<'a> {
    s: &'a str,
    i: usize,
    yaml_1_1: bool,
    /// How much deeper collections may nest.
    depth_left: usize,
}

impl<'a> Flow<'a> {
    fn spaces(&mut self) {
        while self.s.as_bytes().get(self.i) == Some(&b' ') {
            self.i += 1;
        }
    }

    fn node(&mut self) -> Option<Simple<'a>> {
        self.depth_left = self.depth_left.checked_sub(1)?;
        let v = self.collection();
        self.depth_left += 1;
        v
    }

    fn collection(&mut self) -> Option<Simple<'a>> {
        self.spaces();
        let b = *self.s.as_bytes().get(self.i)?;
        match b {
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.spaces();
                    if self.s.as_bytes().get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Some(Simple::Seq(items));
                    }
                    items.push(self.scalar_or_collection()?);
                    self.spaces();
                    match self.s.as_bytes().get(self.i)? {
                        b',' => self.i += 1,
                        b']' => {}
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut entries: Vec<(Cow<'a, str>, Simple<'a>)> = Vec::new();
                loop {
                    self.spaces();
                    if self.s.as_bytes().get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Some(Simple::Map(entries));
                    }
                    let Simple::Str(key) = self.scalar_or_collection()? else {
                        return None;
                    };
                    if key == "<<" || has_key(&entries, &key) {
                        return None;
                    }
                    self.spaces();
                    if self.s.as_bytes().get(self.i) != Some(&b':') {
                        return None;
                    }
                    self.i += 1;
                    if self.s.as_bytes().get(self.i) != Some(&b' ') {
                        return None;
                    }
                    let v = self.scalar_or_collection()?;
                    entries.push((key, v));
                    self.spaces();
                    match self.s.as_bytes().get(self.i)? {
                        b',' => self.i += 1,
                        b'}' => {}
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    fn scalar_or_collection(&mut self) -> Option<Simple<'a>> {
        self.spaces();
        let rest = &self.s[self.i..];
        match *rest.as_bytes().first()? {
            b'[' | b'{' => self.node(),
            b'"' | b'\'' => {
                let (v, n) = if rest.starts_with('"') {
                    double_quoted(rest)?
                } else {
                    single_quoted(rest)?
                };
                self.i += n;
                Some(v)
            }
            b'&' | b'*' | b'!' | b'?' | b'%' | b'@' | b'`' | b'#' | b'|' | b'>' | b'-' | b':' | b','
            | b']' | b'}' => None,
            _ => {
                let n = rest
                    .find([',', '[', ']', '{', '}', ':', '#'])
                    .unwrap_or(rest.len());
                if rest
                    .as_bytes()
                    .get(n)
                    .is_none_or(|&c| c == b'#' || c == b'[' || c == b'{')
                {
                    return None;
                }
                let raw = rest[..n].trim_end_matches(' ');
                if raw.is_empty() {
                    return None;
                }
                self.i += n;
                resolve(raw, self.yaml_1_1)
            }
        }
    }
}

/// How the general reader types a plain scalar for an untyped target, for the spellings this reader
/// handles; `None` for the rest (numbers in other radixes, exponents, leading zeros, `.inf`, ...).
fn resolve(raw: &str, yaml_1_1: bool) -> Option<Simple<'_>> {
    match raw {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Simple::Null),
        "true" | "True" | "TRUE" => return Some(Simple::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Simple::Bool(false)),
        _ => {}
    }
    if yaml_1_1 && raw.len() <= 5 {
        let is = |w: &str| raw.eq_ignore_ascii_case(w);
        if is("true") || is("yes") || is("y") || is("on") {
            return Some(Simple::Bool(true));
        }
        if is("false") || is("no") || is("n") || is("off") {
            return Some(Simple::Bool(false));
        }
    }
    let (neg, body) = match raw.as_bytes()[0] {
        b'-' => (true, &raw[1..]),
        b'+' => (false, &raw[1..]),
        _ => (false, raw),
    };
    let numeric = body
        .as_bytes()
        .first()
        .is_some_and(|c| c.is_ascii_digit() || *c == b'.');
    if !numeric {
        return Some(Simple::Str(Cow::Borrowed(raw)));
    }
    if raw.starts_with('+') {
        return None;
    }
    let b = body.as_bytes();
    if b.iter().all(u8::is_ascii_digit) {
        if b.len() > 1 && b[0] == b'0' {
            return None; // leading zeros: octal in YAML 1.1
        }
        let v: u64 = body.parse().ok()?;
        return Some(if neg {
            if v == 0 {
                Simple::Int(0)
            } else {
                Simple::Int(i64::try_from(v).ok()?.checked_neg()?)
            }
        } else {
            Simple::UInt(v)
        });
    }
    let dots = b.iter().filter(|&&c| c == b'.').count();
    if dots == 1 {
        let (int, frac) = body.split_once('.')?;
        if !int.is_empty()
            && !frac.is_empty()
            && int.bytes().all(|c| c.is_ascii_digit())
            && frac.bytes().all(|c| c.is_ascii_digit())
        {
            let v: f64 = raw.parse().ok()?;
            return v.is_finite().then_some(Simple::Float(v));
        }
    }
    // Radix prefixes, `.5`/`.inf` and exponent or underscore spellings are left to the general reader;
    // other digit-led text with a byte no decimal number uses (`10d`, `1.2.3`, `3.x`) is a string.
    let radix = b.len() > 1 && b[0] == b'0' && matches!(b[1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B');
    let decimal_like = |c: &u8| c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'e' | b'E' | b'+' | b'-');
    let special = |c: &u8| decimal_like(c) || b"infaINFA".contains(c);
    if dots < 2 && (radix || b.iter().all(decimal_like) || b[0] == b'.' && b.iter().all(special)) {
        None
    } else {
        Some(Simple::Str(Cow::Borrowed(raw)))
    }
}

/// Where the first byte `c` followed by `then(next byte or None at the end)` is in `s`.
fn find_pair(s: &str, c: u8, then: impl Fn(Option<u8>) -> bool) -> Option<usize> {
    let b = s.as_bytes();
    memchr::memchr_iter(c, b).find(|&at| then(b.get(at + 1).copied()))
}

/// The colon of a `key: value` or `key:` in `s` (a `:` followed by a space or the end).
fn mapping_colon(s: &str) -> Option<usize> {
    find_pair(s, b':', |n| n.is_none_or(|b| b == b' '))
}

/// The space before a ` #` comment in `s`.
fn comment_start(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    memchr::memchr_iter(b'#', b)
        .find(|&at| at > 0 && b[at - 1] == b' ')
        .map(|at| at - 1)
}
