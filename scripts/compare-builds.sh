#!/usr/bin/env bash
# Usage: compare-builds.sh NORMAL_BINARY EMBEDDED_BINARY
# Runs `meter` (text, JSON, and JSON with unannounced RTP detection) with both binaries on
# every fixture and every corpus capture, and fails on the first difference.
set -euo pipefail
normal=$1
embedded=$2
cd "$(dirname "$0")/.."
checked=0
for file in Tests/Fixtures/*.pcap Tests/Fixtures/*.pcapng ../shared/corpus/*.pcap; do
    [ -f "$file" ] || continue
    for options in "" "--json" "--json --detect-rtp"; do
        # shellcheck disable=SC2086
        if ! diff <("$normal" meter $options "$file") <("$embedded" meter $options "$file") >/tmp/gatewayd-build-diff.txt; then
            echo "differs: meter $options $file"
            head -n 20 /tmp/gatewayd-build-diff.txt
            exit 1
        fi
        checked=$((checked + 1))
    done
done
echo "identical: $checked reports"
