#!/bin/bash
# The partner CLI's upload rate against the raw bulk route (docs/PARTNERS.md, "How fast").
#
#   broker/benches/partner_upload_rate.sh [BIN] [ROWS]     # default target/release/kruispunt, 1000000
#
# Writes ROWS rows as a Dutch Excel CSV (byte-order mark, `;`, CRLF, dd-mm-jjjj dates, distinct
# plates) and the same number of NDJSON signals, then, each on a fresh development broker
# (SQLite, port 18543, rate limit lifted): `kruispunt signals upload` of the CSV — reading,
# normalising and pseudonymising included — and `curl` of the NDJSON to POST /v1/signals/bulk.
# Prints rows per second of wall time for both. Needs python3 and curl.
set -euo pipefail
BIN=${1:-target/release/kruispunt}; N=${2:-1000000}
BIN=$(realpath "$BIN")
D=${TMPDIR:-/tmp}/kruispunt-partner-rate; mkdir -p "$D"
[ -f "$D/rows-$N.csv" ] || python3 - "$N" "$D/rows-$N" <<'PY'
import sys, random
n = int(sys.argv[1]); out = sys.argv[2]
L = "BCDFGHJKLMNPRSTVWXZ"   # 19 letters: 19^3 * 1000 distinct plates of sidecode 9 (XX-999-X)
assert n <= 19 ** 3 * 1000
with open(out + ".csv", "w", newline="") as f:
    f.write("\ufeffKenteken;Datum;Gemeente\r\n")
    i = 0
    for a in L:
        for b in L:
            for c in L:
                for d in range(1000):
                    if i >= n: break
                    f.write(f"{a}{b}-{d:03}-{c};{1 + i % 28}-11-2026;GM0307\r\n")
                    i += 1
rnd = random.Random(1)
with open(out + ".ndjson", "w") as f:
    for i in range(n):
        f.write('{"kind":"kenteken","pseudonym":"%064x","key_version":1,"code":"cash-car-purchase",'
                '"observed":"2026-11-%02d","district":"oost-utrecht","gemeente":"GM0307",'
                '"purposes":["autobranche-contante-aankopen"]}\n' % (rnd.getrandbits(256), 1 + i % 28))
PY
measure() {  # NAME COMMAND…: on a fresh broker, the wall time of COMMAND
  local name=$1; shift
  rm -rf "$D/data"; "$BIN" init --data-dir "$D/data" --listen 127.0.0.1:18543 >/dev/null
  sed -i -e 's/^requests_per_second = .*/requests_per_second = 100000.0/' \
         -e 's/^burst = .*/burst = 100000.0/' "$D/data/kruispunt.toml"
  "$BIN" serve --data-dir "$D/data" > "$D/serve.log" 2>&1 & local pid=$!
  for _ in $(seq 100); do
    curl -s --cacert "$D/data/tls/ca.pem" https://127.0.0.1:18543/healthz >/dev/null && break; sleep 0.2
  done
  export KRUISPUNT_TOKEN=$("$BIN" token --data-dir "$D/data" --partner autobedrijf-de-vecht --role compliance --ttl 2h)
  local t0 t1; t0=$(date +%s.%N)
  "$@" > "$D/$name.out" 2>&1 || true
  t1=$(date +%s.%N)
  kill $pid; wait $pid 2>/dev/null || true
  python3 -c "t=$t1-$t0; print('$name: %d rows in %.1f s = %.0f rows/s' % ($N, t, $N/t))"
  tail -1 "$D/$name.out"; echo
}
export KRUISPUNT_COALITION_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
measure cli "$BIN" signals upload "$D/rows-$N.csv" --url https://127.0.0.1:18543 --ca "$D/data/tls/ca.pem" \
  --column kenteken=Kenteken --column observed=Datum --column gemeente=Gemeente \
  --code cash-car-purchase --purpose autobranche-contante-aankopen
measure bulk sh -c "curl -s --cacert '$D/data/tls/ca.pem' -H \"authorization: Bearer \$KRUISPUNT_TOKEN\" \
  -H 'content-type: application/x-ndjson' --data-binary @'$D/rows-$N.ndjson' https://127.0.0.1:18543/v1/signals/bulk"
