"""Promotion service handlers: commands (HTTP), saga and catalog events (Kafka), timers.

Every handler runs inside one :class:`UnitOfWork` (one database transaction): it loads what it needs,
asks the pure domain, saves, and publishes the resulting contract events through the outbox, all in
the same transaction. Refusals are ``PromotionError`` (reason code + message); in a consumer they are
turned into rejection events, never retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from liveshop.contracts.common import DiscountType, UnusableVouchers
from liveshop.contracts.events import budget as b
from liveshop.contracts.events import redenvelope as r
from liveshop.contracts.events.catalog import DistributionChanged, ProductChanged, StreamerBound
from liveshop.contracts.events.order import OrderCancelled, OrderPaid, OrderPlaced
from liveshop.contracts.events.promotion import LinePrice, OrderPriced, OrderPricingRejected, VoucherRejection
from liveshop.promotion.domain import red_envelope as re
from liveshop.promotion.domain.balance import Balance, BalanceUse
from liveshop.promotion.domain.dashboard import dashboard
from liveshop.promotion.domain.errors import Code, Conflict, InvalidInput, NotFound, PromotionError
from liveshop.promotion.domain.pricing import AppliedDiscount, CartLine, PricingRequest
from liveshop.promotion.domain.pricing import price_order as engine_price_order
from liveshop.promotion.domain.vouchers import Reason, Voucher
from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer import mapping as m
from liveshop.promotion.service_layer.unit_of_work import (
    AVAILABLE,
    AWAITING_HOLD,
    HELD,
    REFUSED,
    RESERVED,
    USED,
    BudgetRequest,
    LoadedActivity,
    PricingRecord,
    ProductRow,
    PromotionRow,
    UnitOfWork,
    VoucherRow,
)
from liveshop.shared import entropy
from liveshop.shared.auth import Principal

#: Large enough that the domain's balance check never refuses: the wallet's hold is authoritative
#: (``BudgetHoldRejected`` with ``INSUFFICIENT_BALANCE`` refuses the activity / the raise).
_WALLET_DECIDES = 10**18
RED_ENVELOPE = "STREAMER_RED_ENVELOPE"
STREAMER_COUPON = "STREAMER_COUPON"
#: Budget request kinds of a streamer coupon batch (``re_budget_requests.activity_id`` = coupon id).
COUPON_CREATE, COUPON_RELEASE, COUPON_REDEEM = "COUPON_CREATE", "COUPON_RELEASE", "COUPON_REDEEM"
#: The most one budget (amount × quantity) may hold, as for every money field (fen).
MAX_BUDGET_FEN = 10**12
#: Default most a platform operator hands one buyer in one grant or platform coupon (fen; 1000 yuan).
#: The service's setting ``PROMOTION_MAX_GRANT_FEN`` overrides it.
MAX_GRANT_FEN_DEFAULT = 100_000


def new_id(prefix: str) -> str:
    return f"{prefix}_{entropy.uuid4().hex[:16]}"


# ------------------------------------------------------------------------------------ catalog read model


async def on_product_changed(uow: UnitOfWork, ev: ProductChanged) -> None:
    await uow.catalog.upsert_product(
        ProductRow(
            product_id=ev.product_id,
            merchant_id=ev.merchant_id,
            title=ev.title,
            price=ev.price,
            product_type=ev.product_type.value,
            status=ev.status.value,
            distribution_allowed=ev.distribution_allowed,
            version=ev.version,
            changed_at=ev.changed_at,
        )
    )


async def on_distribution_changed(uow: UnitOfWork, ev: DistributionChanged) -> None:
    await uow.catalog.set_distribution(ev.product_id, ev.streamer_id, ev.allowed, ev.changed_at)


async def on_streamer_bound(uow: UnitOfWork, ev: StreamerBound) -> None:
    await uow.catalog.bind_streamer(ev.streamer_id, ev.merchant_id, ev.version, ev.changed_at)


async def grant_capability(uow: UnitOfWork, streamer_id: str, capable: bool, now: datetime) -> dict[str, Any]:
    """Platform admin: grant (or withdraw) a streamer's distribution capability (分销带货能力)."""
    await uow.catalog.set_capability(streamer_id, capable, now)
    return {"streamer_id": streamer_id, "distribution_capability": capable}


# ------------------------------------------------------------------------------------ red envelopes: views


def view_status(loaded: LoadedActivity) -> str:
    if loaded.funding == AWAITING_HOLD:
        return "FUNDING"
    if loaded.funding == REFUSED:
        return "REFUSED"
    return loaded.activity.status.value


def activity_view(loaded: LoadedActivity) -> dict[str, Any]:
    a = loaded.activity
    v = a.validity
    return {
        "activity_id": a.activity_id,
        "streamer_id": a.streamer_id,
        "name": a.name,
        "status": view_status(loaded),
        "funding": loaded.funding,
        "funding_detail": loaded.funding_detail,
        "face_value": a.face_value,
        "quantity": a.quantity,
        "budget": a.face_value * a.quantity,
        "issue_mode": a.issue_mode.value,
        "scheduled_at": a.scheduled_at.isoformat() if a.scheduled_at else None,
        "use_validity": {
            "valid_from": v.starts_at.isoformat() if v.starts_at else None,
            "valid_until": v.ends_at.isoformat() if v.ends_at else None,
            "seconds_after_claim": int(v.duration.total_seconds()) if v.duration else None,
        },
        "product_ids": sorted(a.product_ids),
        "per_viewer_limit": a.per_viewer_limit,
        "issued_at": a.issued_at.isoformat() if a.issued_at else None,
        "ended_at": a.ended_at.isoformat() if a.ended_at else None,
        "end_reason": a.end_reason.value if a.end_reason else None,
        "claimed": a.claimed_count if not loaded.partial else None,
    }


def activity_public_view(loaded: LoadedActivity) -> dict[str, Any]:
    """What a viewer may know of an issued activity (what the live-room popup shows): no budget,
    quantity, claim counts or funding (the streamer's wallet)."""
    full = activity_view(loaded)
    keep = ("activity_id", "streamer_id", "name", "status", "face_value", "issue_mode", "use_validity",
            "product_ids", "per_viewer_limit", "issued_at", "ended_at")  # fmt: skip
    return {k: full[k] for k in keep}


def _sees_everything(loaded: LoadedActivity, principal: Principal) -> bool:
    return principal.is_operator() or (principal.actor == "streamer" and principal.sub == loaded.activity.streamer_id)


def _unknown_activity(activity_id: str) -> NotFound:
    return NotFound(Code.UNKNOWN_ACTIVITY, "no such red-envelope activity", activity_id=activity_id)


async def read_activity(uow: UnitOfWork, activity_id: str, principal: Principal) -> dict[str, Any]:
    """The owning streamer and operators: the whole view. Anyone else: the public view once the
    activity has been issued (viewers claim from it), 404 before (an unannounced activity stays hidden)."""
    loaded = await uow.activities.get(activity_id)
    if loaded is None:
        raise _unknown_activity(activity_id)
    if _sees_everything(loaded, principal):
        return activity_view(loaded)
    if loaded.activity.issued_at is None or loaded.funding in (AWAITING_HOLD, REFUSED):
        raise _unknown_activity(activity_id)
    return activity_public_view(loaded)


async def owned_activity(uow: UnitOfWork, activity_id: str, principal: Principal) -> LoadedActivity:
    """The activity if the caller owns it (streamer) or is an operator; 404 otherwise (existence does not leak)."""
    loaded = await uow.activities.get(activity_id)
    if loaded is None or not _sees_everything(loaded, principal):
        raise _unknown_activity(activity_id)
    return loaded


async def read_pricing(uow: UnitOfWork, order_id: str, principal: Principal) -> PricingRecord:
    """An order's pricing: its buyer or an operator; anyone else 404 like an unknown order."""
    rec = await uow.pricings.get(order_id)
    if rec is None or not (principal.is_operator() or (principal.actor == "buyer" and principal.sub == rec.buyer_id)):
        raise NotFound(Code.UNKNOWN_ORDER, f"no pricing for order {order_id}")
    return rec


def check_grant_ceiling(amount: int, ceiling: int | None, what: str) -> None:
    """A platform subsidy an operator sets (grant, platform coupon, campaign discount) above the ceiling: 422."""
    if ceiling is not None and amount > ceiling:
        raise InvalidInput(
            Code.GRANT_ABOVE_CEILING,
            f"{what} of {amount} fen is above the per-grant ceiling of {ceiling} fen (PROMOTION_MAX_GRANT_FEN)",
            amount=amount,
            ceiling=ceiling,
        )


def dashboard_view(loaded: LoadedActivity) -> dict[str, Any]:
    a = loaded.activity
    f = dashboard(a)
    return {
        "activity_id": a.activity_id,
        "status": view_status(loaded),
        "issued": f.issued,
        "claimed": f.claimed,
        "used": f.used,
        "claim_rate_bp": f.claim_rate_bp,
        "use_rate_bp": f.use_rate_bp,
        "gmv": f.gmv,
        "spend": f.spend,
        "roi_centi": f.roi_centi,
        "funds": {"held": f.held, "released": f.released, "spent": f.spent, "outstanding": f.outstanding},
        "ledger": [
            {"kind": e.kind.value, "amount": e.amount, "at": e.at.isoformat(), "reason": e.reason, "ref": e.ref}
            for e in a.ledger
        ],
    }


# ------------------------------------------------------------------------------------ red envelopes: commands


async def _load(uow: UnitOfWork, activity_id: str, streamer_id: str | None = None) -> LoadedActivity:
    loaded = await uow.activities.get(activity_id, lock=True)
    if loaded is None:
        raise NotFound(Code.UNKNOWN_ACTIVITY, "no such red-envelope activity", activity_id=activity_id)
    if streamer_id is not None and loaded.activity.streamer_id != streamer_id:
        # Another streamer's activity answers like an unknown one: its existence does not leak (the
        # route's policy already made ``streamer_id`` the caller).
        raise _unknown_activity(activity_id)
    return loaded


def _require_funded(loaded: LoadedActivity) -> None:
    if loaded.funding == AWAITING_HOLD:
        raise Conflict(Code.BUDGET_HOLD_PENDING, "the wallet has not confirmed the budget hold yet")
    if loaded.funding == REFUSED:
        detail = loaded.funding_detail or {}
        raise Conflict(
            Code.BUDGET_NOT_HELD,
            "the wallet refused the budget hold: top up the marketing wallet and create the activity again",
            **detail,
        )


def _validity(cmd: cmds.CreateActivity) -> re.UseValidity:
    if cmd.valid_seconds_after_claim is not None:
        if cmd.valid_from is not None or cmd.valid_until is not None:
            raise InvalidInput(Code.INVALID_VALIDITY, "give a use window or a duration after claim, not both")
        return re.UseValidity.after_claim(timedelta(seconds=cmd.valid_seconds_after_claim))
    if cmd.valid_from is None or cmd.valid_until is None:
        raise InvalidInput(
            Code.INVALID_VALIDITY, "give the use validity: valid_from and valid_until, or valid_seconds_after_claim"
        )
    return re.UseValidity.window(cmd.valid_from, cmd.valid_until)


async def _candidates(uow: UnitOfWork, streamer: re.StreamerProfile, own_merchant: str | None, ids: Sequence[str]) -> list[re.CandidateProduct]:  # fmt: skip
    if not streamer.has_distribution_capability:
        re.check_admission(streamer, [])  # raises NO_DISTRIBUTION_CAPABILITY first
    products = await uow.catalog.get_products(list(ids))
    distributed = await uow.catalog.distributed_to(streamer.streamer_id, list(ids))
    out: list[re.CandidateProduct] = []
    for pid in ids:
        p = products.get(pid)
        if p is None:
            raise InvalidInput(Code.UNKNOWN_PRODUCT, "no such product in the catalog", product_id=pid)
        if own_merchant is not None and p.merchant_id == own_merchant:
            relation = re.SaleRelation.SELF_SOLD
        elif pid in distributed:
            relation = re.SaleRelation.DISTRIBUTED
        else:
            relation = re.SaleRelation.NONE
        out.append(re.CandidateProduct(pid, p.merchant_id, re.ProductKind(p.product_type), relation))
    return out


async def create_activity(uow: UnitOfWork, cmd: cmds.CreateActivity, now: datetime) -> LoadedActivity:
    """Validate and create; the activity waits in FUNDING until the wallet holds the whole budget."""
    row = await uow.catalog.get_streamer(cmd.streamer_id)
    profile = re.StreamerProfile(cmd.streamer_id, bool(row and row.distribution_capability))
    products = await _candidates(uow, profile, row.merchant_id if row else None, cmd.product_ids)
    try:
        mode = re.IssueMode(cmd.issue_mode)
    except ValueError:
        raise InvalidInput(Code.INVALID_INPUT, "issue_mode must be MANUAL or SCHEDULED") from None
    activity = re.RedEnvelopeActivity.create(
        activity_id=cmd.activity_id,
        streamer=profile,
        name=cmd.name,
        face_value=cmd.face_value,
        quantity=cmd.quantity,
        issue_mode=mode,
        validity=_validity(cmd),
        products=products,
        per_viewer_limit=cmd.per_viewer_limit,
        available_balance=_WALLET_DECIDES,
        now=now,
        scheduled_at=cmd.scheduled_at,
    )
    # The hold is requested now but recorded in the ledger only once the wallet confirms it.
    activity.events.clear()
    activity.ledger.clear()
    await uow.activities.add(activity, AWAITING_HOLD)
    budget = activity.face_value * activity.quantity
    await uow.publish(
        r.RedEnvelopeActivityCreated(
            activity_id=activity.activity_id,
            streamer_id=activity.streamer_id,
            status="FUNDING",
            occurred_at=now,
            name=activity.name,
            face_value=activity.face_value,
            quantity=activity.quantity,
            issue_mode=activity.issue_mode.value,
            scheduled_at=activity.scheduled_at,
            per_viewer_limit=activity.per_viewer_limit,
            product_ids=sorted(activity.product_ids),
        )
    )
    await _request_hold(uow, activity, "CREATE", budget, now)
    return LoadedActivity(activity, AWAITING_HOLD, None, partial=False, loaded_ledger=0)


async def _request_hold(
    uow: UnitOfWork, activity: re.RedEnvelopeActivity, kind: str, amount: int, now: datetime, target: int | None = None
) -> str:
    request_id = f"{activity.activity_id}:{kind.lower()}:{entropy.uuid4().hex[:8]}"
    await uow.budget.add(BudgetRequest(request_id, activity.activity_id, kind, amount, "REQUESTED", now, target))
    await uow.publish(
        b.BudgetHoldRequested(
            activity_id=activity.activity_id,
            streamer_id=activity.streamer_id,
            request_id=request_id,
            occurred_at=now,
            amount=amount,
        )
    )
    return request_id


async def issue_activity(uow: UnitOfWork, cmd: cmds.IssueActivity, now: datetime) -> LoadedActivity:
    loaded = await _load(uow, cmd.activity_id, cmd.streamer_id)
    _require_funded(loaded)
    loaded.activity.issue(now)
    await _save(uow, loaded, now)
    return loaded


async def end_activity(uow: UnitOfWork, cmd: cmds.EndActivity, now: datetime) -> LoadedActivity:
    """下线: PENDING or RUNNING -> ENDED; unclaimed budget goes back to the wallet."""
    loaded = await _load(uow, cmd.activity_id, cmd.streamer_id)
    _require_funded(loaded)
    loaded.activity.end(now)
    await _save(uow, loaded, now)
    return loaded


async def edit_activity(uow: UnitOfWork, cmd: cmds.EditActivity, now: datetime) -> tuple[LoadedActivity, str | None]:
    """Only the quantity, only while PENDING or RUNNING. Lowering releases budget at once; raising asks
    the wallet for the extra hold first and applies when it is held (returns the request id)."""
    loaded = await _load(uow, cmd.activity_id, cmd.streamer_id)
    _require_funded(loaded)
    await _refuse_while_raise_pending(uow, cmd.activity_id)
    activity = loaded.activity
    old_quantity = activity.quantity
    activity.edit(cmd.changes, available_balance=_WALLET_DECIDES, now=now)  # validates (and applies)
    if activity.quantity > old_quantity:
        # Not applied until the wallet holds the extra budget: reload the unchanged state.
        target = activity.quantity
        extra = (target - old_quantity) * activity.face_value
        fresh = await _load(uow, cmd.activity_id)
        request_id = await _request_hold(uow, fresh.activity, "RAISE", extra, now, target)
        return fresh, request_id
    await _save(uow, loaded, now)
    return loaded, None


async def _refuse_while_raise_pending(uow: UnitOfWork, activity_id: str) -> None:
    """One quantity change at a time: while the wallet has not answered a raise, another edit is
    refused (409 ``EDIT_PENDING``). Called with the activity row locked, so two edits serialise on it
    and the second one sees the first one's request. Without this, a raise computed from a quantity a
    pending raise is about to change holds too much (money stuck) or applies an absolute target over a
    lowering made meanwhile (more envelopes than funded)."""
    pending = [q for q in await uow.budget.for_activity(activity_id) if q.kind == "RAISE" and q.status == "REQUESTED"]
    if pending:
        q = pending[0]
        raise Conflict(
            Code.EDIT_PENDING,
            f"a raise to {q.target_quantity} envelopes is waiting for the wallet to hold the extra budget: "
            "edit again once it is decided",
            request_id=q.request_id,
            target_quantity=q.target_quantity,
        )


class ClaimInvariantViolated(RuntimeError):
    """A database backstop refused what the locked read allowed (a writer bypassed the activity row
    lock). The transaction must roll back; nothing of the batch is claimed."""


def claim_channel(channel: str) -> re.ClaimChannel:
    try:
        return re.ClaimChannel(channel)
    except ValueError:
        raise InvalidInput(Code.INVALID_INPUT, "channel must be POPUP or ASSET_WIDGET") from None


def _copies(exc: PromotionError, n: int) -> list[PromotionError]:
    """One exception instance per caller (each is raised in its own task)."""
    return [exc, *(type(exc)(Code(exc.code), exc.message, **exc.details) for _ in range(n - 1))]


async def claim_envelope(uow: UnitOfWork, cmd: cmds.ClaimEnvelope, now: datetime) -> VoucherRow:
    """A viewer claims one envelope (popup or asset widget): a batch of one."""
    (outcome,) = await claim_envelopes(uow, cmd.activity_id, [cmd], now)
    if isinstance(outcome, PromotionError):
        raise outcome
    return outcome


async def claim_envelopes(
    uow: UnitOfWork, activity_id: str, claims: Sequence[cmds.ClaimEnvelope], now: datetime
) -> list[VoucherRow | PromotionError]:
    """Claims of one activity, decided together in the caller's transaction (group commit).

    Returns one outcome per claim, in order: the envelope row, or the refusal (``INVALID_INPUT``,
    ``UNKNOWN_ACTIVITY``, ``BUDGET_*``, ``ACTIVITY_ENDED``, ``NOT_ISSUED``, ``USE_WINDOW_OVER``,
    ``SOLD_OUT``, ``CLAIM_LIMIT_REACHED``). Refusals are values, never raised, so the successes of the
    batch commit. Race-free across instances: the activity row is locked FOR UPDATE once, so batches
    (and lifecycle commands) serialise on it; claims are granted in order against the locked
    ``quantity - claimed`` and the viewers' counters; then set-based writes: viewer counters (``n + k
    <= limit`` checked by the statement), envelope rows, ``RedEnvelopeClaimed`` outbox rows, and
    ``claimed + k <= quantity`` checked by the final UPDATE (and the table's CHECK). If a backstop
    refuses, :class:`ClaimInvariantViolated` is raised and the whole transaction must roll back.
    """
    outcomes: list[VoucherRow | PromotionError | None] = [None] * len(claims)
    channels: dict[int, re.ClaimChannel] = {}
    for i, c in enumerate(claims):
        if c.activity_id != activity_id:
            raise ValueError(f"claim for {c.activity_id} in a batch of {activity_id}")
        try:
            channels[i] = claim_channel(c.channel)
        except PromotionError as exc:
            outcomes[i] = exc
    todo = list(channels)
    if todo:
        try:
            activity, claimed = await _locked_claimable(uow, activity_id, now)
        except PromotionError as exc:
            for i, e in zip(todo, _copies(exc, len(todo)), strict=True):
                outcomes[i] = e
        else:
            await _grant(uow, activity, claimed, claims, channels, outcomes, now)
    return [o for o in outcomes if o is not None]


async def _locked_claimable(uow: UnitOfWork, activity_id: str, now: datetime) -> tuple[re.RedEnvelopeActivity, int]:
    """The activity header, row-locked, checked claimable (a due scheduled activity is issued first)."""
    header = await uow.activities.get(activity_id, lock=True, claim_ids=())
    if header is None:
        raise NotFound(Code.UNKNOWN_ACTIVITY, "no such red-envelope activity", activity_id=activity_id)
    _require_funded(header)
    if header.activity.check_claimable(now):  # a scheduled activity whose time came: issue it first
        await tick_activity(uow, activity_id, now)
        header = await uow.activities.get(activity_id, lock=True, claim_ids=())
        assert header is not None
        header.activity.check_claimable(now)
    return header.activity, header.claimed


async def _grant(
    uow: UnitOfWork,
    activity: re.RedEnvelopeActivity,
    claimed: int,
    claims: Sequence[cmds.ClaimEnvelope],
    channels: dict[int, re.ClaimChannel],
    outcomes: list[VoucherRow | PromotionError | None],
    now: datetime,
) -> None:
    quantity, limit = activity.quantity, activity.per_viewer_limit
    left = quantity - claimed
    if left <= 0:
        for i in channels:
            outcomes[i] = Conflict(
                Code.SOLD_OUT, "all red envelopes have been claimed", claimed=claimed, quantity=quantity
            )
        return
    counts = await uow.activities.viewer_counts(activity.activity_id, sorted({claims[i].viewer_id for i in channels}))
    taken: dict[str, int] = {}
    rows: list[VoucherRow] = []
    valid_from, valid_until = activity.validity.for_claim(now)
    params = {
        "streamer_id": activity.streamer_id,
        "amount": activity.face_value,
        "product_ids": sorted(activity.product_ids),
        "activity_id": activity.activity_id,
    }
    for i, channel in channels.items():
        cmd = claims[i]
        k = taken.get(cmd.viewer_id, 0)
        if counts.get(cmd.viewer_id, 0) + k >= limit:
            outcomes[i] = Conflict(Code.CLAIM_LIMIT_REACHED, f"each viewer can claim at most {limit}", limit=limit)
        elif left == 0:
            outcomes[i] = Conflict(
                Code.SOLD_OUT, "all red envelopes have been claimed", claimed=quantity, quantity=quantity
            )
        else:
            left -= 1
            taken[cmd.viewer_id] = k + 1
            row = VoucherRow(
                voucher_id=cmd.claim_id,
                buyer_id=cmd.viewer_id,
                kind=RED_ENVELOPE,
                label=activity.name,
                source_id=activity.activity_id,
                params=dict(params),
                valid_from=valid_from,
                valid_until=valid_until,
                status=AVAILABLE,
                claimed_at=now,
                channel=channel.value,
            )
            rows.append(row)
            outcomes[i] = row
    if not rows:
        return
    if not await uow.activities.add_viewer_claims(activity.activity_id, taken, limit):
        raise ClaimInvariantViolated(f"{activity.activity_id}: a viewer counter passed the limit")
    await uow.vouchers.add_many(rows)
    for row in rows:
        await uow.publish(
            r.RedEnvelopeClaimed(
                activity_id=activity.activity_id,
                streamer_id=activity.streamer_id,
                status="RUNNING",
                occurred_at=now,
                envelope_id=row.voucher_id,
                viewer_id=row.buyer_id,
                channel=row.channel or re.ClaimChannel.POPUP.value,
                face_value=activity.face_value,
                valid_from=valid_from,
                valid_until=valid_until,
            )
        )
    # Last: the database backstop for the quantity (status and funding re-checked too).
    if not await uow.activities.take_envelopes(activity.activity_id, len(rows)):
        raise ClaimInvariantViolated(f"{activity.activity_id}: the claim counter would pass the quantity")


async def tick_activity(uow: UnitOfWork, activity_id: str, now: datetime) -> LoadedActivity | None:
    """Scheduled issue, expiry of claimed-unused envelopes, end when the use window is over."""
    loaded = await uow.activities.get(activity_id, lock=True)
    if loaded is None or loaded.funding != HELD:
        return loaded
    loaded.activity.tick(now)
    await _save(uow, loaded, now)
    return loaded


async def on_budget_held(uow: UnitOfWork, ev: b.BudgetHeld, now: datetime) -> None:
    req = await uow.budget.get(ev.request_id, lock=True)
    if req is None or req.status != "REQUESTED":
        return
    await uow.budget.decide(req.request_id, "DONE", {"total_held": ev.total_held}, now)
    if req.kind == COUPON_CREATE:
        await _coupon_funded(uow, req, {"available_after": ev.available_after, "total_held": ev.total_held})
        return
    loaded = await uow.activities.get(req.activity_id, lock=True)
    if loaded is None:
        return
    activity = loaded.activity
    if req.kind == "CREATE":
        activity.ledger.append(re.LedgerEntry(re.LedgerKind.HOLD, req.amount, now, "CREATED", req.request_id))
        loaded.funding = HELD
        loaded.funding_detail = {"available_after": ev.available_after}
        await uow.activities.set_funding(activity.activity_id, HELD, loaded.funding_detail)
        await uow.publish(
            r.RedEnvelopeActivityFunded(
                activity_id=activity.activity_id,
                streamer_id=activity.streamer_id,
                status=activity.status.value,
                occurred_at=now,
                budget=req.amount,
            )
        )
        if activity.issue_mode is re.IssueMode.SCHEDULED:
            activity.tick(now)  # its time may already have come
        await _save(uow, loaded, now)
    elif req.kind == "RAISE":
        assert req.target_quantity is not None
        try:
            activity.change_quantity(req.target_quantity, available_balance=_WALLET_DECIDES, now=now)
        except PromotionError as exc:  # ended meanwhile: give the extra hold back
            await _request_release(uow, activity, req.amount, f"RAISE_NOT_APPLIED:{exc.code}", now)
            return
        # the domain asked for a hold that the wallet just confirmed: don't ask again
        activity.events[:] = [e for e in activity.events if not isinstance(e, re.BudgetHoldRequested)]
        await _save(uow, loaded, now)


async def on_budget_hold_rejected(uow: UnitOfWork, ev: b.BudgetHoldRejected, now: datetime) -> None:
    req = await uow.budget.get(ev.request_id, lock=True)
    if req is None or req.status != "REQUESTED":
        return
    detail = {"reason_code": ev.reason_code, "reason": ev.reason, "needed": req.amount, "available": ev.available}
    await uow.budget.decide(req.request_id, "REFUSED", detail, now)
    if req.kind == COUPON_CREATE:
        await _coupon_refused(uow, req, detail)
        return
    if req.kind == "CREATE":
        await uow.activities.set_funding(req.activity_id, REFUSED, detail)
        loaded = await uow.activities.get(req.activity_id, claim_ids=())
        if loaded is not None:
            await uow.publish(
                r.RedEnvelopeActivityRefused(
                    activity_id=req.activity_id,
                    streamer_id=loaded.activity.streamer_id,
                    status="REFUSED",
                    occurred_at=now,
                    reason_code=ev.reason_code,
                    reason=ev.reason,
                    needed=req.amount,
                    available=ev.available,
                )
            )


async def on_budget_settled(uow: UnitOfWork, request_id: str, ok: bool, detail: dict[str, Any], now: datetime) -> None:
    """``BudgetReleased`` (and the wallet's refusals of releases / redemptions): bookkeeping only."""
    req = await uow.budget.get(request_id, lock=True)
    if req is not None and req.status == "REQUESTED":
        await uow.budget.decide(request_id, "DONE" if ok else "REFUSED", detail, now)


async def _request_release(
    uow: UnitOfWork, activity: re.RedEnvelopeActivity, amount: int, reason: str, now: datetime
) -> None:
    request_id = f"{activity.activity_id}:release:{entropy.uuid4().hex[:8]}"
    await uow.budget.add(BudgetRequest(request_id, activity.activity_id, "RELEASE", amount, "REQUESTED", now))
    await uow.publish(
        b.BudgetReleaseRequested(
            activity_id=activity.activity_id,
            streamer_id=activity.streamer_id,
            request_id=request_id,
            occurred_at=now,
            amount=amount,
            reason=reason,
        )
    )


async def _save(uow: UnitOfWork, loaded: LoadedActivity, now: datetime, merchant_id: str = "") -> None:
    """Persist the aggregate and publish its domain events as contracts (outbox, same transaction)."""
    activity = loaded.activity
    events = list(activity.events)
    activity.events.clear()
    await uow.activities.save(loaded)
    status = activity.status.value
    aid, sid = activity.activity_id, activity.streamer_id
    unclaimed_release = sum(
        e.amount for e in events if isinstance(e, re.BudgetReleaseRequested) and e.reason == "UNCLAIMED_AT_END"
    )
    for e in events:
        if isinstance(e, re.BudgetReleaseRequested):
            await _request_release(uow, activity, e.amount, e.reason, now)
        elif isinstance(e, re.BudgetHoldRequested):
            await _request_hold(uow, activity, "RAISE", e.amount, now)
        elif isinstance(e, re.BudgetSpendRequested):
            request_id = f"{activity.activity_id}:redeem:{e.claim_id}"
            await uow.budget.add(BudgetRequest(request_id, activity.activity_id, "REDEEM", e.amount, "REQUESTED", now))
            await uow.publish(
                b.RedEnvelopeRedeemed(
                    activity_id=aid,
                    streamer_id=sid,
                    occurred_at=now,
                    request_id=request_id,
                    order_id=e.order_id,
                    merchant_id=merchant_id,
                    envelope_id=e.claim_id,
                    amount=e.amount,
                )
            )
        elif isinstance(e, re.ActivityIssued):
            await uow.publish(
                r.RedEnvelopeIssued(
                    activity_id=aid,
                    streamer_id=sid,
                    occurred_at=now,
                    status=status,
                    quantity=activity.quantity,
                    face_value=activity.face_value,
                )
            )
        elif isinstance(e, re.QuantityChanged):
            await uow.publish(
                r.RedEnvelopeQuantityChanged(
                    activity_id=aid,
                    streamer_id=sid,
                    occurred_at=now,
                    status=status,
                    old_quantity=e.old_quantity,
                    new_quantity=e.new_quantity,
                )
            )
        elif isinstance(e, re.ActivityEnded):
            await uow.publish(
                r.RedEnvelopeActivityEnded(
                    activity_id=aid,
                    streamer_id=sid,
                    occurred_at=now,
                    status=status,
                    reason_code=e.reason.value,
                    unclaimed_released=unclaimed_release,
                )
            )
        elif isinstance(e, re.EnvelopeUsed):
            claim = activity.claims[e.claim_id]
            await uow.publish(
                r.RedEnvelopeUsed(
                    activity_id=aid,
                    streamer_id=sid,
                    occurred_at=now,
                    status=status,
                    envelope_id=e.claim_id,
                    order_id=e.order_id,
                    amount=e.amount,
                    order_gmv=claim.order_gmv,
                )
            )
        elif isinstance(e, re.EnvelopeExpired):
            await uow.publish(
                r.RedEnvelopeExpired(
                    activity_id=aid,
                    streamer_id=sid,
                    occurred_at=now,
                    status=status,
                    envelope_id=e.claim_id,
                    released=e.released,
                )
            )
        elif isinstance(e, re.EnvelopeReturned):
            await uow.publish(
                r.RedEnvelopeReturned(
                    activity_id=aid,
                    streamer_id=sid,
                    occurred_at=now,
                    status=status,
                    envelope_id=e.claim_id,
                    viewer_id=e.viewer_id,
                    order_id=e.order_id,
                    value=e.value,
                    valid_until=e.valid_until,
                )
            )


# ------------------------------------------------------------------------------------ coupons, balances, offers


async def create_coupon(
    uow: UnitOfWork, cmd: cmds.CreateCoupon, now: datetime, *, ceiling: int | None = None
) -> PromotionRow:
    """``ceiling``: the most one coupon may take off (platform coupons: the grant ceiling)."""
    if cmd.kind not in m.COUPON_KINDS:
        raise InvalidInput(Code.UNKNOWN_KIND, f"coupon kind must be one of {sorted(m.COUPON_KINDS)}")
    check_grant_ceiling(cmd.amount, ceiling, "the coupon amount")
    params: dict[str, Any] = {"amount": cmd.amount, "threshold": cmd.threshold}
    params["product_ids"] = sorted(cmd.product_ids) if cmd.product_ids is not None else None
    if cmd.kind == "MERCHANT_COUPON":
        params["merchant_id"] = cmd.issuer_id
    elif cmd.kind == "STREAMER_COUPON":
        params["streamer_id"] = cmd.issuer_id
    else:
        params["merchant_ids"] = sorted(cmd.merchant_ids) if cmd.merchant_ids is not None else None
    m.to_voucher(cmd.kind, "validate", params, valid_from=cmd.valid_from, valid_until=cmd.valid_until, owner_id=None)
    if cmd.quantity <= 0:
        raise InvalidInput(Code.NON_POSITIVE_QUANTITY, "quantity must be at least 1")
    if cmd.per_buyer_limit <= 0:
        raise InvalidInput(Code.NON_POSITIVE_CLAIM_LIMIT, "per-buyer claim limit must be at least 1")
    if not cmd.name.strip():
        raise InvalidInput(Code.EMPTY_NAME, "the coupon needs a name")
    row = PromotionRow(
        id=cmd.coupon_id,
        kind=cmd.kind,
        owner_id=cmd.issuer_id,
        name=cmd.name.strip(),
        params=params,
        valid_from=cmd.valid_from,
        valid_until=cmd.valid_until,
        created_at=now,
        quantity=cmd.quantity,
        claimed=0,
        per_buyer_limit=cmd.per_buyer_limit,
    )
    if cmd.kind == STREAMER_COUPON:
        # 主播红包 are streamer-funded: the batch's budget is held in the streamer's marketing wallet
        # first (like a 宠爱红包 activity); nobody can claim before the wallet confirms it.
        budget = cmd.amount * cmd.quantity
        if budget > MAX_BUDGET_FEN:
            raise InvalidInput(
                Code.BUDGET_TOO_LARGE,
                f"the budget (amount × quantity = {budget} fen) is above {MAX_BUDGET_FEN} fen",
                budget=budget,
                max=MAX_BUDGET_FEN,
            )
        row.funding = AWAITING_HOLD
    await uow.offers.add_coupon(row)
    if row.funding == AWAITING_HOLD:
        request_id = f"{row.id}:create"
        budget = cmd.amount * cmd.quantity
        await uow.budget.add(BudgetRequest(request_id, row.id, COUPON_CREATE, budget, "REQUESTED", now))
        await uow.publish(
            b.BudgetHoldRequested(
                activity_id=row.id, streamer_id=row.owner_id, request_id=request_id, occurred_at=now, amount=budget
            )
        )
    return row


async def claim_coupon(uow: UnitOfWork, cmd: cmds.ClaimCoupon, now: datetime) -> VoucherRow:
    """领券: the same race-free counters as red envelopes (per-buyer row, one conditional UPDATE)."""
    coupon = await uow.offers.get_coupon(cmd.coupon_id)
    if coupon is None:
        raise NotFound(Code.UNKNOWN_COUPON, "no such coupon", coupon_id=cmd.coupon_id)
    if coupon.valid_until is not None and now >= coupon.valid_until:
        raise Conflict(Code.ENVELOPE_EXPIRED, "this coupon has expired")
    _require_coupon_funded(coupon)
    if coupon.ended_at is not None or coupon.expired_at is not None:
        raise Conflict(Code.COUPON_ENDED, "this coupon batch has ended: no more coupons can be claimed")
    if not await uow.offers.bump_coupon_buyer(coupon.id, cmd.buyer_id, coupon.per_buyer_limit):
        raise Conflict(
            Code.CLAIM_LIMIT_REACHED,
            f"each buyer can claim at most {coupon.per_buyer_limit}",
            limit=coupon.per_buyer_limit,
        )
    if not await uow.offers.take_coupon(coupon.id):
        raise Conflict(Code.SOLD_OUT, "all coupons have been claimed")
    row = VoucherRow(
        voucher_id=cmd.voucher_id,
        buyer_id=cmd.buyer_id,
        kind=coupon.kind,
        label=coupon.name,
        source_id=coupon.id,
        params=coupon.params,
        valid_from=coupon.valid_from,
        valid_until=coupon.valid_until,
        status=AVAILABLE,
        claimed_at=now,
    )
    await uow.vouchers.add(row)
    return row


# ------------------------------------------------------------------------------------ streamer coupon budgets


def coupon_status(row: PromotionRow) -> str:
    """``PENDING_FUNDS`` (the wallet has not held the budget yet) → ``ACTIVE`` | ``REJECTED``; then
    ``ENDED`` (下线: no more claims) and ``EXPIRED`` (validity over). Coupons without a budget: ``ACTIVE``."""
    if row.funding == AWAITING_HOLD:
        return "PENDING_FUNDS"
    if row.funding == REFUSED:
        return "REJECTED"
    if row.expired_at is not None:
        return "EXPIRED"
    if row.ended_at is not None:
        return "ENDED"
    return "ACTIVE"


def coupon_view(row: PromotionRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "coupon_id": row.id,
        "kind": row.kind,
        "issuer_id": row.owner_id,
        "name": row.name,
        "params": row.params,
        "quantity": row.quantity,
        "claimed": row.claimed,
        "per_buyer_limit": row.per_buyer_limit,
        "valid_from": row.valid_from.isoformat() if row.valid_from else None,
        "valid_until": row.valid_until.isoformat() if row.valid_until else None,
        "status": coupon_status(row),
    }
    if row.funding is not None:
        out["funding_detail"] = row.funding_detail
        out["budget"] = {
            "total": int(row.params["amount"]) * row.quantity,
            "held": row.budget_held,
            "spent": row.budget_spent,
            "released": row.budget_released,
            "outstanding": row.budget_outstanding,
        }
        out["ended_at"] = row.ended_at.isoformat() if row.ended_at else None
        out["expired_at"] = row.expired_at.isoformat() if row.expired_at else None
    return out


def _require_coupon_funded(coupon: PromotionRow) -> None:
    if coupon.funding == AWAITING_HOLD:
        raise Conflict(Code.BUDGET_HOLD_PENDING, "the wallet has not confirmed the coupon batch's budget hold yet")
    if coupon.funding == REFUSED:
        raise Conflict(
            Code.BUDGET_NOT_HELD,
            "the wallet refused the budget hold: top up the marketing wallet and create the coupons again",
            **(coupon.funding_detail or {}),
        )


async def owned_coupon(uow: UnitOfWork, coupon_id: str, principal: Principal, *, lock: bool = False) -> PromotionRow:
    """A streamer coupon batch if the caller issued it (streamer) or is an operator; 404 otherwise (its
    existence does not leak)."""
    row = await uow.offers.get_coupon(coupon_id, lock=lock)
    if row is None or row.kind != STREAMER_COUPON:
        raise NotFound(Code.UNKNOWN_COUPON, "no such streamer coupon batch", coupon_id=coupon_id)
    if not (principal.is_operator() or (principal.actor == "streamer" and principal.sub == row.owner_id)):
        raise NotFound(Code.UNKNOWN_COUPON, "no such streamer coupon batch", coupon_id=coupon_id)
    return row


async def _coupon_funded(uow: UnitOfWork, req: BudgetRequest, detail: dict[str, Any]) -> None:
    coupon = await uow.offers.get_coupon(req.activity_id, lock=True)
    if coupon is None or coupon.funding != AWAITING_HOLD:
        return
    coupon.funding, coupon.funding_detail, coupon.budget_held = HELD, detail, req.amount
    await uow.offers.save_coupon_budget(coupon)


async def _coupon_refused(uow: UnitOfWork, req: BudgetRequest, detail: dict[str, Any]) -> None:
    coupon = await uow.offers.get_coupon(req.activity_id, lock=True)
    if coupon is None or coupon.funding != AWAITING_HOLD:
        return
    coupon.funding, coupon.funding_detail = REFUSED, detail
    await uow.offers.save_coupon_budget(coupon)


async def _release_coupon_budget(
    uow: UnitOfWork, coupon: PromotionRow, amount: int, reason: str, ref: str, now: datetime
) -> None:
    """Book ``amount`` as released and ask the wallet to return it to the streamer (the caller saves)."""
    if amount <= 0:
        return
    coupon.budget_released += amount
    request_id = f"{coupon.id}:release:{ref}"
    await uow.budget.add(BudgetRequest(request_id, coupon.id, COUPON_RELEASE, amount, "REQUESTED", now))
    await uow.publish(
        b.BudgetReleaseRequested(
            activity_id=coupon.id, streamer_id=coupon.owner_id, request_id=request_id, occurred_at=now,
            amount=amount, reason=reason,
        )
    )  # fmt: skip


async def end_coupon(uow: UnitOfWork, coupon_id: str, principal: Principal, now: datetime) -> PromotionRow:
    """下线: no more claims; the unclaimed budget goes back to the wallet. Claimed coupons stay usable until
    their validity ends (then what they did not use is released). Ending again: no-op."""
    coupon = await owned_coupon(uow, coupon_id, principal, lock=True)
    _require_coupon_funded(coupon)
    if coupon.ended_at is not None:
        return coupon
    coupon.ended_at = now
    unclaimed = (coupon.quantity - coupon.claimed) * int(coupon.params["amount"])
    await _release_coupon_budget(uow, coupon, unclaimed, "UNCLAIMED_AT_END", "end", now)
    await uow.offers.save_coupon_budget(coupon)
    return coupon


async def expire_coupon_batch(uow: UnitOfWork, coupon_id: str, now: datetime) -> PromotionRow | None:
    """Timer: a funded batch past its validity releases everything neither spent nor needed by coupons
    that unpaid orders reserved (those are spent on payment or released on cancellation); its unused
    coupons expire. Row-locked: safe on several instances; a second run is a no-op."""
    coupon = await uow.offers.get_coupon(coupon_id, lock=True)
    if coupon is None or coupon.funding != HELD or coupon.expired_at is not None:
        return coupon
    if coupon.valid_until is None or now < coupon.valid_until:
        return coupon
    await uow.offers.expire_coupons(coupon.id)  # first: waits for a pricing that locked one of them
    free = coupon.budget_outstanding - await uow.offers.reserved_amount(coupon.id)
    coupon.expired_at = now
    coupon.ended_at = coupon.ended_at or now
    await _release_coupon_budget(uow, coupon, free, "COUPONS_EXPIRED", "expiry", now)
    await uow.offers.save_coupon_budget(coupon)
    return coupon


async def _coupon_spent(uow: UnitOfWork, row: VoucherRow, order_id: str, merchant_id: str, now: datetime) -> None:
    """A paid order used a streamer coupon: its amount moves from the batch's hold to the merchant
    (``RedEnvelopeRedeemed(discount_type=STREAMER_COUPON)``: the wallet paid the merchant at capture from the
    streamer's coupon payable, the hold settles that payable). The rest of its face value stays held for
    the batch (a coupon given back after a refund is fully funded again) until the batch expires."""
    coupon = await uow.offers.get_coupon(row.source_id, lock=True)
    if coupon is None or coupon.funding != HELD or row.amount <= 0:
        return  # a streamer coupon from before budgets: the streamer owes it on the coupon payable
    coupon.budget_spent += row.amount
    request_id = f"{coupon.id}:redeem:{row.voucher_id}:{order_id}"
    await uow.budget.add(BudgetRequest(request_id, coupon.id, COUPON_REDEEM, row.amount, "REQUESTED", now))
    await uow.offers.save_coupon_budget(coupon)
    await uow.publish(
        b.RedEnvelopeRedeemed(
            activity_id=coupon.id, streamer_id=coupon.owner_id, request_id=request_id, occurred_at=now,
            order_id=order_id, merchant_id=merchant_id, envelope_id=row.voucher_id, amount=row.amount,
            discount_type=DiscountType.STREAMER_COUPON,
        )
    )  # fmt: skip


async def _coupon_back(uow: UnitOfWork, row: VoucherRow, order_id: str, *, refunded: bool, now: datetime) -> str:
    """A streamer coupon comes back from an order (unpaid: its reservation is released; paid and refunded:
    the wallet's refund puts its amount back into the batch's hold). Its new status: AVAILABLE, or EXPIRED
    once the batch expired (then its amount is released to the streamer)."""
    coupon = await uow.offers.get_coupon(row.source_id, lock=True)
    if coupon is None or coupon.funding != HELD:
        return AVAILABLE
    if refunded:
        coupon.budget_spent = max(0, coupon.budget_spent - row.amount)
    if coupon.expired_at is None:
        if refunded:
            await uow.offers.save_coupon_budget(coupon)
        return AVAILABLE
    ref = f"{row.voucher_id}:{order_id}"
    await _release_coupon_budget(uow, coupon, row.amount, "ORDER_CANCELLED_AFTER_EXPIRY", ref, now)
    await uow.offers.save_coupon_budget(coupon)
    return "EXPIRED"


async def grant_balance(
    uow: UnitOfWork, cmd: cmds.GrantBalance, now: datetime, *, ceiling: int | None = MAX_GRANT_FEN_DEFAULT
) -> VoucherRow:
    """A platform grant to one buyer, at most ``ceiling`` fen (``None``: no ceiling, tests only)."""
    if cmd.kind not in m.BALANCE_KINDS:
        raise InvalidInput(Code.UNKNOWN_KIND, f"kind must be one of {sorted(m.BALANCE_KINDS)}")
    check_grant_ceiling(cmd.amount, ceiling, "the grant")
    params: dict[str, Any] = {"amount": cmd.amount}
    if cmd.kind == "CASH_SUBSIDY":
        params["threshold"] = cmd.threshold
    m.to_voucher(cmd.kind, "validate", params, valid_from=cmd.valid_from, valid_until=cmd.valid_until, owner_id=None)
    row = VoucherRow(
        voucher_id=cmd.voucher_id,
        buyer_id=cmd.buyer_id,
        kind=cmd.kind,
        label=cmd.label or m.TYPE_LABELS[cmd.kind],
        source_id="platform",
        params=params,
        valid_from=cmd.valid_from,
        valid_until=cmd.valid_until,
        status=AVAILABLE,
        claimed_at=now,
        face_value=cmd.amount,
    )
    await uow.vouchers.add(row)
    return row


async def create_promotion(uow: UnitOfWork, cmd: cmds.CreatePromotion, now: datetime) -> PromotionRow:
    if cmd.kind not in m.AUTOMATIC_KINDS:
        raise InvalidInput(Code.UNKNOWN_KIND, f"kind must be one of {sorted(m.AUTOMATIC_KINDS)}")
    params = {**cmd.params, "merchant_id": cmd.merchant_id}
    try:
        m.to_voucher(
            cmd.kind, "validate", params, valid_from=cmd.valid_from, valid_until=cmd.valid_until, owner_id=None
        )
    except TypeError as exc:
        raise InvalidInput(Code.INVALID_INPUT, f"invalid {cmd.kind} parameters: {exc}") from None
    row = PromotionRow(
        cmd.promotion_id, cmd.kind, cmd.merchant_id, cmd.name, params, cmd.valid_from, cmd.valid_until, now
    )
    await uow.offers.add_promotion(row)
    return row


# ------------------------------------------------------------------------------------ pricing saga


def _rejection(voucher_id: str, code: str, reason: str) -> VoucherRejection:
    return VoucherRejection(voucher_id=voucher_id, reason_code=code, reason=reason)


#: Engine outcomes that only mean "not needed on this order": never a reason to fail it (取最优: of a
#: 商家券 and a 主播红包 the better for the buyer applies; SPEC 4). The voucher stays the buyer's.
_NOT_NEEDED = frozenset(
    {Reason.SUPERSEDED_BY_BETTER_COUPON, Reason.SUPERSEDED_BY_BETTER_OFFER, Reason.NOTHING_LEFT_TO_PAY}
)


def _not_needed(
    voucher_id: str, code: str, message: str, winner: AppliedDiscount | None, labels: dict[str, str]
) -> VoucherRejection:
    if winner is None or winner.voucher_id is None:
        return VoucherRejection(voucher_id=voucher_id, reason_code=code, reason=f"{message}; it stays in your account")
    name = labels.get(winner.voucher_id) or winner.voucher_id
    reason = (
        f"{name} ({winner.voucher_id}) takes {winner.amount} fen off this order, more for you: {message}; "
        "this one was not used and stays in your account"
    )
    return VoucherRejection(voucher_id=voucher_id, reason_code=code, reason=reason, superseded_by=winner.voucher_id)


async def _reject(
    uow: UnitOfWork, ev: OrderPlaced, code: str, reason: str, rejections: list[VoucherRejection], now: datetime
) -> OrderPricingRejected:
    out = OrderPricingRejected(
        order_id=ev.order_id, reason_code=code, reason=reason, voucher_rejections=rejections, rejected_at=now
    )
    await uow.pricings.add(
        PricingRecord(ev.order_id, ev.buyer_id, ev.merchant_id, "REJECTED", None, out.model_dump(mode="json"), now)
    )
    await uow.publish(out)
    return out


async def price_order(uow: UnitOfWork, ev: OrderPlaced, now: datetime) -> OrderPriced | OrderPricingRejected | None:
    """Price a placed order on the engine, reserve the vouchers it uses, answer on the pricing topic.

    A chosen voucher that is only beaten by a better one of its slot (商家券 vs 主播红包: the better
    for the buyer applies, SPEC 4) or has nothing left to cover is not reserved, stays the buyer's and
    is listed in ``OrderPriced.dropped_vouchers`` with its reason and the voucher applied instead. A
    chosen voucher that cannot apply (``EXPIRED``, ``WRONG_STREAMER``, ``BELOW_THRESHOLD``, unknown …)
    follows the buyer's choice (``OrderPlaced.on_unusable_voucher``): ``FAIL`` (the default) rejects
    the order with one ``VoucherRejection`` per such voucher and reserves nothing; ``PROCEED_WITHOUT``
    prices the order without them and lists them in ``dropped_vouchers``. Prices as of the order's
    placement time (``occurred_at``), so a replay prices the same.
    """
    if await uow.pricings.get(ev.order_id) is not None:
        # already answered (a second delivery under another event id), or already cancelled (the
        # cancellation left a ``CANCELLED`` tombstone: a late pricing must not reserve anything)
        return None
    at = ev.occurred_at
    rejections: list[VoucherRejection] = []
    chosen: list[str] = []
    for vid in ev.voucher_ids:
        if vid in chosen:
            rejections.append(_rejection(vid, Code.DUPLICATE_VOUCHER, "a voucher may be used once per order"))
        else:
            chosen.append(vid)
    rows = {row.voucher_id: row for row in await uow.vouchers.get_many(chosen, lock=True)}
    vouchers: list[Voucher] = []
    labels: dict[str, str] = {}
    for vid in chosen:
        row = rows.get(vid)
        if row is None:
            rejections.append(_rejection(vid, Code.UNKNOWN_VOUCHER, "no such voucher"))
            continue
        if row.status == RESERVED and row.order_id != ev.order_id and row.buyer_id == ev.buyer_id:
            rejections.append(
                _rejection(vid, Code.ALREADY_RESERVED_BY_ANOTHER_ORDER, "this voucher is held by another unpaid order")
            )
            continue
        used = row.status == USED or (row.status == RESERVED and row.order_id != ev.order_id)
        vouchers.append(
            m.to_voucher(
                row.kind, vid, row.params, valid_from=row.valid_from, valid_until=row.valid_until,
                owner_id=row.buyer_id, used=used,
            )
        )  # fmt: skip
        labels[vid] = f"{m.TYPE_LABELS[row.kind]} {row.label}".strip()
    product_ids = {ln.product_id for ln in ev.lines}
    for promo in await uow.offers.automatic(ev.merchant_id):
        if promo.kind == "FLASH_SALE" and promo.params.get("product_id") not in product_ids:
            continue
        vouchers.append(
            m.to_voucher(promo.kind, promo.id, promo.params, valid_from=promo.valid_from,
                         valid_until=promo.valid_until, owner_id=None)
        )  # fmt: skip
        labels[promo.id] = f"{m.TYPE_LABELS[promo.kind]} {promo.name}".strip()
    lines = [CartLine(ln.line_no, ln.product_id, ln.merchant_id, ln.unit_price, ln.quantity) for ln in ev.lines]
    try:
        result = engine_price_order(
            PricingRequest(
                buyer_id=ev.buyer_id, lines=lines, at=at, vouchers=vouchers, streamer_id=ev.channel.streamer_id
            )
        )
    except PromotionError as exc:
        return await _reject(uow, ev, exc.code, exc.message, rejections, now)
    not_needed: list[VoucherRejection] = []  # beaten in its slot / nothing left: never fails the order
    for d in result.decisions:
        if d.voucher_id in rows and not d.applied:
            if d.reason in _NOT_NEEDED:
                winner = result.superseded_by(d.voucher_id)
                not_needed.append(_not_needed(d.voucher_id, d.reason.value, d.message, winner, labels))
            else:
                rejections.append(_rejection(d.voucher_id, d.reason.value, d.message))
    in_chosen_order = lambda x: chosen.index(x.voucher_id) if x.voucher_id in chosen else len(chosen)  # noqa: E731
    rejections.sort(key=in_chosen_order)
    if rejections and ev.on_unusable_voucher is not UnusableVouchers.PROCEED_WITHOUT:
        codes = ", ".join(f"{x.voucher_id}: {x.reason_code}" for x in rejections)
        return await _reject(
            uow, ev, Code.VOUCHER_REJECTED, f"a chosen voucher cannot be used on this order ({codes})", rejections, now
        )
    # The buyer chose to proceed without the vouchers that cannot apply (the engine already priced the
    # order without them: a voucher that fails its checks takes no slot), or none failed.
    dropped = sorted([*rejections, *not_needed], key=in_chosen_order)
    applied = {a.voucher_id: a for a in result.applied}
    for vid in chosen:
        if vid not in applied:
            continue  # not used by this order: not reserved, stays the buyer's
        row = rows[vid]
        row.status = RESERVED
        row.order_id = ev.order_id
        row.amount = applied[vid].amount
        row.order_gmv = ev.item_total
        await uow.vouchers.update(row)
    until = {vid: rows[vid].valid_until for vid in applied if vid in rows}
    priced = OrderPriced(
        order_id=ev.order_id,
        funding=m.funding_to_contract(result),
        discounts=[
            m.discount_to_contract(a, labels.get(a.voucher_id, ""), until.get(a.voucher_id)) for a in result.applied
        ],
        lines=[LinePrice(line_no=p.line_no, list_amount=p.list_amount, payable=p.payable) for p in result.lines],
        priced_at=now,
        merchant_best_quote=result.merchant_best_quote,
        dropped_vouchers=dropped,
    )
    body = priced.model_dump(mode="json")
    body["decisions"] = [
        {
            "voucher_id": d.voucher_id,
            "discount_type": d.discount_type.value,
            "reason": d.reason.value,
            "amount": d.amount,
        }
        for d in result.decisions
    ]
    await uow.pricings.add(
        PricingRecord(ev.order_id, ev.buyer_id, ev.merchant_id, "PRICED", result.funding.buyer_payable, body, now)
    )
    await uow.publish(priced)
    return priced


def _balance(row: VoucherRow) -> Balance:
    """A coin / credit instance as the domain's balance. A ``USED`` instance has nothing left (its
    ``params.amount`` is what the order took); rows granted before ``face_value`` existed use their
    balance as the face value."""
    remaining = 0 if row.status == USED else int(row.params["amount"])
    face = row.face_value if row.face_value is not None else int(row.params["amount"])
    return Balance(face_value=max(face, remaining), remaining=remaining)


async def on_order_paid(uow: UnitOfWork, ev: OrderPaid, now: datetime) -> None:
    """Reserved vouchers are used; a red envelope's amount moves from the activity hold to the merchant
    (``RedEnvelopeRedeemed``) and the rest of its face value goes back to the streamer. A coin / credit
    balance records what the order took (given back if the paid order is cancelled) and keeps the rest
    (AVAILABLE), or is USED when the order took all of it."""
    for row in await uow.vouchers.for_order(ev.order_id, lock=True):
        if row.status != RESERVED:
            continue
        if row.kind == RED_ENVELOPE:
            loaded = await uow.activities.get(row.source_id, claim_ids=(row.voucher_id,))
            assert loaded is not None
            loaded.activity.confirm_use(claim_id=row.voucher_id, order_id=ev.order_id, now=now)
            await _save(uow, loaded, now, merchant_id=ev.merchant_id)
            continue
        if row.kind == STREAMER_COUPON:
            await _coupon_spent(uow, row, ev.order_id, ev.merchant_id, now)
        if row.kind in m.REUSABLE_BALANCE_KINDS:
            left = _balance(row)
            if row.amount > 0:  # always under strict pricing (an applied discount is positive)
                left, use = left.spend(voucher_id=row.voucher_id, order_id=ev.order_id, amount=row.amount)
                await uow.vouchers.add_use(use, now)
            if left.remaining > 0:
                row.params = {**row.params, "amount": left.remaining}
                row.status, row.order_id, row.amount, row.order_gmv = AVAILABLE, None, 0, 0
                await uow.vouchers.update(row)
                continue
        row.status = USED
        row.used_at = now
        await uow.vouchers.update(row)
    await uow.pricings.mark_settled(ev.order_id, "PAID")


async def _give_back_balances(
    uow: UnitOfWork, uses: Sequence[BalanceUse], rows: dict[str, VoucherRow], now: datetime
) -> None:
    """Top coin / credit balances back up by what the (paid, now cancelled) order took: once per
    (voucher, order), never beyond the face value, also when the instance's validity ended meanwhile
    (it stays unspendable through its own window, like a coupon given back). An instance another order
    has reserved meanwhile keeps that reservation; one another order used up becomes AVAILABLE with the
    credit (that order's own use record still gives its part back if it is cancelled too)."""
    for use in uses:
        if use.given_back:
            continue  # a redelivered OrderCancelled: credited already
        row = rows[use.voucher_id]
        after, done = _balance(row).give_back(use)
        row.params = {**row.params, "amount": after.remaining}
        if row.status == USED:
            row.status, row.order_id, row.amount, row.order_gmv, row.used_at = AVAILABLE, None, 0, 0, None
        await uow.vouchers.update(row)
        await uow.vouchers.mark_given_back(done, now)


async def on_order_cancelled(uow: UnitOfWork, ev: OrderCancelled, now: datetime) -> None:
    """Release what the order reserved (an envelope past its validity expires now and releases its budget).

    A paid order cancelled before shipping (the wallet refunds it) gives its single-use vouchers back to
    the buyer (AVAILABLE again), gives a used red envelope back to the buyer while it is within its use
    validity at the cancellation time, else returns its amount to the streamer (see
    ``RedEnvelopeActivity.refund_use``), and tops a coin / consumption-credit balance back up by exactly
    what the order took from it (``Balance.give_back``: once, capped at the face value). An unpaid
    order never took anything from a balance: its reservation is released and the balance is whole."""
    uses = await uow.vouchers.uses_for_order(ev.order_id, lock=True) if ev.was_paid else []
    ids = {u.voucher_id for u in uses} | {row.voucher_id for row in await uow.vouchers.for_order(ev.order_id)}
    # One statement locks every row touched (in voucher_id order, as pricing does).
    rows = {row.voucher_id: row for row in await uow.vouchers.get_many(sorted(ids), lock=True)}
    await _give_back_balances(uow, uses, rows, now)
    given_back = {u.voucher_id for u in uses}
    for row in rows.values():
        if row.order_id != ev.order_id or row.voucher_id in given_back:
            continue
        if row.status == USED and ev.was_paid:
            if row.kind == RED_ENVELOPE:
                loaded = await uow.activities.get(row.source_id, claim_ids=(row.voucher_id,))
                assert loaded is not None
                # Decided at the cancellation time, as the order service's message to the buyer is.
                loaded.activity.refund_use(claim_id=row.voucher_id, order_id=ev.order_id, now=ev.occurred_at)
                await _save(uow, loaded, now)
            else:
                back = AVAILABLE
                if row.kind == STREAMER_COUPON:
                    back = await _coupon_back(uow, row, ev.order_id, refunded=True, now=now)
                row.status, row.order_id, row.amount, row.order_gmv, row.used_at = back, None, 0, 0, None
                await uow.vouchers.update(row)
            continue
        if row.status != RESERVED:
            continue
        if row.kind == RED_ENVELOPE:
            loaded = await uow.activities.get(row.source_id, claim_ids=(row.voucher_id,))
            assert loaded is not None
            loaded.activity.release_reservation(claim_id=row.voucher_id, order_id=ev.order_id, now=ev.occurred_at)
            await _save(uow, loaded, now)
        else:
            back = AVAILABLE
            if row.kind == STREAMER_COUPON:
                back = await _coupon_back(uow, row, ev.order_id, refunded=False, now=now)
            row.status, row.order_id, row.amount, row.order_gmv = back, None, 0, 0
            await uow.vouchers.update(row)
    if await uow.pricings.get(ev.order_id) is None:
        # Cancelled before this service priced it: a tombstone, so that an OrderPlaced handled after the
        # cancellation (redriven from a dead-letter topic, or delivered late) finds the order answered
        # and reserves nothing (price_order). One consumer group handles both, one order at a time.
        await uow.pricings.add(
            PricingRecord(ev.order_id, ev.buyer_id, ev.merchant_id, "CANCELLED", None,
                          {"order_id": ev.order_id, "reason_code": ev.reason_code}, now)
        )  # fmt: skip
    await uow.pricings.mark_settled(ev.order_id, "CANCELLED")


def voucher_view(row: VoucherRow) -> dict[str, Any]:
    return {
        "voucher_id": row.voucher_id,
        "buyer_id": row.buyer_id,
        "kind": row.kind,
        "kind_label": m.TYPE_LABELS.get(row.kind, row.kind),
        "label": row.label,
        "source_id": row.source_id,
        "params": row.params,
        "valid_from": row.valid_from.isoformat() if row.valid_from else None,
        "valid_until": row.valid_until.isoformat() if row.valid_until else None,
        "status": row.status,
        "channel": row.channel,
        "claimed_at": row.claimed_at.isoformat(),
        "order_id": row.order_id,
        "amount": row.amount,
    }


def utcnow() -> datetime:
    return entropy.now()
