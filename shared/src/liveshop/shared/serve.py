"""Run one service process: settings from the environment, uvicorn on 127.0.0.1."""

from __future__ import annotations

import logging
import os

import uvicorn
from fastapi import FastAPI

from liveshop.shared.auth import TokenVerifier
from liveshop.shared.settings import ServiceSettings


def configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


def run(app: FastAPI, settings: ServiceSettings) -> None:
    configure_logging()
    # refuse to start when tokens can't be verified (no JWKS configured or readable)
    TokenVerifier(settings.auth()).check_config()
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port or 8000,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
