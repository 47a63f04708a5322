"""Red-envelope activities (宠爱红包): reads, create, issue, edit, end, and the timer tick."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from liveshop.contracts.events import redenvelope as r
from liveshop.promotion.domain import red_envelope as re
from liveshop.promotion.domain.errors import Code, Conflict, InvalidInput, NotFound
from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer.handlers.common import WALLET_DECIDES
from liveshop.promotion.service_layer.handlers.envelope_events import save_activity
from liveshop.promotion.service_layer.handlers.funding import request_hold
from liveshop.promotion.service_layer.handlers.views import activity_public_view, activity_view
from liveshop.promotion.service_layer.unit_of_work import AWAITING_HOLD, HELD, REFUSED, LoadedActivity, UnitOfWork
from liveshop.shared.auth import Principal


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


async def _load(uow: UnitOfWork, activity_id: str, streamer_id: str | None = None) -> LoadedActivity:
    loaded = await uow.activities.get(activity_id, lock=True)
    if loaded is None:
        raise NotFound(Code.UNKNOWN_ACTIVITY, "no such red-envelope activity", activity_id=activity_id)
    if streamer_id is not None and loaded.activity.streamer_id != streamer_id:
        # Another streamer's activity answers like an unknown one: its existence does not leak (the
        # route's policy already made ``streamer_id`` the caller).
        raise _unknown_activity(activity_id)
    return loaded


def require_funded(loaded: LoadedActivity) -> None:
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


async def _candidates(
    uow: UnitOfWork, streamer: re.StreamerProfile, own_merchant: str | None, ids: Sequence[str]
) -> list[re.CandidateProduct]:
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
        available_balance=WALLET_DECIDES,
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
    await request_hold(uow, activity, "CREATE", budget, now)
    return LoadedActivity(activity, AWAITING_HOLD, None, partial=False, loaded_ledger=0)


async def issue_activity(uow: UnitOfWork, cmd: cmds.IssueActivity, now: datetime) -> LoadedActivity:
    loaded = await _load(uow, cmd.activity_id, cmd.streamer_id)
    require_funded(loaded)
    loaded.activity.issue(now)
    await save_activity(uow, loaded, now)
    return loaded


async def end_activity(uow: UnitOfWork, cmd: cmds.EndActivity, now: datetime) -> LoadedActivity:
    """下线: PENDING or RUNNING -> ENDED; unclaimed budget goes back to the wallet."""
    loaded = await _load(uow, cmd.activity_id, cmd.streamer_id)
    require_funded(loaded)
    loaded.activity.end(now)
    await save_activity(uow, loaded, now)
    return loaded


async def edit_activity(uow: UnitOfWork, cmd: cmds.EditActivity, now: datetime) -> tuple[LoadedActivity, str | None]:
    """Only the quantity, only while PENDING or RUNNING. Lowering releases budget at once; raising asks
    the wallet for the extra hold first and applies when it is held (returns the request id)."""
    loaded = await _load(uow, cmd.activity_id, cmd.streamer_id)
    require_funded(loaded)
    await _refuse_while_raise_pending(uow, cmd.activity_id)
    activity = loaded.activity
    old_quantity = activity.quantity
    activity.edit(cmd.changes, available_balance=WALLET_DECIDES, now=now)  # validates (and applies)
    if activity.quantity > old_quantity:
        # Not applied until the wallet holds the extra budget: reload the unchanged state.
        target = activity.quantity
        extra = (target - old_quantity) * activity.face_value
        fresh = await _load(uow, cmd.activity_id)
        request_id = await request_hold(uow, fresh.activity, "RAISE", extra, now, target)
        return fresh, request_id
    await save_activity(uow, loaded, now)
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


async def tick_activity(uow: UnitOfWork, activity_id: str, now: datetime) -> LoadedActivity | None:
    """Scheduled issue, expiry of claimed-unused envelopes, end when the use window is over."""
    loaded = await uow.activities.get(activity_id, lock=True)
    if loaded is None or loaded.funding != HELD:
        return loaded
    loaded.activity.tick(now)
    await save_activity(uow, loaded, now)
    return loaded
