//! Sprig's functions (Masterminds/sprig v3), as Helm exposes them (no `env`, `expandenv`).

use std::rc::Rc;

use base64::Engine as _;
use sha2::Digest as _;

use super::conv::{deep_equal, is_empty, slice_of, strslice, strval, to_f64, to_i64};
use super::{reg, rng};
use crate::template::{FuncMap, Map, Ty::*, Value, fmt as gofmt};

pub(super) fn register(m: &mut FuncMap) {
    strings(m);
    numbers(m);
    lists(m);
    dicts(m);
    encoding(m);
    misc(m);
}

fn s(v: &str) -> Value {
    Value::str(v)
}

fn list_of_strings(v: Vec<String>) -> Value {
    Value::list(v.into_iter().map(Value::from).collect())
}

fn arg_str(a: &[Value], i: usize) -> &str {
    a[i].as_str().unwrap_or("")
}

fn arg_int(a: &[Value], i: usize) -> i64 {
    a[i].as_int().unwrap_or(0)
}

fn strings(m: &mut FuncMap) {
    reg(m, "upper", &[Str], None, |_, a| {
        Ok(s(&arg_str(&a, 0).to_uppercase()))
    });
    reg(m, "lower", &[Str], None, |_, a| {
        Ok(s(&arg_str(&a, 0).to_lowercase()))
    });
    reg(m, "title", &[Str], None, |_, a| Ok(s(&title(arg_str(&a, 0)))));
    reg(m, "untitle", &[Str], None, |_, a| Ok(s(&untitle(arg_str(&a, 0)))));
    reg(m, "trim", &[Str], None, |_, a| {
        Ok(s(arg_str(&a, 0).trim_matches(char::is_whitespace)))
    });
    reg(m, "trimAll", &[Str, Str], None, |_, a| {
        let cut = arg_str(&a, 0).to_string();
        Ok(s(arg_str(&a, 1).trim_matches(|c| cut.contains(c))))
    });
    m.insert("trimall", m["trimAll"]);
    reg(m, "trimSuffix", &[Str, Str], None, |_, a| {
        let (suf, v) = (arg_str(&a, 0), arg_str(&a, 1));
        Ok(s(v.strip_suffix(suf).unwrap_or(v)))
    });
    reg(m, "trimPrefix", &[Str, Str], None, |_, a| {
        let (pre, v) = (arg_str(&a, 0), arg_str(&a, 1));
        Ok(s(v.strip_prefix(pre).unwrap_or(v)))
    });
    reg(m, "nospace", &[Str], None, |_, a| {
        Ok(s(&arg_str(&a, 0)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()))
    });
    reg(m, "trunc", &[Int, Str], None, |_, a| {
        let (c, v) = (arg_int(&a, 0), arg_str(&a, 1));
        let n = v.len() as i64;
        Ok(s(if c < 0 && n + c > 0 {
            byte_slice(v, (n + c) as usize, v.len())
        } else if c >= 0 && n > c {
            byte_slice(v, 0, c as usize)
        } else {
            v
        }))
    });
    reg(m, "abbrev", &[Int, Str], None, |_, a| {
        let (w, v) = (arg_int(&a, 0), arg_str(&a, 1));
        if w < 4 {
            return Ok(s(v));
        }
        Ok(s(&abbreviate_full(v, 0, w as usize)))
    });
    reg(m, "abbrevboth", &[Int, Int, Str], None, |_, a| {
        let (l, r, v) = (arg_int(&a, 0), arg_int(&a, 1), arg_str(&a, 2));
        if r < 4 || (l > 0 && r < 7) {
            return Ok(s(v));
        }
        Ok(s(&abbreviate_full(v, l.max(0) as usize, r as usize)))
    });
    reg(m, "substr", &[Int, Int, Str], None, |_, a| {
        let (start, end, v) = (arg_int(&a, 0), arg_int(&a, 1), arg_str(&a, 2));
        let n = v.len() as i64;
        Ok(s(if start < 0 {
            byte_slice(v, 0, end.clamp(0, n) as usize)
        } else if end < 0 || end > n {
            byte_slice(v, start.min(n) as usize, v.len())
        } else {
            byte_slice(v, start.min(end) as usize, end as usize)
        }))
    });
    reg(m, "repeat", &[Int, Str], None, |_, a| {
        let (n, v) = (arg_int(&a, 0), arg_str(&a, 1));
        if n < 0 {
            return Err("strings: negative Repeat count".into());
        }
        if (n as u128) * (v.len() as u128) > 64 << 20 {
            return Err("strings: Repeat output length overflow".into());
        }
        Ok(s(&v.repeat(n as usize)))
    });
    reg(m, "initials", &[Str], None, |_, a| {
        Ok(s(&arg_str(&a, 0)
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .collect::<String>()))
    });
    reg(m, "swapcase", &[Str], None, |_, a| {
        Ok(s(&arg_str(&a, 0)
            .chars()
            .map(|c| {
                if c.is_uppercase() {
                    c.to_lowercase().collect::<String>()
                } else if c.is_lowercase() {
                    c.to_uppercase().collect()
                } else {
                    c.to_string()
                }
            })
            .collect::<String>()))
    });
    reg(m, "shuffle", &[Str], None, |_, a| {
        let mut chars: Vec<char> = arg_str(&a, 0).chars().collect();
        rng(|r| r.shuffle(&mut chars));
        Ok(s(&chars.into_iter().collect::<String>()))
    });
    reg(m, "snakecase", &[Str], None, |_, a| {
        Ok(s(&delimited_case(arg_str(&a, 0), '_')))
    });
    reg(m, "kebabcase", &[Str], None, |_, a| {
        Ok(s(&delimited_case(arg_str(&a, 0), '-')))
    });
    reg(m, "camelcase", &[Str], None, |_, a| {
        Ok(s(&camel_case(arg_str(&a, 0))))
    });
    reg(m, "wrap", &[Int, Str], None, |_, a| {
        Ok(s(&wrap_custom(arg_str(&a, 1), arg_int(&a, 0), "\n", false)))
    });
    reg(m, "wrapWith", &[Int, Str, Str], None, |_, a| {
        Ok(s(&wrap_custom(
            arg_str(&a, 2),
            arg_int(&a, 0),
            arg_str(&a, 1),
            true,
        )))
    });
    reg(m, "contains", &[Str, Str], None, |_, a| {
        Ok(Value::Bool(arg_str(&a, 1).contains(arg_str(&a, 0))))
    });
    reg(m, "hasPrefix", &[Str, Str], None, |_, a| {
        Ok(Value::Bool(arg_str(&a, 1).starts_with(arg_str(&a, 0))))
    });
    reg(m, "hasSuffix", &[Str, Str], None, |_, a| {
        Ok(Value::Bool(arg_str(&a, 1).ends_with(arg_str(&a, 0))))
    });
    reg(m, "quote", &[], Some(Any), |_, a| {
        Ok(s(&a
            .iter()
            .filter(|v| !v.is_nil())
            .map(|v| gofmt::quote(&strval(v)))
            .collect::<Vec<_>>()
            .join(" ")))
    });
    reg(m, "squote", &[], Some(Any), |_, a| {
        Ok(s(&a
            .iter()
            .filter(|v| !v.is_nil())
            .map(|v| format!("'{}'", strval(v)))
            .collect::<Vec<_>>()
            .join(" ")))
    });
    reg(m, "cat", &[], Some(Any), |_, a| {
        let vals: Vec<Value> = a.into_iter().filter(|v| !v.is_nil()).collect();
        Ok(s(&vals
            .iter()
            .map(gofmt::sprint_value)
            .collect::<Vec<_>>()
            .join(" ")))
    });
    reg(m, "indent", &[Int, Str], None, |_, a| {
        Ok(s(&indent(arg_int(&a, 0), arg_str(&a, 1))?))
    });
    reg(m, "nindent", &[Int, Str], None, |_, a| {
        Ok(s(&indent_into(
            String::from("\n"),
            arg_int(&a, 0),
            arg_str(&a, 1),
        )?))
    });
    reg(m, "replace", &[Str, Str, Str], None, |_, a| {
        Ok(s(&go_replace(arg_str(&a, 2), arg_str(&a, 0), arg_str(&a, 1))?))
    });
    reg(m, "plural", &[Str, Str, Int], None, |_, a| {
        Ok(if arg_int(&a, 2) == 1 {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    reg(m, "toString", &[Any], None, |_, a| Ok(s(&strval(&a[0]))));
    reg(m, "split", &[Str, Str], None, |_, a| {
        let parts = go_split(arg_str(&a, 1), arg_str(&a, 0), -1);
        Ok(Value::map(
            parts
                .into_iter()
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), Value::from(p)))
                .collect(),
        ))
    });
    reg(m, "splitn", &[Str, Int, Str], None, |_, a| {
        let parts = go_split(arg_str(&a, 2), arg_str(&a, 0), arg_int(&a, 1));
        Ok(Value::map(
            parts
                .into_iter()
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), Value::from(p)))
                .collect(),
        ))
    });
    reg(m, "splitList", &[Str, Str], None, |_, a| {
        Ok(list_of_strings(go_split(arg_str(&a, 1), arg_str(&a, 0), -1)))
    });
    reg(m, "toStrings", &[Any], None, |_, a| {
        Ok(list_of_strings(strslice(&a[0])))
    });
    reg(m, "join", &[Str, Any], None, |_, a| {
        Ok(s(&strslice(&a[1]).join(arg_str(&a, 0))))
    });
    reg(m, "sortAlpha", &[Any], None, |_, a| {
        let mut v = match &a[0] {
            Value::List(_) => strslice(&a[0]),
            other => vec![strval(other)],
        };
        v.sort();
        Ok(list_of_strings(v))
    });
    reg(m, "randAlphaNum", &[Int], None, |_, a| {
        rand_string(
            arg_int(&a, 0),
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        )
    });
    reg(m, "randAlpha", &[Int], None, |_, a| {
        rand_string(
            arg_int(&a, 0),
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        )
    });
    reg(m, "randNumeric", &[Int], None, |_, a| {
        rand_string(arg_int(&a, 0), b"0123456789")
    });
    reg(m, "randAscii", &[Int], None, |_, a| {
        let chars: Vec<u8> = (32u8..127).collect();
        rand_string(arg_int(&a, 0), &chars)
    });
    reg(m, "regexMatch", &[Str, Str], None, |_, a| {
        Ok(Value::Bool(regex(arg_str(&a, 0))?.is_match(arg_str(&a, 1))))
    });
    m.insert("mustRegexMatch", m["regexMatch"]);
    reg(m, "regexFind", &[Str, Str], None, |_, a| {
        Ok(s(regex(arg_str(&a, 0))?
            .find(arg_str(&a, 1))
            .map_or("", |x| x.as_str())))
    });
    m.insert("mustRegexFind", m["regexFind"]);
    reg(m, "regexFindAll", &[Str, Str, Int], None, |_, a| {
        let re = regex(arg_str(&a, 0))?;
        let n = arg_int(&a, 2);
        let it = re.find_iter(arg_str(&a, 1)).map(|x| x.as_str().to_string());
        Ok(list_of_strings(if n < 0 {
            it.collect()
        } else {
            it.take(n as usize).collect()
        }))
    });
    m.insert("mustRegexFindAll", m["regexFindAll"]);
    reg(m, "regexReplaceAll", &[Str, Str, Str], None, |_, a| {
        let re = regex(arg_str(&a, 0))?;
        // Go's `Regexp.Expand` syntax (`$1`, `$name`, `${name}`, `$$`) is the regex crate's: a name is the
        // longest run of letters, digits and `_` in both.
        Ok(s(&re.replace_all(arg_str(&a, 1), arg_str(&a, 2))))
    });
    m.insert("mustRegexReplaceAll", m["regexReplaceAll"]);
    reg(m, "regexReplaceAllLiteral", &[Str, Str, Str], None, |_, a| {
        let re = regex(arg_str(&a, 0))?;
        Ok(s(&re.replace_all(arg_str(&a, 1), regex::NoExpand(arg_str(&a, 2)))))
    });
    m.insert("mustRegexReplaceAllLiteral", m["regexReplaceAllLiteral"]);
    reg(m, "regexSplit", &[Str, Str, Int], None, |_, a| {
        let re = regex(arg_str(&a, 0))?;
        let n = arg_int(&a, 2);
        let text = arg_str(&a, 1);
        if n == 0 {
            return Ok(Value::list(Vec::new()));
        }
        let parts: Vec<String> = if n < 0 {
            re.split(text).map(str::to_string).collect()
        } else {
            re.splitn(text, n as usize).map(str::to_string).collect()
        };
        Ok(list_of_strings(parts))
    });
    m.insert("mustRegexSplit", m["regexSplit"]);
    reg(m, "regexQuoteMeta", &[Str], None, |_, a| {
        Ok(s(&regex::escape(arg_str(&a, 0))))
    });
}

fn byte_slice(v: &str, start: usize, end: usize) -> &str {
    let start = (start..=v.len())
        .find(|i| v.is_char_boundary(*i))
        .unwrap_or(v.len());
    let end = (end..=v.len())
        .find(|i| v.is_char_boundary(*i))
        .unwrap_or(v.len())
        .max(start);
    &v[start..end]
}

thread_local! {
    static REGEXES: std::cell::RefCell<std::collections::HashMap<String, Rc<regex::Regex>>> = Default::default();
}

/// Patterns compiled by the threads that parse a chart's templates (see [`compile_ahead`]), until a
/// render takes them.
static AHEAD: std::sync::Mutex<Option<std::collections::HashMap<String, regex::Regex>>> =
    std::sync::Mutex::new(None);

/// The functions whose first argument is a pattern. Each has `egex` in its name: parsing skips looking
/// for patterns in texts without those bytes (see `TemplateFile::parse_job`).
pub(crate) fn takes_pattern(func: &str) -> bool {
    let takes = matches!(
        func,
        "regexMatch"
            | "mustRegexMatch"
            | "regexFind"
            | "mustRegexFind"
            | "regexFindAll"
            | "mustRegexFindAll"
            | "regexReplaceAll"
            | "mustRegexReplaceAll"
            | "regexReplaceAllLiteral"
            | "mustRegexReplaceAllLiteral"
            | "regexSplit"
            | "mustRegexSplit"
    );
    debug_assert!(
        !takes || func.contains("egex"),
        "{func} takes a pattern but has no \"egex\" in its name: parsing would not look for its patterns"
    );
    takes
}

/// Compiles a pattern a template passes as a literal, on a thread that parses templates, so that the
/// render thread finds it compiled (building a regex costs some 300,000 instructions). Patterns that do
/// not compile are left to the render, which reports the error.
pub(crate) fn compile_ahead(pat: &str) {
    let known = |m: &Option<std::collections::HashMap<String, regex::Regex>>| {
        m.as_ref().is_some_and(|m| m.contains_key(pat))
    };
    if AHEAD.lock().map_or(true, |g| known(&g)) {
        return;
    }
    let Ok(re) = compile(pat) else {
        return;
    };
    if let Ok(mut g) = AHEAD.lock()
        && !known(&g)
    {
        let m = g.get_or_insert_with(Default::default);
        // Patterns of branches no render took stay until the table is full: a long-running caller
        // then starts it again.
        if m.len() >= 64 {
            m.clear();
        }
        m.insert(pat.to_string(), re);
    }
}

/// A Go pattern compiled.
fn compile(pat: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&go_regex(pat))
}

/// A compiled regex, cached per thread (charts call the same few patterns thousands of times). Shared,
/// not cloned: a clone of a `Regex` starts with no search cache and builds one on its first search.
fn regex(pat: &str) -> Result<Rc<regex::Regex>, String> {
    if let Some(r) = REGEXES.with(|c| c.borrow().get(pat).cloned()) {
        return Ok(r);
    }
    let ahead = AHEAD
        .lock()
        .ok()
        .and_then(|mut g| g.as_mut().and_then(|m| m.remove(pat)));
    let compiled = ahead.map_or_else(|| compile(pat), Ok);
    let r = Rc::new(compiled.map_err(|e| {
        format!(
            "error parsing regexp: {}",
            e.to_string().lines().last().unwrap_or_default().trim()
        )
    })?);
    REGEXES.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 1000 {
            c.clear();
        }
        c.insert(pat.to_string(), r.clone());
    });
    Ok(r)
}

/// A Go (RE2) pattern in the regex crate's syntax. Go's Perl classes and word boundaries are ASCII
/// (`\d` is `[0-9]`, `\w` is `[0-9A-Za-z_]`, `\s` is `[\t\n\f\r ]`), the regex crate's are Unicode
/// (and far larger to compile: `\W` alone is a class of hundreds of ranges); inside a class, Go reads
/// `[` literally and has no `&&`, `--` or `~~` set operations, which the regex crate has.
fn go_regex(pat: &str) -> String {
    const DIGIT: &str = "0-9";
    const WORD: &str = "0-9A-Za-z_";
    const SPACE: &str = "\\t\\n\\f\\r ";
    let mut out = String::with_capacity(pat.len() + 16);
    let mut chars = pat.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let class = match n {
                    'd' | 'D' => Some(DIGIT),
                    'w' | 'W' => Some(WORD),
                    's' | 'S' => Some(SPACE),
                    _ => None,
                };
                match class {
                    Some(set) if n.is_ascii_lowercase() && in_class => out.push_str(set),
                    Some(set) if n.is_ascii_lowercase() => {
                        out.push('[');
                        out.push_str(set);
                        out.push(']');
                    }
                    // A negated class, nested when inside another (the regex crate allows `[a[^0-9]]`).
                    Some(set) => {
                        out.push_str("[^");
                        out.push_str(set);
                        out.push(']');
                    }
                    None if !in_class && matches!(n, 'b' | 'B') => {
                        out.push_str("(?-u:\\");
                        out.push(n);
                        out.push(')');
                    }
                    None => {
                        out.push('\\');
                        out.push(n);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                // A `]` first in a class is literal.
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '[' if chars.peek() == Some(&':') => {
                // `[:alpha:]` inside a class.
                out.push('[');
                for c in chars.by_ref() {
                    out.push(c);
                    if c == ']' {
                        break;
                    }
                }
            }
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '-' if in_class && chars.peek() == Some(&'-') => out.push_str("\\-"),
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

fn rand_string(n: i64, alphabet: &[u8]) -> Result<Value, String> {
    if n < 0 {
        return Err("negative length".into());
    }
    let n = (n as usize).min(1 << 20);
    Ok(s(&rng(|r| {
        (0..n)
            .map(|_| alphabet[r.usize(..alphabet.len())] as char)
            .collect::<String>()
    })))
}

/// `strings.Title`: upper-cases the first letter of each word.
fn title(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut prev_sep = true;
    for c in v.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_' || c == '\'');
        if c.is_ascii() && !(c.is_ascii_alphanumeric() || c == '_') {
            prev_sep = true;
        }
    }
    out
}

/// goutils `Uncapitalize`: lower-cases the first letter of each whitespace-separated word.
fn untitle(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut prev_space = true;
    for c in v.chars() {
        if prev_space {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        prev_space = c.is_whitespace();
    }
    out
}

/// The largest string one function call may build (a template cannot make the renderer allocate
/// without bound before the output limit sees it).
const MAX_STRING: u128 = 64 << 20;

fn check_size(bytes: u128, what: &str) -> Result<(), String> {
    if bytes > MAX_STRING {
        return Err(format!(
            "{what}: result of {bytes} bytes exceeds the limit of {MAX_STRING}"
        ));
    }
    Ok(())
}

fn indent(n: i64, v: &str) -> Result<String, String> {
    indent_into(String::new(), n, v)
}

/// `indent` written after `out` (what `nindent` starts with), in one pass.
fn indent_into(mut out: String, n: i64, v: &str) -> Result<String, String> {
    let n = usize::try_from(n.max(0)).unwrap_or(usize::MAX);
    let lines = memchr::memchr_iter(b'\n', v.as_bytes()).count() + 1;
    check_size(v.len() as u128 + n as u128 * lines as u128, "indent")?;
    out.reserve(v.len() + n * lines);
    for (i, line) in v.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.extend(std::iter::repeat_n(' ', n));
        out.push_str(line);
    }
    Ok(out)
}

/// `strings.Replace(s, old, new, -1)`, where an empty `old` matches between every rune.
fn go_replace(v: &str, old: &str, new: &str) -> Result<String, String> {
    let count = if old.is_empty() {
        v.chars().count() as u128 + 1
    } else {
        v.matches(old).count() as u128
    };
    check_size(v.len() as u128 + count * new.len() as u128, "replace")?;
    Ok(go_replace_unchecked(v, old, new))
}

fn go_replace_unchecked(v: &str, old: &str, new: &str) -> String {
    if old.is_empty() {
        let mut out = String::from(new);
        for c in v.chars() {
            out.push(c);
            out.push_str(new);
        }
        return out;
    }
    v.replace(old, new)
}

/// `strings.SplitN` (n < 0: all), with Go's empty-separator rule (split into runes).
fn go_split(v: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let chars: Vec<String> = v.chars().map(String::from).collect();
        if n > 0 && chars.len() > n as usize {
            let mut head: Vec<String> = chars[..n as usize - 1].to_vec();
            head.push(chars[n as usize - 1..].concat());
            return head;
        }
        return chars;
    }
    if n < 0 {
        v.split(sep).map(str::to_string).collect()
    } else {
        v.splitn(n as usize, sep).map(str::to_string).collect()
    }
}

/// goutils `AbbreviateFull`.
fn abbreviate_full(v: &str, offset: usize, max_width: usize) -> String {
    if v.is_empty() || max_width < 4 {
        return v.to_string();
    }
    if v.len() <= max_width {
        return v.to_string();
    }
    let mut offset = offset.min(v.len());
    if v.len() - offset < max_width - 3 {
        offset = v.len() - (max_width - 3);
    }
    if offset <= 4 {
        return format!("{}...", byte_slice(v, 0, max_width - 3));
    }
    if max_width < 7 {
        return v.to_string();
    }
    if offset + max_width - 3 < v.len() {
        return format!(
            "...{}",
            abbreviate_full(byte_slice(v, offset, v.len()), 0, max_width - 3)
        );
    }
    format!("...{}", byte_slice(v, v.len() - (max_width - 3), v.len()))
}

/// goutils `WrapCustom`.
fn wrap_custom(v: &str, width: i64, nl: &str, wrap_long: bool) -> String {
    if v.is_empty() {
        return String::new();
    }
    let nl = if nl.is_empty() { "\n" } else { nl };
    let width = width.max(1) as usize;
    let input = v.as_bytes();
    let len = input.len();
    let mut offset = 0;
    let mut out = String::with_capacity(len + 32);
    while len - offset > width {
        if input[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = (offset + width + 1).min(len);
        let last_space = v[offset..end].rfind(' ').map(|i| i + offset);
        match last_space {
            Some(sp) if sp > offset => {
                out.push_str(&v[offset..sp]);
                out.push_str(nl);
                offset = sp + 1;
            }
            _ => {
                if wrap_long {
                    let cut = (offset + width..=len)
                        .find(|i| v.is_char_boundary(*i))
                        .unwrap_or(len);
                    out.push_str(&v[offset..cut]);
                    out.push_str(nl);
                    offset = cut;
                } else {
                    match v[offset + width..].find(' ').map(|i| i + offset + width) {
                        Some(sp) => {
                            out.push_str(&v[offset..sp]);
                            out.push_str(nl);
                            offset = sp + 1;
                        }
                        None => {
                            out.push_str(&v[offset..]);
                            offset = len;
                        }
                    }
                }
            }
        }
    }
    out.push_str(&v[offset..]);
    out
}

/// xstrings `ToSnakeCase`/`ToKebabCase`: words split at case changes, `_`, `-` and spaces.
fn delimited_case(v: &str, delim: char) -> String {
    let chars: Vec<char> = v.chars().collect();
    let mut out = String::with_capacity(v.len() + 4);
    let mut i = 0;
    // Leading delimiters are kept as they are.
    while i < chars.len() && matches!(chars[i], '_' | '-' | ' ' | '.') {
        out.push(delim);
        i += 1;
    }
    let mut prev: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '_' | '-' | ' ' | '.') {
            if !out.ends_with(delim) {
                out.push(delim);
            }
            prev = Some(c);
            i += 1;
            continue;
        }
        if c.is_uppercase() {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_lower_or_digit = prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit());
            let prev_upper = prev.is_some_and(char::is_uppercase);
            if !out.is_empty() && !out.ends_with(delim) && (prev_lower_or_digit || (prev_upper && next_lower))
            {
                out.push(delim);
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        prev = Some(c);
        i += 1;
    }
    out
}

/// xstrings `ToCamelCase`: `_`-separated words capitalized; runs of `_` keep one, edges kept.
fn camel_case(v: &str) -> String {
    if v.is_empty() {
        return String::new();
    }
    let chars: Vec<char> = v.chars().collect();
    let mut out = String::with_capacity(v.len());
    let mut i = 0;
    // Leading underscores are kept.
    while i < chars.len() && chars[i] == '_' {
        out.push('_');
        i += 1;
    }
    let mut upper_next = true;
    while i < chars.len() {
        let c = chars[i];
        if c == '_' {
            // A run of underscores: one is dropped if a letter follows, the rest kept.
            let mut j = i;
            while j < chars.len() && chars[j] == '_' {
                j += 1;
            }
            let run = j - i;
            if j == chars.len() {
                out.extend(std::iter::repeat_n('_', run));
            } else {
                out.extend(std::iter::repeat_n('_', run - 1));
            }
            upper_next = true;
            i = j;
            continue;
        }
        if upper_next {
            out.extend(c.to_uppercase());
            upper_next = false;
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

fn numbers(m: &mut FuncMap) {
    reg(m, "add1", &[Any], None, |_, a| {
        Ok(Value::I64(to_i64(&a[0]).wrapping_add(1)))
    });
    reg(m, "add", &[], Some(Any), |_, a| {
        Ok(Value::I64(a.iter().map(to_i64).fold(0i64, i64::wrapping_add)))
    });
    reg(m, "sub", &[Any, Any], None, |_, a| {
        Ok(Value::I64(to_i64(&a[0]).wrapping_sub(to_i64(&a[1]))))
    });
    reg(m, "div", &[Any, Any], None, |_, a| {
        let d = to_i64(&a[1]);
        if d == 0 {
            return Err("runtime error: integer divide by zero".into());
        }
        Ok(Value::I64(to_i64(&a[0]).wrapping_div(d)))
    });
    reg(m, "mod", &[Any, Any], None, |_, a| {
        let d = to_i64(&a[1]);
        if d == 0 {
            return Err("runtime error: integer divide by zero".into());
        }
        Ok(Value::I64(to_i64(&a[0]).wrapping_rem(d)))
    });
    reg(m, "mul", &[Any], Some(Any), |_, a| {
        Ok(Value::I64(a.iter().map(to_i64).fold(1i64, i64::wrapping_mul)))
    });
    reg(m, "max", &[Any], Some(Any), |_, a| {
        Ok(Value::I64(a.iter().map(to_i64).max().unwrap_or(0)))
    });
    m.insert("biggest", m["max"]);
    reg(m, "min", &[Any], Some(Any), |_, a| {
        Ok(Value::I64(a.iter().map(to_i64).min().unwrap_or(0)))
    });
    reg(m, "maxf", &[Any], Some(Any), |_, a| {
        Ok(Value::Float(a.iter().map(to_f64).fold(f64::NEG_INFINITY, go_max)))
    });
    reg(m, "minf", &[Any], Some(Any), |_, a| {
        Ok(Value::Float(a.iter().map(to_f64).fold(f64::INFINITY, go_min)))
    });
    reg(m, "add1f", &[Any], None, |_, a| {
        Ok(Value::Float(dec_op(to_f64(&a[0]), 1.0, '+')))
    });
    reg(m, "addf", &[], Some(Any), |_, a| {
        Ok(Value::Float(
            a.iter().map(to_f64).fold(0.0, |x, y| dec_op(x, y, '+')),
        ))
    });
    reg(m, "subf", &[Any], Some(Any), |_, a| {
        Ok(Value::Float(
            a[1..]
                .iter()
                .map(to_f64)
                .fold(to_f64(&a[0]), |x, y| dec_op(x, y, '-')),
        ))
    });
    reg(m, "mulf", &[Any], Some(Any), |_, a| {
        Ok(Value::Float(
            a[1..]
                .iter()
                .map(to_f64)
                .fold(to_f64(&a[0]), |x, y| dec_op(x, y, '*')),
        ))
    });
    reg(m, "divf", &[Any], Some(Any), |_, a| {
        let mut acc = to_f64(&a[0]);
        for d in a[1..].iter().map(to_f64) {
            if d == 0.0 {
                return Err("decimal division by 0".into());
            }
            acc = dec_op(acc, d, '/');
        }
        Ok(Value::Float(acc))
    });
    reg(m, "ceil", &[Any], None, |_, a| {
        Ok(Value::Float(to_f64(&a[0]).ceil()))
    });
    reg(m, "floor", &[Any], None, |_, a| {
        Ok(Value::Float(to_f64(&a[0]).floor()))
    });
    reg(m, "round", &[Any, Int], Some(Float), |_, a| {
        let round_on = a.get(2).map_or(0.5, to_f64);
        let val = to_f64(&a[0]);
        let pow = 10f64.powf(arg_int(&a, 1) as f64);
        let digit = pow * val;
        let frac = digit.fract();
        let r = if frac >= round_on {
            digit.ceil()
        } else {
            digit.floor()
        };
        Ok(Value::Float(r / pow))
    });
    reg(m, "randInt", &[Int, Int], None, |_, a| {
        let (lo, hi) = (arg_int(&a, 0), arg_int(&a, 1));
        if hi <= lo {
            return Err("invalid argument to Intn".into());
        }
        Ok(Value::Int(rng(|r| r.i64(lo..hi))))
    });
    reg(m, "int", &[Any], None, |_, a| Ok(Value::Int(to_i64(&a[0]))));
    reg(m, "int64", &[Any], None, |_, a| Ok(Value::I64(to_i64(&a[0]))));
    reg(m, "float64", &[Any], None, |_, a| Ok(Value::Float(to_f64(&a[0]))));
    reg(m, "atoi", &[Str], None, |_, a| {
        Ok(Value::Int(arg_str(&a, 0).parse::<i64>().unwrap_or(0)))
    });
    reg(m, "toDecimal", &[Any], None, |_, a| {
        Ok(Value::I64(i64::from_str_radix(&strval(&a[0]), 8).unwrap_or(0)))
    });
    reg(m, "until", &[Int], None, |_, a| {
        let c = arg_int(&a, 0);
        until_step(0, c, if c < 0 { -1 } else { 1 })
    });
    reg(m, "untilStep", &[Int, Int, Int], None, |_, a| {
        until_step(arg_int(&a, 0), arg_int(&a, 1), arg_int(&a, 2))
    });
    reg(m, "seq", &[], Some(Int), |_, a| {
        let p: Vec<i64> = a.iter().map(|v| v.as_int().unwrap_or(0)).collect();
        let v = match p.len() {
            1 => {
                let (start, end) = (1, p[0]);
                let inc = if end < start { -1 } else { 1 };
                until_step(start, end + inc, inc)?
            }
            2 => {
                let (start, end) = (p[0], p[1]);
                let step = if end < start { -1 } else { 1 };
                until_step(start, end + step, step)?
            }
            3 => {
                let (start, step, end) = (p[0], p[1], p[2]);
                let mut inc = 1;
                if end < start {
                    inc = -1;
                    if step > 0 {
                        return Ok(s(""));
                    }
                }
                until_step(start, end + inc, step)?
            }
            _ => return Ok(s("")),
        };
        let Value::List(l) = v else { return Ok(s("")) };
        Ok(s(&l
            .iter()
            .map(gofmt::sprint_value)
            .collect::<Vec<_>>()
            .join(" ")))
    });
}

fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn until_step(start: i64, stop: i64, step: i64) -> Result<Value, String> {
    let mut v = Vec::new();
    let limit = 1_000_000;
    if stop < start {
        if step >= 0 {
            return Ok(Value::list(v));
        }
        let mut i = start;
        while i > stop {
            v.push(Value::Int(i));
            if v.len() > limit {
                return Err("untilStep: too many elements".into());
            }
            i += step;
        }
        return Ok(Value::list(v));
    }
    if step <= 0 {
        return Ok(Value::list(v));
    }
    let mut i = start;
    while i < stop {
        v.push(Value::Int(i));
        if v.len() > limit {
            return Err("untilStep: too many elements".into());
        }
        i += step;
    }
    Ok(Value::list(v))
}

/// A float as shopspring/decimal sees it: its shortest decimal digits and exponent.
fn to_decimal(f: f64) -> Option<(i128, i32)> {
    if !f.is_finite() {
        return None;
    }
    let s = format!("{f:e}");
    let (m, e) = s.split_once('e')?;
    let e: i32 = e.parse().ok()?;
    let neg = m.starts_with('-');
    let digits: String = m.chars().filter(char::is_ascii_digit).collect();
    let mant: i128 = digits.parse().ok()?;
    let exp = e - (digits.len() as i32 - 1);
    Some((if neg { -mant } else { mant }, exp))
}

fn from_decimal(m: i128, e: i32) -> f64 {
    format!("{m}e{e}").parse().unwrap_or(f64::NAN)
}

/// Sprig's float arithmetic: exact decimal add/sub/mul, division to 16 places, then back to float64.
fn dec_op(a: f64, b: f64, op: char) -> f64 {
    let fallback = match op {
        '+' => a + b,
        '-' => a - b,
        '*' => a * b,
        _ => a / b,
    };
    let (Some((ma, ea)), Some((mb, eb))) = (to_decimal(a), to_decimal(b)) else {
        return fallback;
    };
    match op {
        '+' | '-' => {
            let e = ea.min(eb);
            let (sa, sb) = ((ea - e) as u32, (eb - e) as u32);
            if sa > 30 || sb > 30 {
                return fallback;
            }
            let (Some(x), Some(y)) = (ma.checked_mul(10i128.pow(sa)), mb.checked_mul(10i128.pow(sb))) else {
                return fallback;
            };
            let r = if op == '+' {
                x.checked_add(y)
            } else {
                x.checked_sub(y)
            };
            r.map_or(fallback, |r| from_decimal(r, e))
        }
        '*' => ma.checked_mul(mb).map_or(fallback, |r| from_decimal(r, ea + eb)),
        _ => {
            // DivisionPrecision = 16 digits after the point, rounded half up.
            let q = a / b;
            let scaled = (q * 1e16).round() / 1e16;
            if scaled.is_finite() {
                format!("{scaled:.16}").parse().unwrap_or(q)
            } else {
                q
            }
        }
    }
}

fn lists(m: &mut FuncMap) {
    reg(m, "list", &[], Some(Any), |_, a| Ok(Value::list(a)));
    m.insert("tuple", m["list"]);
    reg(m, "append", &[Any, Any], None, |_, a| {
        let mut l = slice_of(&a[0], "push")?.unwrap_or_default();
        l.push(a[1].clone());
        Ok(Value::list(l))
    });
    m.insert("push", m["append"]);
    m.insert("mustAppend", m["append"]);
    m.insert("mustPush", m["append"]);
    reg(m, "prepend", &[Any, Any], None, |_, a| {
        let mut l = slice_of(&a[0], "prepend")?.unwrap_or_default();
        l.insert(0, a[1].clone());
        Ok(Value::list(l))
    });
    m.insert("mustPrepend", m["prepend"]);
    reg(m, "first", &[Any], None, |_, a| {
        Ok(slice_of(&a[0], "find first")?
            .and_then(|l| l.first().cloned())
            .unwrap_or(Value::Nil))
    });
    m.insert("mustFirst", m["first"]);
    reg(m, "last", &[Any], None, |_, a| {
        Ok(slice_of(&a[0], "find last")?
            .and_then(|l| l.last().cloned())
            .unwrap_or(Value::Nil))
    });
    m.insert("mustLast", m["last"]);
    reg(m, "rest", &[Any], None, |_, a| {
        let l = slice_of(&a[0], "find rest")?.unwrap_or_default();
        Ok(if l.is_empty() {
            Value::list(Vec::new())
        } else {
            Value::list(l[1..].to_vec())
        })
    });
    m.insert("mustRest", m["rest"]);
    reg(m, "initial", &[Any], None, |_, a| {
        let l = slice_of(&a[0], "find initial")?.unwrap_or_default();
        Ok(if l.is_empty() {
            Value::list(Vec::new())
        } else {
            Value::list(l[..l.len() - 1].to_vec())
        })
    });
    m.insert("mustInitial", m["initial"]);
    reg(m, "reverse", &[Any], None, |_, a| {
        let mut l = slice_of(&a[0], "find reverse")?.unwrap_or_default();
        l.reverse();
        Ok(Value::list(l))
    });
    m.insert("mustReverse", m["reverse"]);
    reg(m, "uniq", &[Any], None, |_, a| {
        let l = slice_of(&a[0], "find uniq")?.unwrap_or_default();
        let mut out: Vec<Value> = Vec::new();
        for v in l {
            if !out.iter().any(|o| deep_equal(o, &v)) {
                out.push(v);
            }
        }
        Ok(Value::list(out))
    });
    m.insert("mustUniq", m["uniq"]);
    reg(m, "without", &[Any], Some(Any), |_, a| {
        let l = slice_of(&a[0], "find without")?.unwrap_or_default();
        let omit = &a[1..];
        Ok(Value::list(
            l.into_iter()
                .filter(|v| !omit.iter().any(|o| deep_equal(o, v)))
                .collect(),
        ))
    });
    m.insert("mustWithout", m["without"]);
    reg(m, "has", &[Any, Any], None, |_, a| {
        if a[1].is_nil() {
            return Ok(Value::Bool(false));
        }
        let l = slice_of(&a[1], "find has")?.unwrap_or_default();
        Ok(Value::Bool(l.iter().any(|v| deep_equal(v, &a[0]))))
    });
    m.insert("mustHas", m["has"]);
    reg(m, "compact", &[Any], None, |_, a| {
        let l = slice_of(&a[0], "compact")?.unwrap_or_default();
        Ok(Value::list(l.into_iter().filter(|v| !is_empty(v)).collect()))
    });
    m.insert("mustCompact", m["compact"]);
    reg(m, "slice", &[Any], Some(Any), |_, a| {
        let l = slice_of(&a[0], "slice")?.unwrap_or_default();
        let n = l.len() as i64;
        let start = a.get(1).map_or(0, to_i64);
        let end = a.get(2).map_or(n, to_i64);
        if start < 0 || end > n || start > end {
            return Err(format!(
                "runtime error: slice bounds out of range [{start}:{end}] with capacity {n}"
            ));
        }
        Ok(Value::list(l[start as usize..end as usize].to_vec()))
    });
    m.insert("mustSlice", m["slice"]);
    reg(m, "concat", &[], Some(Any), |_, a| {
        let mut out = Vec::new();
        for l in &a {
            match l {
                Value::List(l) => out.extend(l.iter().cloned()),
                v => return Err(format!("Cannot concat type {} as list", v.kind_name())),
            }
        }
        Ok(Value::list(out))
    });
    reg(m, "chunk", &[Int, Any], None, |_, a| {
        let size = arg_int(&a, 0);
        let l = slice_of(&a[1], "chunk")?.unwrap_or_default();
        if size <= 0 {
            return Err("runtime error: integer divide by zero".into());
        }
        Ok(Value::list(
            l.chunks(size as usize).map(|c| Value::list(c.to_vec())).collect(),
        ))
    });
    m.insert("mustChunk", m["chunk"]);
}

fn map_arg(v: &Value) -> Rc<crate::template::MapCell> {
    match v {
        Value::Map(m) => m.clone(),
        _ => Rc::new(Default::default()),
    }
}

fn dicts(m: &mut FuncMap) {
    reg(m, "dict", &[], Some(Any), |_, a| {
        let mut d = Map::new();
        let mut it = a.chunks(2);
        for pair in &mut it {
            let k = strval(&pair[0]);
            let v = pair.get(1).cloned().unwrap_or_else(|| s(""));
            d.insert(k, v);
        }
        Ok(Value::map(d))
    });
    reg(m, "get", &[Map, Str], None, |_, a| {
        Ok(map_arg(&a[0])
            .borrow()
            .get(arg_str(&a, 1))
            .cloned()
            .unwrap_or_else(|| s("")))
    });
    reg(m, "set", &[Map, Str, Any], None, |_, a| {
        let d = map_arg(&a[0]);
        d.template_insert(arg_str(&a, 1).to_string(), a[2].clone());
        Ok(Value::Map(d))
    });
    reg(m, "unset", &[Map, Str], None, |_, a| {
        let d = map_arg(&a[0]);
        d.template_remove(arg_str(&a, 1));
        Ok(Value::Map(d))
    });
    reg(m, "hasKey", &[Map, Str], None, |_, a| {
        Ok(Value::Bool(map_arg(&a[0]).borrow().contains_key(arg_str(&a, 1))))
    });
    reg(m, "pluck", &[Str], Some(Map), |_, a| {
        let key = arg_str(&a, 0);
        Ok(Value::list(
            a[1..]
                .iter()
                .filter_map(|d| map_arg(d).borrow().get(key).cloned())
                .collect(),
        ))
    });
    reg(m, "keys", &[], Some(Map), |_, a| {
        let mut out = Vec::new();
        for d in &a {
            out.extend(map_arg(d).borrow().keys().map(|k| Value::from(k.as_str())));
        }
        Ok(Value::list(out))
    });
    reg(m, "values", &[Map], None, |_, a| {
        Ok(Value::list(map_arg(&a[0]).borrow().values().cloned().collect()))
    });
    reg(m, "pick", &[Map], Some(Str), |_, a| {
        let d = map_arg(&a[0]);
        let d = d.borrow();
        Ok(Value::map(
            a[1..]
                .iter()
                .filter_map(|k| k.as_str())
                .filter_map(|k| d.get(k).map(|v| (k.to_string(), v.clone())))
                .collect(),
        ))
    });
    reg(m, "omit", &[Map], Some(Str), |_, a| {
        let d = map_arg(&a[0]);
        let d = d.borrow();
        let omit: Vec<&str> = a[1..].iter().filter_map(|k| k.as_str()).collect();
        Ok(Value::map(
            d.iter()
                .filter(|(k, _)| !omit.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ))
    });
    reg(m, "merge", &[Map], Some(Map), |_, a| {
        let dst = map_arg(&a[0]);
        for src in &a[1..] {
            merge_into(&dst, &map_arg(src), false, 0);
        }
        Ok(Value::Map(dst))
    });
    m.insert("mustMerge", m["merge"]);
    reg(m, "mergeOverwrite", &[Map], Some(Map), |_, a| {
        let dst = map_arg(&a[0]);
        for src in &a[1..] {
            merge_into(&dst, &map_arg(src), true, 0);
        }
        Ok(Value::Map(dst))
    });
    m.insert("mustMergeOverwrite", m["mergeOverwrite"]);
    reg(m, "deepCopy", &[Any], None, |_, a| {
        if a[0].is_nil() {
            return Err("deepCopy: nil value".into());
        }
        Ok(a[0].deep_copy())
    });
    m.insert("mustDeepCopy", m["deepCopy"]);
    reg(m, "dig", &[], Some(Any), |_, a| {
        if a.len() < 3 {
            return Err("dig needs at least three arguments".into());
        }
        let dict = match &a[a.len() - 1] {
            Value::Map(m) if !m.named => m.clone(),
            v => {
                return Err(format!(
                    "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                    v.type_name()
                ));
            }
        };
        let default = a[a.len() - 2].clone();
        let mut keys = Vec::new();
        for k in &a[..a.len() - 2] {
            match k {
                Value::Str(k) => keys.push(k.to_string()),
                v => {
                    return Err(format!(
                        "interface conversion: interface {{}} is {}, not string",
                        v.type_name()
                    ));
                }
            }
        }
        let mut cur = dict;
        for (i, k) in keys.iter().enumerate() {
            let next = cur.borrow().get(k).cloned();
            match next {
                None => return Ok(default),
                Some(v) if i == keys.len() - 1 => return Ok(v),
                Some(Value::Map(m)) => cur = m,
                Some(v) => {
                    return Err(format!(
                        "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                        v.type_name()
                    ));
                }
            }
        }
        Ok(default)
    });
}

/// mergo's `Merge` of one map into another (Sprig's `merge`/`mergeOverwrite`): nested maps are merged
/// in place, other values are copied when the destination lacks them (or always, when overwriting).
fn merge_into(
    dst: &Rc<crate::template::MapCell>,
    src: &Rc<crate::template::MapCell>,
    overwrite: bool,
    depth: usize,
) {
    if depth > 100 || Rc::ptr_eq(dst, src) {
        return;
    }
    let entries: Vec<(String, Value)> = src.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (k, sv) in entries {
        let dv = dst.borrow().get(&k).cloned();
        if sv.is_nil() {
            if overwrite {
                dst.template_insert(k, Value::Nil);
            }
            continue;
        }
        if let (Some(Value::Map(dm)), Value::Map(sm)) = (&dv, &sv) {
            merge_into(dm, sm, overwrite, depth + 1);
            if !dm.borrow().is_empty() {
                continue;
            }
        }
        let dst_empty = dv.as_ref().is_none_or(is_empty);
        if let (Some(d), Value::List(_)) = (&dv, &sv)
            && !is_empty(d)
            && !overwrite
        {
            continue;
        }
        if overwrite || dst_empty {
            dst.template_insert(k, sv);
        }
    }
}

fn encoding(m: &mut FuncMap) {
    reg(m, "b64enc", &[Str], None, |_, a| {
        Ok(s(
            &base64::engine::general_purpose::STANDARD.encode(arg_str(&a, 0))
        ))
    });
    reg(m, "b64dec", &[Str], None, |_, a| {
        Ok(
            match base64::engine::general_purpose::STANDARD.decode(arg_str(&a, 0)) {
                Ok(b) => s(&String::from_utf8_lossy(&b)),
                Err(e) => s(&go_base64_error(&e)),
            },
        )
    });
    reg(m, "b32enc", &[Str], None, |_, a| {
        Ok(s(&base32_encode(arg_str(&a, 0).as_bytes())))
    });
    reg(m, "b32dec", &[Str], None, |_, a| {
        Ok(match base32_decode(arg_str(&a, 0)) {
            Ok(b) => s(&String::from_utf8_lossy(&b)),
            Err(e) => s(&e),
        })
    });
    reg(m, "sha256sum", &[Str], None, |_, a| {
        Ok(s(&hex(&sha2::Sha256::digest(arg_str(&a, 0).as_bytes()))))
    });
    reg(m, "sha512sum", &[Str], None, |_, a| {
        Ok(s(&hex(&sha2::Sha512::digest(arg_str(&a, 0).as_bytes()))))
    });
    reg(m, "sha1sum", &[Str], None, |_, a| {
        Ok(s(&hex(&super::sha1::sha1(arg_str(&a, 0).as_bytes()))))
    });
    reg(m, "adler32sum", &[Str], None, |_, a| {
        let (mut x, mut y) = (1u32, 0u32);
        for b in arg_str(&a, 0).bytes() {
            x = (x + b as u32) % 65521;
            y = (y + x) % 65521;
        }
        Ok(s(&((y << 16) | x).to_string()))
    });
    reg(m, "encryptAES", &[Str, Str], None, |_, a| {
        let (key, text) = (aes_key(arg_str(&a, 0)), arg_str(&a, 1).as_bytes().to_vec());
        if text.is_empty() {
            return Ok(s(""));
        }
        let mut content = text;
        let pad = 16 - content.len() % 16;
        content.extend(std::iter::repeat_n(pad as u8, pad));
        let iv: [u8; 16] = rng(|r| std::array::from_fn(|_| r.u8(..)));
        let mut out = iv.to_vec();
        let mut prev = iv;
        for chunk in content.chunks(16) {
            let mut block = [0u8; 16];
            for i in 0..16 {
                block[i] = chunk[i] ^ prev[i];
            }
            let mut b = aes::Block::from(block);
            aes::cipher::BlockEncrypt::encrypt_block(&key, &mut b);
            prev.copy_from_slice(&b);
            out.extend_from_slice(&b);
        }
        Ok(s(&base64::engine::general_purpose::STANDARD.encode(out)))
    });
    reg(m, "decryptAES", &[Str, Str], None, |_, a| {
        let key = aes_key(arg_str(&a, 0));
        if arg_str(&a, 1).is_empty() {
            return Ok(s(""));
        }
        let crypt = base64::engine::general_purpose::STANDARD
            .decode(arg_str(&a, 1))
            .map_err(|e| go_base64_error(&e))?;
        if crypt.len() < 32 || crypt.len() % 16 != 0 {
            return Err("crypto/cipher: input not full blocks".into());
        }
        let (iv, body) = crypt.split_at(16);
        let mut prev: [u8; 16] = iv.try_into().unwrap_or([0; 16]);
        let mut out = Vec::with_capacity(body.len());
        for chunk in body.chunks(16) {
            let mut b = aes::Block::clone_from_slice(chunk);
            aes::cipher::BlockDecrypt::decrypt_block(&key, &mut b);
            for i in 0..16 {
                out.push(b[i] ^ prev[i]);
            }
            prev.copy_from_slice(chunk);
        }
        let pad = *out.last().unwrap_or(&0) as usize;
        if pad > out.len() {
            return Err("runtime error: slice bounds out of range".into());
        }
        out.truncate(out.len() - pad);
        Ok(s(&String::from_utf8_lossy(&out)))
    });
    reg(m, "uuidv4", &[], None, |_, _| {
        let mut b: [u8; 16] = rng(|r| std::array::from_fn(|_| r.u8(..)));
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex(&b);
        Ok(s(&format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )))
    });
    reg(m, "randBytes", &[Int], None, |_, a| {
        let n = arg_int(&a, 0).clamp(0, 1 << 20) as usize;
        let b: Vec<u8> = rng(|r| (0..n).map(|_| r.u8(..)).collect());
        Ok(s(&base64::engine::general_purpose::STANDARD.encode(b)))
    });
}

/// Sprig's AES-256 key: the password's bytes, cut or zero-padded to 32.
fn aes_key(password: &str) -> aes::Aes256 {
    let mut key = [0u8; 32];
    let n = password.len().min(32);
    key[..n].copy_from_slice(&password.as_bytes()[..n]);
    aes::cipher::KeyInit::new(&key.into())
}

fn go_base64_error(e: &base64::DecodeError) -> String {
    match e {
        base64::DecodeError::InvalidByte(off, _) | base64::DecodeError::InvalidLastSymbol(off, _) => {
            format!("illegal base64 data at input byte {off}")
        }
        _ => "illegal base64 data at input byte 0".into(),
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32_encode(b: &[u8]) -> String {
    let mut out = String::new();
    for chunk in b.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                out.push(B32[((n >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base32_decode(v: &str) -> Result<Vec<u8>, String> {
    let v = v.trim_end_matches('=');
    let mut bits = 0u64;
    let mut nbits = 0;
    let mut out = Vec::new();
    for (i, c) in v.bytes().enumerate() {
        let Some(d) = B32.iter().position(|x| *x == c) else {
            return Err(format!("illegal base32 data at input byte {i}"));
        };
        bits = (bits << 5) | d as u64;
        nbits += 5;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
        }
    }
    Ok(out)
}

fn misc(m: &mut FuncMap) {
    reg(m, "default", &[Any], Some(Any), |_, a| {
        Ok(if a.len() < 2 || is_empty(&a[1]) {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    reg(m, "empty", &[Any], None, |_, a| Ok(Value::Bool(is_empty(&a[0]))));
    reg(m, "coalesce", &[], Some(Any), |_, a| {
        Ok(a.into_iter().find(|v| !is_empty(v)).unwrap_or(Value::Nil))
    });
    reg(m, "all", &[], Some(Any), |_, a| {
        Ok(Value::Bool(a.iter().all(|v| !is_empty(v))))
    });
    reg(m, "any", &[], Some(Any), |_, a| {
        Ok(Value::Bool(a.iter().any(|v| !is_empty(v))))
    });
    reg(m, "ternary", &[Any, Any, Bool], None, |_, a| {
        Ok(if a[2].truthy() { a[0].clone() } else { a[1].clone() })
    });
    reg(m, "fail", &[Str], None, |_, a| {
        Err(super::helm_err(arg_str(&a, 0)))
    });
    reg(m, "typeOf", &[Any], None, |_, a| Ok(s(&a[0].type_name())));
    reg(m, "typeIs", &[Str, Any], None, |_, a| {
        Ok(Value::Bool(arg_str(&a, 0) == a[1].type_name()))
    });
    reg(m, "typeIsLike", &[Str, Any], None, |_, a| {
        let t = a[1].type_name();
        let target = arg_str(&a, 0);
        Ok(Value::Bool(target == t || target == format!("*{t}")))
    });
    reg(m, "kindOf", &[Any], None, |_, a| Ok(s(a[0].kind_name())));
    reg(m, "kindIs", &[Str, Any], None, |_, a| {
        Ok(Value::Bool(arg_str(&a, 0) == a[1].kind_name()))
    });
    reg(m, "deepEqual", &[Any, Any], None, |_, a| {
        Ok(Value::Bool(deep_equal(&a[0], &a[1])))
    });
    reg(m, "hello", &[], None, |_, _| Ok(s("Hello!")));
    reg(m, "base", &[Str], None, |_, a| Ok(s(&path_base(arg_str(&a, 0)))));
    reg(m, "dir", &[Str], None, |_, a| Ok(s(&path_dir(arg_str(&a, 0)))));
    reg(m, "clean", &[Str], None, |_, a| {
        Ok(s(&path_clean(arg_str(&a, 0))))
    });
    reg(m, "ext", &[Str], None, |_, a| Ok(s(path_ext(arg_str(&a, 0)))));
    reg(m, "isAbs", &[Str], None, |_, a| {
        Ok(Value::Bool(arg_str(&a, 0).starts_with('/')))
    });
    m.insert("osBase", m["base"]);
    m.insert("osDir", m["dir"]);
    m.insert("osClean", m["clean"]);
    m.insert("osExt", m["ext"]);
    m.insert("osIsAbs", m["isAbs"]);
    reg(m, "semverCompare", &[Str, Str], None, |_, a| {
        let c: gitops_core::semver::Constraint = arg_str(&a, 0)
            .parse()
            .map_err(|e: gitops_core::semver::SemverError| e.to_string())?;
        let v: gitops_core::semver::Version = arg_str(&a, 1)
            .parse()
            .map_err(|_| "Invalid Semantic Version".to_string())?;
        Ok(Value::Bool(c.matches(&v)))
    });
    reg(m, "semver", &[Str], None, |_, a| {
        let v: gitops_core::semver::Version = arg_str(&a, 0)
            .parse()
            .map_err(|_| "Invalid Semantic Version".to_string())?;
        Ok(Value::Object(Rc::new(SemverObj(v))))
    });
    reg(m, "urlParse", &[Str], None, |_, a| url_parse(arg_str(&a, 0)));
    reg(m, "urlJoin", &[Map], None, |_, a| {
        Ok(s(&url_join(&map_arg(&a[0]).borrow())))
    });
    // Helm renders without DNS unless --enable-dns: the function returns an empty string.
    reg(m, "getHostByName", &[Str], None, |_, _| Ok(s("")));
    crypto_funcs(m);
    // The counter is a uint32: only a constant fits it, as in Go.
    reg(m, "derivePassword", &[U32, Str, Str, Str, Str], None, |_, a| {
        Ok(s(&super::crypto::derive_password(
            arg_int(&a, 0) as u32,
            arg_str(&a, 1),
            arg_str(&a, 2),
            arg_str(&a, 3),
            arg_str(&a, 4),
        )))
    });
}

/// The strings of a `[]interface{}` argument (IPs or DNS names), each checked to be a string.
fn strings_arg(v: &Value, what: &str) -> Result<Vec<String>, String> {
    let Value::List(items) = v else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|i| match i {
            Value::Str(s) => Ok(s.to_string()),
            other => Err(format!(
                "error {what}: {} is not a string",
                crate::template::fmt::sprint(std::slice::from_ref(other))
            )),
        })
        .collect()
}

/// A `certificate` argument: Sprig's struct only, as Go's type check demands.
fn cert_arg(v: &Value) -> Result<&Value, String> {
    match v {
        Value::Object(o) if o.type_name() == "sprig.certificate" => Ok(v),
        other => Err(format!(
            "wrong type for value; expected sprig.certificate; got {}",
            other.type_name()
        )),
    }
}

fn crypto_funcs(m: &mut FuncMap) {
    use super::crypto;
    reg(m, "genPrivateKey", &[Str], None, |_, a| {
        crypto::gen_private_key(arg_str(&a, 0))
    });
    reg(m, "genCA", &[Str, Int], None, |_, a| {
        crypto::gen_ca(arg_str(&a, 0), arg_int(&a, 1), None)
    });
    reg(m, "genCAWithKey", &[Str, Int, Str], None, |_, a| {
        crypto::gen_ca(arg_str(&a, 0), arg_int(&a, 1), Some(arg_str(&a, 2)))
    });
    reg(m, "genSelfSignedCert", &[Str, List, List, Int], None, |_, a| {
        let ips = strings_arg(&a[1], "parsing ip")?;
        let dns = strings_arg(&a[2], "processing alternate dns name")?;
        crypto::gen_self_signed(arg_str(&a, 0), &ips, &dns, arg_int(&a, 3), None)
    });
    reg(
        m,
        "genSelfSignedCertWithKey",
        &[Str, List, List, Int, Str],
        None,
        |_, a| {
            let ips = strings_arg(&a[1], "parsing ip")?;
            let dns = strings_arg(&a[2], "processing alternate dns name")?;
            crypto::gen_self_signed(arg_str(&a, 0), &ips, &dns, arg_int(&a, 3), Some(arg_str(&a, 4)))
        },
    );
    reg(m, "genSignedCert", &[Str, List, List, Int, Any], None, |_, a| {
        let ips = strings_arg(&a[1], "parsing ip")?;
        let dns = strings_arg(&a[2], "processing alternate dns name")?;
        crypto::gen_signed(arg_str(&a, 0), &ips, &dns, arg_int(&a, 3), cert_arg(&a[4])?, None)
    });
    reg(
        m,
        "genSignedCertWithKey",
        &[Str, List, List, Int, Any, Str],
        None,
        |_, a| {
            let ips = strings_arg(&a[1], "parsing ip")?;
            let dns = strings_arg(&a[2], "processing alternate dns name")?;
            crypto::gen_signed(
                arg_str(&a, 0),
                &ips,
                &dns,
                arg_int(&a, 3),
                cert_arg(&a[4])?,
                Some(arg_str(&a, 5)),
            )
        },
    );
    reg(m, "buildCustomCert", &[Str, Str], None, |_, a| {
        crypto::build_custom_cert(arg_str(&a, 0), arg_str(&a, 1))
    });
    reg(m, "htpasswd", &[Str, Str], None, |_, a| {
        crypto::htpasswd(arg_str(&a, 0), arg_str(&a, 1)).map(|h| s(&h))
    });
    // Go's bcrypt refuses passwords over 72 bytes; Sprig prints the error instead of failing.
    reg(m, "bcrypt", &[Str], None, |_, a| {
        Ok(s(&crypto::bcrypt_hash(arg_str(&a, 0)).unwrap_or_else(|e| {
            format!("failed to encrypt string with bcrypt: {e}")
        })))
    });
}

struct SemverObj(gitops_core::semver::Version);

impl crate::template::Object for SemverObj {
    fn type_name(&self) -> &str {
        "*semver.Version"
    }
    fn field(&self, name: &str) -> Option<Value> {
        let v = &self.0;
        Some(match name {
            "Major" => Value::I64(v.major() as i64),
            "Minor" => Value::I64(v.minor() as i64),
            "Patch" => Value::I64(v.patch() as i64),
            "Prerelease" => s(v.prerelease()),
            "Metadata" => s(v.metadata()),
            "Original" => s(v.original()),
            "String" => s(&v.to_string()),
            _ => return None,
        })
    }
    fn has_method(&self, name: &str) -> bool {
        matches!(name, "Compare" | "LessThan" | "GreaterThan" | "Equal")
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let other = match args.first() {
            Some(Value::Object(o)) if o.type_name() == "*semver.Version" => {
                o.field("Original").and_then(|v| {
                    v.as_str()
                        .and_then(|s| s.parse::<gitops_core::semver::Version>().ok())
                })
            }
            _ => None,
        };
        let Some(other) = other else {
            return Some(Err(format!(
                "wrong type for value; expected *semver.Version; got {}",
                args.first().map_or("nothing".into(), Value::type_name)
            )));
        };
        let ord = self.0.cmp(&other);
        Some(Ok(match name {
            "Compare" => Value::Int(ord as i64),
            "LessThan" => Value::Bool(ord.is_lt()),
            "GreaterThan" => Value::Bool(ord.is_gt()),
            _ => Value::Bool(ord.is_eq()),
        }))
    }
    fn display(&self) -> String {
        self.0.to_string()
    }
}

/// `path.Clean`.
pub(crate) fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            x => out.push(x),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    path_clean(dir)
}

fn path_ext(p: &str) -> &str {
    let base_start = p.rfind('/').map_or(0, |i| i + 1);
    match p[base_start..].rfind('.') {
        Some(i) => &p[base_start + i..],
        None => "",
    }
}

fn url_parse(v: &str) -> Result<Value, String> {
    let mut rest = v;
    let mut d = Map::new();
    let (mut scheme, mut host, mut userinfo, mut query, mut fragment) = ("", "", "", "", "");
    if let Some(i) = rest.find('#') {
        fragment = &rest[i + 1..];
        rest = &rest[..i];
    }
    if let Some(i) = rest.find(':')
        && rest[..i]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && i > 0
    {
        scheme = &rest[..i];
        rest = &rest[i + 1..];
    }
    if let Some(i) = rest.find('?') {
        query = &rest[i + 1..];
        rest = &rest[..i];
    }
    if let Some(r) = rest.strip_prefix("//") {
        let end = r.find('/').unwrap_or(r.len());
        let authority = &r[..end];
        rest = &r[end..];
        match authority.rfind('@') {
            Some(i) => {
                userinfo = &authority[..i];
                host = &authority[i + 1..];
            }
            None => host = authority,
        }
    }
    d.insert("scheme".into(), s(scheme));
    d.insert("host".into(), s(host));
    d.insert(
        "hostname".into(),
        s(host.rsplit_once(':').map_or(host, |(h, _)| h)),
    );
    d.insert("path".into(), s(rest));
    d.insert("query".into(), s(query));
    d.insert("opaque".into(), s(""));
    d.insert("fragment".into(), s(fragment));
    d.insert("userinfo".into(), s(userinfo));
    Ok(Value::map(d))
}

fn url_join(d: &Map) -> String {
    let get = |k: &str| d.get(k).map(strval).unwrap_or_default();
    let mut out = String::new();
    let scheme = get("scheme");
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push(':');
    }
    let host = get("host");
    let userinfo = get("userinfo");
    if !host.is_empty() || !userinfo.is_empty() {
        out.push_str("//");
        if !userinfo.is_empty() {
            out.push_str(&userinfo);
            out.push('@');
        }
        out.push_str(&host);
    }
    out.push_str(&get("path"));
    let query = get("query");
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    let fragment = get("fragment");
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(&fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn patterns_compiled_ahead_are_taken_once_and_bad_ones_left_to_the_render() {
        super::compile_ahead("^ahead-[0-9]+$");
        let taken = std::thread::spawn(|| {
            let r = super::regex("^ahead-[0-9]+$").unwrap();
            (r.is_match("ahead-12"), r.is_match("ahead-x"))
        })
        .join()
        .unwrap();
        assert_eq!(taken, (true, false));
        let left = super::AHEAD.lock().unwrap();
        assert!(left.as_ref().is_none_or(|m| !m.contains_key("^ahead-[0-9]+$")));
        drop(left);
        super::compile_ahead("bad[");
        assert!(
            super::AHEAD
                .lock()
                .unwrap()
                .as_ref()
                .is_none_or(|m| !m.contains_key("bad[")),
            "a pattern that does not compile is not kept"
        );
        let e = super::regex("bad[").unwrap_err();
        assert!(e.starts_with("error parsing regexp:"), "{e}");
    }
}
