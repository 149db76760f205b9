#!/usr/bin/env bash
# Fuzz every operation of docs/openapi.yaml against a running netpulse with
# schemathesis (from PyPI): no 5xx, and every answer must match the document
# (status code, content type, body schema, headers).
#
# usage: deploy/dev/schemathesis.sh BASE_URL
# env:   NP_VENUE_KEY NP_ADMIN NP_ANALYST NP_AUDITOR NP_DUTY NP_LEADER   bearer credentials, one per role
#        MAX_EXAMPLES (default 30)   examples per operation
#        ST_VENV (default ~/.cache/netpulse/schemathesis-venv)
# Each operation is run with the credential of the role that may call it
# (a wrong role would only ever see 403).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
spec="$root/docs/openapi.yaml"
base=${1:?usage: $0 BASE_URL}
# schemathesis keeps a cache in its working folder; keep it out of the tree.
cd "$(mktemp -d)"
venv=${ST_VENV:-$HOME/.cache/netpulse/schemathesis-venv}
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv" || { echo "schemathesis.sh: cannot create a Python venv at $venv (python3-venv missing?)" >&2; exit 3; }
  "$venv/bin/pip" install --quiet 'schemathesis>=4,<5' || { echo "schemathesis.sh: pip could not install schemathesis from PyPI" >&2; exit 3; }
fi
st="$venv/bin/schemathesis"
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance
n=${MAX_EXAMPLES:-30}
status=0
run() { # credential, path regex
  local cred=$1 re=$2
  echo "== schemathesis: $re"
  "$st" run "$spec" --url "$base" -H "Authorization: Bearer $cred" \
    --include-path-regex "$re" --checks "$checks" --max-examples "$n" --phases examples,coverage,fuzzing \
    --seed 1 --request-timeout 20 --no-color ${ST_EXTRA:-} || status=1
}
run "${NP_VENUE_KEY:?}" '^/api/v1/intake/(access-records|receipts|quarantine/resubmit)'
run "${NP_ADMIN:?}" '^/api/v1/(intake/quarantine$|intake/posts|intake/deliveries|venues/|records/holds|sources)'
run "${NP_ANALYST:?}" '^/api/v1/(records(/\{record_id\}/reveal|/search)?|search/posts|trends.*)$'
run "${NP_AUDITOR:?}" '^/api/v1/audit'
# The alert stream never ends, so it is left to the load test; search/repair
# exists only on cluster nodes.
run "${NP_DUTY:?}" '^/api/v1/(alerts(?!/stream)|rules|compliance/venues)'
run "${NP_LEADER:?}" '^/(api/v1/reports|healthz|metrics)$'
exit $status
