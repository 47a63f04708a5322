"""Catalog: product create / update / list / unlist, distribution grants, the can_sell rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from liveshop.order.domain.catalog import Product, SellMode, Streamer, can_sell, sell_mode
from liveshop.order.domain.errors import Code, Forbidden, InvalidInput
from liveshop.order.domain.events import DistributionChanged, ProductChange, ProductChanged
from liveshop.order.domain.values import ProductStatus, ProductType

T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)


def make(
    *, price: int = 1000, status: ProductStatus = ProductStatus.LISTED, merchant: str = "m-1", pid: str = "p-1"
) -> Product:
    return Product.create(
        product_id=pid,
        merchant_id=merchant,
        title="  羊绒围巾  ",
        price=price,
        product_type=ProductType.PHYSICAL,
        now=T0,
        status=status,
    )


def test_create_emits_full_state_with_version_1() -> None:
    p = make()
    assert (p.title, p.price, p.status, p.version) == ("羊绒围巾", 1000, ProductStatus.LISTED, 1)
    [event] = p.pull_events()
    assert event == ProductChanged(
        product_id="p-1",
        merchant_id="m-1",
        title="羊绒围巾",
        price=1000,
        product_type=ProductType.PHYSICAL,
        status=ProductStatus.LISTED,
        distribution_allowed=False,
        version=1,
        changed_at=T0,
        change=ProductChange.CREATED,
    )
    assert p.pull_events() == []


def test_create_accepts_type_as_string_and_unlisted() -> None:
    p = Product.create(
        product_id="p",
        merchant_id="m",
        title="t",
        price=1,
        product_type="LOCAL_LIFE",
        now=T0,
        status=ProductStatus.UNLISTED,
    )
    assert p.product_type is ProductType.LOCAL_LIFE
    assert not p.is_listed


@pytest.mark.parametrize("price", [0, -1, 9.9, True, "100", None, 10**12 + 1, 10**30])
def test_price_must_be_positive_int_fen(price: object) -> None:
    with pytest.raises(InvalidInput) as err:
        make(price=price)  # type: ignore[arg-type]
    assert err.value.code == Code.INVALID_PRICE
    assert err.value.http_status == 422


def test_price_up_to_the_money_ceiling_is_accepted() -> None:
    assert make(price=10**12).price == 10**12


@pytest.mark.parametrize("title", ["", "   ", "x" * 201])
def test_title_validated(title: str) -> None:
    with pytest.raises(InvalidInput) as err:
        Product.create(product_id="p", merchant_id="m", title=title, price=1, product_type="PHYSICAL", now=T0)
    assert err.value.code == Code.INVALID_TITLE


def test_product_type_validated() -> None:
    with pytest.raises(InvalidInput) as err:
        Product.create(product_id="p", merchant_id="m", title="t", price=1, product_type="FOOD", now=T0)
    assert err.value.code == Code.INVALID_PRODUCT_TYPE


def test_ids_required() -> None:
    with pytest.raises(InvalidInput) as err:
        Product.create(product_id="", merchant_id="m", title="t", price=1, product_type="PHYSICAL", now=T0)
    assert err.value.code == Code.INVALID_INPUT


def test_update_changes_bump_version_and_emit() -> None:
    p = make()
    p.pull_events()
    assert p.update(merchant_id="m-1", now=T1, price=1200, title="围巾", product_type="CROSS_BORDER")
    [event] = p.pull_events()
    assert isinstance(event, ProductChanged)
    assert (event.price, event.title, event.product_type, event.version, event.changed_at) == (
        1200,
        "围巾",
        ProductType.CROSS_BORDER,
        2,
        T1,
    )
    assert event.change is ProductChange.UPDATED


def test_update_without_change_is_a_noop() -> None:
    p = make()
    p.pull_events()
    assert not p.update(merchant_id="m-1", now=T1, price=1000, title="羊绒围巾")
    assert not p.update(merchant_id="m-1", now=T1)
    assert p.version == 1
    assert p.pull_events() == []


def test_update_validates() -> None:
    p = make()
    with pytest.raises(InvalidInput) as err:
        p.update(merchant_id="m-1", now=T1, price=0)
    assert err.value.code == Code.INVALID_PRICE
    assert p.price == 1000


def test_list_and_unlist() -> None:
    p = make()
    p.pull_events()
    assert p.unlist(merchant_id="m-1", now=T1)
    assert not p.unlist(merchant_id="m-1", now=T1)  # already 下架: no-op
    assert p.list_for_sale(merchant_id="m-1", now=T1)
    assert not p.list_for_sale(merchant_id="m-1", now=T1)
    events = p.pull_events()
    assert [e.change for e in events if isinstance(e, ProductChanged)] == [ProductChange.UNLISTED, ProductChange.LISTED]
    assert [e.version for e in events if isinstance(e, ProductChanged)] == [2, 3]
    assert p.status is ProductStatus.LISTED


@pytest.mark.parametrize(
    "command",
    ["update", "list_for_sale", "unlist", "allow_distribution", "revoke_distribution"],
)
def test_other_merchant_cannot_change_product(command: str) -> None:
    p = make()
    with pytest.raises(Forbidden) as err:
        if command == "update":
            p.update(merchant_id="m-2", now=T1, price=1)
        elif command in ("list_for_sale", "unlist"):
            getattr(p, command)(merchant_id="m-2", now=T1)
        else:
            getattr(p, command)(merchant_id="m-2", streamer_id="s-1", now=T1)
    assert err.value.code == Code.NOT_YOUR_PRODUCT
    assert err.value.http_status == 403
    assert p.version == 1


def test_distribution_grants_and_revocations() -> None:
    p = make()
    p.pull_events()
    assert p.allow_distribution(merchant_id="m-1", streamer_id="s-1", now=T1)
    events = p.pull_events()
    assert events[0] == DistributionChanged(
        product_id="p-1", merchant_id="m-1", streamer_id="s-1", allowed=True, changed_at=T1
    )
    # distribution_allowed flipped: the full state is republished too
    assert isinstance(events[1], ProductChanged)
    assert events[1].distribution_allowed and events[1].change is ProductChange.DISTRIBUTION
    assert events[1].version == 2

    assert not p.allow_distribution(merchant_id="m-1", streamer_id="s-1", now=T1)  # duplicate grant
    assert p.pull_events() == []

    assert p.allow_distribution(merchant_id="m-1", streamer_id="s-2", now=T1)
    events = p.pull_events()
    assert len(events) == 1 and isinstance(events[0], DistributionChanged)  # flag did not flip

    assert p.revoke_distribution(merchant_id="m-1", streamer_id="s-1", now=T1)
    assert len(p.pull_events()) == 1
    assert p.revoke_distribution(merchant_id="m-1", streamer_id="s-2", now=T1)
    events = p.pull_events()
    assert isinstance(events[0], DistributionChanged) and not events[0].allowed
    assert isinstance(events[1], ProductChanged) and not events[1].distribution_allowed
    assert not p.revoke_distribution(merchant_id="m-1", streamer_id="s-2", now=T1)
    assert p.version == 5


def test_distribution_needs_streamer_id() -> None:
    with pytest.raises(InvalidInput):
        make().allow_distribution(merchant_id="m-1", streamer_id="", now=T1)


def test_can_sell_self_distribution_and_refusals() -> None:
    p = make()
    own = Streamer("s-own", merchant_id="m-1")
    other_bound = Streamer("s-other", merchant_id="m-2")
    free = Streamer("s-free")
    assert sell_mode(own, p) is SellMode.SELF and can_sell(own, p)
    assert not can_sell(other_bound, p)
    assert not can_sell(free, p)
    p.allow_distribution(merchant_id="m-1", streamer_id="s-free", now=T1)
    assert sell_mode(free, p) is SellMode.DISTRIBUTION
    assert not can_sell(other_bound, p)
    p.revoke_distribution(merchant_id="m-1", streamer_id="s-free", now=T1)
    assert not can_sell(free, p)


def test_self_sell_takes_precedence_and_listing_is_separate() -> None:
    p = make(status=ProductStatus.UNLISTED)
    own = Streamer("s-own", merchant_id="m-1")
    p.allow_distribution(merchant_id="m-1", streamer_id="s-own", now=T1)
    assert sell_mode(own, p) is SellMode.SELF
    assert can_sell(own, p)  # the right to sell; PRODUCT_UNLISTED is checked at checkout


def test_snapshot_is_current_state() -> None:
    p = make()
    p.update(merchant_id="m-1", now=T1, price=5)
    snap = p.snapshot()
    assert (snap.price, snap.version, snap.changed_at) == (5, 2, T1)
