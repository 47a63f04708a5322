"""FastAPI app factory shared by every service: health probes, error mapping, idempotency."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from liveshop.shared import idempotency, openapi, statehash
from liveshop.shared.auth import TokenVerifier, allow, operator, public
from liveshop.shared.errors import DomainError, NotFound
from liveshop.shared.journal import JournalMiddleware
from liveshop.shared.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from liveshop.shared.observe import ObservabilityMiddleware
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.tx import Transaction


def create_app(runtime: ServiceRuntime, routers: list[APIRouter], *, title: str) -> FastAPI:
    app = FastAPI(title=title, lifespan=_lifespan(runtime))
    app.state.runtime = runtime
    runtime.app = app
    settings = runtime.settings
    app.state.token_verifier = TokenVerifier(settings.auth()) if settings.auth_jwks else None
    app.state.authenticators = []
    app.add_middleware(JournalMiddleware, runtime=runtime)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.http_max_body_bytes)
    app.add_middleware(ObservabilityMiddleware, runtime=runtime)  # outermost: request id, span, latency, access log
    _health_routes(app, runtime)
    _admin_routes(app, runtime)
    _error_handlers(app)
    for r in routers:
        app.include_router(r)
    openapi.install(app)
    return app


def _lifespan(runtime: ServiceRuntime) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not runtime.started:
            # serve at once: /health/live answers, /health/ready says 503 until PostgreSQL and Kafka
            # answer (retried with backoff in the background, docs/faults.md)
            runtime.start_in_background()
            app.state.owns_runtime = True
        try:
            yield
        finally:
            if getattr(app.state, "owns_runtime", False):
                await runtime.stop()

    return lifespan


def _health_routes(app: FastAPI, runtime: ServiceRuntime) -> None:
    @app.get("/health/live", tags=["health"], dependencies=[public()])
    async def live() -> dict[str, str]:
        return {"status": "live", "service": runtime.service}

    @app.get("/health/ready", tags=["health"], dependencies=[public()])
    async def ready() -> JSONResponse:
        checks = await runtime.ready()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503
        )

    @app.get("/metrics", tags=["observability"], dependencies=[allow(operator())], response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics (text format); scraped with an operator token (docs/security.md#metrics)."""
        return Response(await runtime.metrics.exposition(), media_type=METRICS_CONTENT_TYPE)


def _admin_routes(app: FastAPI, runtime: ServiceRuntime) -> None:
    @app.post("/admin/projections/rebuild", tags=["admin"], dependencies=[allow(operator("ops"))])
    async def rebuild(router: str | None = None) -> dict[str, Any]:
        """Empty this service's read models and rebuild them by replaying the topics they come from.

        409 ``REBUILD_GROUP_ACTIVE`` while other instances consume in the group (stop them first),
        ``REBUILD_IN_PROGRESS`` while a rebuild runs; 503 ``NOT_READY`` before the service connected."""
        try:
            rebuilt = await runtime.rebuild_projections([router] if router else None)
        except ValueError as exc:
            raise NotFound("UNKNOWN_CONSUMER", str(exc)) from exc
        return {"rebuilt": rebuilt}

    @app.get("/admin/journal", tags=["admin"], dependencies=[allow(operator())])
    async def journal_status() -> dict[str, Any]:
        """Record mode: whether inputs are journaled. Replay mode: how far the replay got."""
        if runtime.replayer is not None:
            return {"service": runtime.service, **asdict(runtime.replayer.status)}
        return {"service": runtime.service, "mode": "record" if runtime.journal_enabled else "off"}

    @app.get("/admin/state-hash", tags=["admin"], dependencies=[allow(operator("ops"))])
    async def state_hash() -> dict[str, Any]:
        """A stable hash of every table of this service (compare two stacks after a replay)."""
        assert runtime.pool is not None
        async with runtime.pool.acquire() as conn:
            return (await statehash.service_state(conn, runtime.schema, runtime.namespace)).as_dict()

    @app.get("/admin/consumers", tags=["admin"], dependencies=[allow(operator())])
    async def consumers() -> dict[str, Any]:
        return {
            name: {"group": r.group, "dead_letter_topic": r.dlt_topic, **r.stats.__dict__}
            for name, r in runtime.runners.items()
        }


def _error_handlers(app: FastAPI) -> None:
    """The ONE mapping of refusals to HTTP (every service error subclasses ``DomainError``)."""

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p != "body"),
                "message": e["msg"],
                "type": e["type"],
            }
            for e in exc.errors()
        ]
        return JSONResponse(
            {"code": "INVALID_REQUEST", "message": "the request body is invalid", "errors": errors}, 422
        )


def error_response(exc: DomainError) -> JSONResponse:
    """A refusal as JSON ``{"code", "message"}`` with its status (401s name the Bearer scheme)."""
    headers = {"WWW-Authenticate": 'Bearer realm="liveshop"'} if exc.http_status == 401 else None
    return JSONResponse(exc.as_dict(), status_code=exc.http_status, headers=headers)


class BodyLimitMiddleware:
    """ASGI middleware: a request body over ``max_bytes`` is answered 413 ``BODY_TOO_LARGE``.

    Checked on the declared Content-Length first, then on the bytes as they arrive (chunked).
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Any) -> None:
        body = json.dumps(
            {"code": "BODY_TOO_LARGE", "message": f"the request body exceeds {self.max_bytes} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    declared = None
        if declared is not None:
            if declared > self.max_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)  # the server holds the body to its declared length
            return
        # no length declared (chunked): read at most max_bytes + 1, then hand the body on in one piece
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


async def idempotent(
    tx: Transaction,
    scope: str,
    key: str | None,
    body: Any,
    create: Callable[[], Awaitable[tuple[int, Any]]],
) -> tuple[int, Any]:
    """Run ``create`` at most once per (scope, key) inside ``tx``; replay the first response.

    Same key with a different body raises 409 ``IDEMPOTENCY_KEY_REUSED``. Without a key the
    command simply runs. The key row is inserted in the caller's transaction, so a failed
    command leaves no key behind (``liveshop.shared.idempotency``).
    """
    return await idempotency.run_once(tx.conn, scope, key, body, create)
