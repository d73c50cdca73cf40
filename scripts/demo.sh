#!/usr/bin/env bash
# trafficlight end to end on this machine, no Docker: installs Synapse once (from PyPI, into
# a cached virtualenv), builds trafficlight and the headless Matrix client
# (matrix-rust-sdk), then runs `trafficlight demo`: a fresh local Synapse per case, the
# headless clients and network proxies as adapters, every case of
# examples/matrix-client/scenarios at once (invite and encrypted chat, late joiners and
# history visibility, emoji verification of two devices, a message sent while the
# homeserver refuses it). It prints the dashboard URL and the summary, and exits with
# trafficlight's status (0: all succeeded).
#
#   scripts/demo.sh                      # extra arguments go to `trafficlight demo`
#
# The first run builds matrix-sdk (minutes; TRAFFICLIGHT_DEMO_PROFILE=release for an
# optimised build, slower to build) and installs Synapse (about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${TRAFFICLIGHT_DEMO_PROFILE:-dev}"
target_dir="${CARGO_TARGET_DIR:-target}/$([ "$profile" = dev ] && echo debug || echo "$profile")"

python="$(scripts/install-synapse.sh)"
echo "building trafficlight and the headless Matrix client ($profile)" >&2
cargo build --profile "$profile" -p trafficlight -p trafficlight-matrix-client >&2

exec "$target_dir/trafficlight" demo --synapse-python "$python" "$@"
