"""The merchant's secure wallet (安心钱包): the upgrade BNPL needs."""

from __future__ import annotations

from datetime import datetime

from liveshop.contracts.events.wallet import SecureWalletUpgraded
from liveshop.wallet.domain.errors import WalletCode, WalletRefusal
from liveshop.wallet.domain.model import SecureWallet, SecureWalletStatus
from liveshop.wallet.service_layer.handlers.common import ensure_accounts, settlement_account
from liveshop.wallet.service_layer.unit_of_work import UnitOfWork


async def upgrade_secure_wallet(
    uow: UnitOfWork, merchant_id: str, *, agreement_accepted: bool, legal_name: str | None, now: datetime
) -> SecureWallet:
    """安心钱包 upgrade (simulated verification passes at once). Upgrading again is a no-op."""
    if not agreement_accepted:
        raise WalletRefusal(WalletCode.AGREEMENT_NOT_ACCEPTED, "the secure wallet service agreement must be accepted")
    current = await uow.repo.get_secure_wallet(merchant_id)
    if current is not None and current.status is SecureWalletStatus.UPGRADED:
        return current
    w = SecureWallet(merchant_id, SecureWalletStatus.UPGRADED, legal_name, now)
    await uow.repo.save_secure_wallet(w)
    await ensure_accounts(uow, [settlement_account(merchant_id)])
    await uow.publish(
        SecureWalletUpgraded(merchant_id=merchant_id, upgraded_at=now), id=f"wallet:secure-wallet:{merchant_id}"
    )
    return w


async def secure_wallet(uow: UnitOfWork, merchant_id: str) -> SecureWallet:
    w = await uow.repo.get_secure_wallet(merchant_id)
    return w or SecureWallet(merchant_id, SecureWalletStatus.NOT_UPGRADED, None, None)
