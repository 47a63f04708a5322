"""What ISVs (warehouse software vendors) send, and what is sent back to them."""

from __future__ import annotations

from enum import Enum
from typing import ClassVar

from pydantic import Field

from liveshop.contracts.base import Event, UtcDateTime
from liveshop.contracts.topics import topic

ISV_REPORTS = topic(
    "liveshop.isv.reports",
    "order_id",
    "Warehouse process reports produced by ISVs, keyed by order id.",
    partitions=6,
)
ISV_REJECTIONS = topic("liveshop.isv.rejections", "isv_id", "Rejected ISV reports, keyed by ISV id.")


class WarehouseStatus(str, Enum):
    ACCEPTED = "ACCEPTED"
    PICKING = "PICKING"
    PICKED = "PICKED"
    WAYBILL_PRINTED = "WAYBILL_PRINTED"
    PACKED = "PACKED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"


@ISV_REPORTS.register
class WarehouseOperationReported(Event):
    """One warehouse operation on one order, reported by an ISV acting for the merchant.

    ``status`` is a string (not the enum) so that an unknown status reaches validation and is
    rejected back to the ISV with ``UNKNOWN_STATUS`` instead of being dropped as malformed.
    """

    EVENT_TYPE: ClassVar[str] = "liveshop.isv.WarehouseOperationReported.v1"
    KEY_FIELD: ClassVar[str] = "order_id"

    request_id: str = Field(min_length=1, max_length=128)
    isv_id: str = Field(min_length=1)
    merchant_id: str = Field(min_length=1)
    order_id: str = Field(min_length=1)
    status: str
    occurred_at: UtcDateTime
    operator: str | None = None
    waybill_no: str | None = None
    carrier: str | None = None


@ISV_REJECTIONS.register
class WarehouseReportRejected(Event):
    EVENT_TYPE: ClassVar[str] = "liveshop.isv.WarehouseReportRejected.v1"
    KEY_FIELD: ClassVar[str] = "isv_id"

    isv_id: str
    request_id: str | None = None
    order_id: str | None = None
    reason_code: str
    reason: str
    rejected_at: UtcDateTime
