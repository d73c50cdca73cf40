#!/usr/bin/env bash
# The test command: installs what the tests need that a fresh machine lacks, then runs
# every test of the workspace. The tests need the Rust toolchain, python3 (its expat
# parser checks that junit.xml is strictly valid XML), Synapse (installed into a cached
# virtualenv by scripts/install-synapse.sh: the local Synapse tests start real servers),
# and Debian's chromium and chromium-driver (tests/browser.rs drives headless Chromium
# over WebDriver; it fails, not skips, without them).
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
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver
  else
    echo "chromium or chromedriver is missing: install Debian's chromium and chromium-driver" >&2
    echo "(the browser test, tests/browser.rs, drives headless Chromium over WebDriver)" >&2
    exit 1
  fi
fi
TRAFFICLIGHT_SYNAPSE_PYTHON="$(./scripts/install-synapse.sh)"
export TRAFFICLIGHT_SYNAPSE_PYTHON
cargo test --workspace "$@"
