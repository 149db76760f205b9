#!/usr/bin/env bash
# Refreshes the browser libraries that the web UI embeds, from the npm
# registry, into dashboards/web/static/vendor/. The minified files are
# committed so that building netpulse needs no Node; run this only to move
# to a new version, then commit the result.
#
# htmx stays on the 2.x line: 4.x changed event names and request semantics
# that the pages rely on.
set -euo pipefail

HTMX_VERSION="${HTMX_VERSION:-2.0.11}"
ECHARTS_VERSION="${ECHARTS_VERSION:-6.1.0}"

root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="$root/dashboards/web/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

command -v npm >/dev/null || { echo "vendor-assets: npm is needed (apt-get install npm)" >&2; exit 1; }

fetch() { # package version file-inside-package output-name
	local pkg="$1" ver="$2" file="$3" out="$4"
	(cd "$work" && npm pack --silent "$pkg@$ver" >/dev/null)
	local tgz
	tgz="$(ls "$work"/*.tgz | head -n1)"
	mkdir -p "$work/x"
	tar -xzf "$tgz" -C "$work/x"
	install -m 0644 "$work/x/package/$file" "$dest/$out"
	rm -rf "$work/x" "$tgz"
	echo "vendor-assets: $pkg@$ver $file -> $dest/$out"
}

mkdir -p "$dest"
fetch htmx.org "$HTMX_VERSION" dist/htmx.min.js htmx.min.js
fetch echarts "$ECHARTS_VERSION" dist/echarts.min.js echarts.min.js
cat >"$dest/VERSIONS" <<V
htmx.org $HTMX_VERSION (BSD-2-Clause)
echarts $ECHARTS_VERSION (Apache-2.0)
V
