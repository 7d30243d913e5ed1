#!/usr/bin/env bash
# Installs, idempotently, every tool the tests need that a fresh machine lacks, into the repo's own
# ignored .tools/ folder: moto server (AWS emulator) and cfn-lint in a Python venv, aws-sam-cli in
# another, and cargo-nextest.
# Versions are pinned so CI and laptops run the same tools.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
CFN_LINT_VERSION=1.58.0
NEXTEST_VERSION=0.9.143
VENV=.tools/venv
STAMP="$VENV/.installed-moto-$MOTO_VERSION-cfnlint-$CFN_LINT_VERSION"

if [ ! -f "$STAMP" ]; then
  echo "tools: installing moto[server]==$MOTO_VERSION and cfn-lint==$CFN_LINT_VERSION into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "moto[server]==$MOTO_VERSION" "cfn-lint==$CFN_LINT_VERSION"
  touch "$STAMP"
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "tools: installing cargo-nextest $NEXTEST_VERSION" >&2
  cargo install --locked --root .tools/cargo "cargo-nextest@$NEXTEST_VERSION"
fi

# SAM, for `sam validate --lint` on every run, in its own venv (its pins differ from moto's); the
# deploy check (./scripts/test --deploy) adds cargo-lambda, which brings zig.
SAM_VERSION=1.170.0
CARGO_LAMBDA_VERSION=1.9.2
SAM_VENV=.tools/sam-venv
SAM_STAMP="$SAM_VENV/.installed-sam-$SAM_VERSION"
if [ ! -f "$SAM_STAMP" ]; then
  echo "tools: installing aws-sam-cli==$SAM_VERSION into $SAM_VENV" >&2
  rm -rf "$SAM_VENV"
  python3 -m venv "$SAM_VENV"
  "$SAM_VENV/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_VERSION"
  touch "$SAM_STAMP"
fi
if [ "${1:-}" = "--deploy" ] && [ ! -f "$SAM_VENV/.installed-cargo-lambda-$CARGO_LAMBDA_VERSION" ]; then
  echo "tools: installing cargo-lambda==$CARGO_LAMBDA_VERSION into $SAM_VENV" >&2
  "$SAM_VENV/bin/pip" install --quiet --disable-pip-version-check "cargo-lambda==$CARGO_LAMBDA_VERSION"
  touch "$SAM_VENV/.installed-cargo-lambda-$CARGO_LAMBDA_VERSION"
fi

for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    rustup component add "$component"
  fi
done
