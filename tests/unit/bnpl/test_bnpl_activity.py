"""BNPL activities: product filter, draft -> confirm -> active, windows, list / view / end."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from liveshop.promotion.domain.bnpl.activity import (
    ActivityStatus,
    ActivityWindow,
    BnplActivity,
    BnplActivityConfirmed,
    BnplActivityEnded,
    EffectiveStatus,
    Validity,
    list_activities,
    product_offers_bnpl,
)
from liveshop.promotion.domain.bnpl.errors import BnplCode, BnplError
from liveshop.promotion.domain.bnpl.products import (
    ProductKind,
    ProductSnapshot,
    ProductStatus,
    product_ineligibility,
    selectable_products,
)

T0 = datetime(2022, 6, 1, tzinfo=UTC)


def prod(
    pid: str,
    merchant: str = "m1",
    status: ProductStatus = ProductStatus.LISTED,
    kind: ProductKind = ProductKind.PHYSICAL,
) -> ProductSnapshot:
    return ProductSnapshot(pid, merchant, status, kind)


P1, P2, P3 = prod("p1"), prod("p2"), prod("p3")


def make(
    aid: str = "a1",
    window: ActivityWindow | None = None,
    products: tuple[ProductSnapshot, ...] = (P1, P2),
    at: datetime = T0,
) -> BnplActivity:
    return BnplActivity.create(
        activity_id=aid,
        merchant_id="m1",
        merchant_bnpl_opened=True,
        name="  夏日先用后付 ",
        window=window or ActivityWindow.long_term(),
        at=at,
        products=products,
    )


def code_of(exc: pytest.ExceptionInfo[BnplError]) -> str:
    return exc.value.code


def test_product_filter_keeps_own_listed_physical_only() -> None:
    catalog = [
        P1,
        prod("other", merchant="m2"),
        prod("unlisted", status=ProductStatus.UNLISTED),
        prod("virtual", kind=ProductKind.VIRTUAL),
        prod("xb", kind=ProductKind.CROSS_BORDER),
        prod("local", kind=ProductKind.LOCAL_LIFE),
        P2,
    ]
    assert [p.product_id for p in selectable_products("m1", catalog)] == ["p1", "p2"]
    codes = [product_ineligibility("m1", p) for p in catalog]
    assert [c.code if c else None for c in codes] == [
        None,
        BnplCode.PRODUCT_NOT_OWNED,
        BnplCode.PRODUCT_NOT_LISTED,
        BnplCode.PRODUCT_NOT_PHYSICAL,
        BnplCode.PRODUCT_NOT_PHYSICAL,
        BnplCode.PRODUCT_NOT_PHYSICAL,
        None,
    ]


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (prod("x", merchant="m2"), "PRODUCT_NOT_OWNED"),
        (prod("x", status=ProductStatus.UNLISTED), "PRODUCT_NOT_LISTED"),
        (prod("x", kind=ProductKind.VIRTUAL), "PRODUCT_NOT_PHYSICAL"),
    ],
)
def test_selecting_an_ineligible_product_is_refused(bad: ProductSnapshot, code: str) -> None:
    with pytest.raises(BnplError) as e:
        make(products=(P1, bad))
    assert code_of(e) == code


def test_create_requires_opened_bnpl_and_valid_name() -> None:
    with pytest.raises(BnplError) as e:
        BnplActivity.create(
            activity_id="a",
            merchant_id="m1",
            merchant_bnpl_opened=False,
            name="x",
            window=ActivityWindow.long_term(),
            at=T0,
        )
    assert code_of(e) == "MERCHANT_BNPL_NOT_OPENED" and e.value.http_status == 403
    for name, code in (("   ", "EMPTY_NAME"), ("长" * 31, "NAME_TOO_LONG")):
        with pytest.raises(BnplError) as e:
            BnplActivity.create(
                activity_id="a",
                merchant_id="m1",
                merchant_bnpl_opened=True,
                name=name,
                window=ActivityWindow.long_term(),
                at=T0,
            )
        assert code_of(e) == code
    assert make().name == "夏日先用后付"


def test_duplicate_and_empty_selection() -> None:
    with pytest.raises(BnplError) as e:
        make(products=(P1, P1))
    assert code_of(e) == "DUPLICATE_PRODUCT"
    a = make(products=())
    with pytest.raises(BnplError) as e:
        a.select_products([])
    assert code_of(e) == "NO_PRODUCTS_SELECTED"
    with pytest.raises(BnplError) as e:
        a.confirm(T0)
    assert code_of(e) == "NO_PRODUCTS_SELECTED"


def test_short_term_window_must_end_after_start() -> None:
    with pytest.raises(BnplError) as e:
        ActivityWindow.short_term(T0, T0)
    assert code_of(e) == "INVALID_VALIDITY"


def test_draft_offers_nothing_until_confirmed() -> None:
    a = make()
    assert a.status is ActivityStatus.DRAFT and not a.in_force(T0) and not a.offers_bnpl("p1", T0)
    assert a.effective_status(T0) is EffectiveStatus.DRAFT
    a.rename("新名字")
    a.select_products([P3])
    a.confirm(T0 + timedelta(hours=1))
    assert a.product_ids == ("p3",)
    assert a.events == [BnplActivityConfirmed("a1", "m1", ("p3",), Validity.LONG_TERM, T0 + timedelta(hours=1), None)]
    assert not a.offers_bnpl("p3", T0)  # before confirmation
    assert a.offers_bnpl("p3", T0 + timedelta(hours=1))
    assert a.offers_bnpl("p3", T0 + timedelta(days=3650))  # long term: no end
    assert not a.offers_bnpl("p1", T0 + timedelta(hours=2))


def test_confirmed_activity_cannot_be_edited_or_reconfirmed() -> None:
    a = make()
    a.confirm(T0)
    calls: list[Callable[[], None]] = [lambda: a.rename("x"), lambda: a.select_products([P3]), lambda: a.confirm(T0)]
    for call in calls:
        with pytest.raises(BnplError) as e:
            call()
        assert code_of(e) == "NOT_DRAFT"


def test_short_term_window_is_start_inclusive_end_exclusive_and_expires() -> None:
    start, end = T0 + timedelta(days=1), T0 + timedelta(days=8)
    a = make(window=ActivityWindow.short_term(start, end))
    a.confirm(T0)
    assert a.effective_status(T0) is EffectiveStatus.SCHEDULED
    assert not a.offers_bnpl("p1", start - timedelta(microseconds=1))
    assert a.offers_bnpl("p1", start)
    assert a.offers_bnpl("p1", end - timedelta(microseconds=1))
    assert not a.offers_bnpl("p1", end)
    assert a.effective_status(end) is EffectiveStatus.EXPIRED
    assert a.status is ActivityStatus.ACTIVE  # expiry needs no timer


def test_cannot_confirm_an_already_expired_short_term_activity() -> None:
    a = make(window=ActivityWindow.short_term(T0, T0 + timedelta(days=1)))
    with pytest.raises(BnplError) as e:
        a.confirm(T0 + timedelta(days=1))
    assert code_of(e) == "ACTIVITY_EXPIRED"


def test_end_stops_bnpl_and_is_an_event_once() -> None:
    a = make()
    a.confirm(T0)
    a.end(T0 + timedelta(days=2))
    assert not a.in_force(T0 + timedelta(days=2)) and not a.offers_bnpl("p1", T0 + timedelta(days=1))
    assert a.effective_status(T0) is EffectiveStatus.ENDED
    assert isinstance(a.events[-1], BnplActivityEnded)
    with pytest.raises(BnplError) as e:
        a.end(T0 + timedelta(days=3))
    assert code_of(e) == "ACTIVITY_ALREADY_ENDED"


def test_a_draft_can_be_ended_too() -> None:
    a = make()
    a.end(T0)
    with pytest.raises(BnplError):
        a.confirm(T0)


def test_product_in_two_overlapping_activities_is_refused() -> None:
    first = make("a1", products=(P1,))
    first.confirm(T0)
    second = make("a2", products=(P1, P2))
    with pytest.raises(BnplError) as e:
        second.confirm(T0, others=[first])
    assert code_of(e) == "PRODUCT_IN_OTHER_ACTIVITY" and e.value.details["product_ids"] == ["p1"]
    # no common product: fine
    third = make("a3", products=(P2,))
    third.confirm(T0, others=[first])
    # after the first ended, p1 can go in a new one
    first.end(T0 + timedelta(days=1))
    fourth = make("a4", products=(P1,))
    fourth.confirm(T0 + timedelta(days=1), others=[first, third])


def test_non_overlapping_short_term_activities_may_share_products() -> None:
    june = make("a1", window=ActivityWindow.short_term(T0, T0 + timedelta(days=30)), products=(P1,))
    june.confirm(T0)
    july = make(
        "a2", window=ActivityWindow.short_term(T0 + timedelta(days=30), T0 + timedelta(days=60)), products=(P1,)
    )
    july.confirm(T0, others=[june])
    assert july.effective_status(T0 + timedelta(days=30)) is EffectiveStatus.IN_FORCE
    assert june.effective_status(T0 + timedelta(days=30)) is EffectiveStatus.EXPIRED


def test_list_and_view() -> None:
    a1 = make("a1", at=T0)
    a2 = make("a2", at=T0 + timedelta(minutes=1), products=(P3,))
    a2.confirm(T0 + timedelta(minutes=1))
    other = BnplActivity.create(
        activity_id="z", merchant_id="m2", merchant_bnpl_opened=True, name="x", window=ActivityWindow.long_term(), at=T0
    )
    views = list_activities([a1, a2, other], "m1", T0 + timedelta(hours=1))
    assert [v.activity_id for v in views] == ["a2", "a1"]
    assert views[0].effective_status is EffectiveStatus.IN_FORCE and views[0].starts_at == T0 + timedelta(minutes=1)
    in_force = list_activities([a1, a2], "m1", T0 + timedelta(hours=1), [EffectiveStatus.IN_FORCE])
    assert [v.activity_id for v in in_force] == ["a2"]
    assert a1.view(T0).product_ids == ("p1", "p2")


def test_product_offers_bnpl_at_checkout_rechecks_the_product() -> None:
    a = make()
    a.confirm(T0)
    assert product_offers_bnpl(P1, [a], merchant_bnpl_opened=True, at=T0)
    assert not product_offers_bnpl(prod("p1", status=ProductStatus.UNLISTED), [a], merchant_bnpl_opened=True, at=T0)
    assert not product_offers_bnpl(P1, [a], merchant_bnpl_opened=False, at=T0)
    assert not product_offers_bnpl(P3, [a], merchant_bnpl_opened=True, at=T0)
