#!/usr/bin/env bash
# Installs, idempotently, every tool the tests need that a fresh machine lacks, into the repo's own
# ignored .tools/ folder: moto server (AWS emulator) and cfn-lint in a Python venv, and cargo-nextest.
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

# The deploy check (./scripts/test --deploy) also needs SAM and cargo-lambda (which brings zig).
if [ "${1:-}" = "--deploy" ]; then
  SAM_VERSION=1.170.0
  CARGO_LAMBDA_VERSION=1.9.2
  DEPLOY_VENV=.tools/deploy-venv
  DEPLOY_STAMP="$DEPLOY_VENV/.installed-sam-$SAM_VERSION-cargo-lambda-$CARGO_LAMBDA_VERSION"
  if [ ! -f "$DEPLOY_STAMP" ]; then
    echo "tools: installing aws-sam-cli==$SAM_VERSION and cargo-lambda==$CARGO_LAMBDA_VERSION into $DEPLOY_VENV" >&2
    rm -rf "$DEPLOY_VENV"
    python3 -m venv "$DEPLOY_VENV"
    "$DEPLOY_VENV/bin/pip" install --quiet --disable-pip-version-check \
      "aws-sam-cli==$SAM_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION"
    touch "$DEPLOY_STAMP"
  fi
fi

for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    rustup component add "$component"
  fi
done
