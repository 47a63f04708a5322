"""An ISV producing signed warehouse reports to liveshop with the contracts package (Kafka path).

    LIVESHOP_ISV_SECRET=... KAFKA_SECURITY_PROTOCOL=SASL_SSL KAFKA_SASL_USERNAME=isv KAFKA_SASL_PASSWORD=... \\
    uv run python examples/isv/produce_reports.py --isv-id isv-acme-wms --app-key lsk_... \\
        --merchant-id m-10086 --order-id o-2025010100001 [--bootstrap 127.0.0.1:9092] [--namespace demoabc123]

Produces ACCEPTED, PICKING, PICKED, WAYBILL_PRINTED and PACKED for one order to
``liveshop.isv.reports`` (key = order id, CloudEvents headers, ce_id = request id), each record
signed with the ISV's app key and secret (headers ``x-liveshop-isv``, ``-timestamp``, ``-nonce``,
``-signature``; docs/isv-quickstart.md), then reads ``liveshop.isv.rejections`` for a few seconds
and prints the rejections keyed by this ISV. The Kafka connection uses the ``KAFKA_*`` variables
(the shared ``isv`` principal: it may write the reports topic and read the rejections topic with a
consumer group named ``isv.<...>``). ``--namespace`` is the topic prefix of a dev / demo system.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import secrets
import sys
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.events.isv import ISV_REJECTIONS, WarehouseOperationReported, WarehouseReportRejected
from liveshop.shared.kafka_auth import KafkaAuth

STEPS = [("ACCEPTED", 0), ("PICKING", 60), ("PICKED", 180), ("WAYBILL_PRINTED", 200), ("PACKED", 240)]


def signature_headers(app_key: str, secret: str, value: bytes) -> list[tuple[str, bytes]]:
    """Sign a record value: HMAC-SHA256(secret, "KAFKA\\nliveshop.isv.reports\\n<ts>\\n<nonce>\\n" + value)."""
    ts, nonce = str(int(datetime.now(UTC).timestamp())), secrets.token_urlsafe(18)
    msg = f"KAFKA\nliveshop.isv.reports\n{ts}\n{nonce}\n".encode() + value
    sig = hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()
    return [
        ("x-liveshop-isv", app_key.encode()),
        ("x-liveshop-timestamp", ts.encode()),
        ("x-liveshop-nonce", nonce.encode()),
        ("x-liveshop-signature", sig.encode()),
    ]


async def main(args: argparse.Namespace) -> int:
    secret = os.environ.get("LIVESHOP_ISV_SECRET", "")
    if not secret:
        print("set LIVESHOP_ISV_SECRET to the secret of --app-key", file=sys.stderr)
        return 2
    kafka = KafkaAuth.from_env().aiokafka()  # SASL credentials of the ISV's Kafka principal, if any
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks="all", enable_idempotence=True, **kafka)
    await producer.start()
    started = datetime.now(UTC) - timedelta(seconds=240)
    try:
        for status, offset in STEPS:
            report = WarehouseOperationReported(
                request_id=f"{args.order_id}-{status}",  # stable: reuse it on every retry
                isv_id=args.isv_id,
                merchant_id=args.merchant_id,
                order_id=args.order_id,
                status=status,
                occurred_at=started + timedelta(seconds=offset),
                operator="张三",
                waybill_no="SF1234567890" if status == "WAYBILL_PRINTED" else None,
                carrier="SF" if status == "WAYBILL_PRINTED" else None,
            )
            env = codec.envelope(report, source=f"isv/{args.isv_id}/wms", id=report.request_id)
            record = codec.to_record(env, args.namespace)
            headers = [*record.headers, *signature_headers(args.app_key, secret, record.value)]
            await producer.send_and_wait(record.topic, record.value, key=record.key, headers=headers)
            print(f"produced {status:<16} to {record.topic} key={record.key.decode()}")
    finally:
        await producer.stop()

    prefix = f"{args.namespace}." if args.namespace else ""
    consumer = AIOKafkaConsumer(
        ISV_REJECTIONS.qualified(args.namespace),
        bootstrap_servers=args.bootstrap,
        group_id=f"{prefix}isv.{args.isv_id}-rejections",  # the isv principal may use groups "isv.*"
        auto_offset_reset="earliest",
        **kafka,
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=int(args.wait * 1000))
        for records in batch.values():
            for msg in records:
                if msg.key != args.isv_id.encode():
                    continue
                ev = codec.decode(msg.headers, msg.value).data
                assert isinstance(ev, WarehouseReportRejected)
                print(f"rejected {ev.request_id}: {ev.reason_code} ({ev.reason})")
    finally:
        await consumer.stop()
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--namespace", default="", help="topic prefix of a dev/demo system (empty in production)")
    p.add_argument("--isv-id", required=True, help="the isv_id written in the reports (must be the signer's)")
    p.add_argument("--app-key", required=True, help="the app key that signs (its secret: LIVESHOP_ISV_SECRET)")
    p.add_argument("--merchant-id", required=True)
    p.add_argument("--order-id", required=True)
    p.add_argument("--wait", type=float, default=3.0, help="seconds to read rejections")
    sys.exit(asyncio.run(main(p.parse_args())))
