#!/usr/bin/env bash
# An ISV posting one signed warehouse report to liveshop (HTTP path), with curl and openssl.
#
#   BASE_URL=http://127.0.0.1:8004 APP_KEY=lsk_... SECRET=... \
#   ISV_ID=isv-acme-wms MERCHANT_ID=m-10086 ORDER_ID=o-2025010100001 STATUS=ACCEPTED \
#   examples/isv/post_report.sh
#
# Signature: hex(HMAC-SHA256(SECRET, "<unix seconds>\n" + exact body bytes)), see docs/isv-quickstart.md.
set -euo pipefail
: "${BASE_URL:?}" "${APP_KEY:?}" "${SECRET:?}" "${ISV_ID:?}" "${MERCHANT_ID:?}" "${ORDER_ID:?}"
STATUS="${STATUS:-ACCEPTED}"
REQUEST_ID="${REQUEST_ID:-${ORDER_ID}-${STATUS}}"
OCCURRED_AT="${OCCURRED_AT:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}"
EXTRA=""
if [ "$STATUS" = "WAYBILL_PRINTED" ] || [ "$STATUS" = "SHIPPED" ]; then
  EXTRA=',"waybill_no":"'"${WAYBILL_NO:-SF1234567890}"'","carrier":"SF"'
fi
BODY='{"request_id":"'"$REQUEST_ID"'","isv_id":"'"$ISV_ID"'","merchant_id":"'"$MERCHANT_ID"'","order_id":"'"$ORDER_ID"'","status":"'"$STATUS"'","occurred_at":"'"$OCCURRED_AT"'","operator":"zhangsan"'"$EXTRA"'}'
TS=$(date +%s)
# printf '%s' keeps the body byte-exact (no trailing newline); curl sends the same bytes.
SIG=$(printf '%s\n%s' "$TS" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)
curl -sS -w '\nHTTP %{http_code}\n' -X POST "$BASE_URL/isv/v1/reports" \
  -H 'Content-Type: application/json' \
  -H "X-Liveshop-Isv: $APP_KEY" \
  -H "X-Liveshop-Timestamp: $TS" \
  -H "X-Liveshop-Signature: $SIG" \
  --data-binary "$BODY"
