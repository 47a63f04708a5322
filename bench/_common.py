"""Shared helpers for benchmarks: infrastructure (same resolver as tests and demo) and printing."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from liveshop.shared.devstack.resolver import Infra, resolve
from liveshop.shared.auth import DevIssuer
from liveshop.shared.settings import ServiceSettings


@contextmanager
def infrastructure() -> Iterator[Infra]:
    infra = resolve()
    try:
        yield infra
    finally:
        infra.stop()


def settings(infra: Infra, service: str, namespace: str | None = None, **kw: object) -> ServiceSettings:
    return ServiceSettings(
        service_name=service,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        database_url=infra.database_url,
        liveshop_namespace=namespace or ("b" + uuid.uuid4().hex[:8]),
        auth_jwks=str(DevIssuer().ensure().jwks_path),
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
