#!/usr/bin/env bash
# Benchmark: GET /v1/products/{id} through the gateway (token verified, partner checked,
# scope, rate limit, adapter, core call, normalisation) against the same product fetched
# straight from the core-bank mock, and the three consent-scoped reads (one account, its
# balances, 25 of its transactions) with a customer's consent-bound token, in the same run,
# with wrk on loopback.
#
#   bench/run.sh                  # DURATION=10 CONNECTIONS=64 THREADS=2 by default
#
# Prints requests/s, p50 and p99 of each, the gateway/direct ratio and each account read's
# ratio to the products read (issue #10's targets: account >= 0.9, balances >= 0.8,
# transactions >= 0.5, each p99 <= 1.5x the products read's), and client-credentials tokens per
# second with a fresh assertion each (target >= 2000). With PEERS=1 and
# ../shared/bench/peers.sh present, also runs nginx and HAProxy (ES256 JWT) against the same
# core in the same run.
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
cargo build --release --locked -q --example partner_quickstart --example consent_quickstart --example token_load

. bench/lib.sh
start_demo

token=$(env $(bench_env) ./target/release/examples/partner_quickstart --print-token)

# Warm both paths (connection pools, caches) before measuring.
wrk -t1 -c4 -d2s -H "Authorization: Bearer $token" "$gw/v1/products/prd_$PRODUCT" >/dev/null
echo "GET product, ${DURATION}s each, $CONNECTIONS connections, $THREADS threads, $(nproc) cores"
printf '%-22s %12s %10s %10s %8s\n' target req/s p50 p99 non-2xx
wrk_row direct "$core/core/products/$PRODUCT"
wrk_row gateway "$gw/v1/products/prd_$PRODUCT" "Authorization: Bearer $token"
awk -v g="$(cat "$work/gateway.rps")" -v d="$(cat "$work/direct.rps")" \
  'BEGIN { printf "gateway/direct throughput ratio: %.2f\n", g / d }'

# The consent-scoped reads: the demo's test customer approves a consent for the bench partner.
customer=$(env $(bench_env) SANDBOX_CUSTOMER=C0001 ./target/release/examples/consent_quickstart --print-token | tail -n1)
account=$(curl -sf -H "Authorization: Bearer $customer" "$gw/v1/accounts" | grep -o '"account_id":"acc_[a-z0-9]*"' | head -n1 | cut -d'"' -f4)
[ -n "$account" ] || { echo "no consented account to read" >&2; exit 1; }
wrk -t1 -c4 -d2s -H "Authorization: Bearer $customer" "$gw/v1/accounts/$account/balances" >/dev/null
wrk_row account "$gw/v1/accounts/$account" "Authorization: Bearer $customer"
wrk_row balances "$gw/v1/accounts/$account/balances" "Authorization: Bearer $customer"
wrk_row transactions "$gw/v1/accounts/$account/transactions?limit=25" "Authorization: Bearer $customer"
# The token endpoint: every request a fresh private_key_jwt assertion (verified, jti recorded).
tokens=$(env $(bench_env) CONNECTIONS="$CONNECTIONS" DURATION="$DURATION" ./target/release/examples/token_load | tail -n1)
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
printf '%-22s %12s %8s ms %7s ms %8s\n' "tokens (client creds)" "$(field "$tokens" per_second)" \
  "$(field "$tokens" p50_ms)" "$(field "$tokens" p99_ms)" "$(field "$tokens" failed)"
for read in account balances transactions; do
  awk -v r="$(cat "$work/$read.rps")" -v g="$(cat "$work/gateway.rps")" -v rp="$(cat "$work/$read.p99")" \
    -v gp="$(cat "$work/gateway.p99")" -v n="$read" \
    'BEGIN { printf "%s/products: %.2f throughput, %.2f p99\n", n, r / g, rp / gp }'
done

if [ "${PEERS:-0}" = 1 ] && [ -x ../shared/bench/peers.sh ]; then
  echo; echo "== peers on the same core (../shared/bench/peers.sh)"
  UPSTREAM="${core#http://}" PATH_QS="/core/products/$PRODUCT" GATEWAY_URL="$gw/v1/products/prd_$PRODUCT" \
    GATEWAY_TOKEN_CMD="echo $token" DURATION="$DURATION" ../shared/bench/peers.sh
fi
