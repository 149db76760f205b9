#!/usr/bin/env bash
# The README's test command: installs what the tests need (idempotently),
# then checks formatting, vets and runs every test against the real parts
# (chDB engine, Kafka broker started by the tests, headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/dev/install-deps.sh chdb kafka kcat chromium
export CHDB_LIB_PATH=${CHDB_LIB_PATH:-/usr/local/lib/libchdb.so}
export CGO_ENABLED=1

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi
go vet ./...
go test -count=1 -timeout 45m "$@" ./...
