"""Test-suite wiring: real-infrastructure fixtures and automatic markers by folder.

- ``tests/unit/**``        -> marker ``unit`` (pure, no I/O)
- ``tests/integration/**`` -> marker ``integration`` (real Kafka and PostgreSQL)

Run one kind alone with ``-m unit`` or ``-m integration``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from liveshop.shared.devstack.resolver import Infra

pytest_plugins = ["liveshop.shared.testing", "liveshop.contracts.testing"]

_ROOT = Path(__file__).parent


@pytest.fixture(scope="session")
def liveshop_kafka(infra: Infra) -> str:
    """The consumer testing kit's broker is the suite's own (one broker per session)."""
    return infra.kafka_bootstrap_servers


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(_ROOT.resolve())
        kind = rel.parts[0] if rel.parts else ""
        if kind == "unit":
            item.add_marker(pytest.mark.unit)
        elif kind == "integration":
            item.add_marker(pytest.mark.integration)
