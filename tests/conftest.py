"""Test-suite wiring: real-infrastructure fixtures and automatic markers by folder.

- ``tests/unit/**``        -> marker ``unit`` (pure, no I/O)
- ``tests/integration/**`` -> marker ``integration`` (real Kafka and PostgreSQL)

Run one kind alone with ``-m unit`` or ``-m integration``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["liveshop.shared.testing"]

_ROOT = Path(__file__).parent
# The tests are a development environment: the fulfillment service may seal ISV secrets with its dev
# key (outside the dev stack it refuses to start without FULFILLMENT_SECRETS_KEY).
os.environ.setdefault("FULFILLMENT_DEV_SECRETS_KEY", "true")
# Likewise the promotion service's journal sealing key (PROMOTION_SECRETS_KEY outside development).
os.environ.setdefault("PROMOTION_DEV_SECRETS_KEY", "true")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(_ROOT.resolve())
        kind = rel.parts[0] if rel.parts else ""
        if kind == "unit":
            item.add_marker(pytest.mark.unit)
        elif kind == "integration":
            item.add_marker(pytest.mark.integration)
