"""Every route of every service declares who may call it; docs/security.md lists them all."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from fastapi import FastAPI

_ROOT = Path(__file__).resolve().parents[3]


def _doc_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("security_doc", _ROOT / "scripts" / "security_doc.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["security_doc"] = mod
    spec.loader.exec_module(mod)
    return mod


doc = _doc_module()
OPEN = {"/health/live", "/health/ready"}
FASTAPI_OWN = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def test_every_route_of_every_service_declares_a_policy() -> None:
    missing = []
    total = 0
    for name, app in doc.apps().items():
        for route in doc.routes(app):
            total += 1
            if route.policy is None:
                missing.append(f"{name} {route.methods} {route.path}")
            elif route.policy.public and route.path not in OPEN:
                missing.append(f"{name} {route.path} is public but is not a health probe")
    assert total > 80, total
    assert not missing, "routes without a declared policy:\n" + "\n".join(missing)


def test_a_new_route_without_policy_is_caught() -> None:
    app = FastAPI()

    @app.get("/new-thing")
    async def new_thing() -> dict[str, str]:
        return {}

    found = [r for r in doc.routes(app) if r.policy is None]
    assert [r.path for r in found] == ["/new-thing"]


def test_only_fastapi_documentation_routes_are_not_api_routes() -> None:
    for app in doc.apps().values():
        others = doc.other_routes(app)
        assert others <= FASTAPI_OWN, others


def test_security_doc_lists_every_route_with_its_policy() -> None:
    text = (_ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert doc.updated(text) == text, "docs/security.md is stale: run `uv run python scripts/security_doc.py`"
