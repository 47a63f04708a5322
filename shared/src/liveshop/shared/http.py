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
from fastapi.telemetry import TelemetryConfig

from liveshop.shared import entropy, idempotency, openapi, statehash
from liveshop.shared.auth import TokenVerifier, allow, operator, public
from liveshop.shared.errors import DomainError, NotFound
from liveshop.shared.journal import run_recorded
from liveshop.shared.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from liveshop.shared.observe import ObservabilityMiddleware
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.tx import Transaction

#: FastAPI's own OpenTelemetry instrumentation stays off: the services trace with their own SERVER span
#: (``liveshop.shared.observe``, docs in ``liveshop.shared.telemetry``), and FastAPI would otherwise look
#: up the global tracer, meter and logger providers (``os.environ``) on every request.
FASTAPI_TELEMETRY_OFF: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


def create_app(runtime: ServiceRuntime, routers: list[APIRouter], *, title: str) -> FastAPI:
    app = FastAPI(title=title, lifespan=_lifespan(runtime), telemetry=FASTAPI_TELEMETRY_OFF)
    app.state.runtime = runtime
    runtime.app = app
    settings = runtime.settings
    app.state.token_verifier = TokenVerifier(settings.auth()) if settings.auth_jwks else None
    app.state.authenticators = []
    # ours, in one layer: request id, span, latency, access log; then the body limit; then the journal tape
    app.add_middleware(ServiceMiddleware, runtime=runtime, max_bytes=settings.http_max_body_bytes)
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
    (Every service has it inside :class:`ServiceMiddleware`; this layer alone is for small apps.)
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: bytes | None = None
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                declared = v
        checked = await _limit_body(declared, receive, send, self.max_bytes)
        if checked is not None:
            await self.app(scope, checked, send)


class ServiceMiddleware(ObservabilityMiddleware):
    """The one middleware of ours in every service, pure ASGI: observability (outermost: request id,
    span, latency, access log; :class:`~liveshop.shared.observe.ObservabilityMiddleware`), then the
    body limit (:class:`BodyLimitMiddleware`), then the journal tape (``liveshop.shared.journal``),
    in one layer instead of three."""

    def __init__(self, app: Any, runtime: ServiceRuntime, max_bytes: int) -> None:
        super().__init__(app, runtime)
        self.max_bytes = max_bytes

    async def serve(self, scope: Any, receive: Any, send: Any, content_length: bytes | None) -> None:
        checked = await _limit_body(content_length, receive, send, self.max_bytes)
        if checked is None:
            return
        runtime = self.runtime
        # Every method: a read that happens to write (e.g. creates a row on first use) is journaled
        # like any other input; a transaction that wrote nothing is skipped at commit.
        if not runtime.journal_enabled or entropy.current() is not None:
            await self.app(scope, checked, send)  # an active tape (a replay, an outer input) stays in charge
            return
        await run_recorded(self.app, scope, checked, send, runtime.journal_sealer)


async def _limit_body(declared: bytes | None, receive: Any, send: Any, max_bytes: int) -> Any:
    """The ``receive`` to hand on, or None when the body is over ``max_bytes`` (answered 413).

    ``declared``: the request's Content-Length header. With a valid one the server holds the body to
    it; without (chunked), at most ``max_bytes + 1`` bytes are read, then the body is handed on in
    one piece."""
    length: int | None = None
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            length = None
        if length is not None:
            if length > max_bytes:
                await _refuse(send, max_bytes)
                return None
            return receive
    chunks: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > max_bytes:
            await _refuse(send, max_bytes)
            return None
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

    return replay


async def _refuse(send: Any, max_bytes: int) -> None:
    body = json.dumps({"code": "BODY_TOO_LARGE", "message": f"the request body exceeds {max_bytes} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


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
