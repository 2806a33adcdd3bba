//! Sprig's date functions, with Go's layout strings and `Duration` printing. Times carry the offset and
//! abbreviation of their zone; zones come from the system's time zone database (jiff), `Local` is the
//! process's zone (`TZ`, `/etc/localtime`), and an unknown zone name falls back to UTC, as in Sprig.

use std::rc::Rc;

use super::reg;
use crate::template::{FuncMap, Object, Ty::*, Value};

/// A Go `time.Time`: an instant with the offset and abbreviation of its zone.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Time {
    secs: i64,
    nanos: u32,
    offset: i32,
    /// The zone's abbreviation (`EST`), zero-padded; empty for UTC and fixed offsets.
    abbr: [u8; 8],
}

/// No abbreviation.
const NO_ABBR: [u8; 8] = [0; 8];

/// The time zone `name` names: `Local` the process's, `UTC` or an empty name UTC, an unknown name UTC.
fn zone(name: &str) -> jiff::tz::TimeZone {
    match name {
        "Local" => jiff::tz::TimeZone::system(),
        "" | "UTC" => jiff::tz::TimeZone::UTC,
        n => jiff::tz::TimeZone::get(n).unwrap_or(jiff::tz::TimeZone::UTC),
    }
}

impl Time {
    fn now() -> Time {
        super::note_volatile();
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Time {
            secs: d.as_secs() as i64,
            nanos: d.subsec_nanos(),
            offset: 0,
            abbr: NO_ABBR,
        }
        .in_zone(&zone("Local"))
    }

    /// The same instant in `tz` (Go's `t.In(loc)`).
    fn in_zone(self, tz: &jiff::tz::TimeZone) -> Time {
        let Ok(ts) = jiff::Timestamp::new(self.secs, 0) else {
            return self;
        };
        let info = tz.to_offset_info(ts);
        let mut abbr = NO_ABBR;
        let a = info.abbreviation();
        // UTC prints as "UTC" without an abbreviation of its own; fixed offsets print nothing.
        if a.len() <= abbr.len() && !(info.offset().seconds() == 0 && a == "UTC") {
            abbr[..a.len()].copy_from_slice(a.as_bytes());
        }
        Time {
            offset: info.offset().seconds(),
            abbr,
            ..self
        }
    }

    fn abbreviation(&self) -> &str {
        let n = self.abbr.iter().position(|b| *b == 0).unwrap_or(self.abbr.len());
        std::str::from_utf8(&self.abbr[..n]).unwrap_or_default()
    }

    fn civil(&self) -> (i64, u32, u32, u32, u32, u32, u32, u32) {
        let local = self.secs + self.offset as i64;
        let days = local.div_euclid(86400);
        let sod = local.rem_euclid(86400);
        let (y, m, d) = civil_from_days(days);
        let weekday = (days + 4).rem_euclid(7) as u32; // 1970-01-01 was a Thursday.
        let yday = (days - days_from_civil(y, 1, 1)) as u32 + 1;
        (
            y,
            m,
            d,
            (sod / 3600) as u32,
            (sod % 3600 / 60) as u32,
            (sod % 60) as u32,
            weekday,
            yday,
        )
    }

    fn value(self) -> Value {
        Value::Object(Rc::new(self))
    }
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Go's layout tokens, longest first where they share a prefix.
const TOKENS: &[&str] = &[
    "January",
    "Jan",
    "Monday",
    "Mon",
    "MST",
    "2006",
    "Z07:00:00",
    "Z070000",
    "Z07:00",
    "Z0700",
    "Z07",
    "-07:00:00",
    "-070000",
    "-07:00",
    "-0700",
    "-07",
    "002",
    "__2",
    "_2",
    "01",
    "02",
    "03",
    "04",
    "05",
    "06",
    "15",
    "PM",
    "pm",
    "1",
    "2",
    "3",
    "4",
    "5",
];

fn next_token(layout: &str) -> Option<(usize, &'static str, usize)> {
    // Returns (start, token, len) of the first layout token; fractional seconds are ".000"/".999" runs.
    let b = layout.as_bytes();
    for i in 0..layout.len() {
        if !layout.is_char_boundary(i) {
            continue;
        }
        if (b[i] == b'.' || b[i] == b',') && i + 1 < b.len() && (b[i + 1] == b'0' || b[i + 1] == b'9') {
            let digit = b[i + 1];
            let mut j = i + 1;
            while j < b.len() && b[j] == digit {
                j += 1;
            }
            if j >= b.len() || !b[j].is_ascii_digit() {
                return Some((i, if digit == b'0' { ".0" } else { ".9" }, j - i));
            }
        }
        for t in TOKENS {
            if layout[i..].starts_with(t) {
                // "Jan"/"Mon" must not be followed by a lower-case letter ("Janet").
                if (*t == "Jan" || *t == "Mon")
                    && layout[i + t.len()..].starts_with(|c: char| c.is_ascii_lowercase())
                {
                    continue;
                }
                return Some((i, t, t.len()));
            }
        }
    }
    None
}

fn format(t: Time, layout: &str) -> String {
    let (y, mo, d, h, mi, s, wd, yd) = t.civil();
    let mut out = String::new();
    let mut rest = layout;
    while let Some((i, tok, len)) = next_token(rest) {
        out.push_str(&rest[..i]);
        let off = t.offset;
        let (sign, oh, om, os) = (
            if off < 0 { '-' } else { '+' },
            off.abs() / 3600,
            off.abs() % 3600 / 60,
            off.abs() % 60,
        );
        match tok {
            "January" => out.push_str(MONTHS[mo as usize - 1]),
            "Jan" => out.push_str(&MONTHS[mo as usize - 1][..3]),
            "Monday" => out.push_str(DAYS[wd as usize]),
            "Mon" => out.push_str(&DAYS[wd as usize][..3]),
            "MST" => out.push_str(match t.abbreviation() {
                "" if off == 0 => "UTC",
                a => a,
            }),
            "2006" => out.push_str(&format!("{y:04}")),
            "06" => out.push_str(&format!("{:02}", y.rem_euclid(100))),
            "01" => out.push_str(&format!("{mo:02}")),
            "1" => out.push_str(&mo.to_string()),
            "02" => out.push_str(&format!("{d:02}")),
            "2" => out.push_str(&d.to_string()),
            "_2" => out.push_str(&format!("{d:>2}")),
            "__2" => out.push_str(&format!("{yd:>3}")),
            "002" => out.push_str(&format!("{yd:03}")),
            "15" => out.push_str(&format!("{h:02}")),
            "03" => out.push_str(&format!("{:02}", if h % 12 == 0 { 12 } else { h % 12 })),
            "3" => out.push_str(&(if h % 12 == 0 { 12 } else { h % 12 }).to_string()),
            "04" => out.push_str(&format!("{mi:02}")),
            "4" => out.push_str(&mi.to_string()),
            "05" => out.push_str(&format!("{s:02}")),
            "5" => out.push_str(&s.to_string()),
            "PM" => out.push_str(if h >= 12 { "PM" } else { "AM" }),
            "pm" => out.push_str(if h >= 12 { "pm" } else { "am" }),
            "Z07:00" | "Z0700" | "Z07" | "Z070000" | "Z07:00:00" if off == 0 => out.push('Z'),
            "Z07:00" | "-07:00" => out.push_str(&format!("{sign}{oh:02}:{om:02}")),
            "Z0700" | "-0700" => out.push_str(&format!("{sign}{oh:02}{om:02}")),
            "Z07" | "-07" => out.push_str(&format!("{sign}{oh:02}")),
            "Z070000" | "-070000" => out.push_str(&format!("{sign}{oh:02}{om:02}{os:02}")),
            "Z07:00:00" | "-07:00:00" => out.push_str(&format!("{sign}{oh:02}:{om:02}:{os:02}")),
            ".0" | ".9" => {
                let digits = len - 1;
                let frac = format!("{:09}", t.nanos);
                let mut f = frac[..digits.min(9)].to_string();
                if tok == ".9" {
                    f = f.trim_end_matches('0').to_string();
                    if !f.is_empty() {
                        out.push(rest.as_bytes()[i] as char);
                        out.push_str(&f);
                    }
                } else {
                    out.push(rest.as_bytes()[i] as char);
                    out.push_str(&f);
                }
            }
            _ => {}
        }
        rest = &rest[i + len..];
    }
    out.push_str(rest);
    out
}

/// Go's `time.ParseInLocation(layout, value, loc)`: a value without a zone of its own is a civil time in
/// `loc`.
fn parse(layout: &str, value: &str, loc: &jiff::tz::TimeZone) -> Result<Time, String> {
    let mut zoned = false;
    let err = || format!("parsing time {value:?} as {layout:?}: cannot parse {value:?} as {layout:?}");
    let (mut y, mut mo, mut d, mut h, mut mi, mut s, mut nanos, mut off, mut pm) =
        (1i64, 1u32, 1u32, 0u32, 0u32, 0u32, 0u32, 0i32, None);
    let mut l = layout;
    let mut v = value;
    let num = |v: &mut &str, min: usize, max: usize| -> Result<u32, String> {
        let n = v.bytes().take(max).take_while(u8::is_ascii_digit).count();
        if n < min {
            return Err(err());
        }
        let x = v[..n].parse().map_err(|_| err())?;
        *v = &v[n..];
        Ok(x)
    };
    while let Some((i, tok, len)) = next_token(l) {
        if !v.starts_with(&l[..i]) {
            return Err(err());
        }
        v = &v[i..];
        match tok {
            "2006" => y = num(&mut v, 4, 4)? as i64,
            "06" => {
                // Go: 69..99 are 1969..1999, 00..68 are 2000..2068.
                let yy = num(&mut v, 2, 2)? as i64;
                y = if yy >= 69 { 1900 + yy } else { 2000 + yy };
            }
            "01" => mo = num(&mut v, 2, 2)?,
            "1" => mo = num(&mut v, 1, 2)?,
            "02" => d = num(&mut v, 2, 2)?,
            "2" | "_2" => {
                v = v.trim_start_matches(' ');
                d = num(&mut v, 1, 2)?;
            }
            "15" => h = num(&mut v, 1, 2)?,
            "03" | "3" => h = num(&mut v, 1, 2)?,
            "04" | "4" => mi = num(&mut v, 1, 2)?,
            "05" | "5" => s = num(&mut v, 1, 2)?,
            "PM" | "pm" => {
                let t = v.get(..2).ok_or_else(err)?.to_ascii_uppercase();
                pm = Some(t == "PM");
                v = &v[2..];
            }
            "January" | "Jan" => {
                let idx = MONTHS
                    .iter()
                    .position(|m| {
                        if tok == "Jan" {
                            v.starts_with(&m[..3])
                        } else {
                            v.starts_with(m)
                        }
                    })
                    .ok_or_else(err)?;
                v = &v[if tok == "Jan" { 3 } else { MONTHS[idx].len() }..];
                mo = idx as u32 + 1;
            }
            "Monday" | "Mon" => {
                let idx = DAYS
                    .iter()
                    .position(|m| v.starts_with(if tok == "Mon" { &m[..3] } else { m }))
                    .ok_or_else(err)?;
                v = &v[if tok == "Mon" { 3 } else { DAYS[idx].len() }..];
            }
            "MST" => {
                let n = v.bytes().take_while(u8::is_ascii_uppercase).count();
                v = &v[n..];
            }
            ".0" | ".9" => {
                if let Some(r) = v.strip_prefix(['.', ',']) {
                    let n = r.bytes().take_while(u8::is_ascii_digit).count();
                    let digits = format!("{:0<9}", &r[..n.min(9)]);
                    nanos = digits.parse().map_err(|_| err())?;
                    v = &r[n..];
                }
            }
            t if t.starts_with('Z') || t.starts_with('-') => {
                zoned = true;
                if t.starts_with('Z')
                    && let Some(r) = v.strip_prefix('Z')
                {
                    v = r;
                } else {
                    let sign = match v.chars().next() {
                        Some('+') => 1,
                        Some('-') => -1,
                        _ => return Err(err()),
                    };
                    v = &v[1..];
                    let oh = num(&mut v, 2, 2)?;
                    let mut om = 0;
                    if let Some(r) = v.strip_prefix(':') {
                        v = r;
                    }
                    if t.len() > 3 {
                        om = num(&mut v, 2, 2)?;
                    }
                    off = sign * (oh * 3600 + om * 60) as i32;
                }
            }
            _ => return Err(err()),
        }
        l = &l[i + len..];
    }
    if v != l {
        return Err(err());
    }
    if let Some(p) = pm {
        if p && h < 12 {
            h += 12;
        } else if !p && h == 12 {
            h = 0;
        }
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return Err(format!("parsing time {value:?}: day out of range"));
    }
    let days = days_from_civil(y, mo, d);
    let civil = days * 86400 + (h * 3600 + mi * 60 + s) as i64;
    if !zoned {
        // Go's `time.Date`: the zone's offset at the civil time read as UTC, corrected once when the
        // instant it gives lies in another period (so a time in a DST gap lands before the gap).
        let offset_at = |secs: i64| {
            jiff::Timestamp::new(secs, 0)
                .map(|ts| i64::from(loc.to_offset(ts).seconds()))
                .unwrap_or(0)
        };
        let first = offset_at(civil);
        let utc = civil - first;
        let second = offset_at(utc);
        let secs = if second == first { utc } else { civil - second };
        let t = Time {
            secs,
            nanos,
            offset: 0,
            abbr: NO_ABBR,
        };
        return Ok(t.in_zone(loc));
    }
    Ok(Time {
        secs: civil - off as i64,
        nanos,
        offset: off,
        abbr: NO_ABBR,
    })
}

impl Object for Time {
    fn type_name(&self) -> &str {
        "time.Time"
    }
    fn field(&self, name: &str) -> Option<Value> {
        let (y, mo, d, h, mi, s, wd, yd) = self.civil();
        Some(match name {
            "Year" => Value::Int(y),
            "Month" => Value::Int(mo as i64),
            "Day" => Value::Int(d as i64),
            "Hour" => Value::Int(h as i64),
            "Minute" => Value::Int(mi as i64),
            "Second" => Value::Int(s as i64),
            "Nanosecond" => Value::Int(self.nanos as i64),
            "Weekday" => Value::Int(wd as i64),
            "YearDay" => Value::Int(yd as i64),
            "Unix" => Value::I64(self.secs),
            "UnixNano" => Value::I64(
                self.secs
                    .saturating_mul(1_000_000_000)
                    .saturating_add(self.nanos as i64),
            ),
            "UTC" => Time {
                offset: 0,
                abbr: NO_ABBR,
                ..*self
            }
            .value(),
            "String" => Value::str(self.display()),
            _ => return None,
        })
    }
    fn has_method(&self, name: &str) -> bool {
        name == "Format"
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        (name == "Format").then(|| {
            Ok(Value::str(format(
                *self,
                args.first().and_then(Value::as_str).unwrap_or_default(),
            )))
        })
    }
    fn display(&self) -> String {
        format(*self, "2006-01-02 15:04:05.999999999 -0700 MST")
    }
    fn to_data(&self) -> Value {
        Value::str(format(*self, "2006-01-02T15:04:05.999999999Z07:00"))
    }
}

fn time_arg(v: &Value) -> Option<Time> {
    match v {
        Value::Object(o) if o.type_name() == "time.Time" => {
            let secs = o.field("Unix")?.as_int()?;
            let nanos = o.field("Nanosecond")?.as_int()? as u32;
            Some(Time {
                secs,
                nanos,
                offset: 0,
                abbr: NO_ABBR,
            })
        }
        Value::Int(i) | Value::I64(i) => Some(Time {
            secs: *i,
            nanos: 0,
            offset: 0,
            abbr: NO_ABBR,
        }),
        _ => None,
    }
}

/// Go's `Duration.String`.
pub(crate) fn duration_string(d: i128) -> String {
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    if u == 0 {
        return "0s".into();
    }
    let frac = |u: u128, prec: u32| -> (String, u128) {
        let p = 10u128.pow(prec);
        let f = u % p;
        if f == 0 {
            return (String::new(), u / p);
        }
        let s = format!("{:0width$}", f, width = prec as usize);
        (format!(".{}", s.trim_end_matches('0')), u / p)
    };
    let mut out;
    if u < 1_000_000_000 {
        let (unit, prec) = if u < 1_000 {
            ("ns", 0)
        } else if u < 1_000_000 {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        let (f, whole) = frac(u, prec);
        out = format!("{whole}{f}{unit}");
    } else {
        let (f, secs) = frac(u, 9);
        u = secs;
        out = format!("{}{f}s", u % 60);
        u /= 60;
        if u > 0 {
            out = format!("{}m{out}", u % 60);
            u /= 60;
            if u > 0 {
                out = format!("{u}h{out}");
            }
        }
    }
    if neg { format!("-{out}") } else { out }
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub(crate) fn parse_duration(s: &str) -> Result<i128, String> {
    let orig = s;
    let err = || format!("time: invalid duration {:?}", orig);
    let (neg, mut s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(err());
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let n = s.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        if n == 0 {
            return Err(err());
        }
        let num: f64 = s[..n].parse().map_err(|_| err())?;
        s = &s[n..];
        let u = s
            .bytes()
            .take_while(|b| !b.is_ascii_digit() && *b != b'.')
            .count();
        let unit = &s[..u];
        s = &s[u..];
        let mult: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {orig:?}")),
            _ => return Err(format!("time: unknown unit {unit:?} in duration {orig:?}")),
        };
        total += num * mult;
    }
    let t = total.round() as i128;
    Ok(if neg { -t } else { t })
}

pub(super) fn register(m: &mut FuncMap) {
    reg(m, "now", &[], None, |_, _| Ok(Time::now().value()));
    reg(m, "toDate", &[Str, Str], None, |_, a| {
        Ok(parse(
            a[0].as_str().unwrap_or_default(),
            a[1].as_str().unwrap_or_default(),
            &zone("Local"),
        )
        .map(Time::value)
        .unwrap_or_else(|_| {
            Time {
                secs: -62135596800,
                nanos: 0,
                offset: 0,
                abbr: NO_ABBR,
            }
            .value()
        }))
    });
    reg(m, "mustToDate", &[Str, Str], None, |_, a| {
        parse(
            a[0].as_str().unwrap_or_default(),
            a[1].as_str().unwrap_or_default(),
            &zone("Local"),
        )
        .map(Time::value)
    });
    // Sprig's `date` is `dateInZone` in `Local`.
    reg(m, "date", &[Str, Any], None, |_, a| {
        Ok(Value::str(format(
            time_arg(&a[1]).unwrap_or_else(Time::now).in_zone(&zone("Local")),
            a[0].as_str().unwrap_or_default(),
        )))
    });
    reg(m, "dateInZone", &[Str, Any, Str], None, |_, a| {
        Ok(Value::str(format(
            time_arg(&a[1])
                .unwrap_or_else(Time::now)
                .in_zone(&zone(a[2].as_str().unwrap_or_default())),
            a[0].as_str().unwrap_or_default(),
        )))
    });
    m.insert("date_in_zone", m["dateInZone"]);
    reg(m, "htmlDate", &[Any], None, |_, a| {
        Ok(Value::str(format(
            time_arg(&a[0]).unwrap_or_else(Time::now).in_zone(&zone("Local")),
            "2006-01-02",
        )))
    });
    reg(m, "htmlDateInZone", &[Any, Str], None, |_, a| {
        Ok(Value::str(format(
            time_arg(&a[0])
                .unwrap_or_else(Time::now)
                .in_zone(&zone(a[1].as_str().unwrap_or_default())),
            "2006-01-02",
        )))
    });
    reg(m, "unixEpoch", &[Any], None, |_, a| {
        Ok(Value::str(time_arg(&a[0]).map_or(0, |t| t.secs).to_string()))
    });
    reg(m, "dateModify", &[Str, Any], None, |_, a| {
        let Some(t) = time_arg(&a[1]) else {
            return Err("wrong type for value; expected time.Time".into());
        };
        Ok(match parse_duration(a[0].as_str().unwrap_or_default()) {
            Ok(d) => add(t, d).value(),
            Err(_) => t.value(),
        })
    });
    m.insert("date_modify", m["dateModify"]);
    reg(m, "mustDateModify", &[Str, Any], None, |_, a| {
        let Some(t) = time_arg(&a[1]) else {
            return Err("wrong type for value; expected time.Time".into());
        };
        Ok(add(t, parse_duration(a[0].as_str().unwrap_or_default())?).value())
    });
    reg(m, "ago", &[Any], None, |_, a| {
        let t = time_arg(&a[0]).unwrap_or_else(Time::now);
        let now = Time::now();
        let secs =
            (now.secs - t.secs) as i128 + ((now.nanos as i128 - t.nanos as i128) >= 500_000_000) as i128;
        Ok(Value::str(duration_string(secs * 1_000_000_000)))
    });
    reg(m, "duration", &[Any], None, |_, a| {
        let n: i64 = match &a[0] {
            Value::Str(s) => s.parse().unwrap_or(0),
            Value::I64(i) => *i,
            _ => 0,
        };
        Ok(Value::str(duration_string(n as i128 * 1_000_000_000)))
    });
    reg(m, "durationRound", &[Any], None, |_, a| {
        let d: i128 = match &a[0] {
            Value::Str(s) => parse_duration(s).unwrap_or(0),
            Value::I64(i) => *i as i128,
            v => match time_arg(v) {
                Some(t) if matches!(v, Value::Object(_)) => {
                    let now = Time::now();
                    (now.secs - t.secs) as i128 * 1_000_000_000
                }
                _ => 0,
            },
        };
        let u = d.unsigned_abs();
        let (hour, minute, second) = (3_600_000_000_000u128, 60_000_000_000u128, 1_000_000_000u128);
        let (day, month, year) = (hour * 24, hour * 24 * 30, hour * 24 * 365);
        Ok(Value::str(if u > year {
            format!("{}y", u / year)
        } else if u > month {
            format!("{}mo", u / month)
        } else if u > day {
            format!("{}d", u / day)
        } else if u > hour {
            format!("{}h", u / hour)
        } else if u > minute {
            format!("{}m", u / minute)
        } else if u > second {
            format!("{}s", u / second)
        } else {
            "0s".to_string()
        }))
    });
}

fn add(t: Time, d: i128) -> Time {
    let total = t.secs as i128 * 1_000_000_000 + t.nanos as i128 + d;
    Time {
        secs: total.div_euclid(1_000_000_000) as i64,
        nanos: total.rem_euclid(1_000_000_000) as u32,
        ..t
    }
}
