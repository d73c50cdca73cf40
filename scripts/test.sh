#!/usr/bin/env bash
# The test command: installs what the tests need that a fresh machine lacks, then runs
# every test of the workspace. Today the tests need only the Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust (https://rustup.rs) first" >&2
  exit 1
fi
cargo test --workspace "$@"
