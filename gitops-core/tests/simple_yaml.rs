//! The fast reader (`gitops_core::yaml::simple`) against the general reader: whatever it accepts, it must
//! read exactly as the general reader reads it for an untyped target, under both scalar schemas. Checked
//! on hand-written edge cases and on every YAML file of the conformance corpora and the Flux CRDs.

use std::path::{Path, PathBuf};

use gitops_core::yaml::{self, Limits, Untyped as Node, simple::Simple};

fn node(s: &Simple<'_>) -> Node {
    match s {
        Simple::Null => Node::Null,
        Simple::Bool(b) => Node::Bool(*b),
        Simple::Int(i) => Node::Int((*i).into()),
        Simple::UInt(u) => Node::Int((*u).into()),
        Simple::Float(f) => Node::Float(*f),
        Simple::Str(s) => Node::Str(s.to_string()),
        Simple::Seq(items) => Node::Seq(items.iter().map(node).collect()),
        Simple::Map(entries) => Node::Map(
            entries
                .iter()
                .map(|(k, v)| (Node::Str(k.to_string()), node(v)))
                .collect(),
        ),
    }
}

fn schemas() -> [Limits; 2] {
    let mut helm = Limits::default();
    helm.yaml_1_1_booleans = true;
    helm.duplicate_keys_last_wins = true;
    [Limits::default(), helm]
}

/// Checks one text under both schemas; returns whether the fast reader accepted it as Helm reads YAML
/// (the second schema).
fn check(text: &str, origin: &str) -> bool {
    let mut accepted = false;
    for limits in schemas() {
        check_keys(text, origin, &limits);
        let Some(fast) = yaml::simple::parse_mapping(text, &limits) else {
            accepted = false;
            continue;
        };
        accepted = true;
        let general = yaml::from_str_with::<Option<Node>>(text, &limits);
        match general {
            Ok(Some(g)) => assert_eq!(
                node(&fast),
                g,
                "{origin}: the fast reader differs (yaml 1.1: {})\n{text}",
                limits.yaml_1_1_booleans
            ),
            other => panic!(
                "{origin}: the fast reader accepted what the general reader reads as {other:?} (yaml 1.1: {})\n{text}",
                limits.yaml_1_1_booleans
            ),
        }
    }
    accepted
}

/// The keys a rendered manifest is read for.
const HEAD: [&str; 3] = ["kind", "apiVersion", "metadata"];

/// The reader that builds only some keys' values: it accepts whatever the full one accepts, with those
/// entries; and what it accepts is valid YAML whose entries for those keys the general reader reads the
/// same.
fn check_keys(text: &str, origin: &str, limits: &Limits) {
    let keyed = yaml::simple::parse_mapping_keys(text, limits, &HEAD);
    if let Some(Simple::Map(full)) = yaml::simple::parse_mapping(text, limits) {
        let only_head = Simple::Map(full.into_iter().filter(|(k, _)| HEAD.contains(&&**k)).collect());
        assert_eq!(
            keyed.as_ref(),
            Some(&only_head),
            "{origin}: the keyed read differs from the full one\n{text}"
        );
    }
    let Some(keyed) = keyed else { return };
    match yaml::from_str_with::<Option<Node>>(text, limits) {
        Ok(Some(Node::Map(g))) => {
            let g: Vec<(Node, Node)> = g
                .into_iter()
                .filter(|(k, _)| matches!(k, Node::Str(k) if HEAD.contains(&k.as_str())))
                .collect();
            assert_eq!(
                node(&keyed),
                Node::Map(g),
                "{origin}: the keyed read differs\n{text}"
            );
        }
        other => {
            panic!("{origin}: the keyed read accepted what the general reader reads as {other:?}\n{text}")
        }
    }
}

/// Whether the keyed read accepts `text`, as Helm reads YAML.
fn keyed(text: &str) -> bool {
    yaml::simple::parse_mapping_keys(text, &schemas()[1], &HEAD).is_some()
}

#[test]
fn keyed_reads_check_what_they_do_not_build() {
    for text in [
        "kind: Deployment\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n        - name: app\n          args: [\"--a\", 'b', c]\n          env: {A: \"1\"}\n        - name: side\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  annotations:\n    a: b\ndata:\n  k: |\n    text\n    more\n  j: >-\n    folded\n    text\n  s: plain\n    continued\n",
    ] {
        assert!(keyed(text), "{text}");
        check_keys(text, "case", &schemas()[1]);
    }
    // Invalid ones, or ones outside the subset, anywhere in the document.
    for text in [
        "kind: A\nspec:\n  a: 1\n  a: 2\n",
        "kind: A\nspec:\n  a: b: c\n",
        "kind: A\nspec:\n  - x\n  y: 1\n",
        "kind: A\nspec:\n  a: 'x'y\n",
        "kind: A\nspec:\n  a: [1, 2\n",
        "kind: A\nspec:\n  a: &x 1\n",
        "kind: A\nspec:\n  a: |\n  no final newline",
        "kind: A\nkind: B\n",
        "kind: A\nspec: x\nspec: y\n",
        // Left to the general reader, which may refuse them.
        "kind: A\nspec:\n  m: .inf\n",
        "kind: A\nspec:\n  n: 0x1F\n",
    ] {
        assert!(!keyed(text), "{text}");
    }
}

#[test]
fn edge_cases_read_as_the_general_reader_reads_them() {
    // (text, must the fast reader accept it with YAML 1.1 scalars?)
    let cases: &[(&str, bool)] = &[
        ("a: 1\nb: -2\nc: 1.5\nd: -0.25\ne: 0\nf: -0\ng: 10.0\n", true),
        (
            "a: true\nb: False\nc: yes\nd: On\ne: y\nf: N\ng: off\nh: NO\ni: tRuE\n",
            true,
        ),
        ("a: null\nb: ~\nc:\nd: Null\ne: NULL\nf: nULL\n", true),
        (
            "a: 1.2.3\nb: 1.27.3-debian-12-r0\nc: 10.0.0.0/8\nd: 30s\ne: 100Mi\nf: 0.5Gi\ng: 1e3\n",
            false,
        ),
        (
            "a: 1.2.3\nb: 1.27.3-debian-12-r0\nc: 10.0.0.0/8\nd: 30s\ne: 100Mi\nf: 500m\n",
            true,
        ),
        ("a: 0777\n", false),
        ("a: 0x1F\n", false),
        ("a: .inf\n", false),
        ("a: 1_000\n", false),
        ("a: +1\n", false),
        (
            "a: +foo\nb: -foo\nc: .gitignore\nd: info\ne: face\nf: nan\ng: inf\n",
            true,
        ),
        ("a: 18446744073709551615\nb: -9223372036854775807\n", true),
        ("a: 18446744073709551616\n", false),
        (
            "a: \"x\\ty\\n\\\"q\\\" \\u00e9 \\x41 \\/\"\nb: 'it''s'\nc: \"\"\nd: ''\n",
            true,
        ),
        ("\"quoted key\": 1\n'single key': 2\n\"k\" : 3\n", true),
        (
            "a: x # comment\nb: 'y' # c\nc: \"z\"   # c\nd: a#b\n# full\n  # indented comment\ne: 1\n",
            true,
        ),
        (
            "a:\n  b:\n    c: 1\n  d: [1, two, \"3\"]\n  e: {x: 1, 'y': [a, b], z: {}}\n  f: []\n  g: {}\n",
            true,
        ),
        ("a:\n- 1\n- x\n-\n  b: 2\n- c: 3\n  d: 4\n- - nested\n", false),
        ("a:\n- 1\n- x\n-\n  b: 2\n- c: 3\n  d: 4\nz: 1\n", true),
        (
            "list:\n  - name: a\n    items:\n    - x\n    - y\n  - name: b\n    v: |\n      line1\n      line2\n",
            true,
        ),
        ("a: |\n  one\n\n  two\n   indented\n\n\nb: 1\n", true),
        (
            "a: |-\n  one\n  two\n\nb: >\n  folded\n  text\n\n  para\nc: >-\n  x\n  y\n",
            true,
        ),
        ("a: >\n\n  lead\n  more\n", true),
        ("a: |\n  # not a comment\n  x: y\nb: 2\n", true),
        ("a: |+\n  keep\n\n", false),
        ("a: |2\n   x\n", false),
        ("a: >\n  x\n    more indented\n  y\n", false),
        ("a: &anchor 1\nb: *anchor\n", false),
        ("a: !!str 1\n", false),
        ("a: b\n  c\n", true),
        ("a: b\n  c\n\n  d\n  # comment\nb: x\n  - y\n", false),
        ("a: b\n  c\n\n  d\ne: f\n- g\n", false),
        ("- a: b\n    c\n  d: e\n", false),
        ("s:\n- a: b\n    c\n  d: e\n", true),
        ("a: b # comment\n  c\n", false),
        ("a: 1\n  2\n", false),
        ("a: 'q'\n  2\n", false),
        ("a: \"multi\n  line\"\n", false),
        ("a: 1\na: 2\n", false),
        ("<<: {a: 1}\n", false),
        ("? complex\n: key\n", false),
        ("a: 1\n---\nb: 2\n", false),
        ("---\na: 1\n", true),
        ("--- # c\na: 1\n", true),
        ("a:\tb\n", false),
        ("a: b: c\n", false),
        ("a:b\n", false),
        ("on: 1\n", false),
        ("1: x\n", false),
        ("a: [1, 2\n", false),
        ("a: [1, 2]]\n", false),
        ("a: {b: 1, b: 2}\n", false),
        ("a: x\n b: y\n", false),
        ("- a\n", false),
        ("a: 'x'y\n", false),
        ("a: \"unterminated\n", false),
        ("a: \"\\q\"\n", false),
        (
            "key with spaces: value with spaces  \nurl: http://example.com:8080/path?q=1#frag\n",
            true,
        ),
        ("a: é\nü: ☃\n", true),
        ("a: |\n  no final newline", false),
        ("a: |-\n  stripped\n  no final newline", true),
        ("a: >-\n  folded\n  no final newline", true),
        ("a: |-\n  x\n\n", true),
        ("strategy:\n    {}\nb: 1\n", true),
        ("a:\n  [1, two]\nb:\n  - c:\n      {d: 1}\n", true),
        ("a:\n  {}\n  more\n", false),
        ("a:\n  [1,\n  2]\n", false),
        ("record: :node_memory:sum\nip: ::1\nq: ?x\nr: -x\n", true),
        ("a: : b\n", false),
        ("a: :\n", false),
        ("a: ? b\n", false),
        ("a: :x: y\n", false),
        ("a:\n  - b\n  -\n  - c\n", true),
        ("a: -1.5\nb: 00.5\nc: -.5\n", false),
        ("a: -1.5\nb: 00.5\n", true),
        ("a:    spaced\nb:   'q'\n", true),
        ("a: [ ]\nb: { }\nc: [a , b ]\n", true),
        ("a: [a: 1]\n", false),
        ("a: {b}\n", false),
        ("a: {b: }\n", false),
        (
            &format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
            false,
        ),
        (&format!("a: {}{}\n", "[".repeat(20), "]".repeat(20)), true),
        ("a: [,]\n", false),
        ("a: x\n\n\n", true),
        ("\n\n# only\na: 1", true),
        ("", false),
        ("# nothing\n", false),
    ];
    for (i, (text, must)) in cases.iter().enumerate() {
        let accepted = check(text, &format!("case {i}"));
        assert_eq!(
            accepted, *must,
            "case {i}: accepted {accepted}, expected {must}:\n{text}"
        );
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

#[test]
fn corpora_read_as_the_general_reader_reads_them() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    let dirs = [
        shared.join("conformance/kustomize"),
        shared.join("conformance/helm"),
        shared.join("reference/flux-crds"),
    ];
    if !dirs.iter().any(|d| d.is_dir()) {
        eprintln!("skipped: ../shared/conformance is not here");
        return;
    }
    let mut files = Vec::new();
    for d in &dirs {
        yaml_files(d, &mut files);
    }
    files.sort();
    let (mut accepted, mut values, mut values_accepted) = (0, 0, 0);
    let (mut documents, mut documents_read) = (0, 0);
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let ok = check(&text, &f.display().to_string());
        // Rendered charts: each manifest, as `helm template` output is read for its heads.
        if f.components().any(|c| c.as_os_str() == "expected") && text.contains("\n---\n") {
            for (i, doc) in text.split("\n---\n").enumerate() {
                check(doc, &format!("{} document {i}", f.display()));
                documents += 1;
                documents_read += usize::from(keyed(doc));
            }
        }
        if !ok && std::env::var_os("SIMPLE_YAML_SHOW").is_some() {
            eprintln!("not read: {}", f.display());
        }
        accepted += usize::from(ok);
        let name = f.file_name().unwrap_or_default().to_string_lossy();
        let has_content = text
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        if (name.starts_with("values") || name == "Chart.yaml") && has_content {
            values += 1;
            values_accepted += usize::from(ok);
        }
    }
    // Mutated copies of the values files: no panic, and whatever is still read, read as the general
    // reader reads it.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    let pieces = [
        " ", "\n", ":", ": ", "- ", "#", "'", "\"", "[", "]", "{", "}", ",", "|", ">", "  ", "\\", "0",
        "1.5", "yes", "&a", "*a", "\t", "---\n", "é",
    ];
    let (mut mutants, mut mutants_read) = (0, 0);
    for f in files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "values.yaml"))
        .take(40)
    {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for _ in 0..40 {
            let mut t = text.clone();
            for _ in 0..1 + next(3) {
                let mut at = next(t.len() + 1);
                while !t.is_char_boundary(at) {
                    at -= 1;
                }
                let mut end = (at + next(4)).min(t.len());
                while !t.is_char_boundary(end) {
                    end -= 1;
                }
                t.replace_range(at..end, pieces[next(pieces.len())]);
            }
            mutants += 1;
            mutants_read += usize::from(check(&t, &format!("a mutant of {}", f.display())));
        }
    }
    eprintln!(
        "mutants: {mutants_read} of {mutants} read by the fast reader, all as the general reader reads them"
    );
    eprintln!(
        "fast reader: {accepted} of {} YAML files read, {values_accepted} of {values} values and Chart.yaml files",
        files.len()
    );
    eprintln!("keyed reads: {documents_read} of {documents} rendered manifests");
    // The point of the fast reader: the values and metadata files charts are made of.
    assert!(
        values_accepted * 10 >= values * 9,
        "only {values_accepted} of {values} values/Chart.yaml files were read by the fast reader"
    );
}
