#!/usr/bin/env bash
# The partner quickstart with curl and openssl only: sign a private_key_jwt client
# assertion (ES256), get an access token, list products, fetch one.
#
#   cargo run --release -- demo          # in another terminal
#   examples/curl/quickstart.sh
#
# Environment (defaults: the demo partner ptn_skytrip):
#   SCENEGATE_URL, CLIENT_ID, KEY_FILE (PKCS#8 EC P-256 PEM), KEY_ID
set -euo pipefail

BASE=${SCENEGATE_URL:-http://127.0.0.1:8080}
CLIENT_ID=${CLIENT_ID:-ptn_skytrip}
KEY_FILE=${KEY_FILE:-config/demo-keys/ptn_skytrip.private.pem}
KEY_ID=${KEY_ID:-skytrip-2026-11}
TOKEN_ENDPOINT="$BASE/oauth2/token"

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# JOSE wants the ECDSA signature as r||s (64 bytes); openssl gives DER. Pull r and s out
# of the DER and left-pad each to 32 bytes.
der_to_jose() {
  local hex r s
  hex=$(openssl asn1parse -inform DER | awk -F: '/INTEGER/ {print $NF}')
  r=$(echo "$hex" | sed -n 1p); s=$(echo "$hex" | sed -n 2p)
  r=$(printf '%064s' "${r: -64}" | tr ' ' 0); s=$(printf '%064s' "${s: -64}" | tr ' ' 0)
  printf "$(echo "$r$s" | sed 's/../\\x&/g')"
}

now=$(date +%s)
jti=$(openssl rand -hex 16)
header=$(printf '{"alg":"ES256","typ":"JWT","kid":"%s"}' "$KEY_ID" | b64url)
claims=$(printf '{"iss":"%s","sub":"%s","aud":"%s","iat":%d,"exp":%d,"jti":"%s"}' \
  "$CLIENT_ID" "$CLIENT_ID" "$TOKEN_ENDPOINT" "$now" "$((now + 60))" "$jti" | b64url)
signature=$(printf '%s.%s' "$header" "$claims" | openssl dgst -sha256 -sign "$KEY_FILE" | der_to_jose | b64url)
assertion="$header.$claims.$signature"

echo "== POST /oauth2/token"
token_response=$(curl -sS "$TOKEN_ENDPOINT" \
  --data-urlencode grant_type=client_credentials \
  --data-urlencode client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
  --data-urlencode "client_assertion=$assertion" \
  --data-urlencode scope=products:read)
echo "$token_response"
token=$(echo "$token_response" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "no access token; the token endpoint answered: $token_response" >&2; exit 1; }

echo "== GET /v1/products?type=deposit&limit=3"
curl -sS -H "Authorization: Bearer $token" "$BASE/v1/products?type=deposit&limit=3"
echo
echo "== GET /v1/products/prd_DEP-3M-CNY"
curl -sS -H "Authorization: Bearer $token" "$BASE/v1/products/prd_DEP-3M-CNY"
echo
echo "== GET /v1/products/prd_NOPE (an error is a problem document)"
curl -sS -H "Authorization: Bearer $token" "$BASE/v1/products/prd_NOPE"
echo
