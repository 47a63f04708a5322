"""A cheap HTTP/1.1 load generator for the benchmarks: keep-alive connections, pre-encoded requests.

httpx (and, less so, aiohttp) cost more CPU per request than a small service spends answering it,
so a benchmark driven by them measures its client. Here every request is encoded once before the
clock starts; each connection is an ``asyncio.Protocol`` on uvloop that sends its next request as
soon as the previous response is complete (closed loop, one request in flight per connection), and
parses only the status line, ``content-length`` and, for refusals, the JSON ``code``. The load is
spread over several OS processes (``processes``), each with its own event loop, so the generator
can use more than one core; every process reports its own CPU time, which the benchmark prints
apart from the system under test.

    from _httpload import Target, encode, run_load
    reqs = [encode("POST", "/x", body=b"{}", headers={"Authorization": "Bearer ..."})]
    result = run_load([Target("127.0.0.1", 8000)], reqs, connections=64, processes=2)
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Target:
    host: str
    port: int


def encode(method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
    """One HTTP/1.1 request, keep-alive, as bytes (the ``Host`` header is the same for every target)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: bench"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body is not None:
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


@dataclass
class LoadResult:
    """What one run did: outcomes, wall time from the first send to the last answer, client CPU."""

    statuses: Counter[int] = field(default_factory=Counter)
    #: ``code`` of the JSON bodies of 4xx/5xx answers (``SOLD_OUT``, ``CLAIM_LIMIT_REACHED`` ...).
    codes: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    #: CPU seconds (user + system) the generator's processes spent during the run.
    client_cpu_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def wall_s(self) -> float:
        return self.finished - self.started

    @property
    def rate(self) -> float:
        return self.requests / self.wall_s if self.wall_s > 0 else 0.0

    def merge(self, other: LoadResult) -> None:
        self.statuses.update(other.statuses)
        self.codes.update(other.codes)
        self.latencies_ms.extend(other.latencies_ms)
        self.started = min(self.started, other.started) if self.started else other.started
        self.finished = max(self.finished, other.finished)
        self.client_cpu_s += other.client_cpu_s
        self.errors.extend(other.errors)


def _content_length(head: bytes) -> int:
    head = head.lower()
    at = head.find(b"content-length:")
    if at < 0:
        return 0
    end = head.find(b"\r\n", at)
    return int(head[at + 15 : end if end > 0 else None])


class _Connection(asyncio.Protocol):
    """Sends its requests one after the other on one keep-alive connection."""

    def __init__(self, requests: list[bytes], result: LoadResult, done: asyncio.Future[None]) -> None:
        self.requests = requests
        self.next = 0
        self.result = result
        self.done = done
        self.buf = bytearray()
        self.need = -1  # total bytes of the response being read (-1: headers not complete yet)
        self.sent_at = 0.0
        self.transport: Any = None

    def itself(self) -> _Connection:
        return self

    def connection_made(self, transport: Any) -> None:  # uvloop's transports are not asyncio.Transport
        self.transport = transport

    def start(self) -> None:
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if self.next >= len(self.requests):
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)
            return
        self.sent_at = time.perf_counter()
        self.transport.write(self.requests[self.next])
        self.next += 1

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            if self.need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                self.need = end + 4 + _content_length(bytes(buf[:end]))
            if len(buf) < self.need:
                return
            self._answered(bytes(buf[: self.need]))
            del buf[: self.need]
            self.need = -1
            self._send()

    def _answered(self, response: bytes) -> None:
        r = self.result
        r.latencies_ms.append((time.perf_counter() - self.sent_at) * 1000)
        status = int(response[9:12])
        r.statuses[status] += 1
        if status >= 400:
            body = response[response.find(b"\r\n\r\n") + 4 :]
            try:
                r.codes[str(json.loads(body).get("code"))] += 1
            except ValueError:
                r.codes["(not json)"] += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self.next < len(self.requests) or self.need >= 0:
            self.result.errors.append(f"connection lost after {self.next} requests: {exc!r}")
        if not self.done.done():
            self.done.set_result(None)


async def _client(targets: list[Target], shares: list[list[bytes]], go: Any, offset: int) -> LoadResult:
    loop = asyncio.get_running_loop()
    result = LoadResult()
    conns: list[_Connection] = []
    waits: list[asyncio.Future[None]] = []
    for i, share in enumerate(shares):
        t = targets[(offset + i) % len(targets)]  # connections spread over the instances, like a balancer
        done: asyncio.Future[None] = loop.create_future()
        proto = _Connection(share, result, done)
        transport, _ = await loop.create_connection(proto.itself, t.host, t.port)
        proto.transport = transport  # uvloop may call connection_made after create_connection returns
        conns.append(proto)
        waits.append(done)
    await loop.run_in_executor(None, go.wait)  # a barrier: every process connected, start together
    cpu0 = time.process_time()
    result.started = time.perf_counter()
    for c in conns:
        c.start()
    await asyncio.gather(*waits)
    result.finished = time.perf_counter()
    result.client_cpu_s = time.process_time() - cpu0
    return result


def _process_main(targets: list[Target], shares: list[list[bytes]], go: Any, offset: int, out: Any) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency of the services
        pass
    out.send(asyncio.run(_client(targets, shares, go, offset)))
    out.close()


def run_load(targets: list[Target], requests: list[bytes], *, connections: int, processes: int = 1) -> LoadResult:
    """Send ``requests`` (in order, dealt round robin over the connections) and wait for every answer.

    ``connections`` keep-alive connections in total, spread over ``processes`` OS processes (each on
    its own core when one is free) and over ``targets`` (connection ``i`` goes to ``targets[i % n]``).
    ``perf_counter`` is system-wide on Linux, so the processes' start and end times compare.
    """
    processes = max(1, min(processes, connections))
    per_conn: list[list[bytes]] = [requests[i::connections] for i in range(connections)]
    ctx = mp.get_context("spawn")
    go = ctx.Barrier(processes + 1)
    procs: list[tuple[Any, Any]] = []
    offset = 0
    for p in range(processes):
        shares = per_conn[p::processes]
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_process_main, args=(targets, shares, go, offset, child), daemon=True)
        proc.start()
        child.close()
        procs.append((proc, parent))
        offset += len(shares)
    go.wait(timeout=60)  # every process connected
    total = LoadResult()
    for proc, parent in procs:
        total.merge(parent.recv())
        proc.join()
    return total


def cpu_count() -> int:
    return os.cpu_count() or 1
