#!/usr/bin/env bash
# Installs Synapse (the Matrix homeserver) from PyPI into a cached virtualenv, once, and
# prints the path of that virtualenv's python. The local Synapse server type, the
# end-to-end tests and `trafficlight demo` start homeservers with it; no Docker needed.
#
#   scripts/install-synapse.sh            # installs if missing, prints .../bin/python
#
# TRAFFICLIGHT_SYNAPSE_VENV overrides where the virtualenv lives.
set -euo pipefail
SYNAPSE_VERSION="${TRAFFICLIGHT_SYNAPSE_VERSION:-1.163.2}"
venv="${TRAFFICLIGHT_SYNAPSE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/trafficlight/synapse-$SYNAPSE_VERSION}"
python="$venv/bin/python"
if [ -f "$venv/.installed" ] && [ -x "$python" ]; then
  echo "$python"
  exit 0
fi
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing python3 and python3-venv with apt-get" >&2
    apt-get update -qq >&2 && apt-get install -y -qq python3 python3-venv >&2
  else
    echo "python3 with venv is missing: install python3 and python3-venv" >&2
    exit 1
  fi
fi
echo "installing matrix-synapse $SYNAPSE_VERSION into $venv (once; about a minute)" >&2
# A virtualenv records its own path, so it is built in place; the marker says it finished.
rm -rf "$venv"
python3 -m venv "$venv" >&2
"$venv/bin/pip" install -q --disable-pip-version-check "matrix-synapse==$SYNAPSE_VERSION" >&2
"$python" -c 'import synapse' >&2
touch "$venv/.installed"
echo "$python"
