#!/usr/bin/env bash
# An ISV posting one signed warehouse report to liveshop (HTTP path), with curl and openssl.
#
#   BASE_URL=http://127.0.0.1:8004 APP_KEY=lsk_... SECRET=... \
#   ISV_ID=isv-acme-wms MERCHANT_ID=m-10086 ORDER_ID=o-2025010100001 STATUS=ACCEPTED \
#   examples/isv/post_report.sh
#
# Signature (docs/isv-quickstart.md): hex(HMAC-SHA256(SECRET,
#   "POST\n/isv/v1/reports\n<unix seconds>\n<nonce>\n" + exact body bytes)), with a new nonce per request.
# Prints the answer; exits 0 on 2xx (RECORDED, DUPLICATE, HELD), 1 otherwise (401 signature, 403, 422 rejected).
set -euo pipefail
: "${BASE_URL:?}" "${APP_KEY:?}" "${SECRET:?}" "${ISV_ID:?}" "${MERCHANT_ID:?}" "${ORDER_ID:?}"
STATUS="${STATUS:-ACCEPTED}"
REQUEST_ID="${REQUEST_ID:-${ORDER_ID}-${STATUS}}"
OCCURRED_AT="${OCCURRED_AT:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}"
TARGET="/isv/v1/reports"
EXTRA=""
if [ "$STATUS" = "WAYBILL_PRINTED" ] || [ "$STATUS" = "SHIPPED" ]; then
  EXTRA=',"waybill_no":"'"${WAYBILL_NO:-SF1234567890}"'","carrier":"SF"'
fi
BODY='{"request_id":"'"$REQUEST_ID"'","isv_id":"'"$ISV_ID"'","merchant_id":"'"$MERCHANT_ID"'","order_id":"'"$ORDER_ID"'","status":"'"$STATUS"'","occurred_at":"'"$OCCURRED_AT"'","operator":"zhangsan"'"$EXTRA"'}'
TS=$(date +%s)
NONCE=$(openssl rand -hex 16)  # new for every request, also for a retry (sign each attempt anew)
# printf keeps the body byte-exact (no trailing newline); curl sends the same bytes. The secret is
# passed to openssl on its command line here for brevity; keep it out of shell history and logs.
SIG=$(printf 'POST\n%s\n%s\n%s\n%s' "$TARGET" "$TS" "$NONCE" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
CODE=$(curl -sS -o "$OUT" -w '%{http_code}' -X POST "$BASE_URL$TARGET" \
  -H 'Content-Type: application/json' \
  -H "X-Liveshop-Isv: $APP_KEY" \
  -H "X-Liveshop-Timestamp: $TS" \
  -H "X-Liveshop-Nonce: $NONCE" \
  -H "X-Liveshop-Signature: $SIG" \
  --data-binary "$BODY")
cat "$OUT"
echo
echo "HTTP $CODE"
case "$CODE" in
  2??) exit 0 ;;
  *) exit 1 ;;
esac
