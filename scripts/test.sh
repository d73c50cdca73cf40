#!/usr/bin/env bash
# The test command: installs what the tests need that a fresh machine lacks, then runs
# every test of the workspace. The tests need the Rust toolchain, and python3 (its expat
# parser checks that junit.xml is strictly valid XML).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust (https://rustup.rs) first" >&2
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq python3
  else
    echo "python3 is missing: install it (the report tests use its XML parser)" >&2
    exit 1
  fi
fi
cargo test --workspace "$@"
