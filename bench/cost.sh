#!/usr/bin/env bash
# Per-request cost in CPU instructions. valgrind's callgrind counts instructions, which do not
# move with machine noise the way req/s do: the demo runs under callgrind, and for each kind of
# request the counters are zeroed, N requests are sent one after another, and the counts are
# dumped. Prints instructions per request, in total and by where the code lives (each
# function's own instructions, summed: the gateway's code, the core mock, HTTP server and
# client, JSON, crypto, SQLite, the async runtime, allocation and memory copies, URL parsing,
# the standard library and libc, telemetry).
# The core mock runs in the demo's process, so its share is shown apart. Each read is counted
# in two windows of N requests and the lower kept (background work may fall in one).
#
#   bench/cost.sh              # N=200 by default
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200}
PRODUCT=${PRODUCT:-DEP-3M-CNY}
command -v valgrind >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
# The gateway on its own, as it ships: built with the examples, it would get their
# dev-only crate features (reqwest's cookie store) and measure a build nobody runs.
cargo build --release --locked -q --bin scenegate
cargo build --release --locked -q --example partner_quickstart --example consent_quickstart

out=$(mktemp -d)
LAUNCH="valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$out/cg.%p" START_TRIES=600
. bench/lib.sh
start_demo
token=$(env $(bench_env) ./target/release/examples/partner_quickstart --print-token)
customer=$(env $(bench_env) SANDBOX_CUSTOMER=C0001 ./target/release/examples/consent_quickstart --print-token | tail -n1)
account=$(curl -sf -H "Authorization: Bearer $customer" "$gw/v1/accounts" | grep -o '"account_id":"acc_[a-z0-9]*"' | head -n1 | cut -d'"' -f4)
[ -n "$account" ] || { echo "no consented account to read" >&2; exit 1; }

measure() { # name url bearer-token: one row
  local name=$1 url=$2 bearer=$3 file row best="" round
  for _ in $(seq 1 5); do curl -sf -o /dev/null -H "Authorization: Bearer $bearer" "$url"; done # warm
  # callgrind counts every thread: background work that happens to run in a window (the
  # store's pool opening a connection, the outbox's round) is counted with the requests. Two
  # windows, the lower kept, so a row is the requests' cost and not what else was running.
  for round in 1 2; do
    callgrind_control -z "$pid" >/dev/null 2>&1
    callgrind_control -i on "$pid" >/dev/null 2>&1
    for _ in $(seq 1 "$N"); do curl -sf -o /dev/null -H "Authorization: Bearer $bearer" "$url"; done
    callgrind_control -i off "$pid" >/dev/null 2>&1
    callgrind_control -d "$name-$round" "$pid" >/dev/null 2>&1
    file=$(ls -t "$out"/cg.* | head -n1)
    callgrind_annotate --auto=no --threshold=100 "$file" 2>/dev/null >"$out/$name-$round.txt"
    row=$(awk -v n="$N" -v name="$name" -f bench/cost.awk "$out/$name-$round.txt")
    if [ -z "$best" ] || [ "$(echo "$row" | awk '{print $2}')" -lt "$(echo "$best" | awk '{print $2}')" ]; then
      best=$row
    fi
  done
  echo "$best"
}

echo "instructions per request (N=$N, release build, callgrind)"
printf '%-13s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n' request total gateway core-mock http json \
  crypto sqlite runtime alloc+mem urls std+libc telemetry other
measure products "$gw/v1/products/prd_$PRODUCT" "$token"
measure account "$gw/v1/accounts/$account" "$customer"
measure balances "$gw/v1/accounts/$account/balances" "$customer"
measure transactions "$gw/v1/accounts/$account/transactions?limit=25" "$customer"
echo "annotated dumps: $out"
