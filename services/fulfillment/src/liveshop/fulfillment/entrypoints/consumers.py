"""Fulfillment subscribers: thin (decode contract -> service layer), as handler tables.

Two consumer groups:

* ``fulfillment-orders``: order facts from the order topic (``OrderPaid`` -> PAID track and an
  immediate re-check of held reports; ``OrderCancelled``), one transaction per event.
* ``fulfillment-isv-reports``: ``liveshop.isv.reports``, one transaction per fetched batch: the ISV
  signature of each record is verified (:func:`signed_reports`); a decode-error hook rejects a record
  that is not a valid report back to the ISV with ``MALFORMED_REPORT`` when its ``isv_id`` can be
  read, else it is dead-lettered.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.events.isv import WarehouseOperationReported
from liveshop.contracts.events.order import OrderCancelled, OrderPaid
from liveshop.fulfillment.adapters.postgres import PgStore
from liveshop.fulfillment.adapters.secrets import SecretBox
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
from liveshop.fulfillment.service_layer.handlers import reports
from liveshop.fulfillment.service_layer.mapping import report_from_contract
from liveshop.fulfillment.service_layer.unit_of_work import KAFKA, Effects, Incoming, RejectionRecord
from liveshop.fulfillment.settings import FulfillmentSettings
from liveshop.shared import entropy
from liveshop.shared.consumer import EventRouter, UndecodableRecord, raw_record
from liveshop.shared.tx import Transaction

ORDERS = "fulfillment-orders"
ISV_REPORTS = "fulfillment-isv-reports"

#: A table's handler: the events of one type (one event, or one fetched batch) in one store.
EventHandler = Callable[[PgStore, list[Envelope], FulfillmentSettings], Awaitable[None]]


async def on_order_paid(store: PgStore, envs: list[Envelope], settings: FulfillmentSettings) -> None:
    for env in envs:
        ev = env.data
        assert isinstance(ev, OrderPaid)
        facts = OrderFacts(order_id=ev.order_id, merchant_id=ev.merchant_id, buyer_id=ev.buyer_id, paid_at=ev.paid_at)
        await reports.order_paid(store, facts, now=entropy.now(), policy=settings.report_policy())


async def on_order_cancelled(store: PgStore, envs: list[Envelope], settings: FulfillmentSettings) -> None:
    for env in envs:
        ev = env.data
        assert isinstance(ev, OrderCancelled)
        facts = OrderFacts(order_id=ev.order_id, merchant_id=ev.merchant_id, buyer_id=ev.buyer_id)
        now = entropy.now()
        await reports.order_cancelled(
            store, facts, cancelled_at=ev.occurred_at, now=now, policy=settings.report_policy()
        )


async def on_reports(store: PgStore, envs: list[Envelope], settings: FulfillmentSettings) -> None:
    now = entropy.now()
    items, refused = await signed_reports(store, envs, now=now, window=settings.kafka_window())
    if refused:
        fx = Effects()
        for record in refused:
            reports.reject(fx, record)
        await store.save(fx)
    await reports.process_reports(store, items, now=now, policy=settings.report_policy())


async def on_malformed(bad: UndecodableRecord, tx: Transaction) -> bool:
    """A record that is not a valid report: rejected back to the ISV it names, if it names one."""
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
    reports.reject(fx, record)
    await PgStore(tx).save(fx)
    return True


def _router(
    name: str,
    table: dict[type[Event], EventHandler],
    settings: FulfillmentSettings,
    box: SecretBox,
    *,
    batch: bool = False,
    inbox_by_record: bool = False,
) -> EventRouter:
    """A handler table as an ``EventRouter``: one transaction per event, or per fetched batch."""
    by_type = {event.EVENT_TYPE: fn for event, fn in table.items()}
    router = EventRouter(name, inbox_by_record=inbox_by_record)

    async def handle(envs: list[Envelope], tx: Transaction) -> None:
        store = PgStore(tx, box)
        for event_type, same in itertools.groupby(envs, key=lambda env: env.type):
            await by_type[event_type](store, list(same), settings)

    async def handle_one(env: Envelope, tx: Transaction) -> None:
        await handle([env], tx)

    if batch:
        router.on_batch(*table)(handle)
    else:
        router.on(*table)(handle_one)
    return router


def routers(settings: FulfillmentSettings, box: SecretBox) -> list[EventRouter]:
    orders = _router(ORDERS, {OrderPaid: on_order_paid, OrderCancelled: on_order_cancelled}, settings, box)
    # ISVs choose the CloudEvents ids: the inbox dedupes redeliveries by record position, the
    # domain dedupes ISV retries by (isv_id, request_id) and content.
    isv_reports = _router(
        ISV_REPORTS, {WarehouseOperationReported: on_reports}, settings, box, batch=True, inbox_by_record=True
    )
    isv_reports.on_decode_error = on_malformed
    return [orders, isv_reports]


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
        report = report_from_contract(env.data)
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
