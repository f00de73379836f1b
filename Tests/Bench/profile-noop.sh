#!/usr/bin/env bash
# Counts the instructions a no-op sync costs `chorus serve`'s event loops (P4), with callgrind:
# a hub of 100 seeded people and one replica token is served under valgrind, wrk sends no-op
# pulls on 64 connections for 5 s, and the instructions inside `EventLoop.run` are divided by the
# requests answered. Instruction counts repeat from run to run where this machine's timings do not.
#
# Usage: Tests/Bench/profile-noop.sh [OUTPUT]   (default .build/callgrind.noop)
# Needs valgrind and wrk (apt-get install valgrind wrk) and a release build (swift build -c release).
# Read the result with: callgrind_annotate --inclusive=yes OUTPUT | head -80
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:-}" in
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "error: unknown option $1 (the only argument is the output file; see --help)" >&2; exit 2 ;;
esac
output=${1:-.build/callgrind.noop}
chorus=.build/release/chorus
port=${PROFILE_PORT:-7611}
for tool in valgrind wrk curl; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed (apt-get install $tool)" >&2; exit 1; }
done
[ -x "$chorus" ] || { echo "error: $chorus is missing: run swift build -c release first" >&2; exit 1; }

scratch=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$scratch"; }
trap cleanup EXIT
"$chorus" init --data "$scratch/hub" >/dev/null
"$chorus" seed --people 100 --data "$scratch/hub" >/dev/null
"$chorus" replicas add load --role replica --token-file "$scratch/token" --data "$scratch/hub" >"$scratch/add.log" 2>&1 \
    || { cat "$scratch/add.log" >&2; exit 1; }
latest=$("$chorus" status --json --data "$scratch/hub" | sed -n 's/.*"latestSequence": \([0-9]*\).*/\1/p')

valgrind --tool=callgrind --callgrind-out-file="$output" --toggle-collect='$s10HTTPServer9EventLoopC3run*' \
    "$chorus" serve --data "$scratch/hub" --listen "127.0.0.1:$port" >/dev/null 2>"$scratch/valgrind.log" &
server=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.3; done
token=$(head -c 64 "$scratch/token")
report=$(wrk -t 2 -c 64 -d 5s -H "Authorization: Bearer $token" -H "Chorus-Protocol: 1" \
    -H "Chorus-Replica: 0123456789abcdef0123456789abcdef" "http://127.0.0.1:$port/sync/v1/pull?after=$latest&limit=1000")
echo "$report" | grep -E "requests in|Non-2xx" || true
if echo "$report" | grep -q "Non-2xx"; then echo "error: some requests failed; the count below is not of no-op syncs" >&2; exit 1; fi
kill -TERM "$server"
wait "$server" || true
server=""
requests=$(echo "$report" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')
total=$(sed -n 's/^totals: \([0-9]*\).*/\1/p' "$output")
echo "instructions in the event loops: $total over $requests requests = $((total / requests)) a request"
echo "profile: $output (callgrind_annotate --inclusive=yes $output | head -80)"
