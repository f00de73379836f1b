#!/usr/bin/env bash
# Builds the HTTP parser fuzzer with libFuzzer and AddressSanitizer and runs it for a bounded time.
# Usage: Tests/Fuzz/run-fuzzer.sh [SECONDS]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-60}"
out=.build/fuzz
mkdir -p "$out" "$out/corpus"
swiftc -sanitize=fuzzer,address -parse-as-library -O -g \
    Sources/HTTP1/*.swift Tests/Fuzz/HTTPParserFuzz.swift -o "$out/http-parser-fuzzer"
# New inputs found go to a scratch corpus; the committed seed corpus stays as it is.
cp Tests/Fuzz/corpus/* "$out/corpus/"
SWIFT_BACKTRACE=enable=no "$out/http-parser-fuzzer" "$out/corpus" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$out/" -detect_leaks=1 -print_final_stats=1 2>&1 > "$out/fuzz.log" 2>&1 || { tail -n 40 "$out/fuzz.log"; exit 1; }
tail -n 12 "$out/fuzz.log"
echo "fuzzer: ran for ${seconds}s with no crash, leak or failed property"
