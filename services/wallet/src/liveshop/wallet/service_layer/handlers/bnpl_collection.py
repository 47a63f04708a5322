"""Collecting the 先用后付 bills: the collector's step for one bill (automatic attempt when due, the overdue safety
net, reminders) and the buyer's repayment. The channel is simulated: the buyer's payment instrument, or the
operators' repayment-behaviour switch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liveshop.shared.errors import NotFound
from liveshop.wallet.domain.bnpl import bill as dom
from liveshop.wallet.domain.bnpl.reminders import due_reminders
from liveshop.wallet.domain.model import InstrumentBehaviour
from liveshop.wallet.service_layer.bnpl_policy import PolicySeconds
from liveshop.wallet.service_layer.handlers.bnpl_bills import flush, policy
from liveshop.wallet.service_layer.handlers.bnpl_ledger import ledger_of_bill, post_collection
from liveshop.wallet.service_layer.handlers.bnpl_views import bill_json
from liveshop.wallet.service_layer.unit_of_work import FAIL, BnplUnitOfWork

SIMULATED_FAILURE = "INSUFFICIENT_FUNDS"
PAYMENT_DECLINED = "PAYMENT_DECLINED"
CHANNEL_TIMEOUT = "CHANNEL_TIMEOUT"


async def _charge_refused(uow: BnplUnitOfWork, buyer_id: str) -> str | None:
    """The simulated channel's answer to charging the buyer: ``None`` (paid) or the failure code. The buyer's
    payment instrument decides (the one ONLINE payments use); the operators' repayment-behaviour switch
    ``FAIL`` forces a failure whatever the instrument says."""
    if await uow.bills.behaviour(buyer_id) == FAIL:
        return SIMULATED_FAILURE
    instrument = await uow.wallet.instrument(buyer_id)
    if instrument is InstrumentBehaviour.DECLINE:
        return PAYMENT_DECLINED
    if instrument is InstrumentBehaviour.TIMEOUT:
        return CHANNEL_TIMEOUT
    return None


async def _attempt(
    uow: BnplUnitOfWork, b: dom.BnplBill, initiator: dom.Initiator, cp: dom.CollectionPolicy, now: datetime
) -> None:
    """Run one collection attempt: charge the buyer's (simulated) payment instrument; on success the ledger
    moves the amount owed from the buyer's payment source into the receivable (``BNPL_COLLECTION``)."""
    n = sum(1 for a in b.attempts if a.initiator is initiator) + 1
    attempt_id = f"{b.bill_id}:{initiator.value.lower()}:{n}"
    b.start_collection(attempt_id, initiator, now)
    refused = await _charge_refused(uow, b.buyer_id)
    if refused is not None:
        b.collection_failed(attempt_id, refused, now, cp)
    else:
        await post_collection(uow, b, now)
        b.collection_succeeded(attempt_id, now)


async def bills_to_visit(uow: BnplUnitOfWork, now: datetime, limit: int) -> list[str]:
    """The collector's work list (order ids, each once): bills whose automatic attempt is due, then bills that
    may need a reminder or the overdue check."""
    due = await uow.bills.collectable(now, limit)
    waiting = await uow.bills.awaiting(limit)
    return list(dict.fromkeys([*due, *waiting]))


async def collect_one(uow: BnplUnitOfWork, order_id: str, default: PolicySeconds, now: datetime) -> None:
    """Scheduler step for one bill: automatic attempt if due, the overdue safety net, then reminders."""
    b = await uow.bills.bill_by_order(order_id, lock=True)
    if b is None:
        return
    ps = await policy(uow, default)
    cp = ps.collection()
    if b.status in (dom.BillStatus.DUE, dom.BillStatus.FAILED) and not b.check_overdue(now, cp):
        if b.next_attempt_at is not None and b.next_attempt_at <= now:
            await _attempt(uow, b, dom.Initiator.AUTO, cp, now)
        else:
            for m in due_reminders(b, ps.reminders(), now, await uow.bills.sent_keys(b.bill_id)):
                await uow.bills.add_message(m, b.order_id, now)
    await flush(uow, b, now)


async def repay(
    uow: BnplUnitOfWork, order_id: str, default: PolicySeconds, now: datetime, *, buyer_id: str | None = None
) -> dict[str, Any]:
    """主动还款: the buyer repays now (after delivery, also when overdue). ``buyer_id``: the caller; another
    buyer's bill answers as a missing one (existence does not leak)."""
    b = await uow.bills.bill_by_order(order_id, lock=True)
    if b is None or (buyer_id is not None and b.buyer_id != buyer_id):
        raise NotFound("BILL_NOT_FOUND", "账单不存在", order_id=order_id)
    await _attempt(uow, b, dom.Initiator.BUYER, (await policy(uow, default)).collection(), now)
    await flush(uow, b, now)
    return {**bill_json(b), "ledger": await ledger_of_bill(uow, b)}
