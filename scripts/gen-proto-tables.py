#!/usr/bin/env python3
"""Generates gitops-testkit/src/proto_tables.rs: how the built-in kinds are encoded in protobuf.

Usage: scripts/gen-proto-tables.py API_REPO APIMACHINERY_REPO [--check]

API_REPO and APIMACHINERY_REPO are clones (or bare git directories) of k8s.io/api and k8s.io/apimachinery.
For every message of the group versions in the Kubernetes OpenAPI documents (../shared/reference), the
field numbers and wire types come from `generated.proto`, and from the Go types (`types.go`, matched by the
`protobuf:"...,name=..."` struct tags) the JSON name, whether the Go field is a pointer, `omitempty`, and
whether it is inlined into its parent's JSON. One line per message:

    NAME <tab> NUMBER:JSON:TYPE:FLAGS;...

TYPE: s string, y bytes (base64 in JSON), b bool, i varint integer, d double, m.NAME a message (full
OpenAPI name), with `*` in front for repeated and `{...}` around the value type for map<string, ...>.
A message standing for a Go slice type is one column, `[TYPE` (its items as the JSON array).
FLAGS: p pointer, o omitempty, n inlined. Names are shortened with the prefixes of gen-k8s-tables.py.
"""
import glob, json, os, re, subprocess, sys

check = "--check" in sys.argv
args = [a for a in sys.argv[1:] if a != "--check"]
if len(args) != 2:
    sys.exit(__doc__)
api_repo, mach_repo = args
here = os.path.dirname(__file__)
openapi_dir = os.path.join(here, "../../shared/reference/kubernetes-openapi-v3")

def read(repo, path):
    full = os.path.join(repo, path)
    if os.path.exists(full):
        return open(full).read()
    r = subprocess.run(["git", "--git-dir", repo, "show", f"HEAD:{path}"], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None

def ls(repo, prefix):
    if os.path.isdir(os.path.join(repo, prefix)):
        return [os.path.join(prefix, f) for f in os.listdir(os.path.join(repo, prefix))]
    r = subprocess.run(["git", "--git-dir", repo, "ls-tree", "--name-only", f"HEAD:{prefix}"],
                       capture_output=True, text=True)
    return [os.path.join(prefix, f) for f in r.stdout.split()]

# The group versions the reference OpenAPI documents define, as package directories.
definitions = set()
for f in glob.glob(os.path.join(openapi_dir, "*.json")):
    definitions |= set(json.load(open(f)).get("components", {}).get("schemas", {}))
packages = sorted({n.rsplit(".", 1)[0] for n in definitions})
sources = []  # (repo, dir, openapi package)
for p in packages:
    if p.startswith("io.k8s.api."):
        sources.append((api_repo, p[len("io.k8s.api."):].replace(".", "/"), p))
    elif p.startswith("io.k8s.apimachinery."):
        sources.append((mach_repo, p[len("io.k8s.apimachinery."):].replace(".", "/"), p))

def openapi_name(proto_type, package):
    """`.k8s.io.api.core.v1.PodSpec` or `PodSpec` (in `package`) as an OpenAPI definition name."""
    if proto_type.startswith(".k8s.io."):
        return "io.k8s." + proto_type[len(".k8s.io."):]
    return package + "." + proto_type

SCALARS = {"string": "s", "bytes": "y", "bool": "b", "int32": "i", "int64": "i", "uint32": "i", "uint64": "i",
           "double": "d"}

messages = {}  # openapi name -> [(number, proto name, type code)]
go_fields = {}  # openapi name -> {proto name: (json name, pointer, omitempty, inline)}
for repo, d, package in sources:
    proto = read(repo, f"{d}/generated.proto")
    if proto is None:
        continue
    for m in re.finditer(r"^message (\w+) \{(.*?)^\}", proto, re.M | re.S):
        fields = []
        for line in m.group(2).splitlines():
            line = line.strip()
            fm = re.match(r"(optional|repeated)?\s*(map<string,\s*([\w.]+)>|[\w.]+)\s+(\w+)\s*=\s*(\d+)", line)
            if not fm or line.startswith("//"):
                continue
            label, ty, map_value, name, num = fm.groups()
            def code(t):
                return SCALARS.get(t) or "m." + openapi_name(t, package)
            if map_value:
                c = "{" + code(map_value) + "}"
            else:
                c = ("*" if label == "repeated" else "") + code(ty)
            fields.append((int(num), name, c))
        messages[f"{package}.{m.group(1)}"] = fields
    for f in ls(repo, d):
        if not f.endswith(".go") or f.endswith("_test.go") or "generated" in f:
            continue
        src = read(repo, f) or ""
        for s in re.finditer(r"^type (\w+) struct \{(.*?)^\}", src, re.M | re.S):
            out = go_fields.setdefault(f"{package}.{s.group(1)}", {})
            for line in s.group(2).splitlines():
                tm = re.match(r"\s*(?:(\w+)\s+)?(\*?)([\w.\[\]*]+)\s+`(.*)`", line)
                if not tm or "protobuf:" not in tm.group(4):
                    continue
                tags = dict(re.findall(r'(\w+):"([^"]*)"', tm.group(4)))
                embedded = tm.group(1) is None
                pm = re.search(r"name=(\w+)", tags.get("protobuf", ""))
                if pm:
                    pname = pm.group(1)
                elif embedded:
                    # `EphemeralContainerCommon `protobuf:"bytes,1,req"``: named after its type.
                    t = tm.group(3).split(".")[-1]
                    pname = t[0].lower() + t[1:]
                else:
                    continue
                jparts = tags.get("json", "").split(",")
                # Embedded structs without a JSON name (`json:""` or `json:",inline"`) are inlined.
                inline = "inline" in jparts[1:] or (embedded and jparts[0] == "")
                out[pname] = (jparts[0], tm.group(2) == "*", "omitempty" in jparts[1:], inline)

PREFIXES = [("io.k8s.apimachinery.pkg.apis.meta.v1.", "m."), ("io.k8s.apimachinery.pkg.", "p."),
            ("io.k8s.api.", "a.")]

def short(name):
    for long, sh in PREFIXES:
        if name.startswith(long):
            return sh + name[len(long):]
    return name

lines = ["// @generated by scripts/gen-proto-tables.py from k8s.io/api and k8s.io/apimachinery. Do not edit.", "",
         "/// The protobuf encoding of the built-in messages; the line format is documented in the script.",
         "pub(crate) const MESSAGES: &str = \""]
missing = []
for name in sorted(messages):
    go = go_fields.get(name, {})
    if name not in go_fields and len(messages[name]) == 1 and messages[name][0][2].startswith("*"):
        # A Go slice type (`type ExtraValue []string`): the message's one repeated field is the JSON array.
        lines.append(f"{short(name)}\\t[{messages[name][0][2][1:]}\\n\\")
        continue
    if name not in go_fields:
        print("  no Go struct:", name)
    cols = []
    for num, pname, c in messages[name]:
        jname, pointer, omitempty, inline = go.get(pname, (pname, False, True, False))
        if pname not in go:
            missing.append(f"{name}.{pname}")
        flags = ("p" if pointer else "") + ("o" if omitempty else "") + ("n" if inline else "")
        c = re.sub(r"m\.([\w.-]+)", lambda m: "m." + short(m.group(1)), c)
        cols.append(f"{num}:{jname}:{c}:{flags}")
    lines.append(f"{short(name)}\\t{';'.join(cols)}\\n\\")
lines += ["\";", "", "/// Prefixes the names in [`MESSAGES`] are shortened by: `(long, short)`.",
          "pub(crate) const PREFIXES: &[(&str, &str)] = &["]
lines += [f'    ("{l}", "{sh}"),' for l, sh in PREFIXES]
lines += ["];", ""]
text = "\n".join(lines)
dest = os.path.join(here, "../gitops-testkit/src/proto_tables.rs")
if check:
    if open(dest).read() != text:
        sys.exit(f"{dest} is out of date: run scripts/gen-proto-tables.py")
    print(f"{dest} is up to date")
    sys.exit(0)
open(dest, "w").write(text)
print(f"wrote {dest}: {len(lines) - 9} messages; fields without Go tags (JSON name = proto name): {len(missing)}")
for m in missing[:20]:
    print("  ", m)
