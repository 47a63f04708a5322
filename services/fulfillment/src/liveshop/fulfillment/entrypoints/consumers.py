"""Fulfillment subscribers: thin (decode contract -> service layer).

Two consumer groups:

* ``fulfillment-orders``: order facts from the order topic (``OrderPaid`` -> PAID track and an
  immediate re-check of held reports; ``OrderCancelled``).
* ``fulfillment-isv-reports``: ``liveshop.isv.reports``, a batch handler (one transaction per
  fetched batch) and a decode-error hook: a record that is not a valid report is rejected back
  to the ISV with ``MALFORMED_REPORT`` when its ``isv_id`` can be read, else dead-lettered.
"""

from __future__ import annotations

from liveshop.contracts.base import Envelope
from liveshop.contracts.events.isv import WarehouseOperationReported
from liveshop.contracts.events.order import OrderCancelled, OrderPaid
from liveshop.fulfillment.adapters.postgres import PgStore
from liveshop.fulfillment.domain.errors import ReasonCode, ReportRejected
from liveshop.fulfillment.domain.reports import OrderFacts, parse_report
from liveshop.fulfillment.entrypoints.deps import Deps
from liveshop.fulfillment.service_layer import handlers
from liveshop.fulfillment.service_layer.unit_of_work import KAFKA, Effects, Incoming, RejectionRecord
from liveshop.shared import entropy
from liveshop.shared.consumer import EventRouter, UndecodableRecord
from liveshop.shared.tx import Transaction

ORDERS = "fulfillment-orders"
ISV_REPORTS = "fulfillment-isv-reports"


def make_routers(deps: Deps) -> list[EventRouter]:
    orders = EventRouter(ORDERS)
    # ISVs choose the CloudEvents ids: the inbox dedupes redeliveries by record position, the
    # domain dedupes ISV retries by (isv_id, request_id) and content.
    reports = EventRouter(ISV_REPORTS, inbox_by_record=True)

    @orders.on(OrderPaid)
    async def on_paid(env: Envelope, tx: Transaction) -> None:
        ev = env.data
        assert isinstance(ev, OrderPaid)
        facts = OrderFacts(order_id=ev.order_id, merchant_id=ev.merchant_id, buyer_id=ev.buyer_id, paid_at=ev.paid_at)
        await handlers.order_paid(PgStore(tx), facts, now=entropy.now(), policy=deps.policy)

    @orders.on(OrderCancelled)
    async def on_cancelled(env: Envelope, tx: Transaction) -> None:
        ev = env.data
        assert isinstance(ev, OrderCancelled)
        facts = OrderFacts(order_id=ev.order_id, merchant_id=ev.merchant_id, buyer_id=ev.buyer_id)
        now = entropy.now()
        await handlers.order_cancelled(PgStore(tx), facts, cancelled_at=ev.occurred_at, now=now, policy=deps.policy)

    @reports.on_batch(WarehouseOperationReported)
    async def on_reports(envs: list[Envelope], tx: Transaction) -> None:
        now = entropy.now()
        items = []
        for env in envs:
            assert isinstance(env.data, WarehouseOperationReported)
            items.append(Incoming(handlers.report_from_contract(env.data), received_at=now, channel=KAFKA))
        await handlers.process_reports(PgStore(tx), items, now=now, policy=deps.policy)

    async def on_malformed(bad: UndecodableRecord, tx: Transaction) -> bool:
        try:
            parse_report(bad.value or b"")
            # The body is a valid report but the envelope is not (headers, event type).
            isv_id, request_id, order_id = _salvage(bad.value or b"")
            detail = f"{bad.error.reason}: {bad.error.detail}"
        except ReportRejected as exc:
            isv_id, request_id, order_id = exc.isv_id, exc.request_id, exc.order_id
            detail = exc.message if bad.error.reason in ("NOT_JSON", "SCHEMA_VIOLATION") else bad.error.detail
            detail = f"{bad.error.reason}: {detail}"
        if not isv_id:
            return False  # nobody to answer: the operator's dead-letter topic
        fx = Effects()
        record = RejectionRecord(
            isv_id=isv_id,
            request_id=request_id,
            order_id=order_id,
            reason_code=ReasonCode.MALFORMED_REPORT.value,
            reason=detail[:500],
            channel=KAFKA,
            rejected_at=entropy.now(),
        )
        handlers.reject(fx, record)
        await PgStore(tx).save(fx)
        return True

    reports.on_decode_error = on_malformed
    return [orders, reports]


def _salvage(value: bytes) -> tuple[str | None, str | None, str | None]:
    report = parse_report(value)
    return report.isv_id or None, report.request_id or None, report.order_id or None
