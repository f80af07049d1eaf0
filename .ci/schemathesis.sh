#!/usr/bin/env bash
# Schemathesis against the real broker: starts `kruispunt serve` (development mode, a temporary
# data directory, a free port), mints tokens for several partners and roles with
# `kruispunt token`, and lets schemathesis generate requests for every operation of
# docs/openapi.json under each token. It fails on any 5xx and on any response the document does
# not describe (status code, content type, headers, body schema). See docs/DEVELOPMENT.md.
#
# Environment:
#   KRUISPUNT_BIN                 the broker binary (default: $CARGO_TARGET_DIR/debug/kruispunt,
#                                 built here when absent)
#   SCHEMATHESIS_VENV             the virtualenv with schemathesis (default
#                                 /var/tmp/kruispunt-schemathesis-venv; created when absent)
#   SCHEMATHESIS_MAX_EXAMPLES     test cases per operation and phase (default 25)
#   SCHEMATHESIS_SEED             the generator's seed (default: a fixed one, so CI is repeatable)
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
bin="${KRUISPUNT_BIN:-$target/debug/kruispunt}"
venv="${SCHEMATHESIS_VENV:-/var/tmp/kruispunt-schemathesis-venv}"
examples="${SCHEMATHESIS_MAX_EXAMPLES:-25}"
seed="${SCHEMATHESIS_SEED:-20261207}"

# A pinned version, so that a run is repeatable (a new release generates other cases).
version=4.32.5
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "version ${version}\$"; then
  echo "installing schemathesis ${version} into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==${version}"
fi
"$venv/bin/st" --version
if [ -z "${KRUISPUNT_BIN:-}" ]; then
  cargo build --quiet -p kruispunt-broker --bin kruispunt
fi

data="$(mktemp -d /tmp/kruispunt-schemathesis.XXXXXX)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="https://127.0.0.1:${port}"
log="$data/serve.log"
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

"$bin" init --data-dir "$data" --listen "127.0.0.1:${port}" >/dev/null
# A test broker: generated requests must not be answered 429 by the limits a production
# deployment wants (the limits themselves are tested in the integration tests), and a kept-alive
# connection must not be closed as idle while schemathesis generates the next phase's cases (a
# POST on a connection the broker just closed fails as "EOF occurred in violation of protocol";
# the timeouts are tested in the integration tests too).
python3 - "$data/kruispunt.toml" <<'EOF'
import sys

path = sys.argv[1]
settings = {
    "limits": {
        "requests_per_second": "100000.0",
        "burst": "100000.0",
        "purge_interval_secs": "60",
        "unauthenticated_per_second": "100000.0",
        "unauthenticated_burst": "100000.0",
    },
    "connections": {"header_read_timeout_secs": "600"},
}
text = open(path).read()
for section, values in settings.items():
    lines = "".join(f"{k} = {v}\n" for k, v in values.items())
    marker = f"[{section}]\n"
    if marker in text:
        head, _, tail = text.partition(marker)
        body, next_section, rest = tail.partition("\n[")
        kept = [l for l in body.split("\n") if l.split("=")[0].strip() not in values]
        text = head + marker + lines + "\n".join(kept) + next_section + rest
    else:
        text += f"\n{marker}{lines}"
open(path, "w").write(text)
EOF
"$bin" serve --data-dir "$data" --listen "127.0.0.1:${port}" >"$log" 2>&1 &
pid=$!
ca="$data/tls/ca.pem"
for _ in $(seq 1 120); do
  if curl -sf --cacert "$ca" "$url/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$log"; echo "the broker did not start" >&2; exit 1; fi
  sleep 0.5
done
curl -sf --cacert "$ca" "$url/readyz" >/dev/null

token() { "$bin" token --data-dir "$data" "$@"; }

# The NDJSON serializer for the bulk route (schemathesis has none of its own).
export SCHEMATHESIS_HOOKS=schemathesis_hooks
export PYTHONPATH="$PWD/.ci${PYTHONPATH:+:$PYTHONPATH}"

failed=0
run() {
  local who="$1"; shift
  echo "== schemathesis as ${who} ($(date -u +%T))"
  # One worker: with two, CPython 3.11's ast module (hypothesis describes lambdas with it) failed
  # with "AST constructor recursion depth mismatch" from two threads at once.
  if ! "$venv/bin/st" run docs/openapi.json --url "$url" --tls-verify "$ca" \
      --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
      --phases examples,coverage,fuzzing --max-examples "$examples" --seed "$seed" \
      --workers 1 --request-timeout 30 --suppress-health-check all --no-color \
      --warnings off --generation-database none "$@"; then
    failed=1
  fi
}

# Several organisations and roles, so that both the allowed paths and the refusals are met.
run "autobedrijf-de-vecht compliance" \
  -H "Authorization: Bearer $(token --partner autobedrijf-de-vecht --role compliance)"
run "autobedrijf-de-vecht privacy-officer" \
  -H "Authorization: Bearer $(token --partner autobedrijf-de-vecht --role privacy-officer)"
run "riec-midden-nederland analist, coalitiebeheerder" \
  -H "Authorization: Bearer $(token --partner riec-midden-nederland --role analist,coalitiebeheerder)"
client="$data/tls/clients/politie-midden-nederland"
run "politie-midden-nederland rechercheur (scoped, mTLS)" \
  --request-cert "$client.pem" --request-cert-key "$client.key" \
  -H "Authorization: Bearer $(token --partner politie-midden-nederland --role rechercheur \
      --purpose politie-opsporing-wpg19 --case MN-2026-0042 --legal-basis wpg-art-19 \
      --consent OvJ-MN-2026-0042-B --kinds kenteken)"

if ! kill -0 "$pid" 2>/dev/null; then
  echo "the broker died during the run" >&2
  failed=1
fi
if grep -q "panicked" "$log"; then
  grep -n "panicked" "$log" >&2
  failed=1
fi
if [ "$failed" -ne 0 ]; then
  echo "== the broker's log, last lines" >&2
  tail -n 80 "$log" >&2
fi
exit "$failed"
