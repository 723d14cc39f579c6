#!/usr/bin/env bash
# Benchmark: the products read through a three-instance cluster (PostgreSQL + Redis, nginx
# in front, examples/cluster/) beside the embedded default (`scenegate demo`), in one run,
# with wrk on loopback, on the same core-bank mock's data.
#
#   bench/cluster.sh          # DURATION=10 CONNECTIONS=64 THREADS=2 by default
#   BIN=other/release/scenegate bench/cluster.sh   # another build of the gateway (before/after)
#   CONSENTS=8 bench/cluster.sh   # the payments spread over 8 recurring consents (default 1)
#   WARMUP=0 bench/cluster.sh     # payments measured on the cold database (default: 3 s warm-up)
#
# Needs PostgreSQL at 127.0.0.1:5432 (user postgres; a scratch database is created and
# dropped) and Redis at 127.0.0.1:6379 (keys under a unique prefix, deleted after); installs
# nginx and wrk from Debian when missing. Prints req/s, p50, p99 and cluster/embedded for the
# products read and for a consent-scoped read (an account's balances, with a customer's
# consent-bound token), then durable payments per second (fresh keys) for both, and the
# ledger check.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PRODUCT=${PRODUCT:-DEP-3M-CNY}
PG=${PG:-postgres://postgres@127.0.0.1:5432}

for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null; }
done
# The gateway on its own, as it ships: built with the examples, it would get their
# dev-only crate features (reqwest's cookie store) and measure a build nobody runs.
cargo build --release --locked -q --bin scenegate
cargo build --release --locked -q --example partner_quickstart --example consent_quickstart --example payment_load
bin=${BIN:-./target/release/scenegate}
. bench/lib.sh

work=$(mktemp -d)
db="scenegate_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx/nginx.pid" ] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  # This run's keys only (its own prefix): most expire, the change marks' incarnation does not.
  [ -n "${prefix:-}" ] && redis-cli --scan --pattern "$prefix:*" | xargs -r redis-cli del >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$PG/postgres" -qc "CREATE DATABASE $db" >/dev/null

# Partners: the demo's, plus a bench partner whose quota does not cap the measurement and
# which reads its events by polling (no webhook): otherwise both setups spend the run, and
# the embedded default the cluster's run too, retrying deliveries to a receiver not there.
mkdir -p "$work/partners"
cp config/partners/*.toml "$work/partners/"
sed -e 's/^id = .*/id = "ptn_bench"/' -e 's/^requests_per_second = .*/requests_per_second = 100000/' \
  -e 's/^burst = .*/burst = 100000/' -e '/^webhook_url = /d' -e "s#\"\\.\\./demo-keys/#\"$PWD/config/demo-keys/#" \
  config/partners/skytrip.toml >"$work/partners/bench.toml"
sed -i "s#\"\\.\\./demo-keys/#\"$PWD/config/demo-keys/#" "$work"/partners/*.toml

wait_url() { # url: bounded wait for an answer
  for _ in $(seq 1 150); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done
  echo "no answer from $1" >&2; exit 1
}

# One core-bank mock for both setups.
"$bin" core-mock --listen 127.0.0.1:19090 --data-dir "$work/core" >"$work/core.log" 2>&1 &
pids+=($!)
wait_url http://127.0.0.1:19090/core/health

# The cluster: three instances from examples/cluster/gateway.toml, nginx in front.
prefix="bench-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
# Three instances on this machine's cores: each gets its share (server.worker_threads), as an
# operator co-locating them would configure; the embedded default keeps a thread per core.
threads_each=$(( $(nproc) / 3 )); [ "$threads_each" -ge 1 ] || threads_each=1
for port in 18081 18082 18083; do
  sed -e "s/^listen = .*/listen = \"127.0.0.1:$port\"/" \
    -e 's/^ops_listen = .*/ops_listen = "127.0.0.1:0"/' \
    -e 's#^public_url = .*#public_url = "http://127.0.0.1:18080"#' \
    -e 's#^base_url = .*#base_url = "http://127.0.0.1:19090"#' \
    -e "s#^url = \"postgres://.*#url = \"$PG/$db\"#" \
    -e "s#^key_prefix = .*#key_prefix = \"$prefix\"#" \
    -e "s#^dir = .*#dir = \"$work/partners\"#" \
    -e 's/^level = .*/level = "warn"/' -e "s/^# worker_threads = .*/worker_threads = $threads_each/" \
    examples/cluster/gateway.toml >"$work/gw-$port.toml"
  printf '[sandbox]\nheadless_customers = ["C0001", "C0002"]\n' >>"$work/gw-$port.toml"
  "$bin" serve --config "$work/gw-$port.toml" >"$work/gw-$port.out" 2>"$work/gw-$port.err" &
  pids+=($!)
  [ "$port" = 18081 ] && wait_url http://127.0.0.1:18081/healthz # the first migrates
done
for port in 18082 18083; do wait_url "http://127.0.0.1:$port/healthz"; done
mkdir -p "$work/nginx"
sed -e 's/127.0.0.1:8080/127.0.0.1:18080/; s/127.0.0.1:8081/127.0.0.1:18081/; s/127.0.0.1:8082/127.0.0.1:18082/' \
  -e 's/127.0.0.1:8083/127.0.0.1:18083/' examples/cluster/nginx.conf >"$work/nginx/nginx.conf"
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx/"
wait_url http://127.0.0.1:18080/healthz

# The embedded default beside it: one process, SQLite, in-process limits, same core.
mkdir -p "$work/embedded"
printf '[server]\nlisten = "127.0.0.1:18090"\nops_listen = "127.0.0.1:0"\n[core]\nbase_url = "http://127.0.0.1:19090"\n[storage]\ndata_dir = "data"\n[partners]\ndir = "%s"\n[sandbox]\nheadless_customers = ["C0001", "C0002"]\n[log]\nlevel = "warn"\n' \
  "$work/partners" >"$work/embedded/gateway.toml"
"$bin" serve --config "$work/embedded/gateway.toml" >"$work/embedded.out" 2>"$work/embedded.err" &
pids+=($!)
wait_url http://127.0.0.1:18090/healthz

token_for() { # base url
  SCENEGATE_URL="$1" CLIENT_ID=ptn_bench KEY_FILE="$PWD/config/demo-keys/ptn_skytrip.private.pem" \
    ./target/release/examples/partner_quickstart --print-token
}
embedded_token=$(token_for http://127.0.0.1:18090)
cluster_token=$(token_for http://127.0.0.1:18080)
for target in "http://127.0.0.1:18090 $embedded_token" "http://127.0.0.1:18080 $cluster_token"; do
  set -- $target
  wrk -t1 -c4 -d2s -H "Authorization: Bearer $2" "$1/v1/products/prd_$PRODUCT" >/dev/null # warm up
done
echo "GET product, ${DURATION}s each, $CONNECTIONS connections, $THREADS threads, $(nproc) cores, same core mock;" \
  "cluster instances with $threads_each worker thread(s) each"
printf '%-22s %12s %10s %10s %8s\n' target req/s p50 p99 non-2xx
wrk_row embedded "http://127.0.0.1:18090/v1/products/prd_$PRODUCT" "Authorization: Bearer $embedded_token"
wrk_row cluster "http://127.0.0.1:18080/v1/products/prd_$PRODUCT" "Authorization: Bearer $cluster_token"
awk -v c="$(cat "$work/cluster.rps")" -v e="$(cat "$work/embedded.rps")" \
  'BEGIN { printf "cluster/embedded throughput ratio: %.2f (target >= 0.80)\n", c / e }'

# A consent-scoped read: a headless test customer approves a consent for the bench partner
# (C0001 on the embedded default, C0002 on the cluster, as for the payments below).
balances_url() { # base url, customer → the url; the token in $work/customer-token
  local token account
  token=$(SCENEGATE_URL="$1" CLIENT_ID=ptn_bench KEY_FILE="$PWD/config/demo-keys/ptn_skytrip.private.pem" \
    SANDBOX_CUSTOMER="$2" ./target/release/examples/consent_quickstart --print-token | tail -n1)
  account=$(curl -sf -H "Authorization: Bearer $token" "$1/v1/accounts" | grep -o '"account_id":"acc_[a-z0-9]*"' | head -n1 | cut -d'"' -f4)
  [ -n "$account" ] || { echo "no consented account to read at $1" >&2; exit 1; }
  echo "$token" >"$work/customer-token"
  echo "$1/v1/accounts/$account/balances"
}
embedded_balances=$(balances_url http://127.0.0.1:18090 C0001)
embedded_customer=$(cat "$work/customer-token")
cluster_balances=$(balances_url http://127.0.0.1:18080 C0002)
cluster_customer=$(cat "$work/customer-token")
wrk -t1 -c4 -d2s -H "Authorization: Bearer $embedded_customer" "$embedded_balances" >/dev/null
wrk -t1 -c4 -d2s -H "Authorization: Bearer $cluster_customer" "$cluster_balances" >/dev/null
echo "GET balances (consent-scoped), same settings"
wrk_row embedded-balances "$embedded_balances" "Authorization: Bearer $embedded_customer"
wrk_row cluster-balances "$cluster_balances" "Authorization: Bearer $cluster_customer"
awk -v c="$(cat "$work/cluster-balances.rps")" -v e="$(cat "$work/embedded-balances.rps")" \
  'BEGIN { printf "cluster/embedded balances ratio: %.2f\n", c / e }'

# Durable payments, fresh keys, under one recurring consent each (examples/payment_load.rs).
pay() { # base url, customer[, seconds]
  SCENEGATE_URL="$1" CLIENT_ID=ptn_bench KEY_FILE="$PWD/config/demo-keys/ptn_skytrip.private.pem" \
    SANDBOX_CUSTOMER="$2" MODE=fresh CONNECTIONS="$CONNECTIONS" DURATION="${3:-$DURATION}" \
    ./target/release/examples/payment_load | tail -n1 | tr ' ' '\n' | sed -n 's/^per_second=//p'
}
# CPU per process group over each payments run (the load generator not counted: it has exited).
gateways="${pids[1]},${pids[2]},${pids[3]}" core="${pids[0]}" embedded="${pids[4]}"
# A warm-up on both, then ANALYZE on the cluster's database, before measuring. On a database
# created moments ago, each instance's prepared statements keep the plans PostgreSQL made
# while the tables were nearly empty (a sequential scan of `payments` per batch of
# settlements, which grows with the run) until the tables' statistics change, as autovacuum
# sees to within a minute in operation. WARMUP=0 measures that cold start.
if [ "$WARMUP" -gt 0 ]; then
  echo "payments: ${WARMUP}s warm-up on each, then ANALYZE on the cluster's database; ${DURATION}s measured"
  pay http://127.0.0.1:18090 C0001 "$WARMUP" >/dev/null
  pay http://127.0.0.1:18080 C0002 "$WARMUP" >/dev/null
  psql "$PG/$db" -qc "ANALYZE" >/dev/null
else
  echo "payments: no warm-up (a database created for this run); ${DURATION}s measured"
fi
cpu_snapshot "$work/cpu0"
embedded_pay=$(pay http://127.0.0.1:18090 C0001)
cpu_snapshot "$work/cpu1"
cluster_pay=$(pay http://127.0.0.1:18080 C0002)
cpu_snapshot "$work/cpu2"
printf '%-22s %12s\n%-22s %12s\n' "embedded payments/s" "$embedded_pay" "cluster payments/s" "$cluster_pay"
awk -v c="$cluster_pay" -v e="$embedded_pay" 'BEGIN { printf "cluster/embedded payments ratio: %.2f (target >= 0.50)\n", c / e }'
echo "CPU, seconds (ms per payment):"
echo "  embedded:$(cpu_split "$work/cpu0" "$work/cpu1" $((${embedded_pay:-0} * DURATION)) gateway="$embedded" core-mock="$core")"
echo "  cluster: $(cpu_split "$work/cpu1" "$work/cpu2" $((${cluster_pay:-0} * DURATION)) gateways="$gateways" core-mock="$core" \
  postgres=@postgres redis=@redis-server nginx=@nginx)"
curl -sf http://127.0.0.1:19090/core/ledger/check | grep -o '"balanced":[a-z]*'
