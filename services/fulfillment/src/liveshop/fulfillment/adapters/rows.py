"""Rows of the fulfillment tables as domain values (and a held report as its stored JSON)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from liveshop.fulfillment.domain.reports import OrderFacts, WarehouseReport
from liveshop.fulfillment.domain.tracks import Track, TrackStatus


def facts_from_row(r: Any) -> OrderFacts:
    return OrderFacts(
        order_id=r["order_id"],
        merchant_id=r["merchant_id"],
        buyer_id=r["buyer_id"],
        paid_at=r["paid_at"],
        cancelled=r["cancelled_at"] is not None,
        shipped_at=r["shipped_at"],
        delivered_at=r["delivered_at"],
    )


def track_from_row(r: Any) -> Track:
    return Track(
        order_id=r["order_id"],
        merchant_id=r["merchant_id"],
        status=TrackStatus(r["status"]),
        occurred_at=r["occurred_at"],
        recorded_at=r["recorded_at"],
        isv_id=r["isv_id"],
        request_id=r["request_id"],
        operator=r["operator"],
        waybill_no=r["waybill_no"],
        carrier=r["carrier"],
    )


def report_json(report: WarehouseReport) -> str:
    return json.dumps(
        {
            "request_id": report.request_id,
            "isv_id": report.isv_id,
            "merchant_id": report.merchant_id,
            "order_id": report.order_id,
            "status": report.status,
            "occurred_at": report.occurred_at.isoformat(),
            "operator": report.operator,
            "waybill_no": report.waybill_no,
            "carrier": report.carrier,
        },
        ensure_ascii=False,
    )


def report_from_json(raw: str) -> WarehouseReport:
    d = json.loads(raw)
    return WarehouseReport(
        request_id=d["request_id"],
        isv_id=d["isv_id"],
        merchant_id=d["merchant_id"],
        order_id=d["order_id"],
        status=d["status"],
        occurred_at=datetime.fromisoformat(d["occurred_at"]),
        operator=d.get("operator"),
        waybill_no=d.get("waybill_no"),
        carrier=d.get("carrier"),
    )
