"""The HTTP side of observability: one ASGI middleware, outermost in every service's app.

Per request it: takes the caller's ``X-Request-Id`` (letters, digits, ``._-``, at most 64) or makes
one up, and answers with it; opens a SERVER span when tracing is on (a child of the request's
``traceparent``); observes the latency histogram by route template; writes one access-log line
(``liveshop.access``: method, path, route, status, duration_ms, the caller's sub / actor).

Every service runs it as ``liveshop.shared.http.ServiceMiddleware``, which adds the body limit and the
journal tape inside the same layer (:meth:`ObservabilityMiddleware.serve`). It is pure ASGI and costs
little per request: the headers are read in one pass, the histogram's child of each (method, route,
status) is looked up once (:class:`HttpObserver`).

The request id is made up from :func:`os.urandom` directly (a version-4 UUID's 32 hex digits), not
:mod:`liveshop.shared.entropy`: it is not an input of the service (a replay needs no recording of it).
"""

from __future__ import annotations

import logging
import os
import re
from time import perf_counter
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode

from liveshop.shared import logs, telemetry
from liveshop.shared.auth.policy import SCOPE_PRINCIPAL

access_log = logging.getLogger("liveshop.access")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_INFO = logging.INFO
#: The bits a version-4 UUID fixes (RFC 4122: version 4, variant 10), as :class:`uuid.UUID` sets them.
_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET = (0x8000 << 48) | (4 << 76)


def new_request_id() -> str:
    """``uuid.uuid4().hex``, without building a :class:`uuid.UUID`."""
    n = int.from_bytes(os.urandom(16), "big")
    return f"{(n & _UUID4_CLEAR) | _UUID4_SET:032x}"


def request_id(scope: dict[str, Any]) -> str:
    for k, v in scope.get("headers", ()):
        if k == b"x-request-id":
            given = str(v.decode("latin-1"))
            if _REQUEST_ID.fullmatch(given):
                return given
    return new_request_id()


def _route(scope: dict[str, Any]) -> str:
    """The matched route's template (``/orders/{order_id}``): a bounded label, unlike the path."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


class HttpObserver:
    """What is recorded when a request ends: its latency (histogram) and its access-log line."""

    #: at most this many (method, route, status) children are remembered (methods are the caller's)
    MAX_CHILDREN = 1024

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self._metrics: Any = None
        self._children: dict[tuple[str, str, int], Any] = {}

    def finish(self, scope: Any, method: str, rid: str, status: int, elapsed: float) -> None:
        route = _route(scope)
        metrics = getattr(self.runtime, "metrics", None)
        if metrics is not None:
            if metrics is not self._metrics:
                self._metrics, self._children = metrics, {}
            key = (method, route, status)
            child = self._children.get(key)
            if child is None:
                child = metrics.http_duration.labels(method, route, str(status))
                if len(self._children) < self.MAX_CHILDREN:
                    self._children[key] = child
            child.observe(elapsed)
        if access_log.isEnabledFor(_INFO):
            path = scope["path"]
            extra: dict[str, Any] = {
                "request_id": rid,
                "method": method,
                "path": path,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
            }
            who = scope.get(SCOPE_PRINCIPAL)
            if who is not None:
                extra["sub"] = getattr(who, "sub", None)
                extra["actor"] = getattr(who, "actor", None)
            access_log.info("%s %s %d", method, path, status, extra=extra)


class ObservabilityMiddleware:
    def __init__(self, app: Any, runtime: Any) -> None:
        self.app = app
        self.runtime = runtime
        self.observer = HttpObserver(runtime)

    async def serve(self, scope: Any, receive: Any, send: Any, content_length: bytes | None) -> None:
        """The request inside its request id, span and latency (``ServiceMiddleware`` adds its own).
        ``content_length``: the last ``Content-Length`` header as sent, if any."""
        await self.app(scope, receive, send)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        rid: str | None = None
        content_length: bytes | None = None
        headers = scope.get("headers", ())
        for k, v in headers:
            if k == b"content-length":
                content_length = v
            elif k == b"x-request-id" and rid is None:
                given = v.decode("latin-1")
                if _REQUEST_ID.fullmatch(given):
                    rid = given
        if rid is None:
            rid = new_request_id()
        status = 500
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message = dict(message)
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        tracer = telemetry.tracer()
        method = scope["method"]
        try:
            with logs.bind(request_id=rid):
                if tracer is None:
                    await self.serve(scope, receive, send_with_id, content_length)
                else:
                    parent = telemetry.extract_http(headers)
                    with tracer.start_as_current_span(
                        f"{method} {scope['path']}",
                        context=parent,
                        kind=SpanKind.SERVER,
                        attributes={"http.request.method": method, "url.path": scope["path"], "request.id": rid},
                    ) as span:
                        await self.serve(scope, receive, send_with_id, content_length)
                        span.update_name(f"{method} {_route(scope)}")
                        span.set_attribute("http.response.status_code", status)
                        if status >= 500:
                            span.set_status(Status(StatusCode.ERROR))
        finally:
            self.observer.finish(scope, method, rid, status, perf_counter() - start)
