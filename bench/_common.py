"""Shared helpers for benchmarks: infrastructure (same resolver as tests and demo), tokens, printing."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from liveshop.shared.auth import DevIssuer
from liveshop.shared.devstack.resolver import Infra, resolve
from liveshop.shared.settings import ServiceSettings

T = TypeVar("T")


def _outside_loop(fn: Callable[[], T]) -> T:
    """Run ``fn`` here, or in a worker thread when called from a running event loop: starting (and
    stopping) a local Kafka + PostgreSQL runs ``asyncio.run`` of its own, which can't nest."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-infra") as pool:
        return pool.submit(fn).result()


@contextmanager
def infrastructure() -> Iterator[Infra]:
    """The tests' and the demo's infrastructure: the environment's, a running ``liveshop dev up``
    stack, Docker, or (none running) a local Kafka + PostgreSQL started for this run and stopped after."""
    infra = _outside_loop(resolve)
    if infra.mode in ("local", "docker"):
        print(f"(started a {infra.mode} Kafka + PostgreSQL for this run; `liveshop dev up` keeps one running)")
    try:
        yield infra
    finally:
        _outside_loop(infra.stop)


_issuer: DevIssuer | None = None


def issuer() -> DevIssuer:
    """The development token issuer (the services started by a bench verify its tokens: ``Infra.env()``)."""
    global _issuer
    if _issuer is None:
        _issuer = DevIssuer().ensure()
    return _issuer


def bearer(actor: str, sub: str, *roles: str) -> dict[str, str]:
    """``Authorization`` header: a real token of ``actor`` ``sub`` (each bench call as the actor making it)."""
    return {"Authorization": f"Bearer {issuer().token(actor, sub, roles, ttl_s=3600)}"}


def settings(infra: Infra, service: str, namespace: str | None = None, **kw: object) -> ServiceSettings:
    return ServiceSettings(
        service_name=service,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        **infra.kafka_auth().settings(),
        database_url=infra.database_url,
        liveshop_namespace=namespace or ("b" + uuid.uuid4().hex[:8]),
        auth_jwks=str(issuer().jwks_path),
        **kw,  # type: ignore[arg-type]
    )


def report(name: str, value: float, unit: str, baseline_name: str, baseline: float) -> None:
    ratio = value / baseline if baseline else float("nan")
    print(f"{name:<48} {value:>12,.0f} {unit}")
    print(f"{'  baseline: ' + baseline_name:<48} {baseline:>12,.0f} {unit}")
    print(f"{'  ratio (liveshop / baseline)':<48} {ratio:>12.2f}")


def percentiles(samples_ms: list[float]) -> tuple[float, float, float]:
    s = sorted(samples_ms)
    p50 = statistics.median(s)
    p99 = s[min(len(s) - 1, int(len(s) * 0.99))]
    return p50, p99, s[-1]


class Timer:
    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.elapsed = time.perf_counter() - self.t0
