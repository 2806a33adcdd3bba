//! YAML output byte-compatible with `sigs.k8s.io/yaml` (`JSONToYAML`, go-yaml v2), which is what
//! `kustomize build`, `kubectl` and Helm print.
//!
//! That means: block style with two-space indentation and sequences not indented under their key; map keys
//! in go-yaml's "natural" order (`a2` before `a10`, non-letters before letters); strings quoted exactly when
//! YAML 1.1 would read them as something else (`"yes"`, `"0777"`, `"2001-12-14"`); multi-line strings as
//! literal blocks; plain and quoted scalars folded at column 80; numbers as Go prints them after a round trip
//! through JSON (`1.0` is `1`, `1e6` is `1000000`, `1.5e300` is `1.5e+300`).

use std::cmp::Ordering;

use serde_json::Value;

const BEST_WIDTH: usize = 80;
const BEST_INDENT: usize = 2;

/// Serializes one document; the text ends with a newline.
pub fn to_string(value: &Value) -> String {
    let mut e = Emitter::default();
    e.document(value);
    e.out
}

/// Serializes one document as go-yaml v3 does with a two-space indent (Helm's `toYamlPretty`): sequences
/// indented under their key, long strings not folded, and floats (JSON numbers that are not integers) in
/// Go's shortest `%g` form (`1e+06`). The text ends with a newline.
pub fn to_string_pretty(value: &Value) -> String {
    let mut e = Emitter {
        pretty: true,
        ..Emitter::default()
    };
    e.document(value);
    e.out
}

/// Serializes several documents separated by `---` lines, as `kustomize build` prints them.
pub fn to_string_multi<'a>(values: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::new();
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_string(v));
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

#[derive(Default)]
struct Emitter {
    out: String,
    column: usize,
    /// Whether the last character written is whitespace (libyaml's `whitespace`).
    whitespace: bool,
    /// Whether only indentation has been written on this line (libyaml's `indention`).
    indention: bool,
    /// go-yaml v3 style with indent 2 ([`to_string_pretty`]).
    pretty: bool,
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn write(&mut self, s: &str) {
        self.out.push_str(s);
        self.column += s.chars().count();
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_indent(&mut self, indent: usize) {
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn indicator(&mut self, s: &str, need_whitespace: bool, is_whitespace: bool, is_indention: bool) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        self.write(s);
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn document(&mut self, v: &Value) {
        self.whitespace = true;
        self.indention = true;
        match v {
            Value::Object(m) if !m.is_empty() => self.block_mapping(m, 0),
            Value::Array(a) if !a.is_empty() => self.block_sequence(a, 0),
            other => self.flow_or_scalar(other, 0, false),
        }
        if self.column > 0 || self.out.is_empty() {
            self.put_break();
        }
    }

    /// Empty collections as `{}`/`[]`, everything else as a scalar at `indent` (for folding).
    fn flow_or_scalar(&mut self, v: &Value, indent: usize, simple_key: bool) {
        match v {
            Value::Object(_) => self.indicator("{}", true, false, false),
            Value::Array(_) => self.indicator("[]", true, false, false),
            Value::Null => self.scalar("null", Style::Plain, indent, simple_key),
            Value::Bool(b) => self.scalar(
                if *b { "true" } else { "false" },
                Style::Plain,
                indent,
                simple_key,
            ),
            Value::Number(n) => {
                let s = match n.as_f64() {
                    Some(f) if self.pretty && !n.is_i64() && !n.is_u64() => go_format_g(f),
                    _ => format_number(n),
                };
                self.scalar(&s, Style::Plain, indent, simple_key);
            }
            Value::String(s) => self.string(s, indent, simple_key),
        }
    }

    /// A string scalar: a literal block when it has line breaks, plain when it reads back as this
    /// string, else double-quoted.
    fn string(&mut self, s: &str, indent: usize, simple_key: bool) {
        let style = if s.contains('\n') {
            Style::Literal
        } else if resolves_to_string(s) && !is_base60_float(s) {
            Style::Plain
        } else {
            Style::Double
        };
        self.scalar(s, style, indent, simple_key);
    }

    fn block_mapping(&mut self, m: &serde_json::Map<String, Value>, indent: usize) {
        let mut entries: Vec<(&String, &Value)> = m.iter().collect();
        entries.sort_by(|a, b| natural_cmp(a.0, b.0));
        for (k, v) in entries {
            self.write_indent(indent);
            self.string(k, indent + BEST_INDENT, true);
            self.indicator(":", false, false, false);
            match v {
                Value::Object(child) if !child.is_empty() => self.block_mapping(child, indent + BEST_INDENT),
                // Sequences in a mapping are not indented (go-yaml v2); v3 indents them.
                Value::Array(items) if !items.is_empty() => {
                    self.block_sequence(items, if self.pretty { indent + BEST_INDENT } else { indent });
                }
                _ => self.flow_or_scalar(v, indent + BEST_INDENT, false),
            }
        }
    }

    fn block_sequence(&mut self, items: &[Value], indent: usize) {
        for item in items {
            self.write_indent(indent);
            self.indicator("-", true, false, true);
            match item {
                Value::Object(m) if !m.is_empty() => self.block_mapping(m, indent + BEST_INDENT),
                Value::Array(a) if !a.is_empty() => self.block_sequence(a, indent + BEST_INDENT),
                _ => self.flow_or_scalar(item, indent + BEST_INDENT, false),
            }
        }
    }

    fn scalar(&mut self, value: &str, requested: Style, indent: usize, simple_key: bool) {
        let a = analyze(value);
        let mut style = requested;
        if simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain && (!a.block_plain_allowed || (value.is_empty() && simple_key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || simple_key) {
            style = Style::Double;
        }
        match style {
            Style::Plain => self.write_plain(value, indent, !simple_key),
            Style::Single => self.write_single(value, indent, !simple_key),
            Style::Double => self.write_double(value, indent, !simple_key),
            Style::Literal => self.write_literal(value, indent),
        }
    }

    fn write_plain(&mut self, value: &str, indent: usize, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        // A line may break only at a single space past the best width: most scalars have neither.
        let len = value.chars().count();
        if !allow_breaks || self.pretty || !value.contains(' ') || self.column + len <= BEST_WIDTH {
            self.out.push_str(value);
            self.column += len;
            self.whitespace = false;
            self.indention = false;
            return;
        }
        let chars: Vec<char> = value.chars().collect();
        let mut spaces = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == ' ' {
                if allow_breaks
                    && !self.pretty
                    && !spaces
                    && self.column > BEST_WIDTH
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent(indent);
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
            i += 1;
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single(&mut self, value: &str, indent: usize, allow_breaks: bool) {
        self.indicator("'", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !self.pretty
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i < chars.len() - 1
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent(indent);
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.put_break();
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        if breaks {
            self.write_indent(indent);
        }
        self.indicator("'", false, false, false);
    }

    fn write_double(&mut self, value: &str, indent: usize, allow_breaks: bool) {
        self.indicator("\"", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match c {
                    '\0' => self.put('0'),
                    '\u{7}' => self.put('a'),
                    '\u{8}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{b}' => self.put('v'),
                    '\u{c}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1b}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{a0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    c if (c as u32) <= 0xFF => self.write(&format!("x{:02X}", c as u32)),
                    c if (c as u32) <= 0xFFFF => self.write(&format!("u{:04X}", c as u32)),
                    c => self.write(&format!("U{:08X}", c as u32)),
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks
                    && !self.pretty
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i < chars.len() - 1
                {
                    self.write_indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.indicator("\"", false, false, false);
    }

    fn write_literal(&mut self, value: &str, indent: usize) {
        self.indicator("|", true, false, false);
        // Block scalar hints.
        let first = value.chars().next();
        if first.is_some_and(|c| c == ' ' || is_break(c)) {
            self.write(&BEST_INDENT.to_string());
        }
        let chars: Vec<char> = value.chars().collect();
        match chars.last() {
            Some(&last) if is_break(last) => {
                if chars.len() == 1 || chars.get(chars.len() - 2).is_some_and(|&c| is_break(c)) {
                    self.put('+');
                }
            }
            _ => self.put('-'),
        }
        self.whitespace = false;
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                self.put_break();
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
        // The trailing break of the value already ended the line.
        if chars.last().is_some_and(|&c| is_break(c)) {
            self.column = 0;
            self.indention = true;
            self.whitespace = true;
        }
    }
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_printable(c: char) -> bool {
    matches!(c, '\n' | ' '..='~' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}') && c != '\u{FEFF}'
}

#[derive(Debug, PartialEq, Eq)]
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    // Most scalars are words of letters, digits and `-._/`: in those only the start can matter.
    if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'/'))
    {
        let indicator = value.starts_with("---") || value.starts_with("...") || value == "-";
        return Analysis {
            multiline: false,
            block_plain_allowed: !indicator,
            single_quoted_allowed: true,
            block_allowed: true,
        };
    }
    analyze_chars(value)
}

/// [`analyze`] character by character.
fn analyze_chars(value: &str) -> Analysis {
    let mut block_indicators = value.starts_with("---") || value.starts_with("...");
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut previous_space, mut previous_break) =
        (false, false, false, false);
    let (mut line_breaks, mut special) = (false, false);
    let mut preceded_by_whitespace = true;
    let mut chars = value.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let last = next.is_none();
        let followed_by_whitespace = matches!(next, None | Some(' ' | '\t'));
        if first {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@'
                | '`' => {
                    block_indicators = true;
                }
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if first {
                leading_space = true;
            }
            if last {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if first {
                leading_break = true;
            }
            if last {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = matches!(c, ' ' | '\t' | '\0') || is_break(c);
        first = false;
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// Whether go-yaml v2 would read `s`, written plain, back as a string (YAML 1.1 resolution).
fn resolves_to_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True",
        "TRUE", "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE", ".nan", ".NaN",
        ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<",
    ];
    let Some(first) = s.bytes().next() else {
        return false;
    };
    let hint = match first {
        b'+' | b'-' => 'S',
        b'0'..=b'9' => 'D',
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => 'M',
        b'.' => '.',
        b'<' => 'M',
        _ => return true,
    };
    if SPECIAL.contains(&s) {
        return false;
    }
    match hint {
        '.' => go_parse_float(s).is_none(),
        'D' | 'S' => {
            if is_timestamp(s) {
                return false;
            }
            let plain = s.replace('_', "");
            if go_parse_int(&plain) || yaml_style_float(&plain) {
                return false;
            }
            true
        }
        _ => true,
    }
}

/// `strconv.ParseInt(s, 0, 64)` or `ParseUint` succeeding (base prefixes, leading-zero octal).
fn go_parse_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (digits, radix) = if let Some(r) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (r, 16)
    } else if let Some(r) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (r, 2)
    } else if let Some(r) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (r, 8)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8)
    } else {
        (body, 10)
    };
    !digits.is_empty() && u64::from_str_radix(digits, radix).is_ok()
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `strconv.ParseFloat` for strings starting with `.` (the only ones the `.` hint sends here).
fn go_parse_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    if ["inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan"].contains(&lower.as_str()) {
        return Some(0.0);
    }
    if !yaml_style_float(s) {
        return None;
    }
    s.parse().ok()
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let g = &b[start..i];
        let ok = match g.len() {
            1 => true,
            2 => g[0] <= b'5',
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// go-yaml v2's timestamp formats: `2006-1-2`, `2006-1-2T15:4:5.999999999Z07:00` (also `t`), and
/// `2006-1-2 15:4:5.999999999`, with Go's range checks.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let mut i = 5;
    let num = |i: &mut usize, max_digits: usize| -> Option<u32> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max_digits {
            *i += 1;
        }
        if *i == start {
            return None;
        }
        std::str::from_utf8(&b[start..*i]).ok()?.parse().ok()
    };
    let year: u32 = s[..4].parse().unwrap_or(0);
    let Some(month) = num(&mut i, 2) else { return false };
    if b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    let Some(day) = num(&mut i, 2) else { return false };
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if day == 0 || day > days {
        return false;
    }
    if i == b.len() {
        return true;
    }
    let zoned = matches!(b[i], b'T' | b't');
    if !zoned && b[i] != b' ' {
        return false;
    }
    i += 1;
    let (Some(h), true) = (num(&mut i, 2), b.get(i) == Some(&b':')) else {
        return false;
    };
    i += 1;
    let (Some(m), true) = (num(&mut i, 2), b.get(i) == Some(&b':')) else {
        return false;
    };
    i += 1;
    let Some(sec) = num(&mut i, 2) else { return false };
    if h > 23 || m > 59 || sec > 59 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if !zoned {
        return i == b.len();
    }
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            let rest = &b[i + 1..];
            rest.len() == 5 && rest[2] == b':' && rest[..2].iter().chain(&rest[3..]).all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// Go's key order for `map[interface{}]interface{}` (go-yaml v2 `keyList.Less`).
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    if natural_less(a, b) {
        Ordering::Less
    } else if natural_less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// go-yaml v2's `keyList.Less` over the two strings' runes, without collecting them.
fn natural_less(x: &str, y: &str) -> bool {
    let (mut xs, mut ys) = (x.char_indices(), y.char_indices());
    let (i, xc, j, yc) = loop {
        match (xs.next(), ys.next()) {
            (Some((i, xc)), Some((j, yc))) if xc != yc => break (i, xc, j, yc),
            (Some(_), Some(_)) => {}
            // Equal up to the shorter: fewer runes first.
            (None, Some(_)) => return true,
            _ => return false,
        }
    };
    let (al, bl) = (xc.is_alphabetic(), yc.is_alphabetic());
    if al && bl {
        return xc < yc;
    }
    if al || bl {
        return bl;
    }
    let (mut an, mut bn) = (0i64, 0i64);
    if xc == '0' || yc == '0' {
        // The runes before are the same in both.
        for c in x[..i].chars().rev().take_while(char::is_ascii_digit) {
            if c != '0' {
                an = 1;
                bn = 1;
                break;
            }
        }
    }
    let digits = |s: &str, mut n: i64| {
        let mut count = 0;
        for d in s.bytes().take_while(u8::is_ascii_digit) {
            n = n.wrapping_mul(10).wrapping_add(i64::from(d - b'0'));
            count += 1;
        }
        (n, count)
    };
    let (an, ac) = digits(&x[i..], an);
    let (bn, bc) = digits(&y[j..], bn);
    if an != bn {
        return an < bn;
    }
    if ac != bc {
        return ac < bc;
    }
    xc < yc
}

/// A JSON number as it comes out of Go's JSON encoder and then go-yaml v2.
fn format_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    // encoding/json: 'f' format unless the exponent is small or large.
    let abs = f.abs();
    let json_text = if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        format!("{f:e}")
    } else {
        format!("{f}")
    };
    if !json_text.contains(['.', 'e', 'E']) {
        // Re-read by go-yaml as an integer.
        return json_text;
    }
    go_format_g(f)
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`, with YAML's spelling of NaN and the infinities.
pub fn go_format_g(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf".into() } else { "-.inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Shortest round-trip digits and decimal exponent.
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    // Shortest 'g' switches to %e at exponent 6 (`eprec = 6`), whatever the digit count.
    if !(-4..6).contains(&exp) {
        let mut m = digits[..1].to_owned();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    } else if exp < 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
    } else {
        let point = exp as usize + 1;
        if digits.len() <= point {
            format!("{sign}{digits}{}", "0".repeat(point - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..point], &digits[point..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_analyzed_as_character_by_character() {
        // Every string of one to four characters from an alphabet of word and indicator characters.
        let alphabet = ['a', 'Z', '0', '-', '.', '_', '/', ' ', ':', '#', '\n', '\'', 'é'];
        let mut level = vec![String::new()];
        for _ in 0..4 {
            level = level
                .iter()
                .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
                .collect();
            for w in &level {
                assert_eq!(analyze(w), analyze_chars(w), "{w:?}");
            }
        }
    }

    #[test]
    fn natural_key_order() {
        let mut keys = vec!["a10", "a2", "A1", "b", "_x", "a", "1", "10", "2"];
        keys.sort_by(|a, b| natural_cmp(a, b));
        // Non-letters sort before letters; runs of digits compare as numbers ("_x" reads as 0).
        assert_eq!(keys, ["_x", "1", "2", "10", "A1", "a", "a2", "a10", "b"]);
    }

    #[test]
    fn go_floats() {
        for (f, s) in [
            (1.5, "1.5"),
            (1e21, "1e+21"),
            (1e-7, "1e-07"),
            (123456789.5, "1.234567895e+08"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.25, "-2.25"),
        ] {
            assert_eq!(go_format_g(f), s, "{f}");
        }
    }

    #[test]
    fn resolution() {
        for s in [
            "yes",
            "NO",
            "on",
            "12",
            "1.5",
            "0777",
            "0x1F",
            "1e3",
            "2001-12-14",
            "",
            "~",
            ".inf",
            "1_000",
            "+1",
            "-2",
        ] {
            assert!(!resolves_to_string(s), "{s}");
        }
        for s in [
            "hello",
            "1.2.3",
            "v1",
            "-",
            ".",
            "0x",
            "2001-13-01",
            "nope",
            "08x",
        ] {
            assert!(resolves_to_string(s), "{s}");
        }
        assert!(is_base60_float("1:20"));
        assert!(!is_base60_float("1:2:3a"));
    }

    /// go-yaml v2's `keyList.Less` transcribed rune slice by rune slice, the reference for
    /// [`natural_less`](super::natural_less).
    fn reference_less(x: &[char], y: &[char]) -> bool {
        for i in 0..x.len().min(y.len()) {
            if x[i] == y[i] {
                continue;
            }
            let (al, bl) = (x[i].is_alphabetic(), y[i].is_alphabetic());
            if al && bl {
                return x[i] < y[i];
            }
            if al || bl {
                return bl;
            }
            let (mut an, mut bn) = (0i64, 0i64);
            if x[i] == '0' || y[i] == '0' {
                let mut j = i;
                while j > 0 && x[j - 1].is_ascii_digit() {
                    j -= 1;
                    if x[j] != '0' {
                        an = 1;
                        bn = 1;
                        break;
                    }
                }
            }
            let mut ai = i;
            while ai < x.len() && x[ai].is_ascii_digit() {
                an = an.wrapping_mul(10).wrapping_add(i64::from(x[ai] as u8 - b'0'));
                ai += 1;
            }
            let mut bi = i;
            while bi < y.len() && y[bi].is_ascii_digit() {
                bn = bn.wrapping_mul(10).wrapping_add(i64::from(y[bi] as u8 - b'0'));
                bi += 1;
            }
            if an != bn {
                return an < bn;
            }
            if ai != bi {
                return ai < bi;
            }
            return x[i] < y[i];
        }
        x.len() < y.len()
    }

    #[test]
    fn natural_order_is_go_yamls() {
        let alphabet = ['a', 'B', '0', '1', '9', '-', '_', '.', 'é', '/'];
        let mut keys = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> = keys
                .iter()
                .filter(|k| k.chars().count() == keys.last().map_or(0, |l| l.chars().count()))
                .flat_map(|k| alphabet.iter().map(move |c| format!("{k}{c}")))
                .collect();
            keys.extend(longer);
        }
        keys.extend(["a10", "a9", "a010", "a0010", "x1y2", "x1y10", "10a", "9a"].map(String::from));
        for a in &keys {
            let ac: Vec<char> = a.chars().collect();
            for b in keys.iter().step_by(7) {
                let bc: Vec<char> = b.chars().collect();
                assert_eq!(
                    super::natural_less(a, b),
                    reference_less(&ac, &bc),
                    "{a:?} < {b:?}"
                );
            }
        }
    }
}
