"""Streamers: registration and the 自卖 binding to a merchant (both parties' consent)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from liveshop.contracts.events.catalog import StreamerBound
from liveshop.order.domain import Code, InvalidInput, Streamer
from liveshop.order.service_layer import commands as cmds
from liveshop.order.service_layer.unit_of_work import UnitOfWork
from liveshop.shared.auth import Principal
from liveshop.shared.errors import Forbidden as AccessDenied


def _check_bind_input(cmd: cmds.BindStreamer) -> None:
    if not cmd.streamer_id or (cmd.merchant_id is not None and not cmd.merchant_id):
        raise InvalidInput(Code.INVALID_INPUT, "streamer id (and merchant id, when given) must not be empty")


@dataclass(frozen=True, slots=True)
class Binding:
    """Where a streamer stands after a bind request: its current binding (``version`` 0: not registered)
    and, when only one party has agreed so far, whose consent is still ``awaiting``."""

    streamer_id: str
    merchant_id: str | None
    version: int
    awaiting: str | None = None
    requested_merchant_id: str | None = None

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "streamer_id": self.streamer_id,
            "merchant_id": self.merchant_id,
            "version": self.version,
        }
        if self.awaiting is not None:
            out["pending"] = {"merchant_id": self.requested_merchant_id, "awaiting": self.awaiting}
        return out


async def request_binding(uow: UnitOfWork, cmd: cmds.BindStreamer, *, now: datetime, caller: Principal) -> Binding:
    """``PUT /streamers/{id}``: a 自卖 binding needs both parties' consent (SPEC §0: what an actor may do
    follows from who they are — a merchant can't claim a streamer, a streamer can't claim a shop).

    - the streamer itself: registers (no ``merchant_id``), leaves its merchant (``merchant_id`` null),
      or agrees to be ``merchant_id``'s own streamer;
    - a merchant (``merchant_id`` = itself): agrees to take the streamer as its own; with no
      ``merchant_id`` it ends its own binding (either party may end the relationship alone);
    - the binding is made when the second party agrees (order does not matter);
    - an operator with ``ops`` binds / unbinds directly (platform onboarding, disputes).
    """
    _check_bind_input(cmd)
    await uow.streamers.lock(cmd.streamer_id)
    if caller.is_operator("ops"):
        streamer, version = await bind_streamer(uow, cmd, now=now)
        await uow.streamers.clear_consents(cmd.streamer_id)
        return Binding(streamer.id, streamer.merchant_id, version)
    current = await uow.streamers.get(cmd.streamer_id, for_update=True)
    bound_to = None if current is None else current[0].merchant_id
    if caller.actor == "streamer" and caller.sub == cmd.streamer_id:
        if cmd.merchant_id is None or bound_to == cmd.merchant_id:  # register / leave / no change
            streamer, version = await bind_streamer(uow, cmd, now=now)
            return Binding(streamer.id, streamer.merchant_id, version)
        other = "merchant"
    elif caller.actor == "merchant":
        if cmd.merchant_id is None:  # the merchant ends its own binding
            if current is None or bound_to != caller.sub:
                raise AccessDenied(
                    "NOT_YOUR_RESOURCE", "this streamer is not bound to you", streamer_id=cmd.streamer_id
                )
            streamer, version = await bind_streamer(uow, cmd, now=now)
            return Binding(streamer.id, streamer.merchant_id, version)
        if cmd.merchant_id != caller.sub:
            raise AccessDenied("NOT_YOUR_RESOURCE", f"merchant_id must be your own (merchant {caller.sub})")
        if current is not None and bound_to == caller.sub:
            return Binding(current[0].id, bound_to, current[1])
        other = "streamer"
    else:
        raise AccessDenied("NOT_YOUR_RESOURCE", "only the streamer, its merchant or ops may bind a streamer")
    assert cmd.merchant_id is not None
    await uow.streamers.add_consent(cmd.streamer_id, cmd.merchant_id, caller.actor, now)
    if await uow.streamers.has_consent(cmd.streamer_id, cmd.merchant_id, other):
        streamer, version = await bind_streamer(uow, cmd, now=now)
        await uow.streamers.clear_consents(cmd.streamer_id)
        return Binding(streamer.id, streamer.merchant_id, version)
    if current is None and caller.actor == "streamer":  # a streamer asking is registered (unbound) meanwhile
        current = await bind_streamer(uow, cmds.BindStreamer(cmd.streamer_id, None), now=now)
    return Binding(
        cmd.streamer_id,
        bound_to,
        0 if current is None else current[1],
        awaiting=other,
        requested_merchant_id=cmd.merchant_id,
    )


async def bind_streamer(uow: UnitOfWork, cmd: cmds.BindStreamer, *, now: datetime) -> tuple[Streamer, int]:
    """Register a streamer / (re)bind it to its own merchant (自卖), no questions asked (callers decide
    who may: :func:`request_binding`). Idempotent: no change, no event."""
    _check_bind_input(cmd)
    current = await uow.streamers.get(cmd.streamer_id, for_update=True)
    streamer = Streamer(cmd.streamer_id, cmd.merchant_id)
    if current is not None and current[0] == streamer:
        return current
    version = 1 if current is None else current[1] + 1
    await uow.streamers.upsert(streamer, version=version, now=now)
    await uow.publish(
        StreamerBound(streamer_id=streamer.id, merchant_id=streamer.merchant_id, version=version, changed_at=now)
    )
    return streamer, version
