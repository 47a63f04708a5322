"""Merchants: opening (开通), the standing facts the platform records, the secure-wallet read model."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liveshop.contracts.base import Envelope
from liveshop.contracts.events import bnpl as ev
from liveshop.contracts.events.wallet import SecureWalletUpgraded
from liveshop.promotion.domain.bnpl.opening import BnplOpened, MerchantBnpl, OpeningApplication, assess_standing
from liveshop.promotion.domain.bnpl.policy import BnplPolicy
from liveshop.promotion.service_layer.bnpl.unit_of_work import BnplUnitOfWork
from liveshop.promotion.service_layer.bnpl.views import reasons_json


async def apply_opening(
    uow: BnplUnitOfWork, merchant_id: str, *, agreement_accepted: bool, policy: BnplPolicy, now: datetime
) -> dict[str, Any]:
    """开通: decided at once. Every decision is recorded and published (BnplOpened / BnplOpeningRejected)."""
    merchants = uow.merchants
    merchant = await merchants.get(merchant_id, lock=True)
    record, _known = await merchants.record(merchant_id, now)
    decision = merchant.apply(
        OpeningApplication(merchant_id, agreement_accepted, policy.agreement_version, now),
        secure_wallet_upgraded=await merchants.secure_wallet_upgraded(merchant_id),
        record=record,
        policy=policy.standing_policy(),
    )
    body: dict[str, Any] = {
        "merchant_id": merchant_id,
        "opened": decision.opened,
        "status": str(merchant.status),
        "message": decision.message_zh,
        "message_en": decision.message_en,
        "decided_at": now.isoformat(),
    }
    if decision.reason is not None:
        body["code"] = str(decision.reason.code)
        body["retry_after"] = decision.retry_after.isoformat() if decision.retry_after else None
        body["conditions"] = reasons_json(decision.standing_reasons)
    await merchants.save(merchant)
    await merchants.record_decision(merchant_id, decision.opened, body, now)
    await _publish_decision(uow, merchant)
    return body


async def _publish_decision(uow: BnplUnitOfWork, merchant: MerchantBnpl) -> None:
    for e in merchant.events:
        if isinstance(e, BnplOpened):
            await uow.publish(
                ev.BnplOpened(
                    merchant_id=merchant.merchant_id, agreement_version=e.agreement_version, opened_at=e.opened_at
                )
            )
        else:
            await uow.publish(
                ev.BnplOpeningRejected(
                    merchant_id=merchant.merchant_id,
                    reason_code=str(e.code),
                    reason=e.message_zh,
                    retry_after=e.retry_after,
                    detail_codes=[str(c) for c in e.detail_codes],
                    decided_at=e.decided_at,
                )
            )


async def merchant_view(uow: BnplUnitOfWork, merchant_id: str, policy: BnplPolicy, now: datetime) -> dict[str, Any]:
    merchants = uow.merchants
    m = await merchants.get(merchant_id)
    record, known = await merchants.record(merchant_id, now)
    standing = assess_standing(record, policy.standing_policy(), now)
    return {
        "merchant_id": merchant_id,
        "status": str(m.status),
        "opened_at": m.opened_at.isoformat() if m.opened_at else None,
        "agreement_version": m.agreement_version,
        "secure_wallet_upgraded": await merchants.secure_wallet_upgraded(merchant_id),
        "standing": {
            "facts_recorded": known,
            "in_good_standing": standing.in_good_standing,
            "conditions": reasons_json(standing.reasons),
            "retry_after": standing.retry_after.isoformat() if standing.retry_after else None,
        },
        "last_decision": await merchants.last_decision(merchant_id),
    }


async def set_standing(
    uow: BnplUnitOfWork, merchant_id: str, operating_since: datetime, restricted_until: datetime | None, now: datetime
) -> None:
    await uow.merchants.set_standing(merchant_id, operating_since, restricted_until, now)


async def add_violation(uow: BnplUnitOfWork, merchant_id: str, occurred_at: datetime, serious: bool, note: str) -> int:
    return await uow.merchants.add_violation(merchant_id, occurred_at, serious, note)


async def on_secure_wallet_upgraded(uow: BnplUnitOfWork, env: Envelope, policy: BnplPolicy) -> None:
    """The wallet's ``SecureWalletUpgraded``: the read model the opening checks (no admin flag needed)."""
    e = env.data
    assert isinstance(e, SecureWalletUpgraded)
    await uow.merchants.record_secure_wallet(e.merchant_id, e.upgraded_at)
