"""What the buyer and platform finance read of the 先用后付 bills: the bill (账单) with its ledger side, the
buyer's bills and what the buyer owes in all."""

from __future__ import annotations

from typing import Any

from liveshop.shared.errors import NotFound
from liveshop.wallet.domain.bnpl import bill as dom
from liveshop.wallet.domain.model import buyer_bnpl
from liveshop.wallet.service_layer.handlers.bnpl_ledger import ledger_of_bill
from liveshop.wallet.service_layer.unit_of_work import BnplUnitOfWork


def bill_json(b: dom.BnplBill) -> dict[str, Any]:
    return {
        "bill_id": b.bill_id,
        "order_id": b.order_id,
        "buyer_id": b.buyer_id,
        "merchant_id": b.merchant_id,
        "status": str(b.status),
        "goods_amount": b.goods_amount,
        "discounts": [
            {"discount_type": d.discount_type, "label": d.label, "amount": d.amount, "funder": d.funder}
            for d in b.discounts
        ],
        "amount_due": b.amount_owed,
        "paid_at_order": 0,
        "created_at": b.created_at.isoformat(),
        "delivered_at": b.delivered_at.isoformat() if b.delivered_at else None,
        "due_at": b.due_at.isoformat() if b.due_at else None,
        "next_attempt_at": b.next_attempt_at.isoformat() if b.next_attempt_at else None,
        "auto_failures": b.auto_failures,
        "overdue_at": b.overdue_at.isoformat() if b.overdue_at else None,
        "collected_at": b.collected_at.isoformat() if b.collected_at else None,
        "cancelled_at": b.cancelled_at.isoformat() if b.cancelled_at else None,
        "attempts": [
            {
                "attempt_id": a.attempt_id,
                "initiator": str(a.initiator),
                "outcome": str(a.outcome),
                "started_at": a.started_at.isoformat(),
                "failure_code": a.failure_code,
            }
            for a in b.attempts
        ],
    }


async def bill_view(uow: BnplUnitOfWork, order_id: str, *, buyer_id: str | None = None) -> dict[str, Any]:
    """The bill of ``order_id``; with ``buyer_id`` only if it is that buyer's (else: not found)."""
    b = await uow.bills.bill_by_order(order_id)
    if b is None or (buyer_id is not None and b.buyer_id != buyer_id):
        raise NotFound("BILL_NOT_FOUND", "账单不存在", order_id=order_id)
    return {**bill_json(b), "ledger": await ledger_of_bill(uow, b)}


async def buyer_bills_view(uow: BnplUnitOfWork, buyer_id: str) -> dict[str, Any]:
    """The buyer's bills, each with its ledger side, and the receivable's balance (what the buyer owes in all:
    the sum of ``amount_due`` over the open bills)."""
    bills = [{**bill_json(b), "ledger": await ledger_of_bill(uow, b)} for b in await uow.bills.bills_of(buyer_id)]
    found = await uow.ledger.lookup_accounts([buyer_bnpl(buyer_id)])
    return {
        "bills": bills,
        "owed_in_all": sum(b["amount_due"] for b in bills if b["status"] not in ("COLLECTED", "CANCELLED")),
        "receivable_balance": found[0].posted if found else 0,
    }
