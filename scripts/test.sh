#!/usr/bin/env bash
# Installs what the tests need on a fresh machine (skipping what is already there), then runs every test.
# Usage: scripts/test.sh            (README's test command; .ci/run calls it)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v git >/dev/null 2>&1 || need_apt+=(git)
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need_apt+=(openssh-client)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "notice: not root, cannot install ${need_apt[*]}; tests needing them skip" >&2
  fi
fi

# Reference tools (kubectl with kustomize, helm) for differential tests and benchmarks.
tools=".tools/bin"
if [ ! -x "$tools/kubectl" ] || [ ! -x "$tools/helm" ]; then
  scripts/install-reference-tools.sh "$tools" || echo "notice: reference tools unavailable; differential tests skip" >&2
fi
export PATH="$PWD/$tools:$PATH"

# Generated tables must match their sources when the sources are here.
if [ -d ../shared/reference/kubernetes-openapi-v3 ]; then
  python3 scripts/gen-k8s-tables.py --check
else
  echo "notice: ../shared/reference absent; generated-table check skipped"
fi

# A clean CI build gains nothing from incremental state, which would double the disk the build takes.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-targets --no-fail-fast
  cargo test --workspace --doc
else
  cargo test --workspace --all-targets --no-fail-fast
  cargo test --workspace --doc
fi
