#!/usr/bin/env bash
# The full benchmark run behind Docs/performance.md: installs nginx (for P4's comparison) and wrk
# (P4's load generator), builds with -c release, runs chorus-bench --write-docs, then the peers in
# a throwaway virtualenv.
# Takes a few minutes on 2 cores. Usage: Tests/Bench/run-benchmarks.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive
if ! command -v nginx >/dev/null 2>&1 && ! [ -x /usr/sbin/nginx ]; then
    apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null || apt-get install -y -qq nginx >/dev/null
fi
if ! command -v wrk >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
swift build -c release
venv=$(mktemp -d)/peers
python3 -m venv "$venv"
"$venv/bin/pip" install -q loro pycrdt apsw
PEER_REPS=5 "$venv/bin/python" Tests/Bench/peers.py > .build/peers.json || echo '{}' > .build/peers.json
cat .build/peers.json
.build/release/chorus-bench --write-docs "$@"
rm -rf "$(dirname "$venv")"
