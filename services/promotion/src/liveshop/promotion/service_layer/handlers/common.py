"""Constants and ids shared by the promotion handlers."""

from __future__ import annotations

from liveshop.shared import entropy

#: Large enough that the domain's balance check never refuses: the wallet's hold is authoritative
#: (``BudgetHoldRejected`` with ``INSUFFICIENT_BALANCE`` refuses the activity / the raise).
WALLET_DECIDES = 10**18

RED_ENVELOPE = "STREAMER_RED_ENVELOPE"

STREAMER_COUPON = "STREAMER_COUPON"

#: Budget request kinds of a streamer coupon batch (``re_budget_requests.activity_id`` = coupon id).
COUPON_CREATE, COUPON_RELEASE, COUPON_REDEEM = "COUPON_CREATE", "COUPON_RELEASE", "COUPON_REDEEM"

#: The most one budget (amount × quantity) may hold, as for every money field (fen).
MAX_BUDGET_FEN = 10**12


def new_id(prefix: str) -> str:
    return f"{prefix}_{entropy.uuid4().hex[:16]}"
