"""WalletSettings: the wallet's one settings class; the BNPL fields still read their former ``BNPL_*`` names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from liveshop.shared.settings import ServiceSettings
from liveshop.wallet.settings import WalletSettings


def test_defaults() -> None:
    s = WalletSettings()
    assert s.service_name == "wallet" and s.wallet_expiry_interval_s == 1.0
    assert (s.wallet_bnpl_collector_interval_s, s.wallet_bnpl_collector_batch) == (1.0, 200)
    assert s.bnpl_default_policy().collection().repayment_term == timedelta(days=7)


def test_former_bnpl_env_vars_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BNPL_REPAYMENT_TERM_S", "60")
    monkeypatch.setenv("BNPL_RETRY_DELAYS_S", "[5, 10]")
    monkeypatch.setenv("BNPL_COLLECTOR_BATCH", "7")
    monkeypatch.setenv("WALLET_BNPL_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("WALLET_PROVIDER_SECRET", "from-the-environment-0123")
    s = WalletSettings()
    assert (s.wallet_bnpl_repayment_term_s, s.wallet_bnpl_retry_delays_s) == (60, [5, 10])
    assert (s.wallet_bnpl_collector_batch, s.wallet_bnpl_max_attempts) == (7, 5)
    assert s.wallet_provider_secret.get_secret_value() == "from-the-environment-0123"
    policy = s.bnpl_default_policy()
    assert (policy.repayment_term_s, policy.max_attempts, policy.retry_delays_s) == (60, 5, [5, 10])


def test_from_base_keeps_the_shared_fields_and_applies_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BNPL_MAX_ATTEMPTS", "2")
    base = ServiceSettings(service_name="wallet", liveshop_namespace="t1", db_pool_max=3)
    s = WalletSettings.from_base(base, wallet_provider_secret=SecretStr("x" * 16))
    assert (s.namespace, s.db_pool_max, s.wallet_bnpl_max_attempts) == ("t1", 3, 2)
    assert s.wallet_provider_secret.get_secret_value() == "x" * 16
    assert WalletSettings.from_base(s) is s
    assert WalletSettings.from_base(s, wallet_bnpl_max_attempts=4).wallet_bnpl_max_attempts == 4
