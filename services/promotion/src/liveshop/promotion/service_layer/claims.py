"""Group commit of red-envelope claims: concurrent claims of one activity share ONE transaction.

Every claim of an activity serialises on its row lock, so one claim per transaction is bounded by
the round trips and the commit of that hot row. Here concurrent callers in this process enqueue their
claim and await a future; one worker per activity drains the queue and decides up to ``max_batch``
claims in one transaction (:func:`envelope_claims.claim_envelopes`: lock the row once, set-based writes,
outbox rows, the ``claimed + k <= quantity`` backstop), commits, then resolves each caller with its
own outcome. While a batch is in the database the next one accumulates, so batches grow with load and
a lone claim is still a batch of one (no added wait).

Correctness never depends on this process: several instances each batch their own callers, and their
transactions serialise on the activity row lock and the database checks.

Idempotency (``Idempotency-Key``) keeps the endpoint's semantics (``liveshop.shared.http.idempotent``):
the batch takes the keys' advisory locks (same lock keys), replays a stored response (even when the
activity has since sold out or ended), answers 409 ``IDEMPOTENCY_KEY_REUSED`` for another body, and
stores the response of a successful claim in the same transaction; a refused claim stores nothing, so
a retry runs again. Two claims with the same key never share a batch: the later one waits for the next.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer.handlers import envelope_claims, views
from liveshop.promotion.service_layer.unit_of_work import UnitOfWork, VoucherRow
from liveshop.shared import entropy, journal
from liveshop.shared.errors import Conflict as SharedConflict
from liveshop.shared.idempotency import request_hash

UowFactory = Callable[[], AbstractAsyncContextManager[UnitOfWork]]
#: The journal's name for one group-committed batch of claims.
COMMAND = "promotion.claim-envelopes"


@dataclass(slots=True)
class _Pending:
    cmd: cmds.ClaimEnvelope
    key: str | None
    request_hash: str | None
    future: asyncio.Future[dict[str, Any]]

    def journaled(self) -> dict[str, Any]:
        """This claim as the batch's journal entry records it (what :meth:`EnvelopeClaims.replay_batch`
        re-runs). The command's fields are strings, so a copy of its ``__dict__`` is ``asdict`` without
        the recursive deep copy (which was most of a batch's journaling cost)."""
        return {"cmd": dict(vars(self.cmd)), "key": self.key, "request_hash": self.request_hash}


def idempotency_scope(activity_id: str) -> str:
    return f"claim:{activity_id}"


class EnvelopeClaims:
    """The claim entry point of one service instance (``app.state.envelope_claims``)."""

    def __init__(
        self,
        unit_of_work: UowFactory,
        *,
        max_batch: int = 256,
        clock: Callable[[], datetime] = entropy.now,
        journal: bool = False,
    ) -> None:
        self._uow = unit_of_work
        #: A batch merges several requests: it is journaled as one COMMAND input (replayed by
        #: :meth:`replay_batch`), not as the requests that fed it.
        self._journal = journal
        self._max_batch = max_batch
        self._clock = clock
        self._queues: dict[str, deque[_Pending]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        #: Observability (and tests): batches run, claims in them, the largest batch.
        self.batches = 0
        self.claims = 0
        self.largest_batch = 0

    async def claim(
        self, cmd: cmds.ClaimEnvelope, *, idempotency_key: str | None = None, body: Any = None
    ) -> dict[str, Any]:
        """Claim one envelope; returns the voucher view (201 body) or raises the refusal
        (``PromotionError``, or ``liveshop.shared.errors.Conflict`` for a reused idempotency key)."""
        key = idempotency_key or None
        digest = request_hash(body) if key is not None else None
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(cmd.activity_id, deque()).append(_Pending(cmd, key, digest, future))
        if cmd.activity_id not in self._workers:
            self._workers[cmd.activity_id] = asyncio.create_task(
                self._drain(cmd.activity_id), name=f"envelope-claims-{cmd.activity_id}"
            )
        return await future

    async def aclose(self) -> None:
        """Stop the workers; callers still waiting get ``CancelledError``."""
        workers = list(self._workers.values())
        for t in workers:
            t.cancel()
        for t in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for q in self._queues.values():
            for p in q:
                p.future.cancel()
        self._queues.clear()

    async def _drain(self, activity_id: str) -> None:
        q = self._queues[activity_id]
        try:
            while q:
                batch: list[_Pending] = []
                keys: set[str] = set()
                later: list[_Pending] = []
                while q and len(batch) < self._max_batch:
                    p = q.popleft()
                    if p.future.done():  # the caller went away before its claim was run
                        continue
                    if p.key is not None:
                        if p.key in keys:
                            later.append(p)
                            continue
                        keys.add(p.key)
                    batch.append(p)
                q.extendleft(reversed(later))
                if batch:
                    await self._run(activity_id, batch)
        finally:
            del self._workers[activity_id]
            if not q:
                del self._queues[activity_id]

    async def replay_batch(self, arguments: dict[str, Any]) -> None:
        """Re-run one journaled batch (journal replay): same claims, same keys, same order."""
        loop = asyncio.get_running_loop()
        batch = [
            _Pending(cmds.ClaimEnvelope(**c["cmd"]), c["key"], c["request_hash"], loop.create_future())
            for c in arguments["claims"]
        ]
        await self._run(arguments["activity_id"], batch)
        for p in batch:
            if p.future.done() and not p.future.cancelled():
                p.future.exception()  # refusals are part of the replayed outcome, not errors

    async def _run(self, activity_id: str, batch: list[_Pending]) -> None:
        def arguments() -> dict[str, Any]:
            return {
                "activity_id": activity_id,
                "claims": [p.journaled() for p in batch],
            }

        with journal.command_tape(COMMAND, arguments, journal=self._journal):
            await self._run_batch(activity_id, batch)

    async def _run_batch(self, activity_id: str, batch: list[_Pending]) -> None:
        self.batches += 1
        self.claims += len(batch)
        self.largest_batch = max(self.largest_batch, len(batch))
        scope = idempotency_scope(activity_id)
        outcomes: list[dict[str, Any] | Exception | None] = [None] * len(batch)
        try:
            async with self._uow() as uow:
                keyed = [p.key for p in batch if p.key is not None]
                stored = await uow.idempotency.lock_and_get(scope, keyed) if keyed else {}
                fresh: list[int] = []
                for i, p in enumerate(batch):
                    prior = stored.get(p.key) if p.key is not None else None
                    if prior is None:
                        fresh.append(i)
                    elif prior.request_hash != p.request_hash:
                        outcomes[i] = SharedConflict(
                            "IDEMPOTENCY_KEY_REUSED",
                            f"idempotency key {p.key!r} was used with a different request body",
                        )
                    else:
                        outcomes[i] = prior.response
                if fresh:
                    results = await envelope_claims.claim_envelopes(
                        uow, activity_id, [batch[i].cmd for i in fresh], self._clock()
                    )
                    to_store: list[tuple[str, str, int, Any]] = []
                    for i, res in zip(fresh, results, strict=True):
                        if isinstance(res, VoucherRow):
                            view = views.voucher_view(res)
                            outcomes[i] = view
                            p = batch[i]
                            if p.key is not None and p.request_hash is not None:
                                to_store.append((p.key, p.request_hash, 201, view))
                        else:
                            outcomes[i] = res
                    await uow.idempotency.store(scope, to_store)
        except asyncio.CancelledError:
            for p in batch:
                p.future.cancel()
            raise
        except Exception as exc:  # nothing of the batch was committed: every caller gets the error
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        for p, outcome in zip(batch, outcomes, strict=True):
            if p.future.done():
                continue
            if isinstance(outcome, Exception):
                p.future.set_exception(outcome)
            else:
                assert outcome is not None
                p.future.set_result(outcome)
