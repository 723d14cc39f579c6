#!/usr/bin/env bash
# Benchmark: durable payments through the embedded default, beside the products read in the
# same run. `POST /v1/payments` under one recurring consent, each with a fresh
# Idempotency-Key and a fresh detached JWS, from CONNECTIONS concurrent clients
# (examples/payment_load.rs); then replays of one key; then the core's ledger check.
#
#   bench/payments.sh          # DURATION=10 CONNECTIONS=64 THREADS=2 by default
#   CONSENTS=8 bench/payments.sh   # fresh payments spread over 8 recurring consents (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PRODUCT=${PRODUCT:-DEP-3M-CNY}

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
# The gateway on its own, as it ships: built with the examples, it would get their
# dev-only crate features (reqwest's cookie store) and measure a build nobody runs.
cargo build --release --locked -q --bin scenegate
cargo build --release --locked -q --example partner_quickstart --example payment_load

. bench/lib.sh
start_demo

token=$(env $(bench_env) ./target/release/examples/partner_quickstart --print-token)
wrk -t1 -c4 -d2s -H "Authorization: Bearer $token" "$gw/v1/products/prd_$PRODUCT" >/dev/null
txns() { curl -sf "$core/core/ledger/check" | sed -n 's/.*"txn_count":\([0-9]*\).*/\1/p'; }
balanced() { curl -sf "$core/core/ledger/check" | grep -o '"balanced":[a-z]*'; }

echo "payments: ${DURATION}s each, $CONNECTIONS connections, $(nproc) cores"
printf '%-22s %12s %10s %10s %8s\n' target req/s p50 p99 non-2xx
wrk_row products "$gw/v1/products/prd_$PRODUCT" "Authorization: Bearer $token"
before=$(txns)
fresh=$(env $(bench_env) SANDBOX_CUSTOMER=C0001 MODE=fresh CONNECTIONS="$CONNECTIONS" DURATION="$DURATION" \
  ./target/release/examples/payment_load | tail -n1)
after_fresh=$(txns)
replay=$(env $(bench_env) SANDBOX_CUSTOMER=C0002 MODE=replay CONNECTIONS="$CONNECTIONS" DURATION="$DURATION" \
  ./target/release/examples/payment_load | tail -n1)
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
printf '%-22s %12s %8s ms %7s ms %8s\n' "payments (fresh keys)" "$(field "$fresh" per_second)" \
  "$(field "$fresh" p50_ms)" "$(field "$fresh" p99_ms)" "$(field "$fresh" failed)"
printf '%-22s %12s %8s ms %7s ms %8s\n' "replays (one key)" "$(field "$replay" per_second)" \
  "$(field "$replay" p50_ms)" "$(field "$replay" p99_ms)" "$(field "$replay" failed)"
# Payments still pending when the run ends settle within seconds; wait for the books to stop.
for _ in $(seq 1 50); do a=$(txns); sleep 0.2; [ "$a" = "$(txns)" ] && break; done
after=$(txns)
ok=$(field "$fresh" ok)
# One posting per payment at most: the fresh ones, and the one payment the replayed key made.
echo "ledger: $(balanced); postings: $((after - before)) for $ok fresh payments and 1 replayed key"
echo "doubled postings: $(( (after - before) > ok + 1 ? (after - before) - ok - 1 : 0 ))"
awk -v r="$(field "$replay" per_second)" -v p="$(cat "$work/products.rps")" -v f="$(field "$fresh" per_second)" \
  'BEGIN { printf "replays/products: %.2f (target >= 0.50); payments/s: %s (target >= 1000)\n", r / p, f }'
