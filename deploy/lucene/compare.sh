#!/usr/bin/env bash
# Side-by-side measurement of netpulse serve and Lucene 10.5 (smartcn) on one
# real corpus, on this machine, in one run (issue 18). See deploy/lucene/README.md.
#
#   deploy/lucene/compare.sh [--netpulse-bin PATH] --corpus /work/corpus/posts.jsonl [compare flags]
#
# Without --netpulse-bin it builds ./cmd/netpulse of this checkout. It builds
# the Lucene peer with Maven (JDK 21+, JAVA_HOME defaults to Temurin 25) and
# runs deploy/lucene/compare (go run ./deploy/lucene/compare --help for flags).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${JAVA_HOME:=/usr/lib/jvm/temurin-25-jdk-amd64}"
export JAVA_HOME CGO_ENABLED=1
: "${CHDB_LIB_PATH:=/usr/local/lib/libchdb.so}"
export CHDB_LIB_PATH

args=()
bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --netpulse-bin) bin="$2"; shift 2 ;;
    --netpulse-bin=*) bin="${1#*=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if [ -z "$bin" ]; then
  echo "building netpulse" >&2
  go build -o "$tmp/netpulse" ./cmd/netpulse
  bin="$tmp/netpulse"
fi
echo "building the Lucene peer" >&2
(cd deploy/lucene/peer && mvn -q -B package >"$tmp/mvn.log" 2>&1) || { cat "$tmp/mvn.log" >&2; exit 1; }
go build -o "$tmp/compare" ./deploy/lucene/compare
"$tmp/compare" --netpulse-bin "$bin" --java "$JAVA_HOME/bin/java" "${args[@]}"
