"""Idempotency: canonical request hash stability and the replay / 409 decision."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveshop.order.domain.errors import Code, IdempotencyKeyReused, InvalidInput
from liveshop.order.domain.idempotency import (
    IdempotencyDecision,
    canonical_json,
    decide,
    request_hash,
    scoped_key,
    validate_key,
)
from liveshop.order.domain.values import PaymentMethod

BODY = {
    "buyer_id": "b-1",
    "lines": [{"product_id": "p-1", "quantity": 2}, {"product_id": "p-2", "quantity": 1}],
    "channel": {"kind": "LIVE_ROOM", "streamer_id": "s-1"},
    "voucher_ids": ["v-1"],
    "payment_method": "ONLINE",
    "note": "尽快发货",
}


def test_hash_is_sha256_hex_and_golden() -> None:
    h = request_hash({"b": 1, "a": "x"})
    assert len(h) == 64 and int(h, 16) >= 0
    # the canonical form is part of the stored data: it must never change between releases
    assert canonical_json({"b": 1, "a": "x"}) == '{"a":"x","b":1}'
    assert h == hashlib.sha256(b'{"a":"x","b":1}').hexdigest()
    assert h == "cdab067e9f3beb32d1252cfd63e492592fecbf591b0d08cadb24bb17f3864246"


def test_canonical_form_is_compact_sorted_utf8() -> None:
    assert canonical_json(BODY).startswith('{"buyer_id":"b-1","channel":{"kind":"LIVE_ROOM","streamer_id":"s-1"}')
    assert "尽快发货" in canonical_json(BODY)


def test_key_order_and_container_type_do_not_matter() -> None:
    reordered = dict(reversed(list(BODY.items())))
    as_tuples = {**BODY, "lines": tuple(BODY["lines"]), "voucher_ids": ("v-1",)}
    assert request_hash(BODY) == request_hash(reordered) == request_hash(as_tuples)


def test_any_change_changes_the_hash() -> None:
    base = request_hash(BODY)
    assert request_hash({**BODY, "payment_method": "BNPL"}) != base
    assert request_hash({**BODY, "lines": list(reversed(BODY["lines"]))}) != base  # type: ignore[call-overload]
    assert request_hash({**BODY, "voucher_ids": []}) != base
    assert request_hash({**BODY, "extra": None}) != base


def test_enums_dataclasses_dates_and_sets_are_normalised() -> None:
    @dataclass(frozen=True)
    class Line:
        product_id: str
        quantity: int

    a = {
        "method": PaymentMethod.BNPL,
        "lines": [Line("p-1", 2)],
        "at": datetime(2025, 1, 1, 16, 0, tzinfo=timezone(timedelta(hours=8))),
        "day": date(2025, 1, 1),
        "tags": {"b", "a"},
    }
    b = {
        "method": "BNPL",
        "lines": [{"product_id": "p-1", "quantity": 2}],
        "at": datetime(2025, 1, 1, 8, 0, tzinfo=UTC),
        "day": "2025-01-01",
        "tags": ["a", "b"],
    }
    assert request_hash(a) == request_hash(b)


def test_exclude_top_level_fields() -> None:
    assert request_hash({**BODY, "idempotency_key": "k1"}, exclude=["idempotency_key"]) == request_hash(BODY)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": 9.9}, Code.FLOAT_NOT_ALLOWED),
        ({"lines": [{"price": 1.0}]}, Code.FLOAT_NOT_ALLOWED),
        ({"at": datetime(2025, 1, 1)}, Code.INVALID_INPUT),  # noqa: DTZ001 - a naive datetime on purpose
        ({1: "x"}, Code.INVALID_INPUT),
        ({"x": object()}, Code.INVALID_INPUT),
    ],
)
def test_refused_values(body: object, code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        request_hash(body)
    assert err.value.code == code


def test_decide() -> None:
    h1, h2 = request_hash(BODY), request_hash({**BODY, "note": ""})
    assert decide(key="k", stored_hash=None, incoming_hash=h1) is IdempotencyDecision.FIRST
    assert decide(key="k", stored_hash=h1, incoming_hash=h1) is IdempotencyDecision.REPLAY
    with pytest.raises(IdempotencyKeyReused) as err:
        decide(key="k", stored_hash=h1, incoming_hash=h2)
    assert err.value.code == Code.IDEMPOTENCY_KEY_REUSED
    assert err.value.http_status == 409
    assert err.value.as_dict()["details"] == {"idempotency_key": "k"}


@pytest.mark.parametrize("key", ["", " ", "a b", "x" * 129, "键"])
def test_invalid_keys(key: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_key(key)
    assert err.value.code == Code.INVALID_IDEMPOTENCY_KEY


def test_scoped_key() -> None:
    assert scoped_key(actor_id="b-1", command="PlaceOrder", key="01HXYZ-abc") == "PlaceOrder:b-1:01HXYZ-abc"
    assert scoped_key(actor_id="b-1", command="PlaceOrder", key="k") != scoped_key(
        actor_id="b-2", command="PlaceOrder", key="k"
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=6), st.randoms(use_true_random=False))
def test_hash_ignores_key_insertion_order(body: dict[str, object], rnd: random.Random) -> None:
    items = list(body.items())
    rnd.shuffle(items)
    assert request_hash(dict(items)) == request_hash(body)
