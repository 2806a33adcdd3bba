//! Bad charts and templates fail with errors that say where, and never panic or run away; and what
//! rendering does to go faster (reusing `include` results) never changes what a chart renders.

use std::path::Path;

use gitops_helm::chart::{self, RenderOptions};
use gitops_helm::template::Limits;

fn chart_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Chart.yaml"),
        "apiVersion: v2\nname: t\nversion: 0.1.0\n",
    )
    .unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

/// Renders on a render thread; options are built there (they hold thread-local values).
fn render_with(dir: &Path, opts: impl FnOnce() -> RenderOptions + Send) -> Result<String, String> {
    gitops_helm::with_render_stack(|| {
        let c = chart::load(dir).map_err(|e| e.to_string())?;
        chart::template(&c, &opts()).map_err(|e| e.to_string())
    })
}

fn render(dir: &Path) -> Result<String, String> {
    render_with(dir, opts)
}

fn opts() -> RenderOptions {
    RenderOptions::new("r", "default")
}

/// A template of `lines` actions (2,000 make a chart whose templates are parsed ahead and whose
/// output is read on a second thread).
fn filler(lines: usize) -> String {
    (0..lines)
        .map(|i| format!("k{i}: {{{{ .Values.v{i} | default \"x\" }}}}\n"))
        .collect()
}

#[test]
fn syntax_errors_name_file_and_line() {
    let d = chart_dir(&[("templates/a.yaml", "a: 1\nb: {{ .Values.x \n")]);
    let e = render(d.path()).unwrap_err();
    assert_eq!(
        e,
        "parse error at (t/templates/a.yaml:3): unclosed action started at t/templates/a.yaml:2"
    );
    let d = chart_dir(&[("templates/a.yaml", "a: {{ .Values.x | nosuchfunc }}\n")]);
    let e = render(d.path()).unwrap_err();
    assert_eq!(
        e,
        "parse error at (t/templates/a.yaml:1): function \"nosuchfunc\" not defined"
    );
    let d = chart_dir(&[("templates/a.yaml", "{{ if .Values.x }}\nno end\n")]);
    assert!(
        render(d.path())
            .unwrap_err()
            .starts_with("parse error at (t/templates/a.yaml:")
    );
}

/// Parse errors name the token as Go's parser does (`item.String()`: keywords, `.` and `nil` in angle
/// brackets, anything else quoted and cut to ten characters), and errors inside a `define` name the
/// file, not the definition; an executed node prints its string literals as written. Each text here
/// was checked against helm v4.1.4.
#[test]
fn parse_errors_word_tokens_as_helm() {
    let cases = [
        (
            "{{define .Values}}{{end}}",
            "unexpected \".Values\" in define clause",
        ),
        (
            "{{$x := 23}}{{with $x.y := 3}}{{end}}",
            "unexpected \":=\" in operand",
        ),
        ("{{define \"a\" 3}}", "unexpected \"3\" in define clause"),
        ("{{ with $x := 3 = 4 }}{{end}}", "unexpected \"=\" in operand"),
        ("{{ end 3 }}", "unexpected \"3\" in end"),
        ("{{ nil.x }}", "unexpected . after term \"nil\""),
        ("{{range .}}{{ break 3 }}{{end}}", "unexpected \"3\" in {{break}}"),
        (
            "{{ define \"x\" }}{{ define \"y\" }}{{end}}{{end}}",
            "unexpected <define> in command",
        ),
        (
            "{{ define \"x\" }}{{ .a | 3 }}{{end}}",
            "non executable command in pipeline stage 2",
        ),
        ("{{ if \"abcdefghijklmnop\" ) }}", "unexpected right paren"),
        (
            "{{ if 1 }}{{ else \"abcdefghijklmnop\" }}{{ end }}",
            "unexpected \"\\\"abcdefghi\"... in else",
        ),
    ];
    for (text, want) in cases {
        let d = chart_dir(&[("templates/a.yaml", text)]);
        assert_eq!(
            render(d.path()).unwrap_err(),
            format!("parse error at (t/templates/a.yaml:1): {want}"),
            "{text}"
        );
    }
    let d = chart_dir(&[("templates/a.yaml", "{{ template `abc` `x\\y` \"t\\x41\" \"q\" }}")]);
    assert_eq!(
        render(d.path()).unwrap_err(),
        "t/templates/a.yaml:1:12\n  executing \"t/templates/a.yaml\" at <{{template \"abc\" `x\\y` \"t\\x41\" \"q\"}}>:\n    template \"abc\" not defined"
    );
}

/// Charts with more than 32 KiB of templates are parsed on other threads while they load, under their
/// names inside the chart: errors must still name the file as the chart's place in the tree gives it,
/// and the parses are reused, not redone or lost, when the chart is rendered again.
#[test]
fn charts_parsed_ahead_render_and_fail_as_others() {
    let big = filler(2000);
    let d = chart_dir(&[
        ("templates/big.yaml", &big),
        (
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
        ),
        ("charts/sub/templates/bad.yaml", "a: {{ .Values.x \n"),
    ]);
    assert_eq!(
        render(d.path()).unwrap_err(),
        "parse error at (t/charts/sub/templates/bad.yaml:2): unclosed action started at \
         t/charts/sub/templates/bad.yaml:1"
    );
    std::fs::remove_file(d.path().join("charts/sub/templates/bad.yaml")).unwrap();
    std::fs::write(
        d.path().join("charts/sub/templates/_h.tpl"),
        "{{ define \"h\" }}{{ template \"missing\" }}{{ end }}",
    )
    .unwrap();
    std::fs::write(
        d.path().join("charts/sub/templates/cm.yaml"),
        "h: {{ include \"h\" . }}\n",
    )
    .unwrap();
    let e = render(d.path()).unwrap_err();
    assert!(e.contains("t/charts/sub/templates/_h.tpl:1:"), "{e}");
    std::fs::remove_file(d.path().join("charts/sub/templates/cm.yaml")).unwrap();
    let twice = gitops_helm::with_render_stack(|| {
        let c = chart::load(d.path()).unwrap();
        let a = chart::template(&c, &opts()).unwrap();
        let b = chart::template(&c, &opts()).unwrap();
        (a, b)
    });
    assert_eq!(twice.0, twice.1);
    assert!(twice.0.contains("k1999: x\n"), "{}", &twice.0[..200]);
}

#[test]
fn execution_errors_name_file_line_and_column() {
    let d = chart_dir(&[("templates/a.yaml", "a: 1\nb: {{ .Values.missing.deeper }}\n")]);
    let e = render(d.path()).unwrap_err();
    // Helm 4's multi-line form; Go positions a field chain at its second field.
    assert_eq!(
        e,
        "t/templates/a.yaml:2:13\n  executing \"t/templates/a.yaml\" at <.Values.missing.deeper>:\n    nil pointer evaluating interface {}.deeper"
    );
}

#[test]
fn required_values_fail_with_their_message() {
    let d = chart_dir(&[
        (
            "templates/a.yaml",
            "a: {{ required \"db.host is required\" .Values.db.host }}\n",
        ),
        ("values.yaml", "db: {}\n"),
    ]);
    let e = render(d.path()).unwrap_err();
    assert_eq!(
        e,
        "execution error at (t/templates/a.yaml:1:6): db.host is required"
    );
    let ok = render_with(d.path(), || opts().values_yaml("db: {host: x}").unwrap()).unwrap();
    assert!(ok.contains("a: x"));
}

#[test]
fn schema_violations_list_every_failing_path() {
    let schema = r#"{"type":"object","required":["name"],"properties":{
        "replicas":{"type":"integer","minimum":1},
        "image":{"type":"object","properties":{"tag":{"type":"string","pattern":"^v"}}}}}"#;
    let d = chart_dir(&[
        ("templates/a.yaml", "a: 1\n"),
        ("values.schema.json", schema),
        ("values.yaml", "replicas: 0\nimage: {tag: latest}\n"),
    ]);
    let e = render(d.path()).unwrap_err();
    assert!(
        e.starts_with(
            "values don't meet the specifications of the schema(s) in the following chart(s):\nt:\n"
        ),
        "{e}"
    );
    for path in [
        "at '': missing property 'name'",
        "at '/replicas': minimum",
        "at '/image/tag': 'latest' does not match pattern",
    ] {
        assert!(e.contains(path), "{path} missing from {e}");
    }
    let ok = render_with(d.path(), || {
        let mut o = opts();
        o.skip_schema_validation = true;
        o
    });
    assert!(ok.is_ok());
}

#[test]
fn include_recursion_is_bounded() {
    let d = chart_dir(&[(
        "templates/a.yaml",
        "{{ define \"loop\" }}{{ include \"loop\" . }}{{ end }}a: {{ include \"loop\" . }}\n",
    )]);
    let e = render(d.path()).unwrap_err();
    assert!(
        e.contains("rendering template has a nested reference name: loop: unable to execute template"),
        "{}",
        &e[e.len().saturating_sub(300)..]
    );
    let d = chart_dir(&[(
        "templates/a.yaml",
        "{{ define \"t\" }}{{ template \"t\" . }}{{ end }}{{ template \"t\" . }}\n",
    )]);
    let e = render(d.path()).unwrap_err();
    assert!(
        e.contains("exceeded maximum template depth"),
        "{}",
        &e[e.len().saturating_sub(300)..]
    );
    let d = chart_dir(&[
        ("templates/a.yaml", "a: {{ tpl .Values.t . }}\n"),
        ("values.yaml", "t: '{{ tpl .Values.t . }}'\n"),
    ]);
    assert!(render(d.path()).is_err());
}

#[test]
fn runaway_output_and_loops_are_bounded() {
    let d = chart_dir(&[(
        "templates/a.yaml",
        "{{ range until 1000000 }}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{{ end }}\n",
    )]);
    let e = render_with(d.path(), || {
        let mut o = opts();
        o.limits = Limits {
            max_output: 1 << 20,
            ..Limits::default()
        };
        o
    })
    .unwrap_err();
    assert!(e.contains("output exceeds 1048576 bytes"), "{e}");
    let d = chart_dir(&[(
        "templates/a.yaml",
        "{{ range until 1000000 }}{{ end }}{{ range until 1000000 }}{{ end }}\n",
    )]);
    let e = render_with(d.path(), || {
        let mut o = opts();
        o.limits = Limits {
            max_steps: 100_000,
            ..Limits::default()
        };
        o
    })
    .unwrap_err();
    assert!(e.contains("evaluation exceeded 100000 steps"), "{e}");
    let d = chart_dir(&[("templates/a.yaml", "{{ repeat 1000000000 \"x\" }}\n")]);
    assert!(
        render(d.path())
            .unwrap_err()
            .contains("Repeat output length overflow")
    );
    // Intermediate strings are bounded too, before any output is written.
    let d = chart_dir(&[("templates/a.yaml", "{{ indent 65536 (repeat 100000 \"\\n\") }}\n")]);
    assert!(render(d.path()).unwrap_err().contains("indent: result of"));
    let d = chart_dir(&[(
        "templates/a.yaml",
        "{{ replace \"\" (repeat 100000 \"y\") (repeat 100000 \"x\") }}\n",
    )]);
    assert!(render(d.path()).unwrap_err().contains("replace: result of"));
}

#[test]
fn bad_chart_metadata_and_dependencies() {
    let d = chart_dir(&[("templates/a.yaml", "a: 1\n")]);
    std::fs::write(
        d.path().join("Chart.yaml"),
        "apiVersion: v2\nname: t\nversion: not-semver\n",
    )
    .unwrap();
    assert_eq!(
        render(d.path()).unwrap_err(),
        "validation: chart.metadata.version \"not-semver\" is invalid"
    );
    std::fs::write(
        d.path().join("Chart.yaml"),
        "apiVersion: v2\nname: t\nversion: 1.0.0\ndependencies:\n- name: sub\n  version: 1.x\n",
    )
    .unwrap();
    assert!(
        render(d.path())
            .unwrap_err()
            .ends_with("found in Chart.yaml, but missing in charts/ directory: sub")
    );
    std::fs::write(
        d.path().join("Chart.yaml"),
        "apiVersion: v2\nname: t\nversion: 1.0.0\ntype: library\n",
    )
    .unwrap();
    assert_eq!(
        render(d.path()).unwrap_err(),
        "library charts are not installable"
    );
    std::fs::write(
        d.path().join("Chart.yaml"),
        "apiVersion: v2\nname: t\nversion: 1.0.0\nkubeVersion: '<1.20'\n",
    )
    .unwrap();
    assert!(
        render(d.path())
            .unwrap_err()
            .starts_with("chart requires kubeVersion: <1.20 which is incompatible")
    );
}

#[test]
fn manifests_that_are_not_yaml_fail() {
    let d = chart_dir(&[("templates/a.yaml", "a: [unclosed\n")]);
    assert!(
        render(d.path())
            .unwrap_err()
            .starts_with("YAML parse error on t/templates/a.yaml")
    );
    let d = chart_dir(&[("templates/a.yaml", "just text\n")]);
    assert!(render(d.path()).unwrap_err().contains(
        "while decoding JSON: json: cannot unmarshal string into Go value of type util.SimpleHead"
    ));
}

#[test]
fn archives_cannot_escape_and_symlinks_stay_inside() {
    // A .tgz entry climbing out of the chart is refused.
    let mut tgz = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut tgz, flate2::Compression::fast());
        let mut ar = tar::Builder::new(gz);
        let mut add = |path: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            ar.append_data(&mut h, path, data).unwrap();
        };
        add("t/Chart.yaml", b"apiVersion: v2\nname: t\nversion: 0.1.0\n");
        ar.into_inner().unwrap().finish().unwrap();
    }
    assert!(chart::load_archive(&tgz, "ok.tgz").is_ok());
    let mut raw = tgz.clone();
    raw.clear();
    {
        let gz = flate2::write::GzEncoder::new(&mut raw, flate2::Compression::fast());
        let mut ar = tar::Builder::new(gz);
        let data = b"x";
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        // Written by hand: tar::Builder refuses ".." itself.
        h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"t/../../evil\0");
        h.set_cksum();
        ar.append(&h, &data[..]).unwrap();
        ar.into_inner().unwrap().finish().unwrap();
    }
    let e = chart::load_archive(&raw, "evil.tgz").unwrap_err().to_string();
    assert!(e.contains("illegally references parent directory"), "{e}");

    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "s").unwrap();
    let d = chart_dir(&[("templates/a.yaml", "a: 1\n")]);
    std::os::unix::fs::symlink(outside.path().join("secret"), d.path().join("leak")).unwrap();
    let e = render(d.path()).unwrap_err();
    assert!(e.contains("leak: symlink points outside the chart"), "{e}");

    // A symlinked directory inside the chart is walked under the link's name.
    let d = chart_dir(&[("shared/x.yaml", "x: {{ .Release.Name }}\n")]);
    std::os::unix::fs::symlink(d.path().join("shared"), d.path().join("templates")).unwrap();
    assert_eq!(
        render(d.path()).unwrap(),
        "---\n# Source: t/templates/x.yaml\nx: r\n"
    );
}

#[test]
fn garbage_templates_never_panic() {
    let seeds = [
        "{{",
        "}}",
        "{{ ( }}",
        "{{ ) }}",
        "{{ $x := }}",
        "{{ range $a, $b, $c := . }}{{ end }}",
        "{{ else }}",
        "{{ end }}",
        "{{ define }}",
        "{{ template }}",
        "{{ 0x }}",
        "{{ 1e }}",
        "{{ '' }}",
        "{{ \"\\q\" }}",
        "{{ .a.b.c.d | printf \"%*.*d\" 1 }}",
        "{{ index . 1 2 3 }}",
        "{{ slice \"abc\" 2 1 }}",
        "{{ printf \"%\" }}",
        "{{ len 3 }}",
        "{{ call . }}",
        "{{/* unclosed",
        "{{- -}}",
        "{{ break }}",
        "{{ range 5 }}{{ continue }}{{ end }}",
        "{{ with $x := 1 }}{{ $x = 2 }}{{ end }}{{ $x }}",
    ];
    for s in seeds {
        for cut in 0..=s.len() {
            if !s.is_char_boundary(cut) {
                continue;
            }
            let t = &s[..cut];
            let _ = gitops_helm::with_render_stack(|| {
                gitops_helm::funcs::render_case(t, gitops_helm::template::Value::Nil)
            });
        }
    }
}

/// `include` results are reused for the same template and data (across files too), but never when the
/// template reads randomness or `.Template`, changes its data, or shared data changed since. The
/// expected text is what helm v4.1.4 renders for this chart.
#[test]
fn reused_includes_render_as_helm() {
    let helpers = r#"
{{- define "show" -}}{{ .Values.x }}{{- end -}}
{{- define "r" -}}{{ randAlphaNum 16 }}{{- end -}}
{{- define "inc" -}}{{ $_ := set . "n" (add1 .n) }}{{ .n }}{{- end -}}
{{- define "showd" -}}{{ .v }}{{- end -}}
{{- define "show-in" -}}{{ .in.v }}{{- end -}}
{{- define "show-f" -}}{{ .Values.f.v }}{{- end -}}
{{- define "tname" -}}{{ .Template.Name }}{{- end -}}
{{- define "tyaml" -}}{{ toYaml .Template }}{{- end -}}
{{- define "keys" -}}{{ keys . | sortAlpha | join "," }}{{- end -}}
{{- define "name" -}}{{ .Chart.Name }}-{{ .Release.Name }}{{- end -}}
"#;
    let a = r#"a: {{ include "tname" . }}
ay: {{ include "tyaml" . | quote }}
keys: {{ include "keys" . }}
name: {{ include "name" . }}
r: {{ ne (include "r" .) (include "r" .) }}
inc: {{ $c := dict "n" 0 }}{{ include "inc" $c }}-{{ include "inc" $c }}
shared: {{ include "show" . }}{{ $_ := set .Values "x" "b" }}-{{ include "show" . }}
fresh: {{ $d := dict "v" "1" }}{{ include "showd" $d }}{{ $_ := set $d "v" "2" }}-{{ include "showd" $d }}
nested: {{ $i := dict "v" "1" }}{{ $o := dict "in" $i }}{{ include "show-in" $o }}{{ $_ := set $i "v" "2" }}-{{ include "show-in" $o }}
reach: {{ $f := dict "v" "1" }}{{ $_ := set .Values "f" $f }}{{ include "show-f" . }}{{ $_ := set $f "v" "2" }}-{{ include "show-f" . }}
merge: {{ include "show" . }}{{ $_ := merge .Values (dict "x" "ignored") }}{{ $_ := mergeOverwrite .Values (dict "x" "c") }}-{{ include "show" . }}
tpl: {{ tpl "{{- define \"show\" -}}T{{- end -}}{{ include \"show\" . }}" . }}-{{ include "show" . }}
unset: {{ include "show" . }}{{ $_ := unset .Values "x" }}-{{ include "show" . }}
"#;
    let b = r#"b: {{ include "tname" . }}
by: {{ include "tyaml" . | quote }}
keys: {{ include "keys" . }}
name: {{ include "name" . }}
"#;
    let dir = chart_dir(&[
        ("values.yaml", "x: a\n"),
        ("templates/_helpers.tpl", helpers),
        ("templates/a.yaml", a),
        ("templates/b.yaml", b),
    ]);
    let expected = r#"---
# Source: t/templates/a.yaml
a: t/templates/a.yaml
ay: "BasePath: t/templates\nName: t/templates/a.yaml"
keys: Capabilities,Chart,Files,Release,Subcharts,Template,Values
name: t-r
r: true
inc: 1-2
shared: a-b
fresh: 1-2
nested: 1-2
reach: 1-2
merge: b-c
tpl: T-c
unset: c-
---
# Source: t/templates/b.yaml
b: t/templates/b.yaml
by: "BasePath: t/templates\nName: t/templates/b.yaml"
keys: Capabilities,Chart,Files,Release,Subcharts,Template,Values
name: t-r
"#;
    assert_eq!(render(dir.path()).unwrap(), expected);
}

/// Files that define nothing execute before every file is parsed (see `execute_all`): what Helm, which
/// parses everything first, renders and reports must not change. Checked on a small chart and on one
/// large enough to read its output on a second thread.
#[test]
fn files_that_define_nothing_render_and_fail_as_helm() {
    for lines in [0, 2000] {
        let big = filler(lines);
        let d = chart_dir(&[
            ("templates/big.yaml", &big),
            // A definition named as a file replaces that file's own tree (it is parsed after it).
            (
                "templates/_h.tpl",
                "{{ define \"t/templates/x.yaml\" }}defined: 1{{ end }}\n{{ define \"h\" }}h: 1{{ end }}\n",
            ),
            ("templates/x.yaml", "file: x\n"),
            ("templates/data.yaml", "data: 1\n"),
            // A file included by its path.
            (
                "templates/cm.yaml",
                "sum: {{ include (print $.Template.BasePath \"/data.yaml\") . | sha256sum }}\n{{ include \"h\" . }}\n",
            ),
        ]);
        let out = render(d.path()).unwrap();
        assert!(
            out.contains(
                "# Source: t/templates/cm.yaml\nsum: 6d6db3bcfbbcd573c1437a161044639dfccce68b267eccd30a84db220009fb47\nh: 1\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("# Source: t/templates/x.yaml\ndefined: 1\n"),
            "{out}"
        );
        // z.yaml executes before a.yaml, which does not parse: the parse error is what is reported.
        std::fs::write(d.path().join("templates/z.yaml"), "z: {{ fail \"boom\" }}\n").unwrap();
        std::fs::write(d.path().join("templates/a.yaml"), "a: {{ .Values.x \n").unwrap();
        assert_eq!(
            render(d.path()).unwrap_err(),
            "parse error at (t/templates/a.yaml:2): unclosed action started at t/templates/a.yaml:1"
        );
        // A partial that defines, parsed before execution, does not parse either: the first file in
        // Helm's parse order (a.yaml, parsed lazily, then _bad.tpl) is the one reported.
        std::fs::write(
            d.path().join("templates/_bad.tpl"),
            "{{ define \"b\" }}{{ .Values.y {{ end }}\n",
        )
        .unwrap();
        assert_eq!(
            render(d.path()).unwrap_err(),
            "parse error at (t/templates/a.yaml:2): unclosed action started at t/templates/a.yaml:1"
        );
        std::fs::remove_file(d.path().join("templates/_bad.tpl")).unwrap();
        std::fs::remove_file(d.path().join("templates/a.yaml")).unwrap();
        let e = render(d.path()).unwrap_err();
        assert!(e.contains("boom"), "{e}");
    }
}
