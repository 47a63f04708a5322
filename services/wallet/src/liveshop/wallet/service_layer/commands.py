"""The wallet's commands (imperative dataclasses the handlers take)."""

from __future__ import annotations

from dataclasses import dataclass

from liveshop.wallet.domain.model import TopUpChannel


@dataclass(frozen=True)
class TopUpWallet:
    streamer_id: str
    channel: TopUpChannel
    amount: int
    reference: str | None = None
    top_up_id: str | None = None
