//! Loading charts from a directory or a `.tgz`, as Helm's loader does: `.helmignore` rules, a BOM
//! stripped from every file, `charts/` holding subcharts as directories or archives, and the metadata
//! validated.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, Mutex, mpsc};

use super::{Chart, ChartError, Dependency, FileData, Metadata, ParseJob, TemplateFile};
use crate::template::Value;

/// Most bytes one chart archive may unpack to.
const MAX_UNPACKED: u64 = 512 << 20;

/// Template text a chart must have before its templates are parsed on threads of their own while it
/// loads: below it, a thread costs more than it saves.
const PARSE_AHEAD_BYTES: usize = 32 << 10;

/// Template text handed to the parsing threads at a time once they run: a batch wakes a waiting thread
/// once (a futex call on each side and a context switch) where a file each woke it some 250 times for a
/// large chart.
const PARSE_BATCH_BYTES: usize = 16 << 10;

/// Template files handed to threads that parse them while loading goes on (their parses land in the
/// files, see [`TemplateFile`]). The threads start once the templates met add up to
/// [`PARSE_AHEAD_BYTES`], then get the files in batches of [`PARSE_BATCH_BYTES`] (the last one when
/// loading is over), end when the queue is empty and loading is over, and skip files whose chart is
/// gone.
#[derive(Default)]
struct ParseAhead {
    /// Files met so far by their name in their chart: a subchart's copy of a file another chart has too
    /// (each of a chart's dependencies bundles Bitnami's `common`, say) shares that file's parse.
    met: HashMap<String, Vec<TemplateFile>>,
    /// Jobs not handed over yet, and their files' bytes.
    waiting: Vec<ParseJob>,
    bytes: usize,
    queue: Option<mpsc::Sender<Vec<ParseJob>>>,
    /// No thread could be started: rendering parses everything.
    off: bool,
}

impl Drop for ParseAhead {
    fn drop(&mut self) {
        // Loading is over: the last batch.
        self.send_waiting();
    }
}

impl ParseAhead {
    fn offer(&mut self, file: &mut TemplateFile) {
        let same_name = self.met.entry(file.name.clone()).or_default();
        if let Some(twin) = same_name.iter().find(|t| t.text == file.text) {
            file.share_parse_with(twin);
            return;
        }
        same_name.push(file.clone());
        if self.off {
            return;
        }
        self.waiting.push(file.parse_job());
        self.bytes += file.text.len();
        if self.queue.is_some() {
            if self.bytes >= PARSE_BATCH_BYTES {
                self.send_waiting();
            }
            return;
        }
        if self.bytes >= PARSE_AHEAD_BYTES {
            let (tx, rx) = mpsc::channel::<Vec<ParseJob>>();
            let rx = Arc::new(Mutex::new(rx));
            // The loading thread parses too once it is done, in the other order (see render).
            let workers = std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .clamp(2, 4)
                - 1;
            for _ in 0..workers {
                let rx = rx.clone();
                let spawned = std::thread::Builder::new()
                    .name("helm-parse".into())
                    .spawn(move || {
                        loop {
                            let jobs = match rx.lock() {
                                Ok(rx) => rx.recv(),
                                Err(_) => return,
                            };
                            match jobs {
                                Ok(jobs) => jobs.into_iter().for_each(|job| job()),
                                Err(_) => return,
                            }
                        }
                    });
                if spawned.is_err() {
                    // No thread: rendering parses everything itself (a worker already started ends
                    // when the queue's sender goes with this function).
                    self.waiting.clear();
                    self.off = true;
                    return;
                }
            }
            self.queue = Some(tx);
            self.send_waiting();
        }
    }

    fn send_waiting(&mut self) {
        if let Some(q) = &self.queue
            && !self.waiting.is_empty()
        {
            // The workers hold the receiver until the sender is dropped: this send cannot fail.
            let _ = q.send(std::mem::take(&mut self.waiting));
            self.bytes = 0;
        }
    }
}

/// Loads a chart from a directory or a `.tgz` file.
pub fn load(path: &Path) -> Result<Chart, ChartError> {
    if path.is_dir() {
        load_dir(path)
    } else {
        let data = std::fs::read(path).map_err(|e| ChartError::Load(format!("{}: {e}", path.display())))?;
        load_archive(&data, &path.display().to_string())
    }
}

/// Loads a chart directory.
pub fn load_dir(dir: &Path) -> Result<Chart, ChartError> {
    let rules = match std::fs::read_to_string(dir.join(".helmignore")) {
        Ok(text) => Ignore::parse(&text),
        Err(_) => Ignore::default(),
    }
    .with_defaults();
    let mut files = Vec::new();
    let real_root =
        std::fs::canonicalize(dir).map_err(|e| ChartError::Load(format!("{}: {e}", dir.display())))?;
    walk(&real_root, &real_root, "", &rules, &mut files)?;
    load_entries(files, &dir.display().to_string(), &mut ParseAhead::default())
}

/// Adds the files under `dir`, named by their path from `root` (`rel_dir` is `dir`'s), in Go's walk
/// order (each directory's entries by name).
fn walk(
    root: &Path,
    dir: &Path,
    rel_dir: &str,
    rules: &Ignore,
    out: &mut Vec<(String, FileData)>,
) -> Result<(), ChartError> {
    // The directory listing's file types spare a stat per entry (the kind of symlinks' targets and of
    // entries whose type the listing leaves unknown is still asked for). Entries of one directory sort
    // by name as their paths would.
    let mut entries: Vec<(std::ffi::OsString, Option<std::fs::FileType>)> = std::fs::read_dir(dir)
        .map_err(|e| ChartError::Load(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| (e.file_name(), e.file_type().ok())))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, listed) in entries {
        let p = dir.join(&name);
        let name = name.to_string_lossy();
        let rel = if rel_dir.is_empty() {
            name.into_owned()
        } else {
            format!("{rel_dir}/{name}")
        };
        let mut kind = match listed {
            Some(t) => t,
            None => std::fs::symlink_metadata(&p)
                .map_err(|e| ChartError::Load(format!("{rel}: {e}")))?
                .file_type(),
        };
        let mut path = p;
        let followed = kind.is_symlink();
        if followed {
            // Symlinks are followed, as Helm's sympath walk does, but never out of the chart.
            let real = std::fs::canonicalize(&path).map_err(|e| ChartError::Load(format!("{rel}: {e}")))?;
            if !real.starts_with(root) {
                return Err(ChartError::Load(format!(
                    "{rel}: symlink points outside the chart"
                )));
            }
            kind = std::fs::metadata(&real)
                .map_err(|e| ChartError::Load(format!("{rel}: {e}")))?
                .file_type();
            path = real;
        }
        if kind.is_dir() {
            if rules.ignore(&rel, true) {
                continue;
            }
            if followed {
                // A symlinked directory: walked as a tree of its own (which its own symlinks may not
                // leave), its entries then named under the link's path.
                let mut inner = Vec::new();
                walk(&path, &path, "", rules, &mut inner)?;
                out.extend(inner.into_iter().map(|(n, d)| (format!("{rel}/{n}"), d)));
            } else {
                walk(root, &path, &rel, rules, out)?;
            }
        } else if kind.is_file() {
            if rules.ignore(&rel, false) {
                continue;
            }
            out.push((rel, FileData::on_disk(path)));
        }
    }
    Ok(())
}

/// Loads a chart from `.tgz` bytes; the top directory of the archive is the chart.
pub fn load_archive(data: &[u8], origin: &str) -> Result<Chart, ChartError> {
    load_archive_with(data, origin, &mut ParseAhead::default())
}

fn load_archive_with(data: &[u8], origin: &str, ahead: &mut ParseAhead) -> Result<Chart, ChartError> {
    let gz = flate2::read::GzDecoder::new(data);
    let mut ar = tar::Archive::new(gz.take(MAX_UNPACKED));
    let mut files = Vec::new();
    let entries = ar
        .entries()
        .map_err(|e| ChartError::Load(format!("{origin}: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ChartError::Load(format!("{origin}: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(|e| ChartError::Load(format!("{origin}: {e}")))?
            .to_string_lossy()
            .replace('\\', "/");
        // Drop the chart's top directory; refuse anything that climbs out.
        let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
        if parts.contains(&"..") {
            return Err(ChartError::Load(format!(
                "{origin}: chart illegally references parent directory: {name}"
            )));
        }
        if parts.len() < 2 {
            continue;
        }
        let rel = parts[1..].join("/");
        let mut buf = Vec::new();
        entry
            .read_to_end(&mut buf)
            .map_err(|e| ChartError::Load(format!("{origin}: {rel}: {e}")))?;
        files.push((rel, FileData::loaded(buf)));
    }
    if files.is_empty() {
        return Err(ChartError::Load(format!("{origin}: no files in chart archive")));
    }
    load_entries(files, origin, ahead)
}

fn yaml_to_json(text: &str, what: &str) -> Result<serde_json::Value, ChartError> {
    crate::funcs::json_from_yaml(text).map_err(|e| {
        ChartError::Load(format!(
            "cannot load {what}: error converting YAML to JSON: {}",
            crate::funcs::go_yaml_error(text, &e)
        ))
    })
}

/// Builds a chart from its files (paths relative to the chart root, `/`-separated).
pub fn load_files(files: Vec<(String, Vec<u8>)>, origin: &str) -> Result<Chart, ChartError> {
    load_entries(
        files.into_iter().map(|(n, d)| (n, FileData::loaded(d))).collect(),
        origin,
        &mut ParseAhead::default(),
    )
}

fn load_entries(
    files: Vec<(String, FileData)>,
    origin: &str,
    ahead: &mut ParseAhead,
) -> Result<Chart, ChartError> {
    let mut chart = Chart::default();
    let mut sub: Vec<(String, Vec<(String, FileData)>)> = Vec::new();
    let mut have_meta = false;
    let mut requirements: Option<serde_json::Value> = None;
    for (name, file) in files {
        let is_other = !matches!(
            name.as_str(),
            "Chart.yaml" | "values.yaml" | "values.schema.json" | "requirements.yaml"
        ) && !name.starts_with("templates/")
            && !name.starts_with("charts/");
        if is_other {
            chart.files.push((name, file));
            continue;
        }
        if name.starts_with("charts/") && !name.ends_with(".prov") && name["charts/".len()..].contains('/') {
            let rest = &name["charts/".len()..];
            let cname = rest.split('/').next().unwrap_or(rest).to_string();
            let inner = rest[cname.len()..].trim_start_matches('/').to_string();
            match sub.iter_mut().find(|(c, _)| *c == cname) {
                Some((_, v)) => v.push((inner, file)),
                None => sub.push((cname, vec![(inner, file)])),
            }
            continue;
        }
        let data = file.bytes();
        match name.as_str() {
            "Chart.yaml" => {
                let text = super::text_of(&data);
                let j = yaml_to_json(&text, "Chart.yaml")?;
                chart.metadata = Metadata::from_json(&j)
                    .map_err(|e| ChartError::Load(format!("cannot load Chart.yaml: {e}")))?;
                have_meta = true;
            }
            "values.yaml" => {
                let text = super::text_of(&data);
                let v = crate::funcs::values_from_yaml(&text).map_err(|e| {
                    ChartError::Load(format!(
                        "cannot load values.yaml: error converting YAML to JSON: {e}"
                    ))
                })?;
                chart.values = match v {
                    Value::Map(m) => m.borrow().clone(),
                    Value::Nil => Default::default(),
                    _ => {
                        return Err(ChartError::Load(
                            "cannot load values.yaml: values must be a map".into(),
                        ));
                    }
                };
            }
            "values.schema.json" => {
                let j: serde_json::Value = serde_json::from_slice(&data)
                    .map_err(|e| ChartError::Load(format!("cannot load values.schema.json: {e}")))?;
                chart.schema = Some(j);
            }
            "requirements.yaml" => {
                let text = super::text_of(&data);
                requirements = Some(yaml_to_json(&text, "requirements.yaml")?);
                chart.files.push((name, file));
            }
            "Chart.lock" | "requirements.lock" => {}
            n if n.starts_with("templates/") => {
                let mut file = TemplateFile::new(name.as_str(), super::text_of(&data));
                ahead.offer(&mut file);
                chart.templates.push(file);
            }
            n if n.starts_with("charts/") => {
                if n.ends_with(".prov") {
                    chart.files.push((name, file));
                    continue;
                }
                // An archive directly in charts/.
                let cname = n["charts/".len()..].to_string();
                sub.push((cname, vec![(String::new(), file)]));
            }
            _ => chart.files.push((name, file)),
        }
    }
    if have_meta && chart.metadata.api_version.is_empty() {
        // Charts from before apiVersion existed are v1.
        chart.metadata.api_version = "v1".into();
    }
    if !have_meta {
        return Err(ChartError::Load(format!("{origin}: Chart.yaml file is missing")));
    }
    if let Some(r) = requirements
        && chart.metadata.api_version == "v1"
        && let Some(deps) = r.get("dependencies").and_then(|d| d.as_array())
    {
        chart.metadata.dependencies = deps
            .iter()
            .map(Dependency::from_json)
            .collect::<Result<_, _>>()
            .map_err(ChartError::Load)?;
    }
    for (cname, files) in sub {
        let child = if files.len() == 1 && files[0].0.is_empty() {
            if cname.ends_with(".tgz") || cname.ends_with(".tar.gz") {
                load_archive_with(&files[0].1.bytes(), &format!("{origin}/charts/{cname}"), ahead).map_err(
                    |e| {
                        ChartError::Load(format!(
                            "error unpacking subchart {cname} in {}: {e}",
                            chart.metadata.name
                        ))
                    },
                )?
            } else {
                // A plain file in charts/ that is not an archive is ignored, as Helm does.
                continue;
            }
        } else {
            load_entries(files, &format!("{origin}/charts/{cname}"), ahead).map_err(|e| {
                ChartError::Load(format!(
                    "error unpacking subchart {cname} in {}: {e}",
                    chart.metadata.name
                ))
            })?
        };
        chart.dependencies.push(Rc::new(child));
    }
    chart.metadata.validate()?;
    Ok(chart)
}

/// `.helmignore` rules with Helm's (gitignore-like, but simpler) semantics.
#[derive(Default)]
pub(crate) struct Ignore {
    rules: Vec<Rule>,
}

struct Rule {
    /// The pattern's characters, as the matcher reads them.
    pattern: Vec<char>,
    /// The same match without the glob matcher, for most patterns: a name, or `*` and a suffix.
    text_match: TextMatch,
    negate: bool,
    dir_only: bool,
    kind: RuleKind,
}

enum TextMatch {
    /// No metacharacter: the text itself.
    Literal(String),
    /// `*` then no metacharacter: any text within one element that ends so (`*.bak`).
    Suffix(String),
    /// No metacharacter, then `*` (or `?*`): the text, then at least none (one) characters in the same
    /// element (the default rule `templates/.?*`).
    Prefix(String, usize),
    /// Anything else: the glob matcher.
    No,
}

impl TextMatch {
    fn of(pattern: &str) -> TextMatch {
        let meta = |s: &str| s.contains(['*', '?', '[', '\\']);
        if !meta(pattern) {
            TextMatch::Literal(pattern.to_owned())
        } else if let Some(rest) = pattern.strip_prefix('*')
            && !meta(rest)
            && !rest.contains('/')
        {
            TextMatch::Suffix(rest.to_owned())
        } else if let Some((lit, min)) = pattern
            .strip_suffix("?*")
            .map(|l| (l, 1))
            .or_else(|| pattern.strip_suffix('*').map(|l| (l, 0)))
            && !meta(lit)
        {
            TextMatch::Prefix(lit.to_owned(), min)
        } else {
            TextMatch::No
        }
    }

    /// The match on `text` (which is one element for suffix patterns of base-name rules), or `None`.
    fn matches(&self, text: &str) -> Option<bool> {
        match self {
            TextMatch::Literal(l) => Some(text == l),
            TextMatch::Suffix(sfx) => {
                Some(text.ends_with(sfx.as_str()) && !text[..text.len() - sfx.len()].contains('/'))
            }
            TextMatch::Prefix(lit, min) => Some(
                text.strip_prefix(lit.as_str())
                    .is_some_and(|rest| !rest.contains('/') && rest.chars().count() >= *min),
            ),
            TextMatch::No => None,
        }
    }
}

enum RuleKind {
    Root,
    Path,
    Base,
}

impl Ignore {
    pub(crate) fn parse(text: &str) -> Ignore {
        let mut rules = Vec::new();
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') || l == "!" {
                continue;
            }
            let (negate, l) = match l.strip_prefix('!') {
                Some(r) => (true, r),
                None => (false, l),
            };
            let (dir_only, l) = match l.strip_suffix('/') {
                Some(r) => (true, r),
                None => (false, l),
            };
            let kind = if l.starts_with('/') {
                RuleKind::Root
            } else if l.contains('/') {
                RuleKind::Path
            } else {
                RuleKind::Base
            };
            let l = l.trim_start_matches('/');
            rules.push(Rule {
                pattern: l.chars().collect(),
                text_match: TextMatch::of(l),
                negate,
                dir_only,
                kind,
            });
        }
        Ignore { rules }
    }

    fn with_defaults(mut self) -> Ignore {
        self.rules.push(Rule {
            pattern: "templates/.?*".chars().collect(),
            text_match: TextMatch::of("templates/.?*"),
            negate: false,
            dir_only: false,
            kind: RuleKind::Path,
        });
        self
    }

    pub(crate) fn ignore(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        // Decoded once for every rule that needs the glob matcher (a chart's .helmignore has a few
        // dozen, met by every file; most are names or `*.suffix`, matched on the text).
        let mut decoded: Option<Vec<char>> = None;
        let base_text = &path[path.rfind('/').map_or(0, |i| i + 1)..];
        for r in &self.rules {
            let text = match r.kind {
                RuleKind::Root | RuleKind::Path => path,
                RuleKind::Base => base_text,
            };
            let matched = match r.text_match.matches(text) {
                Some(m) => m,
                None => {
                    let full = decoded.get_or_insert_with(|| path.chars().collect());
                    let base = &full[full.iter().rposition(|c| *c == '/').map_or(0, |i| i + 1)..];
                    match r.kind {
                        RuleKind::Root | RuleKind::Path => glob_at(&r.pattern, 0, full, 0, false, 0),
                        RuleKind::Base => glob_at(&r.pattern, 0, base, 0, false, 0),
                    }
                }
            };
            if r.negate {
                if r.dir_only && !is_dir {
                    return true;
                }
                if !matched {
                    return true;
                }
                continue;
            }
            if r.dir_only && !is_dir {
                continue;
            }
            if matched {
                return true;
            }
        }
        false
    }
}

/// Glob matching with `/` as separator: `*` and `?` stay within a path element, `[...]` classes, `\`
/// escapes; with `double_star`, `**` crosses elements and `{a,b}` alternates (gobwas/glob, used by
/// `.Files.Glob`). Without it, Go's `filepath.Match`.
pub(crate) fn glob_match(pattern: &str, name: &str, double_star: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, 0, &n, 0, double_star, 0)
}

fn glob_at(p: &[char], mut pi: usize, n: &[char], mut ni: usize, ds: bool, depth: usize) -> bool {
    if depth > 64 {
        return false;
    }
    while pi < p.len() {
        match p[pi] {
            '*' => {
                let cross = ds && p.get(pi + 1) == Some(&'*');
                let next = if cross { pi + 2 } else { pi + 1 };
                let mut k = ni;
                loop {
                    if glob_at(p, next, n, k, ds, depth + 1) {
                        return true;
                    }
                    if k >= n.len() || (!cross && n[k] == '/') {
                        return false;
                    }
                    k += 1;
                }
            }
            '?' => {
                if ni >= n.len() || n[ni] == '/' {
                    return false;
                }
                pi += 1;
                ni += 1;
            }
            '[' => {
                if ni >= n.len() || n[ni] == '/' {
                    return false;
                }
                let c = n[ni];
                let mut j = pi + 1;
                let negate = matches!(p.get(j), Some('^') | Some('!'));
                if negate {
                    j += 1;
                }
                let mut matched = false;
                let mut first = true;
                while j < p.len() && (first || p[j] != ']') {
                    first = false;
                    let mut lo = p[j];
                    if lo == '\\' && j + 1 < p.len() {
                        j += 1;
                        lo = p[j];
                    }
                    let mut hi = lo;
                    if j + 2 < p.len() && p[j + 1] == '-' && p[j + 2] != ']' {
                        hi = p[j + 2];
                        j += 2;
                    }
                    if lo <= c && c <= hi {
                        matched = true;
                    }
                    j += 1;
                }
                if j >= p.len() || matched == negate {
                    return false;
                }
                pi = j + 1;
                ni += 1;
            }
            '{' if ds => {
                let Some(close) = p[pi..].iter().position(|c| *c == '}').map(|i| i + pi) else {
                    return false;
                };
                let body: String = p[pi + 1..close].iter().collect();
                for alt in body.split(',') {
                    let mut q: Vec<char> = alt.chars().collect();
                    q.extend_from_slice(&p[close + 1..]);
                    if glob_at(&q, 0, n, ni, ds, depth + 1) {
                        return true;
                    }
                }
                return false;
            }
            '\\' if pi + 1 < p.len() => {
                if ni >= n.len() || n[ni] != p[pi + 1] {
                    return false;
                }
                pi += 2;
                ni += 1;
            }
            c => {
                if ni >= n.len() || n[ni] != c {
                    return false;
                }
                pi += 1;
                ni += 1;
            }
        }
    }
    ni == n.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_ignore_patterns_match_as_the_glob_matcher() {
        let patterns = [
            ".DS_Store",
            ".git",
            "*.swp",
            "*.bak",
            "*~",
            "*",
            "*.tmproj",
            "a/b",
            "*/x",
            "x*",
            "*.",
            "*a/b",
            ".idea",
            "README.md",
            "*.md",
            "é*",
            "*é",
            "templates/.?*",
            "a?*",
            "a/?*",
            "?*",
            "é?*",
        ];
        let texts = [
            "",
            ".DS_Store",
            ".git",
            "a.swp",
            ".swp",
            "x.swp.bak",
            "a~",
            "~",
            "dir/a.bak",
            "a/b",
            "x",
            "xy",
            "a.",
            "README.md",
            "docs/README.md",
            "é",
            "aé",
            "a.tmproj",
            "ab",
            "a/x",
            "templates/.x",
            "templates/.",
            "templates/.é",
            "templates/.x/y",
            "templates/x",
            "templates/.git/config",
            "a/",
            "éa",
            "é",
        ];
        for p in patterns {
            let quick = TextMatch::of(p);
            let chars: Vec<char> = p.chars().collect();
            for t in texts {
                if let Some(m) = quick.matches(t) {
                    let tc: Vec<char> = t.chars().collect();
                    assert_eq!(m, glob_at(&chars, 0, &tc, 0, false, 0), "{p:?} on {t:?}");
                }
            }
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("files/conf/*", "files/conf/a.txt", true));
        assert!(!glob_match("files/*", "files/conf/a.txt", true));
        assert!(glob_match("files/**", "files/conf/a.txt", true));
        assert!(glob_match("*.{yaml,json}", "a.json", true));
        assert!(glob_match("templates/.?*", "templates/.hidden", false));
        assert!(!glob_match("templates/.?*", "templates/.", false));
        assert!(glob_match("[a-c]x", "bx", false));
    }

    #[test]
    fn helmignore() {
        let r = Ignore::parse("# c\n*.tmp\n/secret.txt\nignoredir/\n").with_defaults();
        assert!(r.ignore("a/b.tmp", false));
        assert!(r.ignore("secret.txt", false));
        assert!(!r.ignore("sub/secret.txt", false));
        assert!(r.ignore("ignoredir", true));
        assert!(!r.ignore("ignoredir", false));
        assert!(r.ignore("templates/.x.yaml", false));
    }
}
