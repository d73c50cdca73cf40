#!/usr/bin/env bash
# trafficlight end to end on this machine, no Docker: a real Synapse homeserver (from PyPI,
# installed once), real Matrix clients (the headless matrix-rust-sdk client, with real
# end-to-end encryption) as adapters, and trafficlight coordinating them. Prints the
# dashboard URL, runs every case of examples/matrix-client/scenarios in parallel (invite
# and encrypted chat, late joiners and history visibility, emoji verification of two
# devices), prints the summary and exits with trafficlight's status (0: all succeeded).
#
#   scripts/demo.sh                      # extra arguments go to `trafficlight serve`
#
# The first run builds matrix-sdk (minutes; TRAFFICLIGHT_DEMO_PROFILE=release for an
# optimised build, slower to build) and installs Synapse (about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${TRAFFICLIGHT_DEMO_PROFILE:-dev}"
target_dir="target/$([ "$profile" = dev ] && echo debug || echo "$profile")"
bind="${TRAFFICLIGHT_DEMO_BIND:-127.0.0.1:5000}"
clients=7   # what the demo's cases need at once: 2 + 3 + 2

python="$(scripts/install-synapse.sh)"
echo "building trafficlight and the headless Matrix client ($profile)" >&2
cargo build --profile "$profile" -p trafficlight -p trafficlight-matrix-client >&2

work="$(mktemp -d -t trafficlight-demo-XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$python" -m synapse.app.homeserver --generate-config --report-stats=no --server-name "localhost:$port" \
  --config-path "$work/homeserver.yaml" --data-directory "$work" >/dev/null
unlimited="{per_second: 1000, burst_count: 1000}"
cat >"$work/overrides.yaml" <<YAML
listeners:
  - {port: $port, bind_addresses: ['127.0.0.1'], type: http, tls: false, x_forwarded: false, resources: [{names: [client], compress: false}]}
enable_registration: true
enable_registration_without_verification: true
report_stats: false
trusted_key_servers: []
suppress_key_server_warning: true
rc_message: $unlimited
rc_registration: $unlimited
rc_joins: {local: $unlimited, remote: $unlimited}
rc_invites: {per_room: $unlimited, per_user: $unlimited, per_issuer: $unlimited}
rc_login: {address: $unlimited, account: $unlimited, failed_attempts: $unlimited}
rc_key_requests: $unlimited
YAML
echo "starting Synapse on localhost:$port" >&2
(cd "$work" && exec "$python" -m synapse.app.homeserver -c homeserver.yaml -c overrides.yaml >synapse.log 2>&1) &
pids+=($!)
"$python" - "$port" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/_matrix/client/versions"
deadline = time.time() + 180
while True:
    try:
        urllib.request.urlopen(url, timeout=5)
        break
    except Exception:
        if time.time() > deadline:
            sys.exit("Synapse did not start within 180 s")
        time.sleep(0.2)
PY

cat >"$work/demo.toml" <<TOML
[[servers]]
server_name = "localhost:$port"
cs_api = "http://localhost:$port"
TOML

echo "dashboard: http://$bind/status" >&2
RUST_LOG="${RUST_LOG:-warn}" "$target_dir/trafficlight-matrix-client" --url "http://$bind" --count "$clients" &
pids+=($!)
status=0
"$target_dir/trafficlight" serve --bind "$bind" --scenarios examples/matrix-client/scenarios \
  --clients matrix-rust-sdk --config "$work/demo.toml" --output "${TRAFFICLIGHT_OUTPUT:-output/demo}" \
  --exit-grace 2 "$@" || status=$?
exit "$status"
