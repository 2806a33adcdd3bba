//! Semantic versions and constraints with the Masterminds `semver/v3` rules Flux and Helm use.
//!
//! Versions parse leniently (`v1.2`, `1`), constraints accept `=`, `!=`, `>`, `<`, `>=`, `<=`, `~`, `~>`,
//! `^`, wildcards (`1.x`, `*`), hyphen ranges (`1.2 - 1.4`), AND by space or comma and OR by `||`.
//! A pre-release version only satisfies a constraint whose own version has a pre-release part.

use std::{cmp::Ordering, fmt, str::FromStr};

/// A semantic version.
#[derive(Clone, Debug)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    metadata: String,
    original: String,
}

/// Why a string is not a version or a constraint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SemverError {
    /// Not a semantic version.
    #[error("invalid semantic version {0:?}")]
    InvalidVersion(String),
    /// Not a constraint.
    #[error("improper constraint: {0}")]
    InvalidConstraint(String),
}

impl Version {
    /// The major number.
    pub fn major(&self) -> u64 {
        self.major
    }
    /// The minor number.
    pub fn minor(&self) -> u64 {
        self.minor
    }
    /// The patch number.
    pub fn patch(&self) -> u64 {
        self.patch
    }
    /// The pre-release part, without `-`; empty if none.
    pub fn prerelease(&self) -> &str {
        &self.pre
    }
    /// The build metadata, without `+`; empty if none.
    pub fn metadata(&self) -> &str {
        &self.metadata
    }
    /// The string the version was parsed from.
    pub fn original(&self) -> &str {
        &self.original
    }

    fn parse_parts(s: &str, allow_wildcards: bool) -> Result<(Vec<Option<u64>>, String, String), ()> {
        let body = s.strip_prefix('v').unwrap_or(s);
        let (body, metadata) = match body.split_once('+') {
            Some((b, m)) => (b, Some(m)),
            None => (body, None),
        };
        let (core, pre) = match body.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (body, None),
        };
        for part in [pre, metadata].into_iter().flatten() {
            if part.is_empty()
                || part
                    .split('.')
                    .any(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            {
                return Err(());
            }
        }
        if let Some(pre) = pre
            && pre
                .split('.')
                .any(|id| id.len() > 1 && id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(());
        }
        let nums: Vec<&str> = core.split('.').collect();
        if nums.is_empty() || nums.len() > 3 {
            return Err(());
        }
        let mut out = Vec::with_capacity(3);
        for n in nums {
            if allow_wildcards && matches!(n, "x" | "X" | "*") {
                out.push(None);
            } else if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
                out.push(Some(n.parse().map_err(|_| ())?));
            } else {
                return Err(());
            }
        }
        Ok((
            out,
            pre.unwrap_or_default().to_owned(),
            metadata.unwrap_or_default().to_owned(),
        ))
    }
}

impl FromStr for Version {
    type Err = SemverError;

    /// Parses leniently, as Masterminds `NewVersion`: an optional `v`, one to three numbers.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || SemverError::InvalidVersion(s.to_owned());
        let (nums, pre, metadata) = Self::parse_parts(s, false).map_err(|()| err())?;
        let n = |i: usize| nums.get(i).copied().flatten().unwrap_or(0);
        Ok(Self {
            major: n(0),
            minor: n(1),
            patch: n(2),
            pre,
            metadata,
            original: s.to_owned(),
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.metadata.is_empty() {
            write!(f, "+{}", self.metadata)?;
        }
        Ok(())
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    /// Semantic version precedence; build metadata is ignored.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| compare_prerelease(&self.pre, &other.pre))
    }
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        (false, false) => {}
    }
    let mut ia = a.split('.');
    let mut ib = b.split('.');
    loop {
        match (ia.next(), ib.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

#[derive(Clone, Debug)]
struct Single {
    op: Op,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

/// A set of constraints: OR groups of AND-ed single constraints.
#[derive(Clone, Debug)]
pub struct Constraint {
    groups: Vec<Vec<Single>>,
    original: String,
}

impl Constraint {
    /// Whether `v` satisfies the constraint.
    pub fn matches(&self, v: &Version) -> bool {
        self.groups.iter().any(|g| g.iter().all(|c| c.check(v)))
    }

    /// The string the constraint was parsed from.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// The highest of `candidates` that satisfies the constraint.
    pub fn best<'a, I: IntoIterator<Item = &'a Version>>(&self, candidates: I) -> Option<&'a Version> {
        candidates.into_iter().filter(|v| self.matches(v)).max()
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl FromStr for Constraint {
    type Err = SemverError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || SemverError::InvalidConstraint(s.trim().to_owned());
        let mut groups = Vec::new();
        for group in s.split("||") {
            let tokens = tokenize(group).ok_or_else(err)?;
            let mut singles = Vec::new();
            let mut i = 0;
            while i < tokens.len() {
                // Hyphen range: `A - B` becomes `>= A, <= B`.
                if i + 2 < tokens.len()
                    && tokens[i + 1] == "-"
                    && !starts_with_op(&tokens[i])
                    && !starts_with_op(&tokens[i + 2])
                {
                    singles.push(parse_single(&format!(">={}", tokens[i])).ok_or_else(err)?);
                    singles.push(parse_single(&format!("<={}", tokens[i + 2])).ok_or_else(err)?);
                    i += 3;
                    continue;
                }
                singles.push(parse_single(&tokens[i]).ok_or_else(err)?);
                i += 1;
            }
            if singles.is_empty() {
                if !group.trim().is_empty() {
                    return Err(err());
                }
                // An empty constraint is `*`.
                singles.push(parse_single("*").ok_or_else(err)?);
            }
            groups.push(singles);
        }
        Ok(Self {
            groups,
            original: s.to_owned(),
        })
    }
}

fn starts_with_op(t: &str) -> bool {
    t.starts_with(['=', '!', '>', '<', '~', '^'])
}

/// Splits an AND group into constraint tokens, gluing an operator to the version after it.
fn tokenize(group: &str) -> Option<Vec<String>> {
    let mut tokens: Vec<String> = Vec::new();
    let mut pending_op: Option<String> = None;
    for raw in group.split([' ', ',', '\t']).filter(|t| !t.is_empty()) {
        let op_len = raw
            .bytes()
            .take_while(|b| matches!(b, b'=' | b'!' | b'>' | b'<' | b'~' | b'^'))
            .count();
        if op_len == raw.len() {
            if pending_op.is_some() {
                return None;
            }
            pending_op = Some(raw.to_owned());
            continue;
        }
        match pending_op.take() {
            Some(op) if op_len == 0 => tokens.push(format!("{op}{raw}")),
            Some(_) => return None,
            None => tokens.push(raw.to_owned()),
        }
    }
    if pending_op.is_some() {
        return None;
    }
    Some(tokens)
}

fn parse_single(token: &str) -> Option<Single> {
    let op_len = token
        .bytes()
        .take_while(|b| matches!(b, b'=' | b'!' | b'>' | b'<' | b'~' | b'^'))
        .count();
    let (op, ver) = token.split_at(op_len);
    let op = match op {
        "" | "=" => Op::TildeOrEqual,
        "!=" => Op::NotEqual,
        ">" => Op::Greater,
        "<" => Op::Less,
        ">=" | "=>" => Op::GreaterEqual,
        "<=" | "=<" => Op::LessEqual,
        "~" | "~>" => Op::Tilde,
        "^" => Op::Caret,
        _ => return None,
    };
    let (nums, pre, metadata) = Version::parse_parts(ver, true).ok()?;
    let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
    let (major, minor, patch) = match (
        nums.first().copied().flatten(),
        nums.get(1).copied().flatten(),
        nums.get(2).copied().flatten(),
    ) {
        (None, _, _) => {
            dirty = true;
            (0, 0, 0)
        }
        (Some(ma), None, _) => {
            dirty = true;
            minor_dirty = true;
            (ma, 0, 0)
        }
        (Some(ma), Some(mi), None) => {
            dirty = true;
            patch_dirty = true;
            (ma, mi, 0)
        }
        (Some(ma), Some(mi), Some(pa)) => (ma, mi, pa),
    };
    let con = Version {
        major,
        minor,
        patch,
        pre,
        metadata,
        original: ver.to_owned(),
    };
    Some(Single {
        op,
        con,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

impl Single {
    fn check(&self, v: &Version) -> bool {
        if !v.pre.is_empty() && self.con.pre.is_empty() {
            return false;
        }
        let c = &self.con;
        match self.op {
            Op::TildeOrEqual => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    v == c
                }
            }
            Op::NotEqual => {
                if self.dirty {
                    if c.major != v.major {
                        return true;
                    }
                    if c.minor != v.minor && !self.minor_dirty {
                        return true;
                    } else if self.minor_dirty {
                        return false;
                    } else if c.patch != v.patch && !self.patch_dirty {
                        return true;
                    } else if self.patch_dirty {
                        if !v.pre.is_empty() || !c.pre.is_empty() {
                            return compare_prerelease(&v.pre, &c.pre) != Ordering::Equal;
                        }
                        return false;
                    }
                }
                v != c
            }
            Op::Greater => {
                if !self.dirty {
                    return v > c;
                }
                if v.major != c.major {
                    return v.major > c.major;
                }
                if self.minor_dirty {
                    return false;
                }
                if self.patch_dirty {
                    return v.minor > c.minor;
                }
                v > c
            }
            Op::Less => v < c,
            Op::GreaterEqual => v >= c,
            Op::LessEqual => {
                if !self.dirty {
                    return v <= c;
                }
                !(v.major > c.major || (v.major == c.major && v.minor > c.minor && !self.minor_dirty))
            }
            Op::Tilde => self.tilde(v),
            Op::Caret => {
                if v < c {
                    return false;
                }
                if c.major > 0 || self.minor_dirty {
                    return v.major == c.major;
                }
                if v.major > 0 {
                    return false;
                }
                if c.minor > 0 || self.patch_dirty {
                    return v.minor == c.minor;
                }
                if v.minor > 0 {
                    return false;
                }
                c.patch == v.patch
            }
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v < c {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        v.minor == c.minor || self.minor_dirty
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(c: &str, v: &str) -> bool {
        c.parse::<Constraint>().unwrap().matches(&v.parse().unwrap())
    }

    #[test]
    fn versions_parse_leniently_and_order() {
        assert_eq!("v1.2".parse::<Version>().unwrap().to_string(), "1.2.0");
        assert_eq!("1".parse::<Version>().unwrap().to_string(), "1.0.0");
        assert!("1.2.3.4".parse::<Version>().is_err());
        assert!("1.2.3-01".parse::<Version>().is_err());
        assert!("latest".parse::<Version>().is_err());
        let mut vs: Vec<Version> = [
            "1.0.0",
            "1.0.0-rc.1",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "0.9.9",
            "1.0.0-rc.10",
            "1.0.0-beta.2",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        vs.sort();
        let s: Vec<String> = vs.iter().map(ToString::to_string).collect();
        assert_eq!(
            s,
            [
                "0.9.9",
                "1.0.0-alpha",
                "1.0.0-alpha.1",
                "1.0.0-beta.2",
                "1.0.0-rc.1",
                "1.0.0-rc.10",
                "1.0.0"
            ]
        );
        assert_eq!(
            "1.0.0+a".parse::<Version>().unwrap(),
            "1.0.0+b".parse::<Version>().unwrap()
        );
    }

    #[test]
    fn masterminds_constraint_table() {
        let table: &[(&str, &str, bool)] = &[
            ("1.2.3", "1.2.3", true),
            ("1.2.3", "1.2.4", false),
            ("=1.2", "1.2.9", true),
            ("=1.2", "1.3.0", false),
            ("1", "1.9.0", true),
            ("*", "5.0.0", true),
            ("*", "5.0.0-rc.1", false),
            ("", "1.0.0", true),
            ("!=1.2.3", "1.2.4", true),
            ("!=1.2.3", "1.2.3", false),
            ("!=1.2.x", "1.2.9", false),
            ("!=1.2.x", "1.3.0", true),
            (">1.2", "1.2.9", false),
            (">1.2", "1.3.0", true),
            (">11", "11.1.0", false),
            (">1.2.3", "1.2.4", true),
            ("<1.2", "1.1.9", true),
            ("<1.2", "1.2.0", false),
            (">=1.2.3", "1.2.3", true),
            ("=>1.2.3", "1.2.2", false),
            ("<=1.2", "1.2.9", true),
            ("<=1.2", "1.3.0", false),
            ("<=1.2.3", "1.2.4", false),
            ("~1.2.3", "1.2.9", true),
            ("~1.2.3", "1.3.0", false),
            ("~1", "1.9.9", true),
            ("~1", "2.0.0", false),
            ("~>1.2", "1.2.5", true),
            ("^1.2.3", "1.9.0", true),
            ("^1.2.3", "2.0.0", false),
            ("^1.2.3", "1.2.2", false),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("^0.0.3", "0.0.3", true),
            ("^0.0.3", "0.0.4", false),
            ("^0.0", "0.0.9", true),
            ("^0.0", "0.1.0", false),
            ("^0", "0.9.0", true),
            ("^0", "1.0.0", false),
            (">= 1.2, < 2.0.0-0 || ~3.x", "3.9.1", true),
            (">= 1.2, < 2.0.0-0 || ~3.x", "2.1.0", false),
            (">=1.2 <2", "1.5.0", true),
            ("1.2 - 1.4.5", "1.4.5", true),
            ("1.2 - 1.4.5", "1.4.6", false),
            ("1.2 - 1.4.5", "1.1.9", false),
            ("^1.x-0", "1.2.0-rc.1", true),
            (">=1.0.0-0", "1.0.0-alpha", true),
            ("1.x", "1.0.0-rc.1", false),
            ("v1.2.x", "1.2.7", true),
        ];
        for &(c, v, want) in table {
            assert_eq!(check(c, v), want, "{c:?} vs {v:?}");
        }
    }

    #[test]
    fn bad_constraints_are_errors() {
        for c in ["latest", ">=", "1.2.3.4", ">> 1", "1.2 -", "~ ~1"] {
            assert!(c.parse::<Constraint>().is_err(), "{c:?}");
        }
    }

    #[test]
    fn best_picks_the_highest_match() {
        let vs: Vec<Version> = ["1.0.0", "1.4.0", "2.0.0", "1.5.0-rc.1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let c: Constraint = "1.x".parse().unwrap();
        assert_eq!(c.best(&vs).unwrap().to_string(), "1.4.0");
    }
}
