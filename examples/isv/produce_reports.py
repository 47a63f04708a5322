"""An ISV producing warehouse reports to liveshop with the contracts package (Kafka path).

    uv run python examples/isv/produce_reports.py --isv-id isv-acme-wms --merchant-id m-10086 \\
        --order-id o-2025010100001 [--bootstrap 127.0.0.1:9092] [--namespace demoabc123]

Produces ACCEPTED, PICKING, PICKED, WAYBILL_PRINTED and PACKED for one order to
``liveshop.isv.reports`` (key = order id, CloudEvents headers, ce_id = request id), then reads
``liveshop.isv.rejections`` for a few seconds and prints the rejections keyed by this ISV.
``--namespace`` is the topic prefix of a dev / demo system (topics ``<ns>.liveshop.*``).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from liveshop.contracts import codec
from liveshop.contracts.events.isv import ISV_REJECTIONS, WarehouseOperationReported, WarehouseReportRejected

STEPS = [("ACCEPTED", 0), ("PICKING", 60), ("PICKED", 180), ("WAYBILL_PRINTED", 200), ("PACKED", 240)]


async def main(args: argparse.Namespace) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks="all", enable_idempotence=True)
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
            await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
            print(f"produced {status:<16} to {record.topic} key={record.key.decode()}")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        ISV_REJECTIONS.qualified(args.namespace),
        bootstrap_servers=args.bootstrap,
        group_id=f"{args.isv_id}-rejections",
        auto_offset_reset="earliest",
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


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--namespace", default="", help="topic prefix of a dev/demo system (empty in production)")
    p.add_argument("--isv-id", required=True)
    p.add_argument("--merchant-id", required=True)
    p.add_argument("--order-id", required=True)
    p.add_argument("--wait", type=float, default=3.0, help="seconds to read rejections")
    asyncio.run(main(p.parse_args()))
