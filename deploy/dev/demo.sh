#!/usr/bin/env bash
# The README's run command: installs the embedded ClickHouse engine if
# missing, builds netpulse and serves the demo on localhost.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/dev/install-deps.sh chdb
export CHDB_LIB_PATH=${CHDB_LIB_PATH:-/usr/local/lib/libchdb.so}
mkdir -p bin
go build -o bin/netpulse ./cmd/netpulse
exec bin/netpulse serve --demo --data "${NETPULSE_DATA:-./netpulse-data}" "$@"
