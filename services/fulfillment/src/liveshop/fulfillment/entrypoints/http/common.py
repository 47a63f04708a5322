"""What the fulfillment routes share: the service's context on the app, path and header types."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Path, Request

from liveshop.fulfillment.adapters.secrets import SecretBox
from liveshop.fulfillment.settings import FulfillmentSettings
from liveshop.shared.runtime import ServiceRuntime

#: The platform's id limit (path and query ids; the report body has its own rules, domain/reports.py).
MAX_ID = 64
PathId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def context(request: Request) -> tuple[ServiceRuntime, FulfillmentSettings, SecretBox]:
    """The runtime, the settings and the box that seals ISV secrets (set by ``bootstrap.build``)."""
    app = request.app
    settings: FulfillmentSettings = app.state.fulfillment_settings
    box: SecretBox = app.state.secret_box
    return app.state.runtime, settings, box
