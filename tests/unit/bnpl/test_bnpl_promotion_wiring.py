"""How the promotion service composes BNPL: the ``BNPL_*`` settings (old names kept) and the ``promotion-bnpl``
consumer table."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from liveshop.contracts.base import Envelope, Event
from liveshop.contracts.events import bnpl as ev
from liveshop.contracts.events.order import OrderPlaced
from liveshop.promotion.domain.bnpl.errors import BnplCode, BnplInvalidInput
from liveshop.promotion.domain.bnpl.policy import BnplPolicy
from liveshop.promotion.entrypoints import bnpl_consumers
from liveshop.promotion.service_layer.bnpl.unit_of_work import BnplUnitOfWork
from liveshop.promotion.settings import PromotionSettings

from .scenario import POLICY, env, placed

#: ``GET /bnpl/admin/policy`` as it has always answered (keys and order).
DEFAULT_POLICY = {
    "require_verified_identity": True,
    "min_account_age_days": 30,
    "min_credit_score": 550,
    "max_open_bills": 3,
    "credit_limit_fen": 200_000,
    "serious_violation_lookback_days": 180,
    "campaign_serious_violation_lookback_days": None,
    "min_operating_days": 30,
    "agreement_version": "2022-05",
}


def test_the_policy_defaults_are_what_the_admin_endpoint_always_showed() -> None:
    shown = PromotionSettings().bnpl_policy().as_dict()
    assert shown == DEFAULT_POLICY and list(shown) == list(DEFAULT_POLICY)


def test_bnpl_env_names_still_work_next_to_the_prefixed_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BNPL_MIN_CREDIT_SCORE", "600")
    monkeypatch.setenv("BNPL_CAMPAIGN_SERIOUS_VIOLATION_LOOKBACK_DAYS", "365")
    monkeypatch.setenv("PROMOTION_BNPL_MAX_OPEN_BILLS", "5")
    monkeypatch.setenv("BNPL_REQUIRE_VERIFIED_IDENTITY", "false")
    policy = PromotionSettings().bnpl_policy()
    assert (policy.min_credit_score, policy.max_open_bills, policy.require_verified_identity) == (600, 5, False)
    assert policy.campaign_standing_policy().serious_violation_lookback is not None
    monkeypatch.setenv("PROMOTION_BNPL_MIN_CREDIT_SCORE", "700")  # the prefixed name wins
    assert PromotionSettings().bnpl_policy().min_credit_score == 700
    # set by field name (PromotionSettings.from_base, tests)
    assert PromotionSettings(promotion_bnpl_max_open_bills=1).bnpl_policy().max_open_bills == 1


def test_the_consumer_group_handles_the_order_bill_wallet_and_catalog_events() -> None:
    router = bnpl_consumers.router(POLICY)
    assert router.name == "promotion-bnpl"
    assert router.projections == ["bnpl_products", "bnpl_secure_wallets"]
    assert set(router.handlers) == {e.EVENT_TYPE for e in bnpl_consumers.HANDLERS}
    assert {e.EVENT_TYPE for e in bnpl_consumers.BILL_EVENTS} <= set(router.handlers)
    assert OrderPlaced.EVENT_TYPE in router.handlers and ev.BnplBillOverdue.EVENT_TYPE in router.handlers


async def test_a_bnpl_refusal_in_the_consumer_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def refuse(uow: BnplUnitOfWork, e: Envelope, policy: BnplPolicy) -> Any:
        raise BnplInvalidInput(BnplCode.INVALID_INPUT, "no")

    placed_type: type[Event] = OrderPlaced
    monkeypatch.setitem(bnpl_consumers.HANDLERS, placed_type, refuse)
    router = bnpl_consumers.router(POLICY)
    tx: Any = SimpleNamespace(conn=None)
    with caplog.at_level(logging.WARNING, logger=bnpl_consumers.__name__):
        await router.handlers[OrderPlaced.EVENT_TYPE](env(placed()), tx)
    assert "promotion-bnpl: liveshop.order.OrderPlaced.v1 for o1 refused: INVALID_INPUT: no" in caplog.text
