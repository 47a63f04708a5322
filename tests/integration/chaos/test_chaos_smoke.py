"""The chaos suite's smoke scenario (scripts/chaos runs the whole suite; docs/faults.md#the-chaos-suite):
two instances of every service as separate processes on a fresh namespace, a short mixed burst (ONLINE
and BNPL orders, declines, timeouts, cancellations, red envelopes, ISV reports on HTTP and Kafka, two
poisoned records), kill -9 of one instance mid-burst and its restart; then every invariant must hold.

Only service processes are killed: the session's Kafka and PostgreSQL are never signalled."""

from __future__ import annotations

from pathlib import Path

import pytest

from liveshop.cli.chaos import runner
from liveshop.shared.devstack.resolver import Infra


@pytest.mark.timeout(240)
def test_killing_a_service_instance_mid_burst_breaks_no_invariant(infra: Infra, tmp_path: Path) -> None:
    res = runner.run_scenario(runner.SMOKE, infra, owned=None, log_root=tmp_path)
    print(runner.table([res]))
    assert res.error is None, res.error
    assert res.orders >= runner.SMOKE.orders, f"only {res.orders} orders acknowledged: {res.violations}"
    assert res.faults, "no fault was injected"
    failed = {k: v for k, v in res.violations.items() if v}
    assert not failed, failed
