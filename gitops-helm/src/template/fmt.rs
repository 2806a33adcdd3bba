//! Go's `fmt` for template values: `Sprint`, `Sprintln`, `Sprintf` with its verbs, flags, width and
//! precision, and its error spellings (`%!d(string=x)`, `%!s(MISSING)`, `%!(EXTRA ...)`).

use super::value::Value;

/// `%v` of a float64: shortest `%g`, switching to an exponent at 1e21 or below 1e-4, as Go prints.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    gitops_core::yaml::go_format_g(f)
}

/// `%v` of a complex128: `(1+2i)`.
pub fn format_complex(re: f64, im: f64) -> String {
    let im_s = format_float(im);
    let sign = if im_s.starts_with('-') || im_s.starts_with('+') {
        ""
    } else {
        "+"
    };
    format!("({}{sign}{im_s}i)", format_float(re))
}

/// `fmt.Sprint` of one value (`%v`).
pub fn sprint_value(v: &Value) -> String {
    let mut out = String::new();
    write_v(&mut out, v, 0);
    out
}

fn write_v(out: &mut String, v: &Value, depth: usize) {
    if depth > 100 {
        out.push_str("...");
        return;
    }
    match v {
        Value::Invalid => out.push_str("<invalid reflect.Value>"),
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::I64(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format_float(*f)),
        Value::Complex(re, im) => out.push_str(&format_complex(*re, *im)),
        Value::Str(s) => out.push_str(s),
        Value::Bytes(b) => {
            out.push('[');
            for (i, c) in b.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(&c.to_string());
            }
            out.push(']');
        }
        Value::List(l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, e, depth + 1);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, e)) in m.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_v(out, e, depth + 1);
            }
            out.push(']');
        }
        Value::Object(o) => out.push_str(&o.display()),
    }
}

/// `fmt.Sprint`: operands separated by a space when neither side is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::Str(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        write_v(&mut out, &nil_for_invalid(a), 0);
        prev_string = is_string;
    }
    out
}

/// `fmt.Sprintln`: operands always separated by a space, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_v(&mut out, &nil_for_invalid(a), 0);
    }
    out.push('\n');
    out
}

fn nil_for_invalid(v: &Value) -> Value {
    match v {
        Value::Invalid => Value::Nil,
        v => v.clone(),
    }
}

/// `strconv.Quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        quote_char(&mut out, c, '"');
    }
    out.push('"');
    out
}

fn quote_char(out: &mut String, c: char, q: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == q => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if is_printable(c) => out.push(c),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

fn is_printable(c: char) -> bool {
    let u = c as u32;
    let format_char = u == 0xad
        || (0x200b..=0x200f).contains(&u)
        || (0x2028..=0x202e).contains(&u)
        || (0x2060..=0x2064).contains(&u)
        || u == 0xfeff
        || (0xfff9..=0xfffb).contains(&u);
    !(c.is_control() || (c.is_whitespace() && c != ' ') || format_char || (0xe000..=0xf8ff).contains(&u))
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        // flags
        while let Some(&(_, f)) = chars.peek() {
            match f {
                '-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = !spec.minus,
                _ => break,
            }
            chars.next();
        }
        // width
        if let Some(&(_, '*')) = chars.peek() {
            chars.next();
            match args.get(argi) {
                Some(v) => {
                    argi += 1;
                    match v.as_int() {
                        Some(w) if w < 0 => {
                            spec.minus = true;
                            spec.zero = false;
                            spec.width = Some(w.unsigned_abs() as usize);
                        }
                        Some(w) => spec.width = Some(w as usize),
                        None => out.push_str("%!(BADWIDTH)"),
                    }
                }
                None => out.push_str("%!(BADWIDTH)"),
            }
        } else {
            let mut w = String::new();
            while let Some(&(_, d)) = chars.peek() {
                if d.is_ascii_digit() {
                    w.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            if !w.is_empty() {
                spec.width = w.parse().ok().filter(|w: &usize| *w <= 1_000_000);
            }
        }
        // precision
        if let Some(&(_, '.')) = chars.peek() {
            chars.next();
            if let Some(&(_, '*')) = chars.peek() {
                chars.next();
                match args.get(argi).and_then(Value::as_int) {
                    Some(p) if p >= 0 => {
                        argi += 1;
                        spec.prec = Some(p as usize);
                    }
                    _ => {
                        argi += 1;
                        out.push_str("%!(BADPREC)");
                    }
                }
            } else {
                let mut p = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if d.is_ascii_digit() {
                        p.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                spec.prec = Some(p.parse().unwrap_or(0).min(1_000_000));
            }
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        let arg = nil_for_invalid(arg);
        format_arg(&mut out, &arg, verb, spec);
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[argi..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let a = nil_for_invalid(a);
            if a.is_nil() {
                out.push_str("<nil>");
            } else {
                out.push_str(&a.type_name());
                out.push('=');
                out.push_str(&sprint_value(&a));
            }
        }
        out.push(')');
    }
    out
}

fn bad_verb(out: &mut String, v: &Value, verb: char) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if v.is_nil() {
        out.push_str("<nil>");
    } else {
        out.push_str(&v.type_name());
        out.push('=');
        out.push_str(&sprint_value(v));
    }
    out.push(')');
}

fn pad(out: &mut String, s: &str, spec: Spec, numeric: bool) {
    let len = s.chars().count();
    let w = spec.width.unwrap_or(0);
    if len >= w {
        out.push_str(s);
        return;
    }
    let fill = w - len;
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero {
        // Zero padding goes after the sign of a number.
        let (sign, rest) = if numeric && (s.starts_with('-') || s.starts_with('+') || s.starts_with(' ')) {
            s.split_at(1)
        } else {
            ("", s)
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(rest);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

fn format_arg(out: &mut String, v: &Value, verb: char, spec: Spec) {
    match v {
        Value::List(l) if verb != 'T' && !(verb == 'v' && spec.sharp) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                format_arg(out, e, verb, spec);
            }
            out.push(']');
            return;
        }
        Value::Map(m) if verb != 'T' && !(verb == 'v' && spec.sharp) => {
            out.push_str("map[");
            for (i, (k, e)) in m.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                format_arg(out, &Value::str(k.as_str()), verb, spec);
                out.push(':');
                format_arg(out, e, verb, spec);
            }
            out.push(']');
            return;
        }
        _ => {}
    }
    if verb == 'T' {
        pad(out, &v.type_name(), spec, false);
        return;
    }
    match v {
        Value::Nil | Value::Invalid => match verb {
            'v' => pad(out, "<nil>", spec, false),
            _ => bad_verb(out, v, verb),
        },
        Value::Bool(b) => match verb {
            'v' | 't' => pad(out, if *b { "true" } else { "false" }, spec, false),
            _ => bad_verb(out, v, verb),
        },
        Value::Int(i) | Value::I64(i) => format_int(out, *i, v, verb, spec),
        Value::Float(f) => format_float_verb(out, *f, v, verb, spec),
        Value::Complex(re, im) => match verb {
            'v' | 'g' if spec.prec.is_none() => pad(out, &format_complex(*re, *im), spec, true),
            _ => bad_verb(out, v, verb),
        },
        Value::Str(s) => format_str(out, s.as_bytes(), s, v, verb, spec),
        Value::Bytes(b) => {
            let s = String::from_utf8_lossy(b);
            match verb {
                's' | 'q' | 'x' | 'X' => format_str(out, b, &s, v, verb, spec),
                _ => {
                    out.push('[');
                    for (i, c) in b.iter().enumerate() {
                        if i > 0 {
                            out.push(' ');
                        }
                        format_int(out, *c as i64, &Value::Int(*c as i64), verb, spec);
                    }
                    out.push(']');
                }
            }
        }
        Value::Object(o) => match verb {
            'v' | 's' => pad(out, &o.display(), spec, false),
            _ => bad_verb(out, v, verb),
        },
        Value::List(_) | Value::Map(_) => pad(out, &sprint_value(v), spec, false),
    }
}

fn format_int(out: &mut String, i: i64, v: &Value, verb: char, spec: Spec) {
    let neg = i < 0;
    let abs = i.unsigned_abs();
    let mut digits = match verb {
        'd' | 'v' => abs.to_string(),
        'b' => format!("{abs:b}"),
        'o' | 'O' => format!("{abs:o}"),
        'x' => format!("{abs:x}"),
        'X' => format!("{abs:X}"),
        'c' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{fffd}');
            pad(out, &c.to_string(), spec, false);
            return;
        }
        'q' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{fffd}');
            let mut s = String::from("'");
            quote_char(&mut s, c, '\'');
            s.push('\'');
            pad(out, &s, spec, false);
            return;
        }
        'U' => {
            pad(out, &format!("U+{:04X}", abs), spec, false);
            return;
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 's' | 't' => {
            bad_verb(out, v, verb);
            return;
        }
        _ => {
            bad_verb(out, v, verb);
            return;
        }
    };
    if let Some(p) = spec.prec {
        if p == 0 && i == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    let prefix = match (verb, spec.sharp) {
        ('x', true) => "0x",
        ('X', true) => "0X",
        ('o', true) => "0",
        ('b', true) => "0b",
        ('O', _) => "0o",
        _ => "",
    };
    let sign = if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let mut spec = spec;
    if spec.prec.is_some() {
        spec.zero = false;
    }
    if spec.zero && !spec.minus {
        let w = spec.width.unwrap_or(0);
        let body = format!("{prefix}{digits}");
        let total = sign.len() + body.len();
        out.push_str(sign);
        if total < w {
            out.extend(std::iter::repeat_n('0', w - total));
        }
        out.push_str(&body);
        return;
    }
    pad(out, &format!("{sign}{prefix}{digits}"), spec, true);
}

fn format_float_verb(out: &mut String, f: f64, v: &Value, verb: char, spec: Spec) {
    let body = match verb {
        'v' | 'g' | 'G' => {
            let s = match spec.prec {
                None => format_float(f),
                Some(p) => format_g_prec(f, p.max(1)),
            };
            if verb == 'G' { s.to_uppercase() } else { s }
        }
        'e' | 'E' => {
            let s = format_e(f, spec.prec.unwrap_or(6));
            if verb == 'E' { s.to_uppercase() } else { s }
        }
        'f' | 'F' => {
            if f.is_finite() {
                format!("{:.*}", spec.prec.unwrap_or(6), f)
            } else {
                format_float(f)
            }
        }
        _ => {
            bad_verb(out, v, verb);
            return;
        }
    };
    let body = if !body.starts_with('-') && !body.starts_with('+') && spec.plus {
        format!("+{body}")
    } else if !body.starts_with('-') && !body.starts_with('+') && spec.space {
        format!(" {body}")
    } else {
        body
    };
    let mut spec = spec;
    if !f.is_finite() {
        spec.zero = false;
    }
    pad(out, &body, spec, true);
}

/// `%e` with a precision.
fn format_e(f: f64, prec: usize) -> String {
    if !f.is_finite() {
        return format_float(f);
    }
    let s = format!("{:.*e}", prec, f);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

/// `%.Ng`.
fn format_g_prec(f: f64, prec: usize) -> String {
    if !f.is_finite() {
        return format_float(f);
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let s = format!("{:.*e}", prec - 1, f);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    let neg = m.starts_with('-');
    let mut digits: String = m.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let mut eprec = prec as i32;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    let sign = if neg { "-" } else { "" };
    if exp < -4 || exp >= eprec {
        let mut mant = digits[..1].to_string();
        if nd > 1 {
            mant.push('.');
            mant.push_str(&digits[1..]);
        }
        return format!("{sign}{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    if dp <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-dp) as usize))
    } else if dp >= nd {
        format!("{sign}{digits}{}", "0".repeat((dp - nd) as usize))
    } else {
        format!("{sign}{}.{}", &digits[..dp as usize], &digits[dp as usize..])
    }
}

fn format_str(out: &mut String, bytes: &[u8], s: &str, v: &Value, verb: char, spec: Spec) {
    match verb {
        'v' | 's' => {
            let s = match spec.prec {
                Some(p) => s.chars().take(p).collect::<String>(),
                None => s.to_string(),
            };
            pad(out, &s, spec, false);
        }
        'q' => {
            let s = match spec.prec {
                Some(p) => s.chars().take(p).collect::<String>(),
                None => s.to_string(),
            };
            let q = if spec.sharp && !s.contains('`') {
                format!("`{s}`")
            } else {
                quote(&s)
            };
            pad(out, &q, spec, false);
        }
        'x' | 'X' => {
            let bytes = match spec.prec {
                Some(p) => &bytes[..p.min(bytes.len())],
                None => bytes,
            };
            let mut h = String::new();
            for (i, b) in bytes.iter().enumerate() {
                if spec.space && i > 0 {
                    h.push(' ');
                }
                if spec.sharp && (spec.space || i == 0) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    h.push_str(&format!("{b:02x}"));
                } else {
                    h.push_str(&format!("{b:02X}"));
                }
            }
            pad(out, &h, spec, false);
        }
        _ => bad_verb(out, v, verb),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_verbs() {
        let cases: &[(&str, Vec<Value>, &str)] = &[
            ("%d", vec![Value::Int(17)], "17"),
            (
                "%5d|%-5d|%05d",
                vec![Value::Int(-3), Value::Int(3), Value::Int(-3)],
                "   -3|3    |-0003",
            ),
            (
                "%x %X %o %b",
                vec![Value::Int(255), Value::Int(255), Value::Int(8), Value::Int(5)],
                "ff FF 10 101",
            ),
            ("%s %q", vec![Value::str("a"), Value::str("b\n")], "a \"b\\n\""),
            ("%d", vec![Value::Float(17.0)], "%!d(float64=17)"),
            (
                "%.2f %e %g",
                vec![Value::Float(2.71628), Value::Float(1234.5), Value::Float(1e6)],
                "2.72 1.234500e+03 1e+06",
            ),
            (
                "%v %v",
                vec![Value::Float(100000.0), Value::Float(1234567.0)],
                "100000 1.234567e+06",
            ),
            ("%d %s", vec![Value::Int(1)], "1 %!s(MISSING)"),
            ("%d", vec![Value::Int(1), Value::str("x")], "1%!(EXTRA string=x)"),
            (
                "%.3g|%.10g",
                vec![Value::Float(2.71628), Value::Float(100.0)],
                "2.72|100",
            ),
            (
                "%6.2f|%-8.3s|",
                vec![Value::Float(2.5), Value::str("abcdef")],
                "  2.50|abc     |",
            ),
            ("%c%c", vec![Value::Int(72), Value::Int(105)], "Hi"),
            ("%t %v", vec![Value::Bool(true), Value::Nil], "true <nil>"),
        ];
        for (f, args, want) in cases {
            assert_eq!(sprintf(f, args), *want, "{f}");
        }
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(sprint(&[Value::Int(1), Value::Int(2)]), "1 2");
        assert_eq!(sprint(&[Value::str("a"), Value::Int(2), Value::str("b")]), "a2b");
        assert_eq!(sprintln(&[Value::str("a"), Value::str("b")]), "a b\n");
    }
}
