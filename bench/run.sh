#!/usr/bin/env bash
# Benchmark: GET /v1/products/{id} through the gateway (token verified, partner checked,
# scope, rate limit, adapter, core call, normalisation) against the same product fetched
# straight from the core-bank mock, in the same run, with wrk on loopback.
#
#   bench/run.sh                  # DURATION=10 CONNECTIONS=64 THREADS=2 by default
#
# Prints requests/s, p50 and p99 for both and the gateway/direct ratio. With
# PEERS=1 and ../shared/bench/peers.sh present, also runs nginx and HAProxy (ES256 JWT)
# against the same core in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PRODUCT=${PRODUCT:-DEP-3M-CNY}

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked -q --bin scenegate --example partner_quickstart

work=$(mktemp -d)
cp -r config "$work/config"
sed -i 's/^listen = .*/listen = "127.0.0.1:0"/; /^public_url/d; s#^base_url = .*#base_url = "http://127.0.0.1:0"#' "$work/config/gateway.toml"
printf '\n[log]\nlevel = "warn"\n' >>"$work/config/gateway.toml"
# A bench partner whose quota does not cap the measurement; it reuses a demo key.
sed -e 's/^id = .*/id = "ptn_bench"/' -e 's/^requests_per_second = .*/requests_per_second = 100000/' \
    -e 's/^burst = .*/burst = 100000/' "$work/config/partners/skytrip.toml" >"$work/config/partners/bench.toml"

./target/release/scenegate demo --config "$work/config/gateway.toml" >"$work/demo.out" 2>"$work/demo.err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  gw=$(sed -n 's/^gateway listening on //p' "$work/demo.out" | head -n1)
  core=$(sed -n 's/^  core-bank mock *//p' "$work/demo.out" | head -n1)
  [ -n "$gw" ] && [ -n "$core" ] && break
  sleep 0.2
done
[ -n "${gw:-}" ] || { cat "$work/demo.err"; exit 1; }

token=$(SCENEGATE_URL="$gw" CLIENT_ID=ptn_bench KEY_FILE="$work/config/demo-keys/ptn_skytrip.private.pem" \
  ./target/release/examples/partner_quickstart --print-token)

run() { # name url [header]
  local out
  if [ -n "${3:-}" ]; then
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "$3" "$2")
  else
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$2")
  fi
  local rps p50 p99 non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  printf '%-10s %12s %10s %10s %8s\n' "$1" "$rps" "$p50" "$p99" "${non2xx:-0}"
  echo "$rps" >"$work/$1.rps"
}

# Warm both paths (connection pools, caches) before measuring.
wrk -t1 -c4 -d2s -H "Authorization: Bearer $token" "$gw/v1/products/prd_$PRODUCT" >/dev/null
echo "GET product, ${DURATION}s each, $CONNECTIONS connections, $THREADS threads, $(nproc) cores"
printf '%-10s %12s %10s %10s %8s\n' target req/s p50 p99 non-2xx
run direct "$core/core/products/$PRODUCT"
run gateway "$gw/v1/products/prd_$PRODUCT" "Authorization: Bearer $token"
awk -v g="$(cat "$work/gateway.rps")" -v d="$(cat "$work/direct.rps")" \
  'BEGIN { printf "gateway/direct throughput ratio: %.2f\n", g / d }'

if [ "${PEERS:-0}" = 1 ] && [ -x ../shared/bench/peers.sh ]; then
  echo; echo "== peers on the same core (../shared/bench/peers.sh)"
  UPSTREAM="${core#http://}" PATH_QS="/core/products/$PRODUCT" GATEWAY_URL="$gw/v1/products/prd_$PRODUCT" \
    GATEWAY_TOKEN_CMD="echo $token" DURATION="$DURATION" ../shared/bench/peers.sh
fi
