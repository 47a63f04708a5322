"""What a bearer-token check costs a request: ``TokenVerifier.verify`` and a route's policy, in process.

Every HTTP route verifies the caller's token (docs/security.md). There is no switch to turn that off
(a production toggle that disables authentication is a hole, not a feature), so its cost is measured
directly, next to a no-op doing the same awaits:

1. ``verify`` cold: each token seen for the first time (cache miss): JWT parse, RS256 signature check
   against the JWKS key, claims (iss, aud, exp/nbf, actor, sub, roles). N distinct tokens, minted first.
2. ``verify`` warm: the same token again (the verifier caches verified tokens until they expire),
   which is what a client holding one token for its session costs.
3. no-op: an ``async`` function returning a ready principal (the floor of any await).
4. A FastAPI route through the ASGI stack (httpx ``ASGITransport``, no network): a ``public()`` route
   vs the same route behind ``allow(buyer("buyer_id"))`` with a warm token, and with a fresh token
   per request (cold): the whole policy dependency (header parse, verify, owner check on the path);
   a route without any dependency is the floor. Rounds are interleaved; the best round is reported.

Times are CPU time of this process per call (all of it runs here), not wall time: on a machine
shared with other work they stay meaningful.

    uv run python bench/bench_auth.py [N=2000]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from liveshop.shared.auth import DevIssuer, Principal, TokenVerifier, allow, buyer, public


async def per_call_us(fn: Callable[[int], Awaitable[Any]], n: int) -> float:
    """CPU time of this process per call (everything runs in it): waiting for a core shared with other
    work on the machine is not counted, so the numbers hold on a busy machine too."""
    t0 = time.process_time()
    for i in range(n):
        await fn(i)
    return (time.process_time() - t0) / n * 1e6


def app_with(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    app.state.token_verifier = verifier
    app.state.authenticators = []

    @app.get("/bare/buyers/{buyer_id}")
    async def bare_route(buyer_id: str) -> dict[str, str]:
        return {"buyer_id": buyer_id}

    @app.get("/open/buyers/{buyer_id}", dependencies=[public()])
    async def open_route(buyer_id: str) -> dict[str, str]:
        return {"buyer_id": buyer_id}

    @app.get("/guarded/buyers/{buyer_id}", dependencies=[allow(buyer("buyer_id"))])
    async def guarded_route(buyer_id: str) -> dict[str, str]:
        return {"buyer_id": buyer_id}

    return app


async def main(n: int, rounds: int = 7) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp:
        issuer = DevIssuer(Path(tmp)).ensure()
        verifier = TokenVerifier(issuer.settings())
        verifier.check_config()
        t0 = time.process_time()
        # distinct tokens (distinct subjects and lifetimes): one per cold verify, one per cold request
        fresh = iter([issuer.token("buyer", f"b_{i}", ttl_s=900 + r) for r in range(2 * rounds) for i in range(n)])
        sign_us = (time.process_time() - t0) / (2 * rounds * n) * 1e6
        warm = issuer.token("buyer", "b_warm")
        await verifier.verify(warm)
        ready = Principal("buyer", "b_warm")

        async def noop(_: int) -> Principal:
            return ready

        async def warm_verify(_: int) -> Principal:
            return await verifier.verify(warm)

        samples: dict[str, list[float]] = {}

        def keep(name: str, us: float) -> None:
            samples.setdefault(name, []).append(us)

        transport = httpx.ASGITransport(app=app_with(TokenVerifier(issuer.settings())))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            head = {"Authorization": f"Bearer {warm}"}

            async def bare_req(_: int) -> Any:
                return await client.get("/bare/buyers/b_warm")

            async def open_req(_: int) -> Any:
                return await client.get("/open/buyers/b_warm")

            async def guarded_warm(_: int) -> Any:
                r = await client.get("/guarded/buyers/b_warm", headers=head)
                assert r.status_code == 200, r.text
                return r

            await per_call_us(bare_req, 300)  # warm-up (routing, pydantic, httpx)
            await per_call_us(open_req, 300)
            await per_call_us(guarded_warm, 300)
            for _ in range(rounds):  # interleaved rounds; the median of each is reported
                keep("noop", await per_call_us(noop, n * 20))
                cold_tokens = [next(fresh) for _ in range(n)]

                async def cold(i: int, tokens: list[str] = cold_tokens) -> Principal:
                    return await verifier.verify(tokens[i])

                keep("cold", await per_call_us(cold, n))
                keep("warm", await per_call_us(warm_verify, n * 20))
                keep("bare", await per_call_us(bare_req, n))
                keep("open", await per_call_us(open_req, n))
                keep("route_warm", await per_call_us(guarded_warm, n))
                req_tokens = [next(fresh) for _ in range(n)]

                async def guarded_cold(i: int, tokens: list[str] = req_tokens) -> Any:
                    r = await client.get(f"/guarded/buyers/b_{i}", headers={"Authorization": f"Bearer {tokens[i]}"})
                    assert r.status_code == 200, r.text
                    return r

                keep("route_cold", await per_call_us(guarded_cold, n))

    m = {k: min(v) for k, v in samples.items()}  # the least disturbed round (timeit's advice)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nbearer-token checks, RS256 (2048-bit key), PyJWT; N={n} calls per round, best of {rounds} rounds")
    print(
        f"  (load average {load} on {os.cpu_count()} CPUs; spread of the rounds: median "
        f"cold verify {statistics.median(samples['cold']):.0f} µs, warm route {statistics.median(samples['route_warm']):.0f} µs)"
    )
    print(f"{'  sign a token (dev issuer, for reference)':<60} {sign_us:>9.1f} µs")
    print(f"{'  no-op await returning a principal (baseline)':<60} {m['noop']:>9.2f} µs")
    print(f"{'  TokenVerifier.verify, cold (first sight of a token)':<60} {m['cold']:>9.1f} µs  "
          f"({1e6 / m['cold']:,.0f}/s per core)")  # fmt: skip
    print(f"{'  TokenVerifier.verify, warm (cached)':<60} {m['warm']:>9.2f} µs  ({1e6 / m['warm']:,.0f}/s)")
    print("  one GET through FastAPI + httpx ASGITransport (in process, no network):")
    print(f"{'    route without a policy':<60} {m['bare']:>9.1f} µs")
    print(f"{'    public() route':<60} {m['open']:>9.1f} µs  (+{m['open'] - m['bare']:.1f} µs)")
    print(f"{'    allow(buyer(buyer_id)) route, warm token':<60} {m['route_warm']:>9.1f} µs  "
          f"(+{m['route_warm'] - m['bare']:.1f} µs)")  # fmt: skip
    print(f"{'    allow(buyer(buyer_id)) route, a new token each request':<60} {m['route_cold']:>9.1f} µs  "
          f"(+{m['route_cold'] - m['bare']:.1f} µs)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
