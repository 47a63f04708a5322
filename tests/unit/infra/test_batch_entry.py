"""The consumer's batch path ignores a known event type it has no handler for without decoding it
(issue #17: 8 of the 19 records the saga's consumer groups fetch per order), and still refuses what
it cannot decode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from liveshop.contracts import codec
from liveshop.contracts.events.order import OrderPlaced
from liveshop.shared.consumer import EventRouter
from liveshop.shared.consumer.transactions import batch_entry

DATA = Path(__file__).parents[2] / "integration" / "replay" / "data" / "orders.jsonl"


class Rec:
    def __init__(self, headers: list[tuple[str, bytes]], value: bytes) -> None:
        self.headers, self.value = headers, value


def placed() -> Rec:
    r = json.loads(DATA.read_text().splitlines()[0])
    assert dict(r["headers"])["ce_type"] == OrderPlaced.EVENT_TYPE
    return Rec([(k, v.encode()) for k, v in r["headers"]], r["value"].encode())


def router(handled: bool) -> EventRouter:
    r = EventRouter("t")
    if handled:

        async def handler(env: Any, tx: Any) -> None:
            return None

        r.on(OrderPlaced)(handler)
    return r


def test_a_handled_type_is_decoded() -> None:
    rec = placed()
    _, env, handler = batch_entry(router(True), rec)
    assert env is not None and env.type == OrderPlaced.EVENT_TYPE and handler is not None


def test_a_known_type_without_a_handler_is_ignored_undecoded() -> None:
    rec = placed()
    rec.value = b"{not json"  # not even read
    assert batch_entry(router(False), rec) == (rec, None, None)


def test_what_cannot_be_decoded_is_still_refused() -> None:
    unknown = placed()
    unknown.headers = [(k, b"liveshop.order.Nope.v1" if k == "ce_type" else v) for k, v in unknown.headers]
    with pytest.raises(codec.DecodeError):
        batch_entry(router(False), unknown)
    bad = placed()
    bad.value = b"{not json"
    with pytest.raises(codec.DecodeError):
        batch_entry(router(True), bad)
    with pytest.raises(codec.DecodeError):
        batch_entry(router(False), Rec([], b"{}"))
