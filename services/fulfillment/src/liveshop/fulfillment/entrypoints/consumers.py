"""Fulfillment subscribers: thin (decode contract -> service layer).

Two consumer groups:

* ``fulfillment-orders``: order facts from the order topic (``OrderPaid`` -> PAID track and an
  immediate re-check of held reports; ``OrderCancelled``).
* ``fulfillment-isv-reports``: ``liveshop.isv.reports``, a batch handler (one transaction per
  fetched batch) that verifies each record's ISV signature (:func:`signed_reports`) and a decode-error hook: a record that is not a valid report is rejected back
  to the ISV with ``MALFORMED_REPORT`` when its ``isv_id`` can be read, else dead-lettered.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from liveshop.contracts.base import Envelope
from liveshop.contracts.events.isv import WarehouseOperationReported
from liveshop.contracts.events.order import OrderCancelled, OrderPaid
from liveshop.fulfillment.adapters.postgres import PgStore
from liveshop.fulfillment.domain.errors import ReasonCode, ReportRejected, SignatureRejected
from liveshop.fulfillment.domain.reports import OrderFacts, WarehouseReport, parse_report
from liveshop.fulfillment.domain.signature import (
    KAFKA_METHOD,
    KAFKA_TARGET,
    SignedRequest,
    authenticate,
    nonce_expiry,
    read_signed_request,
)
from liveshop.fulfillment.entrypoints.deps import Deps
from liveshop.fulfillment.service_layer import handlers
from liveshop.fulfillment.service_layer.unit_of_work import KAFKA, Effects, Incoming, RejectionRecord
from liveshop.shared import entropy
from liveshop.shared.consumer import EventRouter, UndecodableRecord, raw_record
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
        store = PgStore(tx, deps.box)
        items, refused = await signed_reports(store, envs, now=now, window=deps.kafka_window)
        if refused:
            fx = Effects()
            for record in refused:
                handlers.reject(fx, record)
            await store.save(fx)
        await handlers.process_reports(store, items, now=now, policy=deps.policy)

    async def on_malformed(bad: UndecodableRecord, tx: Transaction) -> bool:
        try:
            parse_report(bad.value or b"")
            # The body is a valid report but the envelope is not (headers, event type).
            isv_id, request_id, order_id = _salvage(bad.value or b"")
            detail = f"{bad.error.reason}: {bad.error.detail}"
            code = ReasonCode.MALFORMED_REPORT.value
        except ReportRejected as exc:
            isv_id, request_id, order_id = exc.isv_id, exc.request_id, exc.order_id
            code = exc.code
            detail = exc.message if bad.error.reason in ("NOT_JSON", "SCHEMA_VIOLATION") else bad.error.detail
            detail = f"{bad.error.reason}: {detail}"
        if not isv_id:
            return False  # nobody to answer: the operator's dead-letter topic
        fx = Effects()
        record = RejectionRecord(
            isv_id=isv_id,
            request_id=request_id,
            order_id=order_id,
            reason_code=code,
            reason=detail[:500],
            channel=KAFKA,
            rejected_at=entropy.now(),
        )
        handlers.reject(fx, record)
        await PgStore(tx).save(fx)
        return True

    reports.on_decode_error = on_malformed
    return [orders, reports]


async def signed_reports(
    store: PgStore, envs: Sequence[Envelope], *, now: datetime, window: timedelta
) -> tuple[list[Incoming], list[RejectionRecord]]:
    """Verify the ISV signature in each record's headers (docs/isv-quickstart.md, same scheme as HTTP
    with ``KAFKA`` / ``liveshop.isv.reports`` as method and target) and consume its nonce.

    Returns the reports to judge, each with the ISV that signed it as ``authenticated_isv_id`` (a
    body claiming another ISV is then ``ISV_NOT_AUTHORISED``, answered to the signer), and the
    rejections of records that are unsigned, badly signed, expired or replayed. A signature failure
    is answered to the ``isv_id`` the record claims (the only id there is; it tells an ISV whose
    producer does not sign yet, and an ISV someone is impersonating); a replayed nonce to the signer.
    Credentials are looked up once per batch (one query for every app key of the batch).
    """
    checked: list[tuple[WarehouseReport, SignedRequest | SignatureRejected]] = []
    for env in envs:
        assert isinstance(env.data, WarehouseOperationReported)
        report = handlers.report_from_contract(env.data)
        raw = raw_record(env)
        try:
            if raw is None:  # pragma: no cover - the consumer always provides the record
                raise SignatureRejected(ReasonCode.MISSING_SIGNATURE, "the record's headers are not available")
            signed = read_signed_request(raw.headers or [], raw.value or b"", method=KAFKA_METHOD, target=KAFKA_TARGET)
        except SignatureRejected as exc:
            checked.append((report, exc))
        else:
            checked.append((report, signed))
    creds = await store.credentials(s.app_key for _, s in checked if isinstance(s, SignedRequest))
    verified: list[tuple[WarehouseReport, SignedRequest, str]] = []
    refused: list[RejectionRecord] = []
    for report, s in checked:
        if isinstance(s, SignedRequest):
            isv, secret = creds.get(s.app_key, (None, None))
            try:
                verified.append((report, s, authenticate(s, isv=isv, secret=secret, now=now, window=window)))
                continue
            except SignatureRejected as exc:
                s = exc
        refused.append(_refusal(report, report.isv_id, s.reason_code, s.message, now))
    fresh = await store.consume_nonces([(s.app_key, s.nonce, nonce_expiry(s, window)) for _, s, _ in verified])
    items: list[Incoming] = []
    for report, s, isv_id in verified:
        if (s.app_key, s.nonce) in fresh:
            fresh.discard((s.app_key, s.nonce))  # a second record with it in this batch is a replay
            items.append(Incoming(report, received_at=now, channel=KAFKA, authenticated_isv_id=isv_id))
        else:
            message = "this nonce was already used: sign every record anew"
            refused.append(_refusal(report, isv_id, ReasonCode.NONCE_REUSED, message, now))
    return items, refused


def _refusal(report: WarehouseReport, to: str, code: ReasonCode, message: str, now: datetime) -> RejectionRecord:
    return RejectionRecord(
        isv_id=to,
        request_id=report.request_id or None,
        order_id=report.order_id or None,
        reason_code=code.value,
        reason=message,
        channel=KAFKA,
        rejected_at=now,
    )


def _salvage(value: bytes) -> tuple[str | None, str | None, str | None]:
    report = parse_report(value)
    return report.isv_id or None, report.request_id or None, report.order_id or None
