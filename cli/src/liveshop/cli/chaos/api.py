"""HTTP for the chaos load: every call as the actor who makes it (development issuer), with fail-over
between a service's instances.

A refused connection, a timeout or a 5xx is retried on the other instance (same headers, so the same
``Idempotency-Key`` where the route takes one) until the call's patience runs out.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from liveshop.shared.auth import DevIssuer


class FlowError(RuntimeError):
    pass


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    orders: list[str] = field(default_factory=list)
    flows: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    final: dict[str, int] = field(default_factory=dict)
    #: order id → (kind, buyer id, voucher ids)
    meta: dict[str, tuple[str, str, list[str]]] = field(default_factory=dict)


class Api:
    """HTTP with fail-over between a service's instances."""

    def __init__(self, urls: dict[str, list[str]], stats: Stats, *, patience: float = 240.0) -> None:
        self.urls, self.stats, self.patience = urls, stats, patience
        self.issuer = DevIssuer().ensure()
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(8.0, connect=2.0))
        self._rr = itertools.count()

    async def close(self) -> None:
        await self.client.aclose()

    def auth(self, actor: str, sub: str, *roles: str) -> dict[str, str]:
        if actor == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.issuer.token(actor, sub, roles)}"}

    async def request(self, service: str, method: str, path: str, who: tuple[str, ...], **kw: Any) -> httpx.Response:
        urls = self.urls[service]
        deadline = time.monotonic() + self.patience
        headers = kw.pop("headers", None) or {}
        make_headers = kw.pop("make_headers", None)  # a fresh signature per attempt (ISV)
        delay = 0.2
        n = next(self._rr)
        attempt = 0
        while True:
            url = urls[(n + attempt) % len(urls)]
            attempt += 1
            self.stats.requests += 1
            h = {**self.auth(*who), **headers, **(make_headers() if make_headers else {})}
            try:
                r = await self.client.request(method, url + path, headers=h, **kw)
                if r.status_code < 500:
                    return r
                why = f"{r.status_code} {r.text[:200]}"
            except httpx.TransportError as exc:
                why = repr(exc)
            if time.monotonic() > deadline:
                raise FlowError(f"{method} {service}{path}: gave up after {attempt} attempts ({why})")
            self.stats.retries += 1
            if attempt % len(urls) == 0:  # every instance failed once: back off
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        who: tuple[str, ...],
        expect: tuple[int, ...] = (200, 201),
        **kw: Any,
    ) -> Any:
        r = await self.request(service, method, path, who, **kw)
        if r.status_code not in expect:
            raise FlowError(f"{method} {service}{path} as {who[:2]} -> {r.status_code}: {r.text[:300]}")
        return r.json() if r.content else None
