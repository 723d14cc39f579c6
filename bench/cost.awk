# bench/cost.sh: sums callgrind_annotate's self counts ("count (pct) file:function [object]")
# by where each function lives, and prints them per request (-v n=requests -v name=row).
/PROGRAM TOTALS/ { c = $1; gsub(",", "", c); total = c; next }
/^ *[0-9,]+ \(/ {
  c = $1; gsub(",", "", c)
  if ($0 ~ /corebank-mock\/|scenegate_corebank_mock/) k = "core-mock"
  else if ($0 ~ /sqlite3|sqlx/) k = "sqlite"
  else if ($0 ~ /aws_lc|aws-lc|ring-|p256|jsonwebtoken|sha2|ecdsa/) k = "crypto"
  else if ($0 ~ /serde_json|serde-|serde_core/) k = "json"
  else if ($0 ~ /hyper|\/http-|httparse|reqwest|h2-/) k = "http"
  else if ($0 ~ /tokio|futures|mio-/) k = "runtime"
  else if ($0 ~ /mi_|mimalloc|malloc|free|memcpy|memmove|memset|memcmp/) k = "alloc+mem"
  else if ($0 ~ /tracing|metrics/) k = "telemetry"
  else if ($0 ~ /url-|idna|percent.encoding/) k = "urls"
  else if ($0 ~ /work\/main\/src|[ :]src\/|scenegate::/) k = "gateway"
  else if ($0 ~ /\/rustc\/|libc\.so|nptl|sysdeps/) k = "std+libc"
  else k = "other"
  sum[k] += c
}
END {
  printf "%-13s %9d", name, total / n
  split("gateway core-mock http json crypto sqlite runtime alloc+mem urls std+libc telemetry other", ks, " ")
  for (i = 1; i <= 12; i++) printf " %9d", sum[ks[i]] / n
  printf "\n"
}
