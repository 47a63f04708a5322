"""Commands over HTTP: idempotent checkout, every bad input with its reason code (nothing half-created),
and the catalog (products, listing, distribution, streamer binding) with its events."""

from __future__ import annotations

from typing import Any

from liveshop.contracts import codec
from liveshop.contracts.events.catalog import CATALOG, STREAMERS, DistributionChanged, ProductChanged, StreamerBound
from liveshop.contracts.events.order import OrderPlaced
from tests.authn import bearer, operator_headers

from .conftest import OrderService, StartOrder


async def test_same_idempotency_key_creates_one_order_and_another_body_is_409(order_svc: OrderService) -> None:
    s = order_svc
    pid = await s.product()
    body = {"buyer_id": "b1", "lines": [{"product_id": pid, "quantity": 1}]}
    first = await s.http.post("/orders", json=body, headers={"Idempotency-Key": "k-1"})
    again = await s.http.post("/orders", json=body, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    other = await s.http.post(
        "/orders", json={**body, "lines": [{"product_id": pid, "quantity": 2}]}, headers={"Idempotency-Key": "k-1"}
    )
    assert (other.status_code, other.json()["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    other_buyer = await s.http.post("/orders", json={**body, "buyer_id": "b2"}, headers={"Idempotency-Key": "k-1"})
    assert other_buyer.status_code == 201  # keys are scoped per buyer
    orders = (await s.http.get("/buyers/b1/orders")).json()["orders"]
    assert [o["order_id"] for o in orders] == [first.json()["order_id"]]
    placed = [e.data for e in await s.order_events(2) if isinstance(e.data, OrderPlaced)]
    assert sorted(e.buyer_id for e in placed) == ["b1", "b2"]


async def test_bad_input_gets_its_reason_code_and_nothing_is_half_created(order_svc: OrderService) -> None:
    s = order_svc
    good = await s.product(price=5990)
    unlisted = await s.product(listed=False)
    await s.bind("s_other", "m_other")

    async def place(lines: list[dict[str, Any]], **kw: Any) -> tuple[int, dict[str, Any]]:
        r = await s.http.post("/orders", json={"buyer_id": "b1", "lines": lines, **kw})
        return r.status_code, r.json()

    cases: list[tuple[list[dict[str, Any]], dict[str, Any], str]] = [
        ([{"product_id": "p_nope", "quantity": 1}], {}, "UNKNOWN_PRODUCT"),
        ([{"product_id": unlisted, "quantity": 1}], {}, "PRODUCT_UNLISTED"),
        ([{"product_id": good, "quantity": 0}], {}, "QUANTITY_NOT_POSITIVE"),
        ([{"product_id": good, "quantity": -3}], {}, "QUANTITY_NOT_POSITIVE"),
        ([{"product_id": good, "quantity": 1, "expected_unit_price": 4990}], {}, "PRICE_MISMATCH"),
        ([], {}, "NO_LINES"),
        ([{"product_id": good, "quantity": 1}], {"payment_method": "CASH"}, "INVALID_PAYMENT_METHOD"),
        ([{"product_id": good, "quantity": 1}], {"channel": {"kind": "LIVE_ROOM"}}, "STREAMER_REQUIRED"),
        ([{"product_id": good, "quantity": 1}], {"channel": {"kind": "LIVE_ROOM", "streamer_id": "s_ghost"}}, "UNKNOWN_STREAMER"),
        ([{"product_id": good, "quantity": 1}], {"channel": {"kind": "LIVE_ROOM", "streamer_id": "s_other"}}, "STREAMER_CANNOT_SELL"),
        ([{"product_id": good, "quantity": 1}], {"voucher_ids": ["v1", "v1"]}, "DUPLICATE_VOUCHER"),
        # one good line and one bad line: the whole order is refused
        ([{"product_id": good, "quantity": 1}, {"product_id": "p_nope", "quantity": 1}], {}, "UNKNOWN_PRODUCT"),
    ]  # fmt: skip
    for lines, extra, code in cases:
        status, body = await place(lines, **extra)
        assert (status, body["code"]) == (422, code), (lines, extra, body)
        assert body["message"]
    status, body = await place([{"product_id": good, "quantity": 0}, {"product_id": "p_nope", "quantity": 1}])
    assert [(p["code"], p["line_no"]) for p in body["details"]["problems"]] == [
        ("QUANTITY_NOT_POSITIVE", 1),
        ("UNKNOWN_PRODUCT", 2),
    ]
    r = await s.http.post("/orders", json={"buyer_id": "b1", "lines": [{"product_id": good, "quantity": 1.5}]})
    assert (r.status_code, r.json()["code"]) == (422, "INVALID_REQUEST")  # not an integer at all

    assert (await s.http.get("/buyers/b1/orders")).json()["orders"] == []
    assert (await s.http.get("/buyers/b1/messages")).json()["messages"] == []

    order_id = await s.order("b1", [(good, 1)])
    r = await s.http.get(f"/orders/{order_id}", params={"buyer_id": "b2"})  # signed as b2: ids don't leak
    assert (r.status_code, r.json()["code"]) == (404, "ORDER_NOT_FOUND")
    r = await s.http.get("/orders/o_nope", params={"buyer_id": "b1"})
    assert (r.status_code, r.json()["code"]) == (404, "ORDER_NOT_FOUND")
    r = await s.http.post(f"/orders/{order_id}/confirm-receipt", json={"buyer_id": "b1"})
    assert (r.status_code, r.json()["code"]) == (409, "SKIPPED_STEP")
    placed = [e.data for e in await s.order_events(1) if isinstance(e.data, OrderPlaced)]
    assert [e.order_id for e in placed] == [order_id]


async def test_oversized_input_is_a_422_with_a_reason_code_never_a_500(order_svc: OrderService) -> None:
    s = order_svc
    huge = "m" * (2 * 1024 * 1024)  # a 2 MB merchant_id
    # in a body it is over the platform's body limit (1 MiB) before anything parses it
    r = await s.http.post(
        "/products", json={"merchant_id": huge, "title": "x", "price": 1}, headers=bearer("merchant", "m1")
    )
    assert (r.status_code, r.json()["code"]) == (413, "BODY_TOO_LARGE")
    # a query can't carry 2 MB (URLs stop at 64 KiB in clients and servers): the biggest one that fits
    r = await s.http.get("/products", params={"merchant_id": "m" * 60_000}, headers=bearer("buyer", "b1"))
    assert (r.status_code, r.json()["code"]) == (422, "INVALID_REQUEST"), r.text[:300]
    assert r.json()["errors"][0]["field"] == "query.merchant_id"
    # under the body limit: ops may name any merchant, so the size rule answers
    r = await s.http.put("/streamers/s1", json={"merchant_id": "m" * 65}, headers=operator_headers("ops"))
    assert (r.status_code, r.json()["code"]) == (422, "INVALID_REQUEST")
    r = await s.http.get("/products/" + "p" * 65, headers=bearer("buyer", "b1"))
    assert (r.status_code, r.json()["code"]) == (422, "INVALID_REQUEST")

    pid = await s.product()
    line = {"product_id": pid, "quantity": 1}
    too_big: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/products", {"merchant_id": "m1", "title": "x" * 1001, "price": 100}),
        ("POST", "/products", {"merchant_id": "m1", "title": "x", "price": 100, "product_type": "T" * 33}),
        ("POST", "/orders", {"buyer_id": "b1", "lines": [line] * 101}),
        ("POST", "/orders", {"buyer_id": "b1", "lines": [line], "voucher_ids": [f"v{i}" for i in range(21)]}),
        ("POST", "/orders", {"buyer_id": "b1", "lines": [{**line, "expected_unit_price": 10**12 + 1}]}),
        ("POST", "/orders", {"buyer_id": "b1", "lines": [{"product_id": "p" * 65, "quantity": 1}]}),
        ("POST", "/orders", {"buyer_id": "b1", "lines": [line], "channel": {"kind": "LIVE_ROOM", "room_id": "r" * 65}}),
        ("POST", "/orders/o_1/cancel", {"buyer_id": "b1", "reason": "r" * 501}),
    ]  # fmt: skip
    for method, path, body in too_big:
        r = await s.http.request(method, path, json=body)
        assert (r.status_code, r.json()["code"]) == (422, "INVALID_REQUEST"), (path, r.text[:300])
    r = await s.http.get("/buyers/b1/orders", params={"status": 10**30})
    assert (r.status_code, r.json()["code"]) == (422, "INVALID_REQUEST")
    # money over the ceiling: the domain's own reason code
    for price in (10**12 + 1, 10**30):
        r = await s.http.post("/products", json={"merchant_id": "m1", "title": "x", "price": price})
        assert (r.status_code, r.json()["code"]) == (422, "INVALID_PRICE")
        r = await s.http.patch(f"/products/{pid}", json={"merchant_id": "m1", "price": price})
        assert (r.status_code, r.json()["code"]) == (422, "INVALID_PRICE")
    # between the domain's limit (50 lines) and the parse bound (100): the domain's code
    r = await s.http.post("/orders", json={"buyer_id": "b1", "lines": [line] * 51})
    assert r.status_code == 422 and "TOO_MANY_LINES" in r.text


async def test_a_2mb_merchant_id_is_a_422_even_when_the_body_limit_lets_it_through(start_order: StartOrder) -> None:
    s = await start_order(http_max_body_bytes=8 * 1024 * 1024)
    huge = "m" * (2 * 1024 * 1024)
    # ops may name any merchant, so nothing before the request model looks at the id
    r = await s.http.put("/streamers/s1", json={"merchant_id": huge}, headers=operator_headers("ops"))
    assert (r.status_code, r.json()["code"]) == (422, "INVALID_REQUEST"), r.text[:300]
    assert r.json()["errors"][0]["field"] == "merchant_id"
    # a merchant naming it: not its own id (403), also never a 500
    r = await s.http.post(
        "/products", json={"merchant_id": huge, "title": "x", "price": 1}, headers=bearer("merchant", "m1")
    )
    assert (r.status_code, r.json()["code"]) == (403, "NOT_YOUR_RESOURCE")
    assert (await s.http.get("/streamers/s1", headers=bearer("buyer", "b1"))).status_code == 404  # nothing stored


async def test_catalog_products_listing_distribution_and_streamers(order_svc: OrderService) -> None:
    s = order_svc
    r = await s.http.post(
        "/products",
        json={"merchant_id": "m1", "title": "到店套餐", "price": 9900, "product_type": "LOCAL_LIFE"},
        headers={"Idempotency-Key": "p-1"},
    )
    assert r.status_code == 201
    pid = r.json()["product_id"]
    replay = await s.http.post(
        "/products",
        json={"merchant_id": "m1", "title": "到店套餐", "price": 9900, "product_type": "LOCAL_LIFE"},
        headers={"Idempotency-Key": "p-1"},
    )
    assert replay.json()["product_id"] == pid

    for body, code in [
        ({"merchant_id": "m1", "title": "x", "price": 0}, "INVALID_PRICE"),
        ({"merchant_id": "m1", "title": " ", "price": 100}, "INVALID_TITLE"),
        ({"merchant_id": "m1", "title": "x", "price": 100, "product_type": "FOOD"}, "INVALID_PRODUCT_TYPE"),
    ]:
        bad = await s.http.post("/products", json=body)
        assert (bad.status_code, bad.json()["code"]) == (422, code)

    r = await s.http.patch(f"/products/{pid}", json={"merchant_id": "m2", "price": 1})  # signed as m2
    assert (r.status_code, r.json()["code"]) == (403, "NOT_YOUR_RESOURCE")
    r = await s.http.patch(f"/products/{pid}", json={"merchant_id": "m1", "price": 8800})
    assert (r.json()["price"], r.json()["version"]) == (8800, 2)
    assert (await s.http.post(f"/products/{pid}/unlist", json={"merchant_id": "m1"})).json()["status"] == "UNLISTED"
    assert (await s.http.get("/products", params={"merchant_id": "m1", "status": "LISTED"})).json()["products"] == []
    assert (await s.http.post(f"/products/{pid}/list", json={"merchant_id": "m1"})).json()["status"] == "LISTED"

    # streamers: s_own sells m1's products as its own (自卖); s_dist only what m1 allows (分销)
    await s.bind("s_own", "m1")
    assert (await s.http.put("/streamers/s_dist", json={})).status_code == 200
    live = {"kind": "LIVE_ROOM", "room_id": "r1"}

    async def place(streamer: str) -> int:
        r = await s.http.post(
            "/orders",
            json={
                "buyer_id": "b1",
                "lines": [{"product_id": pid, "quantity": 1}],
                "channel": {**live, "streamer_id": streamer},
            },
        )
        return r.status_code

    assert await place("s_own") == 201
    assert await place("s_dist") == 422
    r = await s.http.post(f"/products/{pid}/distributors", json={"merchant_id": "m1", "streamer_id": "s_dist"})
    assert (r.json()["distribution_allowed"], r.json()["distributors"]) == (True, ["s_dist"])
    assert await place("s_dist") == 201
    r = await s.http.delete(f"/products/{pid}/distributors/s_dist", params={"merchant_id": "m1"})
    assert r.json()["distribution_allowed"] is False
    assert await place("s_dist") == 422

    records = await s.reader(CATALOG.qualified(s.namespace), min_count=8)
    events = [codec.decode(x.headers, x.value).data for x in records]
    changes = [e for e in events if isinstance(e, ProductChanged) and e.product_id == pid]
    assert [(e.version, e.status.value, e.price, e.distribution_allowed) for e in changes] == [
        (1, "LISTED", 9900, False),
        (2, "LISTED", 8800, False),
        (3, "UNLISTED", 8800, False),
        (4, "LISTED", 8800, False),
        (5, "LISTED", 8800, True),
        (6, "LISTED", 8800, False),
    ]
    grants = [(e.streamer_id, e.allowed) for e in events if isinstance(e, DistributionChanged)]
    assert grants == [("s_dist", True), ("s_dist", False)]
    bound = [
        codec.decode(x.headers, x.value).data for x in await s.reader(STREAMERS.qualified(s.namespace), min_count=2)
    ]
    assert sorted((e.streamer_id, e.merchant_id) for e in bound if isinstance(e, StreamerBound)) == [
        ("s_dist", None),
        ("s_own", "m1"),
    ]
