#!/usr/bin/env bash
# An ISV producing one signed warehouse report to liveshop (Kafka path), with kcat and openssl.
#
#   BOOTSTRAP=kafka.liveshop.example:9092 \
#   KAFKA_SECURITY_PROTOCOL=SASL_SSL KAFKA_SASL_USERNAME=isv KAFKA_SASL_PASSWORD=... \
#   APP_KEY=lsk_... SECRET=... ISV_ID=isv-acme-wms MERCHANT_ID=m-10086 ORDER_ID=o-2025010100001 \
#   STATUS=ACCEPTED examples/isv/produce_report_kcat.sh
#
# Optional: OCCURRED_AT (default now), REQUEST_ID (default <order>-<status>; reuse it on a retry),
# WAYBILL_NO, NAMESPACE (topic prefix of a dev / demo system; never part of what is signed),
# KAFKA_SASL_MECHANISM (default SCRAM-SHA-512), KAFKA_SSL_CAFILE, MESSAGE_TIMEOUT_MS (default 30000).
# KAFKA_SECURITY_PROTOCOL: SASL_SSL in production, SASL_PLAINTEXT on the development stack (the
# default), PLAINTEXT only on an unsecured local cluster.
#
# The record (docs/isv-quickstart.md, section 4): topic liveshop.isv.reports, key = order id, value =
# the JSON report, CloudEvents headers (ce_*) and the four signature headers, where
#   x-liveshop-signature = hex(HMAC-SHA256(SECRET,
#       "KAFKA\nliveshop.isv.reports\n<unix seconds>\n<nonce>\n" + exact value bytes))
# with a new nonce per record. The value is written to a file and kcat sends that file as one
# message, so the bytes signed are the bytes sent (no delimiter or trailing newline issues).
#
# Exits 0 once the broker acknowledged the record (acks=all), non-zero otherwise. Acknowledged is not
# accepted: the service's verdict on a rejected report comes on liveshop.isv.rejections (and
# GET /isvs/{isv_id}/rejections), e.g. BAD_SIGNATURE when SECRET is wrong.
set -euo pipefail
: "${BOOTSTRAP:?}" "${APP_KEY:?}" "${SECRET:?}" "${ISV_ID:?}" "${MERCHANT_ID:?}" "${ORDER_ID:?}"
command -v kcat >/dev/null 2>&1 || { echo "kcat is not installed (Debian/Ubuntu: apt-get install kcat)" >&2; exit 2; }
STATUS="${STATUS:-ACCEPTED}"
REQUEST_ID="${REQUEST_ID:-${ORDER_ID}-${STATUS}}"
OCCURRED_AT="${OCCURRED_AT:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}"
SIGNED_TOPIC="liveshop.isv.reports"                         # what is signed: never the prefix
TOPIC="${NAMESPACE:+${NAMESPACE}.}${SIGNED_TOPIC}"         # where it goes
PROTOCOL="${KAFKA_SECURITY_PROTOCOL:-SASL_PLAINTEXT}"
EXTRA=""
if [ "$STATUS" = "WAYBILL_PRINTED" ] || [ "$STATUS" = "SHIPPED" ]; then
  EXTRA=',"waybill_no":"'"${WAYBILL_NO:-SF1234567890}"'","carrier":"SF"'
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The value, byte-exact (printf: no trailing newline). Values are not JSON-escaped here: keep ids plain.
printf '%s' '{"request_id":"'"$REQUEST_ID"'","isv_id":"'"$ISV_ID"'","merchant_id":"'"$MERCHANT_ID"'","order_id":"'"$ORDER_ID"'","status":"'"$STATUS"'","occurred_at":"'"$OCCURRED_AT"'","operator":"zhangsan"'"$EXTRA"'}' >"$WORK/value.json"

TS=$(date +%s)
NONCE=$(openssl rand -hex 16)  # new for every record, also for a retry (sign each attempt anew)
# The secret is on openssl's command line here for brevity; keep it out of shell history and logs.
SIG=$({ printf 'KAFKA\n%s\n%s\n%s\n' "$SIGNED_TOPIC" "$TS" "$NONCE"; cat "$WORK/value.json"; } |
      openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)

# Kafka connection: a private config file (-F) keeps the SASL password off the command line.
umask 077
{
  echo "security.protocol=$PROTOCOL"
  if [ "$PROTOCOL" != "PLAINTEXT" ]; then
    : "${KAFKA_SASL_USERNAME:?}" "${KAFKA_SASL_PASSWORD:?}"
    echo "sasl.mechanisms=${KAFKA_SASL_MECHANISM:-SCRAM-SHA-512}"
    echo "sasl.username=$KAFKA_SASL_USERNAME"
    echo "sasl.password=$KAFKA_SASL_PASSWORD"
  fi
  if [ -n "${KAFKA_SSL_CAFILE:-}" ]; then echo "ssl.ca.location=$KAFKA_SSL_CAFILE"; fi
  echo "acks=all"
  echo "enable.idempotence=true"
  echo "message.timeout.ms=${MESSAGE_TIMEOUT_MS:-30000}"
  # murmur2 as the Java and aiokafka clients: one order's records land on the same partition
  # whichever client produced them (librdkafka's default hashes keys differently).
  echo "topic.partitioner=murmur2_random"
} >"$WORK/kafka.conf"

# kcat exits non-zero when the record is not delivered (authentication, ACL, unreachable broker,
# timeout), and so does this script (set -e).
kcat -P -q -F "$WORK/kafka.conf" -b "$BOOTSTRAP" -t "$TOPIC" -k "$ORDER_ID" \
  -H "ce_id=$REQUEST_ID" \
  -H "ce_source=isv/$ISV_ID/wms" \
  -H "ce_type=liveshop.isv.WarehouseOperationReported.v1" \
  -H "ce_time=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -H "ce_specversion=1.0" \
  -H "ce_dataschema=urn:liveshop:schema:liveshop.isv.WarehouseOperationReported.v1" \
  -H "ce_subject=$ORDER_ID" \
  -H "content-type=application/json" \
  -H "x-liveshop-isv=$APP_KEY" \
  -H "x-liveshop-timestamp=$TS" \
  -H "x-liveshop-nonce=$NONCE" \
  -H "x-liveshop-signature=$SIG" \
  "$WORK/value.json"
echo "produced $STATUS ($REQUEST_ID) to $TOPIC key=$ORDER_ID"
