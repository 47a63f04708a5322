"""The four services in-process, as in the end-to-end tests."""

from __future__ import annotations

from tests.integration.e2e.conftest import System, system

__all__ = ["System", "system"]
