"""Run one service process: settings from the environment, uvicorn on 127.0.0.1."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from liveshop.shared import logs, telemetry
from liveshop.shared.auth import TokenVerifier
from liveshop.shared.settings import ServiceSettings


def configure_logging(settings: ServiceSettings | None = None) -> None:
    """JSON lines (``LOG_FORMAT=text``: plain) at ``LOG_LEVEL``; see ``liveshop.shared.logs``."""
    settings = settings or ServiceSettings()
    logs.configure(settings.service_name, level=settings.log_level, fmt=settings.log_format)


def run(app: FastAPI, settings: ServiceSettings) -> None:
    configure_logging(settings)
    # tracing only when OTEL_TRACES_EXPORTER / OTEL_EXPORTER_OTLP_ENDPOINT ask for it (off by default)
    telemetry.configure_from_env(settings.service_name)
    # refuse to start when tokens can't be verified (no JWKS configured or readable)
    TokenVerifier(settings.auth()).check_config()
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port or 8000,
        log_level="warning",
        access_log=False,  # ours: liveshop.access (liveshop.shared.observe)
        loop="uvloop",
        http="httptools",
        # No trusted proxy in front (compose publishes the port directly) and nothing reads the client
        # address or scheme: uvicorn's X-Forwarded-* rewriting would only cost a header scan per request.
        proxy_headers=False,
    )
