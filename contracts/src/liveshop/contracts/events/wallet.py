"""Wallet facts other services need: the merchant secure wallet (安心钱包), keyed by merchant id.

BNPL (先用后付) requires an upgraded secure wallet: promotion keeps a read model of this topic.
"""

from __future__ import annotations

from typing import ClassVar

from liveshop.contracts.base import Event, UtcDateTime
from liveshop.contracts.topics import topic

WALLET_MERCHANTS = topic(
    "liveshop.wallet.merchants", "merchant_id", "Merchant secure-wallet (安心钱包) status, keyed by merchant id."
)


@WALLET_MERCHANTS.register
class SecureWalletUpgraded(Event):
    """The merchant's secure wallet is upgraded (status ``UPGRADED``); BNPL can be opened."""

    EVENT_TYPE: ClassVar[str] = "liveshop.wallet.merchants.SecureWalletUpgraded.v1"
    KEY_FIELD: ClassVar[str] = "merchant_id"
    merchant_id: str
    status: str = "UPGRADED"
    upgraded_at: UtcDateTime
