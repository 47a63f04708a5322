"""Merchant opening of 先用后付 and the good-standing rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from liveshop.promotion.domain.bnpl.errors import BnplCode, BnplError
from liveshop.promotion.domain.bnpl.opening import (
    BnplOpened,
    BnplOpeningRejected,
    GoodStandingPolicy,
    MerchantBnpl,
    MerchantBnplStatus,
    MerchantRecord,
    OpeningApplication,
    assess_standing,
)

NOW = datetime(2022, 5, 20, 2, 0, tzinfo=UTC)
POLICY = GoodStandingPolicy(serious_violation_lookback=timedelta(days=180), min_operating_period=timedelta(days=30))


def record(**kw: object) -> MerchantRecord:
    base: dict[str, object] = {"merchant_id": "m1", "operating_since": NOW - timedelta(days=365)}
    base.update(kw)
    return MerchantRecord(**base)  # type: ignore[arg-type]


def apply(
    m: MerchantBnpl,
    *,
    accepted: bool = True,
    wallet: bool = True,
    rec: MerchantRecord | None = None,
    at: datetime = NOW,
) -> object:
    app = OpeningApplication("m1", accepted, "v1", at)
    return m.apply(app, secure_wallet_upgraded=wallet, record=rec or record(), policy=POLICY)


def test_opening_succeeds_and_is_an_event() -> None:
    m = MerchantBnpl("m1")
    d = m.apply(OpeningApplication("m1", True, "v1", NOW), secure_wallet_upgraded=True, record=record(), policy=POLICY)
    assert d.opened and d.reason is None and d.message_zh == "开通成功"
    assert m.status is MerchantBnplStatus.OPENED and m.opened_at == NOW and m.agreement_version == "v1"
    assert m.events == [BnplOpened("m1", "v1", NOW)]


def test_second_application_is_already_opened() -> None:
    m = MerchantBnpl("m1")
    apply(m)
    d = m.apply(OpeningApplication("m1", True, "v2", NOW), secure_wallet_upgraded=True, record=record(), policy=POLICY)
    assert not d.opened and d.reason is not None and d.reason.code is BnplCode.ALREADY_OPENED
    assert m.agreement_version == "v1"


def test_agreement_must_be_accepted() -> None:
    m = MerchantBnpl("m1")
    d = m.apply(OpeningApplication("m1", False, "v1", NOW), secure_wallet_upgraded=True, record=record(), policy=POLICY)
    assert d.reason is not None and d.reason.code is BnplCode.AGREEMENT_NOT_ACCEPTED
    assert m.status is MerchantBnplStatus.NOT_OPENED


def test_secure_wallet_must_be_upgraded_first_and_says_so() -> None:
    m = MerchantBnpl("m1")
    d = m.apply(OpeningApplication("m1", True, "v1", NOW), secure_wallet_upgraded=False, record=record(), policy=POLICY)
    assert not d.opened and d.reason is not None and d.reason.code is BnplCode.SECURE_WALLET_NOT_UPGRADED
    assert "安心钱包" in d.message_zh and "升级" in d.message_zh
    assert d.retry_after is None
    ev = m.events[-1]
    assert isinstance(ev, BnplOpeningRejected) and ev.code is BnplCode.SECURE_WALLET_NOT_UPGRADED
    # after upgrading, the same merchant can open
    d2 = m.apply(OpeningApplication("m1", True, "v1", NOW), secure_wallet_upgraded=True, record=record(), policy=POLICY)
    assert d2.opened


def test_wallet_is_checked_before_standing() -> None:
    m = MerchantBnpl("m1")
    bad = record(serious_violations_at=[NOW - timedelta(days=1)])
    d = m.apply(OpeningApplication("m1", True, "v1", NOW), secure_wallet_upgraded=False, record=bad, policy=POLICY)
    assert d.reason is not None and d.reason.code is BnplCode.SECURE_WALLET_NOT_UPGRADED


def test_recent_serious_violation_fails_with_retry_after() -> None:
    violation = NOW - timedelta(days=10)
    m = MerchantBnpl("m1")
    d = m.apply(
        OpeningApplication("m1", True, "v1", NOW),
        secure_wallet_upgraded=True,
        record=record(serious_violations_at=[violation, NOW - timedelta(days=100)]),
        policy=POLICY,
    )
    assert not d.opened and d.reason is not None and d.reason.code is BnplCode.MERCHANT_NOT_IN_GOOD_STANDING
    assert d.message_zh.startswith("开通失败")
    assert d.retry_after == violation + timedelta(days=180)
    assert [r.code for r in d.standing_reasons] == [BnplCode.SERIOUS_VIOLATION_RECENT]
    ev = m.events[-1]
    assert isinstance(ev, BnplOpeningRejected) and ev.retry_after == d.retry_after
    assert ev.detail_codes == (BnplCode.SERIOUS_VIOLATION_RECENT,)
    # at retry_after the merchant is in good standing again
    later = MerchantBnpl("m1")
    d2 = later.apply(
        OpeningApplication("m1", True, "v1", d.retry_after),
        secure_wallet_upgraded=True,
        record=record(serious_violations_at=[violation, NOW - timedelta(days=100)]),
        policy=POLICY,
    )
    assert d2.opened


def test_violation_boundary_exactly_lookback_old_is_forgiven() -> None:
    rec = record(serious_violations_at=[NOW - timedelta(days=180)])
    assert assess_standing(rec, POLICY, NOW).in_good_standing
    rec2 = record(serious_violations_at=[NOW - timedelta(days=180) + timedelta(seconds=1)])
    assert not assess_standing(rec2, POLICY, NOW).in_good_standing


def test_operating_history_boundary() -> None:
    assert assess_standing(record(operating_since=NOW - timedelta(days=30)), POLICY, NOW).in_good_standing
    r = assess_standing(record(operating_since=NOW - timedelta(days=29)), POLICY, NOW)
    assert not r.in_good_standing and r.retry_after == NOW + timedelta(days=1)
    assert r.reasons[0].code is BnplCode.OPERATING_HISTORY_TOO_SHORT


def test_restricted_shop_and_retry_after_is_latest_condition() -> None:
    r = assess_standing(
        record(operating_since=NOW - timedelta(days=20), restricted_until=NOW + timedelta(days=40)), POLICY, NOW
    )
    assert [x.code for x in r.reasons] == [BnplCode.OPERATING_HISTORY_TOO_SHORT, BnplCode.SHOP_RESTRICTED]
    assert r.retry_after == NOW + timedelta(days=40)


def test_thresholds_are_configurable() -> None:
    lenient = GoodStandingPolicy(serious_violation_lookback=timedelta(days=5), min_operating_period=timedelta(0))
    rec = record(operating_since=NOW, serious_violations_at=[NOW - timedelta(days=10)])
    assert assess_standing(rec, lenient, NOW).in_good_standing
    assert not assess_standing(rec, POLICY, NOW).in_good_standing
    with pytest.raises(ValueError):
        GoodStandingPolicy(min_operating_period=timedelta(days=-1))


def test_naive_datetime_refused() -> None:
    with pytest.raises(BnplError) as e:
        apply(MerchantBnpl("m1"), at=datetime(2022, 5, 20))  # noqa: DTZ001
    assert e.value.code == "NAIVE_DATETIME"
