//! `.sourceignore` rules: gitignore patterns with go-git's matching semantics and Flux's defaults.
//!
//! Patterns are matched against paths split into components, relative to the artifact root. Each pattern
//! has a domain (the directory of the `.sourceignore` file it came from) and only applies below it. The
//! last pattern that matches decides, so later patterns override earlier ones.

use std::fmt;

/// Always excluded: version control files.
pub const EXCLUDE_VCS: &str = ".git/,.gitignore,.gitmodules,.gitattributes";
/// Excluded by default: binary and archive extensions.
pub const EXCLUDE_EXT: &str = "*.jpg,*.jpeg,*.gif,*.png,*.wmv,*.flv,*.tar.gz,*.zip";
/// Excluded by default: CI configuration.
pub const EXCLUDE_CI: &str = ".github/,.circleci/,.travis.yml,.gitlab-ci.yml,appveyor.yml,.drone.yml,cloudbuild.yaml,codeship-services.yml,codeship-steps.yml";
/// Excluded by default: tool configuration.
pub const EXCLUDE_EXTRA: &str = "**/.goreleaser.yml,**/.sops.yaml,**/.flux.yaml";
/// The name of ignore files read from the source tree.
pub const IGNORE_FILE: &str = ".sourceignore";

/// A pattern that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ignore pattern {pattern:?}{}: {reason}", Origin(origin))]
pub struct PatternError {
    /// The pattern line.
    pub pattern: String,
    /// Where it came from (`spec.ignore`, `deploy/.sourceignore`), if known.
    pub origin: Option<String>,
    /// What is wrong.
    pub reason: &'static str,
}

struct Origin<'a>(&'a Option<String>);

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(o) => write!(f, " in {o}"),
            None => Ok(()),
        }
    }
}

/// One gitignore pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    domain: Vec<String>,
    segments: Vec<String>,
    inclusion: bool,
    dir_only: bool,
    is_glob: bool,
}

/// Whether a pattern excludes or re-includes a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchResult {
    NoMatch,
    Exclude,
    Include,
}

impl Pattern {
    /// Parses one pattern line applying below `domain` (path components from the root).
    ///
    /// # Errors
    /// An unterminated `[...]` class, an unknown `[:class:]`, or a trailing lone `\`.
    pub fn parse(line: &str, domain: &[String]) -> Result<Self, PatternError> {
        let mut p = line;
        let inclusion = p.starts_with('!');
        if inclusion {
            p = &p[1..];
        }
        if !p.ends_with("\\ ") {
            p = p.trim_end_matches(' ');
        }
        let dir_only = p.ends_with('/');
        if dir_only {
            p = &p[..p.len() - 1];
        }
        let is_glob = p.contains('/');
        let segments: Vec<String> = p.split('/').map(str::to_owned).collect();
        for s in &segments {
            validate(s).map_err(|reason| PatternError {
                pattern: line.to_owned(),
                origin: None,
                reason,
            })?;
        }
        Ok(Self {
            domain: domain.to_vec(),
            segments,
            inclusion,
            dir_only,
            is_glob,
        })
    }

    fn matches(&self, path: &[&str], is_dir: bool) -> MatchResult {
        if path.len() <= self.domain.len() || self.domain.iter().zip(path).any(|(d, p)| d != p) {
            return MatchResult::NoMatch;
        }
        let path = &path[self.domain.len()..];
        let hit = if self.is_glob {
            self.glob_match(path, is_dir)
        } else {
            self.simple_name_match(path, is_dir)
        };
        match (hit, self.inclusion) {
            (false, _) => MatchResult::NoMatch,
            (true, true) => MatchResult::Include,
            (true, false) => MatchResult::Exclude,
        }
    }

    fn simple_name_match(&self, path: &[&str], is_dir: bool) -> bool {
        for (i, name) in path.iter().enumerate() {
            if !wildmatch(self.segments[0].as_bytes(), name.as_bytes()) {
                continue;
            }
            if self.dir_only && !is_dir && i == path.len() - 1 {
                return false;
            }
            if i < path.len() - 1 && self.inclusion {
                continue;
            }
            return true;
        }
        false
    }

    fn glob_match(&self, mut path: &[&str], is_dir: bool) -> bool {
        let mut matched = false;
        let mut can_traverse = false;
        let mut trailing_star = false;
        for (i, pattern) in self.segments.iter().enumerate() {
            if pattern.is_empty() {
                can_traverse = false;
                continue;
            }
            if pattern == "**" {
                if i == self.segments.len() - 1 {
                    matched = !path.is_empty() || is_dir;
                    trailing_star = matched;
                    break;
                }
                can_traverse = true;
                continue;
            }
            if path.is_empty() {
                return false;
            }
            if can_traverse {
                can_traverse = false;
                loop {
                    let e = path[0];
                    path = &path[1..];
                    if wildmatch(pattern.as_bytes(), e.as_bytes()) {
                        matched = true;
                        break;
                    }
                    if path.is_empty() {
                        return false;
                    }
                }
            } else {
                if !wildmatch(pattern.as_bytes(), path[0].as_bytes()) {
                    return false;
                }
                matched = true;
                path = &path[1..];
                if path.is_empty() && i < self.segments.len() - 1 {
                    matched = false;
                }
            }
        }
        if matched && (path.is_empty() || trailing_star) {
            if self.dir_only && !is_dir {
                matched = false;
            }
        } else if matched && self.inclusion {
            matched = false;
        }
        matched
    }
}

fn validate(seg: &str) -> Result<(), &'static str> {
    let b = seg.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                if i + 1 >= b.len() {
                    return Err("trailing backslash escapes nothing");
                }
                i += 2;
            }
            b'[' => {
                i += 1;
                if i < b.len() && (b[i] == b'!' || b[i] == b'^') {
                    i += 1;
                }
                let start = i;
                loop {
                    if i >= b.len() {
                        return Err("unterminated character class");
                    }
                    if b[i] == b']' && i > start {
                        break;
                    }
                    if b[i] == b'\\' {
                        i += 1;
                    } else if b[i] == b'[' && b.get(i + 1) == Some(&b':') {
                        let rest = &seg[i + 2..];
                        if let Some(end) = rest.find(":]") {
                            if class_matches(&rest[..end], b'a').is_none() {
                                return Err("unknown character class");
                            }
                            i += 2 + end + 1;
                        }
                    }
                    i += 1;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

fn class_matches(name: &str, c: u8) -> Option<bool> {
    Some(match name {
        "alnum" => c.is_ascii_alphanumeric(),
        "alpha" => c.is_ascii_alphabetic(),
        "blank" => c == b' ' || c == b'\t',
        "cntrl" => c.is_ascii_control(),
        "digit" => c.is_ascii_digit(),
        "graph" => c.is_ascii_graphic(),
        "lower" => c.is_ascii_lowercase(),
        "print" => c.is_ascii_graphic() || c == b' ',
        "punct" => c.is_ascii_punctuation(),
        "space" => matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
        "upper" => c.is_ascii_uppercase(),
        "xdigit" => c.is_ascii_hexdigit(),
        _ => return None,
    })
}

/// Matches one path component against one pattern segment (git's wildmatch without `WM_PATHNAME`).
fn wildmatch(p: &[u8], t: &[u8]) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    // Backtracking point for the last `*`: (pattern index after it, text index it currently covers to).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    while pi < p.len() && p[pi] == b'*' {
                        pi += 1;
                    }
                    star = Some((pi, ti));
                    continue;
                }
                b'?' if ti < t.len() => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                b'[' if ti < t.len() => {
                    if let Some(next) = match_class(p, pi, t[ti]) {
                        pi = next;
                        ti += 1;
                        continue;
                    }
                }
                b'\\' if ti < t.len() && pi + 1 < p.len() && p[pi + 1] == t[ti] => {
                    pi += 2;
                    ti += 1;
                    continue;
                }
                c if c != b'?' && c != b'[' && c != b'\\' && ti < t.len() && c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        } else if ti == t.len() {
            return true;
        }
        match star {
            Some((sp, st)) if st < t.len() => {
                star = Some((sp, st + 1));
                pi = sp;
                ti = st + 1;
            }
            _ => return false,
        }
    }
}

/// Matches `c` against the class starting at `p[pi] == '['`; returns the index after `]` on a match.
fn match_class(p: &[u8], mut pi: usize, c: u8) -> Option<usize> {
    pi += 1;
    let negated = pi < p.len() && (p[pi] == b'!' || p[pi] == b'^');
    if negated {
        pi += 1;
    }
    let start = pi;
    let mut matched = false;
    while pi < p.len() && !(p[pi] == b']' && pi > start) {
        let mut lo = p[pi];
        if lo == b'\\' && pi + 1 < p.len() {
            pi += 1;
            lo = p[pi];
        } else if lo == b'[' && p.get(pi + 1) == Some(&b':') {
            let rest = std::str::from_utf8(&p[pi + 2..]).ok()?;
            if let Some(end) = rest.find(":]") {
                if class_matches(&rest[..end], c)? {
                    matched = true;
                }
                pi += 2 + end + 2;
                continue;
            }
        }
        if pi + 2 < p.len() && p[pi + 1] == b'-' && p[pi + 2] != b']' {
            let mut hi = p[pi + 2];
            pi += 3;
            if hi == b'\\' && pi < p.len() {
                hi = p[pi];
                pi += 1;
            }
            if lo <= c && c <= hi {
                matched = true;
            }
        } else {
            if lo == c {
                matched = true;
            }
            pi += 1;
        }
    }
    if pi >= p.len() {
        return None;
    }
    (matched != negated).then_some(pi + 1)
}

/// Parses the lines of an ignore file: blank lines and `#` comments are skipped.
///
/// # Errors
/// The first invalid pattern, naming `origin`.
pub fn read_patterns(text: &str, domain: &[String], origin: &str) -> Result<Vec<Pattern>, PatternError> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            Pattern::parse(l.trim_end_matches('\r'), domain).map_err(|e| PatternError {
                origin: Some(origin.to_owned()),
                ..e
            })
        })
        .collect()
}

fn builtin(list: &str) -> Vec<Pattern> {
    list.split(',')
        .map(|p| Pattern::parse(p, &[]).expect("built-in patterns are valid"))
        .collect()
}

/// The ignore rules of one artifact, with Flux's precedence.
///
/// With no user patterns (no `.sourceignore` anywhere, no `spec.ignore`) the VCS, extension, CI and extra
/// defaults apply; as soon as there is any user pattern, only the VCS defaults stay, followed by the user
/// patterns.
#[derive(Debug, Clone)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
}

impl IgnoreRules {
    /// Rules from user patterns (from `.sourceignore` files in walk order, then `spec.ignore`).
    pub fn new(user: Vec<Pattern>) -> Self {
        let mut patterns = builtin(EXCLUDE_VCS);
        if user.is_empty() {
            for list in [EXCLUDE_EXT, EXCLUDE_CI, EXCLUDE_EXTRA] {
                patterns.extend(builtin(list));
            }
        } else {
            patterns.extend(user);
        }
        Self { patterns }
    }

    /// Whether `path` (components relative to the root) is excluded.
    pub fn is_ignored(&self, path: &[&str], is_dir: bool) -> bool {
        for p in self.patterns.iter().rev() {
            match p.matches(path, is_dir) {
                MatchResult::NoMatch => {}
                MatchResult::Exclude => return true,
                MatchResult::Include => return false,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(user: &str) -> IgnoreRules {
        IgnoreRules::new(read_patterns(user, &[], "spec.ignore").unwrap())
    }

    fn ignored(r: &IgnoreRules, path: &str, dir: bool) -> bool {
        r.is_ignored(&path.split('/').collect::<Vec<_>>(), dir)
    }

    #[test]
    fn defaults_apply_without_user_patterns() {
        let r = IgnoreRules::new(Vec::new());
        assert!(ignored(&r, ".git", true));
        assert!(ignored(&r, ".git/config", false));
        assert!(ignored(&r, "sub/.gitignore", false));
        assert!(ignored(&r, "img/logo.png", false));
        assert!(ignored(&r, ".github", true));
        assert!(ignored(&r, ".github/workflows/ci.yaml", false));
        assert!(ignored(&r, "deep/dir/.sops.yaml", false));
        assert!(ignored(&r, "release.tar.gz", false));
        assert!(!ignored(&r, "deploy/app.yaml", false));
    }

    #[test]
    fn user_patterns_drop_the_non_vcs_defaults() {
        let r = rules("*.txt\n");
        assert!(ignored(&r, "a.txt", false));
        assert!(!ignored(&r, "logo.png", false));
        assert!(ignored(&r, ".git/HEAD", false));
    }

    #[test]
    fn anchoring_negation_and_dir_only() {
        let r = rules("/deploy/**\n!/deploy/prod/\n!/deploy/prod/**\nbuild/\n# comment\n\n");
        assert!(ignored(&r, "deploy/dev/a.yaml", false));
        assert!(!ignored(&r, "deploy/prod/a.yaml", false));
        assert!(!ignored(&r, "deploy/prod", true));
        assert!(ignored(&r, "build", true));
        assert!(!ignored(&r, "build", false));
        assert!(ignored(&r, "x/build/out.yaml", false));
        assert!(!ignored(&r, "other/deploy/x.yaml", false));
    }

    #[test]
    fn later_patterns_win() {
        let r = rules("*.yaml\n!keep.yaml\n");
        assert!(ignored(&r, "a.yaml", false));
        assert!(!ignored(&r, "keep.yaml", false));
        assert!(!ignored(&r, "dir/keep.yaml", false));
    }

    #[test]
    fn domains_scope_patterns_to_their_directory() {
        let sub = read_patterns("*.md\n", &["docs".to_owned()], "docs/.sourceignore").unwrap();
        let r = IgnoreRules::new(sub);
        assert!(ignored(&r, "docs/a.md", false));
        assert!(!ignored(&r, "README.md", false));
    }

    #[test]
    fn globs_and_classes() {
        for (pat, path, want) in [
            ("*.y?ml", "a.yaml", true),
            ("*.y?ml", "a.yml", false),
            ("[abc].txt", "b.txt", true),
            ("[!abc].txt", "b.txt", false),
            ("[a-c].txt", "c.txt", true),
            ("[[:digit:]]*", "9lives", true),
            ("\\#x", "#x", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("**/foo", "a/b/foo", true),
            ("a/**/b", "a/b", true),
            ("a/**/b", "a/x/y/b", true),
        ] {
            let r = rules(pat);
            assert_eq!(ignored(&r, path, false), want, "{pat} {path}");
        }
    }

    #[test]
    fn invalid_patterns_are_errors_naming_their_origin() {
        let e = read_patterns("ok\n[abc\n", &[], "spec.ignore").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid ignore pattern \"[abc\" in spec.ignore: unterminated character class"
        );
        assert!(read_patterns("a\\", &[], "x").is_err());
        assert!(read_patterns("[[:nope:]]", &[], "x").is_err());
    }
}
