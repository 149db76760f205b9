#!/usr/bin/env bash
# Installs what netpulse needs on a fresh machine, idempotently: the embedded
# ClickHouse engine (libchdb.so), the Kafka broker jars for the bus contract
# tests, Debian's kcat (the outside Kafka client of the topic tests), and
# Debian's chromium for the browser tests. Each step is skipped when its
# result is already present.
#
# usage: deploy/dev/install-deps.sh [chdb] [kafka] [kcat] [chromium]   (default: all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${NETPULSE_CACHE:-$HOME/.cache/netpulse}
mkdir -p "$cache"
want=${*:-chdb kafka kcat chromium}

log() { printf 'install-deps: %s\n' "$*" >&2; }

install_chdb() {
  if [ -f /usr/local/lib/libchdb.so ]; then return; fi
  log "fetching libchdb.so from npm (@chdb/lib-linux-x64-gnu)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent @chdb/lib-linux-x64-gnu@26.5.3 >/dev/null && tar xzf chdb-lib-linux-x64-gnu-*.tgz)
  lib=$(find "$tmp" -name libchdb.so | head -n1)
  [ -n "$lib" ] || { log "libchdb.so not found in the npm package"; exit 1; }
  install -m 0755 "$lib" /usr/local/lib/libchdb.so.tmp
  mv /usr/local/lib/libchdb.so.tmp /usr/local/lib/libchdb.so
  rm -rf "$tmp"
}

install_kafka() {
  dest="$cache/kafka-4.1.1/libs"
  if [ -f "$dest/.complete" ]; then return; fi
  log "fetching Apache Kafka 4.1.1 jars from Maven Central"
  mkdir -p "$dest"
  # Batch mode with colour off: no ANSI codes in make test's output.
  mvn -q -B -Dstyle.color=never -f "$here/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$dest" -DincludeScope=runtime
  touch "$dest/.complete"
}

# pipeline/bus/kafkatest reads and writes the topics with kcat (librdkafka),
# as a team outside netpulse would.
install_kcat() {
  if command -v kcat >/dev/null 2>&1; then return; fi
  log "installing Debian's kcat"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq kcat >/dev/null
}

# The browser tests need Chromium with CJK fonts; the report tests read the
# PDFs back with poppler's pdftotext, pdfinfo and pdffonts.
install_chromium() {
  if command -v chromium >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1 \
     && dpkg -s fonts-noto-cjk >/dev/null 2>&1; then return; fi
  log "installing Debian's chromium, fonts-noto-cjk and poppler-utils"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium fonts-noto-cjk poppler-utils >/dev/null
}

for w in $want; do "install_$w"; done
