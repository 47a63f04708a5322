"""Top-ups of a streamer's marketing wallet (主播营销钱包): a pending credit, posted when the payment provider's
signed callback (QR / online banking) or platform finance (offline transfer) confirms the money arrived."""

from __future__ import annotations

from datetime import datetime

from liveshop.shared import entropy
from liveshop.wallet.domain import ErrorCode, LedgerError, Transfer, TransferCode
from liveshop.wallet.domain.errors import WalletCode, WalletRefusal
from liveshop.wallet.domain.model import (
    MAX_AMOUNT,
    PLATFORM_CHANNEL_FEES,
    PLATFORM_EXTERNAL,
    TopUp,
    TopUpStatus,
    channel_fee,
    streamer_wallet,
)
from liveshop.wallet.service_layer.commands import TopUpWallet
from liveshop.wallet.service_layer.handlers.common import ensure_accounts, linked, system_accounts, wallet_account
from liveshop.wallet.service_layer.unit_of_work import UnitOfWork


def check_amount(amount: int, what: str = "amount") -> None:
    """A positive number of fen no larger than :data:`MAX_AMOUNT` (else a 422 with a reason code)."""
    if amount <= 0:
        raise LedgerError(ErrorCode.NON_POSITIVE_AMOUNT, f"{what} must be a positive integer of fen", amount=amount)
    if amount > MAX_AMOUNT:
        raise WalletRefusal(WalletCode.AMOUNT_TOO_LARGE, f"{what} must be at most {MAX_AMOUNT} fen", amount=amount)


async def top_up(uow: UnitOfWork, cmd: TopUpWallet, now: datetime) -> TopUp:
    """A pending credit of ``amount`` on the streamer's marketing wallet; nothing is credited on the
    streamer's word. QR / online banking: posted when the payment provider's signed callback confirms the
    money arrived (:func:`resolve_provider_top_up`; QR: the 1% fee is charged on top and recorded for the
    invoice then). Offline corporate transfer: posted when platform finance confirms it
    (:func:`resolve_offline_top_up`)."""
    check_amount(cmd.amount)
    fee = channel_fee(cmd.channel, cmd.amount)
    t = TopUp(
        top_up_id=cmd.top_up_id or "tu_" + entropy.uuid4().hex[:16],
        streamer_id=cmd.streamer_id,
        channel=cmd.channel,
        amount=cmd.amount,
        fee=fee,
        status=TopUpStatus.PENDING_CONFIRMATION,
        reference=cmd.reference,
        created_at=now,
    )
    await ensure_accounts(uow, [*system_accounts(), wallet_account(cmd.streamer_id)])
    wallet = streamer_wallet(cmd.streamer_id)
    pending = Transfer.pending(
        t.transfer_id, PLATFORM_EXTERNAL, wallet, t.amount, TransferCode.TOP_UP, user_data=t.top_up_id
    )
    (await uow.ledger.create_transfers([pending], now=now))[0].unwrap()
    await uow.repo.save_top_up(t)
    return t


async def _pending_top_up(uow: UnitOfWork, top_up_id: str, *, provider: bool) -> TopUp:
    t = await uow.repo.get_top_up(top_up_id)
    if t is None:
        raise WalletRefusal(WalletCode.UNKNOWN_TOP_UP, f"no top-up {top_up_id!r}")
    if t.channel.via_provider is not provider:
        who = "the payment provider" if t.channel.via_provider else "platform finance"
        raise WalletRefusal(WalletCode.TOP_UP_NOT_CONFIRMABLE, f"a {t.channel.value} top-up is confirmed by {who} only")
    return t


def _already(t: TopUp) -> WalletRefusal:
    if t.status is TopUpStatus.COMPLETED:
        return WalletRefusal(WalletCode.TOP_UP_ALREADY_CONFIRMED, f"top-up {t.top_up_id!r} was already confirmed")
    return WalletRefusal(WalletCode.TOP_UP_ALREADY_REJECTED, f"top-up {t.top_up_id!r} was already rejected")


async def _resolve(uow: UnitOfWork, t: TopUp, *, confirm: bool, by: str, now: datetime) -> TopUp:
    if confirm:
        batch = [Transfer.post(t.confirm_transfer_id, t.transfer_id, user_data=t.top_up_id)]
        if t.fee:
            # The streamer paid amount + fee; the channel keeps the fee. Recorded per top-up (user_data) on
            # CHANNEL_FEES: the basis of the fee invoice.
            batch.append(
                Transfer.single(
                    t.fee_transfer_id,
                    PLATFORM_CHANNEL_FEES,
                    PLATFORM_EXTERNAL,
                    t.fee,
                    TransferCode.CHANNEL_FEE,
                    user_data=t.top_up_id,
                )
            )
    else:
        batch = [Transfer.void(t.reject_transfer_id, t.transfer_id, user_data=t.top_up_id)]
    for r in await uow.ledger.create_transfers(linked(batch), now=now):
        r.unwrap()
    t.status = TopUpStatus.COMPLETED if confirm else TopUpStatus.REJECTED
    t.resolved_at = now
    t.resolved_by = by
    await uow.repo.save_top_up(t)
    return t


async def resolve_offline_top_up(uow: UnitOfWork, top_up_id: str, *, confirm: bool, by: str, now: datetime) -> TopUp:
    """Platform finance (``by``: the operator's verified subject) confirms (posts) or rejects (voids) an
    offline transfer. Twice: refused."""
    t = await _pending_top_up(uow, top_up_id, provider=False)
    if t.status is not TopUpStatus.PENDING_CONFIRMATION:
        raise _already(t)
    return await _resolve(uow, t, confirm=confirm, by=by, now=now)


async def resolve_provider_top_up(
    uow: UnitOfWork, top_up_id: str, *, succeeded: bool, charged: int, by: str, now: datetime
) -> TopUp:
    """The payment provider's verified callback: the streamer paid ``charged`` (posted, fee recorded) or the
    payment failed (voided). Providers deliver callbacks at least once: the same outcome again answers the
    top-up as it is; the other outcome after a resolution is refused (409). ``charged`` must be what the
    top-up charges (amount + fee), else nothing moves (409 ``TOP_UP_AMOUNT_MISMATCH``)."""
    t = await _pending_top_up(uow, top_up_id, provider=True)
    if succeeded and charged != t.amount + t.fee:
        raise WalletRefusal(
            WalletCode.TOP_UP_AMOUNT_MISMATCH,
            f"the provider collected {charged} fen, the top-up charges {t.amount + t.fee}",
            charged=charged,
            expected=t.amount + t.fee,
        )
    if t.status is not TopUpStatus.PENDING_CONFIRMATION:
        if (t.status is TopUpStatus.COMPLETED) is succeeded:
            return t  # a redelivered callback: the first answer stands
        raise _already(t)
    return await _resolve(uow, t, confirm=succeeded, by=by, now=now)
