# Shared by the bench scripts: a demo (release build, quiet logs) with a bench partner whose
# quota does not cap the measurement, and wrk figures. Sets $work, $gw, $core, $pid.

start_demo() {
  work=$(mktemp -d)
  cp -r config "$work/config"
  sed -i 's/^listen = .*/listen = "127.0.0.1:0"\nops_listen = "127.0.0.1:0"/; /^public_url/d; s#^base_url = .*#base_url = "http://127.0.0.1:0"#' "$work/config/gateway.toml"
  printf '\n[log]\nlevel = "warn"\n' >>"$work/config/gateway.toml"
  # A bench partner (a copy of skytrip, reusing its demo key) with a quota and a daily limit
  # no run reaches.
  sed -e 's/^id = .*/id = "ptn_bench"/' -e 's/^requests_per_second = .*/requests_per_second = 100000/' \
    -e 's/^burst = .*/burst = 100000/' -e 's/^per_day = .*/per_day = "100000000.00"/' \
    "$work/config/partners/skytrip.toml" >"$work/config/partners/bench.toml"
  # LAUNCH prefixes the command (bench/cost.sh runs it under valgrind, which starts slowly);
  # BIN names another build of the gateway to measure (a before/after comparison).
  ${LAUNCH:-} "${BIN:-./target/release/scenegate}" demo --config "$work/config/gateway.toml" >"$work/demo.out" 2>"$work/demo.err" &
  pid=$!
  trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
  for _ in $(seq 1 "${START_TRIES:-100}"); do
    gw=$(sed -n 's/^gateway listening on //p' "$work/demo.out" | head -n1)
    core=$(sed -n 's/^  core-bank mock *\([^ ]*\).*/\1/p' "$work/demo.out" | head -n1)
    [ -n "$gw" ] && [ -n "$core" ] && break
    sleep 0.2
  done
  [ -n "${gw:-}" ] || { cat "$work/demo.err"; exit 1; }
}

bench_env() { # the bench partner's settings for the examples
  echo SCENEGATE_URL="$gw" CLIENT_ID=ptn_bench KEY_FILE="$work/config/demo-keys/ptn_skytrip.private.pem"
}

wrk_row() { # name url [header]: one row of req/s p50 p99 non-2xx; the req/s also in $work/name.rps
  local out rps p50 p99 non2xx
  if [ -n "${3:-}" ]; then
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "$3" "$2")
  else
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$2")
  fi
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  printf '%-22s %12s %10s %10s %8s\n' "$1" "$rps" "$p50" "$p99" "${non2xx:-0}"
  echo "$rps" >"$work/$1.rps"
  to_ms "$p99" >"$work/$1.p99"
}

to_ms() { # wrk's latency (e.g. 850.00us, 12.31ms, 1.02s) in milliseconds
  echo "$1" | awk '/us$/ { sub("us", ""); print $1 / 1000; next } /ms$/ { sub("ms", ""); print $1; next } /s$/ { sub("s", ""); print $1 * 1000 }'
}

cpu_snapshot() { # file: "pid comm ticks" (user + system CPU so far) of every process
  for f in /proc/[0-9]*/stat; do cat "$f" 2>/dev/null || true; done |
    awk '{ match($0, /\(.*\)/); comm = substr($0, RSTART + 1, RLENGTH - 2)
           split(substr($0, RSTART + RLENGTH + 1), f, " "); print $1, comm, f[12] + f[13] }' >"$1"
}

cpu_split() { # before after count group...: CPU between two snapshots, per group, in seconds and
  # in ms per unit of work (count units). A group is name=pid,pid,... or name=@command.
  local before=$1 after=$2 count=$3
  shift 3
  awk -v tck="$(getconf CLK_TCK)" -v count="$count" -v spec="$*" '
    BEGIN { n = split(spec, groups, " ")
      for (i = 1; i <= n; i++) { split(groups[i], kv, "="); name[i] = kv[1]
        if (substr(kv[2], 1, 1) == "@") comm_of[substr(kv[2], 2)] = i
        else { m = split(kv[2], ps, ","); for (j = 1; j <= m; j++) pid_of[ps[j]] = i } } }
    FNR == NR { seen[$1] = $NF; next }
    { g = ($1 in pid_of) ? pid_of[$1] : (($2 in comm_of) ? comm_of[$2] : 0)
      if (g) used[g] += $NF - (($1 in seen) ? seen[$1] : 0) }
    END { line = ""; for (i = 1; i <= n; i++)
        line = line sprintf("  %s %.1f s (%.2f ms)", name[i], used[i] / tck, count > 0 ? used[i] / tck * 1000 / count : 0)
      print line }' "$before" "$after"
}
