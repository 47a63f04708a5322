"""The HTTP side of observability: one ASGI middleware, outermost in every service's app.

Per request it: takes the caller's ``X-Request-Id`` (letters, digits, ``._-``, at most 64) or makes
one up, and answers with it; opens a SERVER span when tracing is on (a child of the request's
``traceparent``); observes the latency histogram by route template; writes one access-log line
(``liveshop.access``: method, path, route, status, duration_ms, the caller's sub / actor).

The request id is made up with :mod:`uuid` directly, not :mod:`liveshop.shared.entropy`: it is not
an input of the service (a replay needs no recording of it).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode

from liveshop.shared import logs, telemetry
from liveshop.shared.auth.policy import SCOPE_PRINCIPAL

access_log = logging.getLogger("liveshop.access")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id(scope: dict[str, Any]) -> str:
    for k, v in scope.get("headers", ()):
        if k == b"x-request-id":
            given = str(v.decode("latin-1"))
            if _REQUEST_ID.fullmatch(given):
                return given
    return uuid.uuid4().hex


def _route(scope: dict[str, Any]) -> str:
    """The matched route's template (``/orders/{order_id}``): a bounded label, unlike the path."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


class ObservabilityMiddleware:
    def __init__(self, app: Any, runtime: Any) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = request_id(scope)
        status = 500
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        tracer = telemetry.tracer()
        method = scope["method"]
        try:
            with logs.bind(request_id=rid):
                if tracer is None:
                    await self.app(scope, receive, send_with_id)
                else:
                    parent = telemetry.extract_http(scope.get("headers", ()))
                    with tracer.start_as_current_span(
                        f"{method} {scope['path']}",
                        context=parent,
                        kind=SpanKind.SERVER,
                        attributes={"http.request.method": method, "url.path": scope["path"], "request.id": rid},
                    ) as span:
                        await self.app(scope, receive, send_with_id)
                        span.update_name(f"{method} {_route(scope)}")
                        span.set_attribute("http.response.status_code", status)
                        if status >= 500:
                            span.set_status(Status(StatusCode.ERROR))
        finally:
            elapsed = time.perf_counter() - start
            route = _route(scope)
            metrics = getattr(self.runtime, "metrics", None)
            if metrics is not None:
                metrics.http_duration.labels(method, route, str(status)).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                who = scope.get(SCOPE_PRINCIPAL)
                extra: dict[str, Any] = {
                    "request_id": rid,
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                }
                if who is not None:
                    extra["sub"] = getattr(who, "sub", None)
                    extra["actor"] = getattr(who, "actor", None)
                access_log.info("%s %s %d", method, scope["path"], status, extra=extra)
