"""A cheap HTTP/1.1 load generator for the benchmarks: keep-alive connections, pre-encoded requests.

httpx (and, less so, aiohttp) cost more CPU per request than a small service spends answering it,
so a benchmark driven by them measures its client. Here every request is encoded once before the
clock starts; each connection is an ``asyncio.Protocol`` on uvloop that parses only the status
line, ``content-length``, for refusals the JSON ``code`` and, when asked, one string field of the
body (``field``, e.g. ``order_id``). The load is spread over several OS processes, each with its own
event loop, so the generator can use more than one core; every process reports its own CPU time,
which the benchmark prints apart from the system under test. Two modes:

- **closed loop** (``LoadGen.closed``, ``run_load``): each connection sends its next request as
  soon as the previous response is complete (one request in flight per connection);
- **open loop** (``LoadGen.open_loop``): request ``i`` is sent at ``start + i / rate`` whether or
  not earlier ones were answered. Each process paces its share (``i % processes``) on an idle
  connection, pipelines (HTTP/1.1, up to ``depth`` in flight) when none is idle and opens another
  when every one is full; per request it records the wall-clock send time (``time.time()``).

    from _httpload import LoadGen, Target, encode, run_load
    reqs = [encode("POST", "/x", body=b"{}", headers={"Authorization": "Bearer ..."})]
    result = run_load([Target("127.0.0.1", 8000)], reqs, connections=64, processes=2)
    with LoadGen(processes=1) as gen:  # the processes start once, for several runs
        result = gen.open_loop(targets, reqs, rate=200, connections=16, field="order_id")
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
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
    #: per answered request: its index, ``time.time()`` at send, status, the 2xx body's ``field`` or None.
    sends: list[tuple[int, float, int, str | None]] = field(default_factory=list)
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
        self.sends.extend(other.sends)
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


def body_field(body: bytes, key: bytes) -> str | None:
    """The string value of ``key`` (``b'"order_id"'``) in a JSON body, found without parsing the rest."""
    at = body.find(key)
    if at < 0:
        return None
    q = body.find(b'"', at + len(key))
    if q < 0 or body[at + len(key) : q].strip(b": \t") != b"":
        return None  # not a string value
    end = body.find(b'"', q + 1)
    return body[q + 1 : end].decode() if end > 0 else None


class _Connection(asyncio.Protocol):
    """One keep-alive connection. Closed loop: sends its ``queue`` one request after the other. Open
    loop: sends whenever ``send`` is called; several may be in flight (HTTP/1.1 pipelining)."""

    def __init__(self, job: _Job, result: LoadResult, queue: list[tuple[int, bytes]]) -> None:
        self.job = job
        self.result = result
        self.queue = deque(queue)
        self.inflight: deque[tuple[int, float, float]] = deque()  # (index, time.time(), perf_counter) at send
        self.buf = bytearray()
        self.need = -1  # total bytes of the response being read (-1: headers not complete yet)
        self.transport: Any = None
        self.closed = False
        self.idle_since = time.monotonic()

    def itself(self) -> _Connection:
        return self

    def connection_made(self, transport: Any) -> None:  # uvloop's transports are not asyncio.Transport
        self.transport = transport

    def send(self, index: int, request: bytes) -> None:
        self.inflight.append((index, time.time(), time.perf_counter()))
        self.transport.write(request)

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
            response = bytes(buf[: self.need])
            del buf[: self.need]
            self.need = -1
            self._answered(response)

    def _answered(self, response: bytes) -> None:
        index, wall, perf = self.inflight.popleft()
        r = self.result
        r.latencies_ms.append((time.perf_counter() - perf) * 1000)
        status = int(response[9:12])
        r.statuses[status] += 1
        value = None
        if status >= 400:
            try:
                r.codes[str(json.loads(response[response.find(b"\r\n\r\n") + 4 :]).get("code"))] += 1
            except ValueError:
                r.codes["(not json)"] += 1
        elif self.job.key is not None:
            value = body_field(response[response.find(b"\r\n\r\n") + 4 :], self.job.key)
        r.sends.append((index, wall, status, value))
        if self.queue:
            self.send(*self.queue.popleft())
        elif not self.inflight:
            self.idle_since = time.monotonic()
        self.job.settle(1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        lost = len(self.inflight) + len(self.queue)
        if lost or self.need >= 0:
            self.result.errors.append(f"connection lost with {lost} requests unanswered: {exc!r}")
            self.job.settle(lost)
            self.inflight.clear()
            self.queue.clear()


#: an idle open-loop connection is closed after this long (uvicorn drops keep-alive connections at 5 s).
STALE_S = 3.0


@dataclass
class _Job:
    """One process's share of a run: ``requests`` as (global index, bytes) over ``connections``
    connections; closed loop when ``rate`` is None, else request ``i`` is due at ``start + i / rate``."""

    targets: list[Target]
    requests: list[tuple[int, bytes]]
    connections: int
    offset: int  # of this process's first connection, to spread connections over the targets
    rate: float | None = None
    depth: int = 1
    key: bytes | None = None
    timeout: float = 120.0
    result: LoadResult = field(init=False)
    pool: list[_Connection] = field(init=False)
    pending: int = field(init=False)  # requests not answered yet, over every connection
    done: asyncio.Future[None] = field(init=False)

    def settle(self, n: int) -> None:
        self.pending -= n
        if self.pending <= 0 and not self.done.done():
            self.done.set_result(None)

    async def connect(self, queue: list[tuple[int, bytes]]) -> _Connection:
        t = self.targets[(self.offset + len(self.pool)) % len(self.targets)]  # like a balancer
        proto = _Connection(self, self.result, queue)
        # uvloop may call connection_made after create_connection returns
        proto.transport, _ = await asyncio.get_running_loop().create_connection(proto.itself, t.host, t.port)
        self.pool.append(proto)
        return proto

    async def prepare(self, result: LoadResult) -> None:
        self.result, self.pool, self.pending = result, [], len(self.requests)
        self.done = asyncio.get_running_loop().create_future()
        for c in range(self.connections):
            await self.connect(self.requests[c :: self.connections] if self.rate is None else [])

    async def run(self, start: float) -> None:
        if self.rate is None:
            for c in self.pool:
                if c.queue:
                    c.send(*c.queue.popleft())
        else:
            for index, request in self.requests:
                delay = start + index / self.rate - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                conn = _pick(self.pool, self.depth)
                if conn is None:
                    self.pool[:] = [c for c in self.pool if not c.closed]
                    conn = await self.connect([])
                conn.send(index, request)
        if self.pending > 0:
            try:
                await asyncio.wait_for(asyncio.shield(self.done), None if self.rate is None else self.timeout)
            except TimeoutError:
                self.result.errors.append(
                    f"{self.pending} requests unanswered {self.timeout:.0f} s after the last send"
                )
        for c in self.pool:
            c.transport.close()


def _pick(pool: list[_Connection], depth: int) -> _Connection | None:
    """The first idle connection (closing stale ones), else the least busy one below ``depth``."""
    now = time.monotonic()
    best: _Connection | None = None
    for c in pool:
        if c.closed:
            continue
        if not c.inflight:
            if now - c.idle_since < STALE_S:
                return c
            c.closed = True
            c.transport.close()
        elif best is None or len(c.inflight) < len(best.inflight):
            best = c
    return best if best is not None and len(best.inflight) < depth else None


async def _job(job: _Job, go: Any, start_at: Any) -> LoadResult:
    loop = asyncio.get_running_loop()
    result = LoadResult()
    try:
        await job.prepare(result)
    except OSError as e:
        result.errors.append(f"connect: {e!r}")
        go.abort()
        return result
    try:
        await loop.run_in_executor(None, go.wait)  # a barrier: every process connected
        await loop.run_in_executor(None, go.wait)  # ... and the parent set the start time
    except threading.BrokenBarrierError:
        result.errors.append("another load process failed to connect")
        return result
    cpu0 = time.process_time()
    result.started = time.perf_counter()
    await job.run(start_at.value)
    result.finished = time.perf_counter()
    result.client_cpu_s = time.process_time() - cpu0
    return result


def _worker(pipe: Any, go: Any, start_at: Any) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency of the services
        pass
    while (job := pipe.recv()) is not None:
        pipe.send(asyncio.run(_job(job, go, start_at)))
    pipe.close()


class LoadGen:
    """``processes`` load-generator OS processes (spawned once, each on its own core when one is
    free), reused for several runs. ``perf_counter`` is system-wide on Linux, so the processes'
    start and end times compare. ``on_start`` is called in the caller's thread once every process
    has connected, right before the first request."""

    def __init__(self, processes: int = 1) -> None:
        ctx = mp.get_context("spawn")
        self.go = ctx.Barrier(processes + 1)
        self.start_at = ctx.Value("d", 0.0, lock=False)
        self.workers: list[tuple[Any, Any]] = []
        for _ in range(processes):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, self.go, self.start_at), daemon=True)
            proc.start()
            child.close()
            self.workers.append((proc, parent))

    def __enter__(self) -> LoadGen:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        for proc, pipe in self.workers:
            pipe.send(None)
            proc.join(timeout=10)
        self.workers = []

    def closed(
        self,
        targets: list[Target],
        requests: list[bytes],
        *,
        connections: int,
        field: str | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> LoadResult:
        """Send ``requests`` (dealt round robin over ``connections`` keep-alive connections, spread
        over the processes and over ``targets``) and wait for every answer."""
        n = len(self.workers)
        key = f'"{field}"'.encode() if field else None
        mine = [[(i, r) for i, r in enumerate(requests) if i % connections % n == p] for p in range(n)]
        conns = [len(range(p, connections, n)) for p in range(n)]
        jobs = [_Job(targets, mine[p], conns[p], sum(conns[:p]), key=key) for p in range(n)]
        return self._run(jobs, 0.0, on_start)

    def open_loop(
        self,
        targets: list[Target],
        requests: list[bytes],
        *,
        rate: float,
        connections: int,
        depth: int = 4,
        field: str | None = None,
        timeout: float = 120.0,
        on_start: Callable[[], None] | None = None,
    ) -> LoadResult:
        """Send request ``i`` at ``start + i / rate`` regardless of answers; ``connections`` opened up
        front (over every process), another when every one has ``depth`` in flight; waits for the
        answers up to ``timeout`` after the last send."""
        n = len(self.workers)
        key = f'"{field}"'.encode() if field else None
        per = max(1, connections // n)
        indexed = list(enumerate(requests))
        jobs = [_Job(targets, indexed[p::n], per, per * p, rate, depth, key, timeout) for p in range(n)]
        return self._run(jobs, 0.05, on_start)

    def _run(self, jobs: list[_Job], lead: float, on_start: Callable[[], None] | None) -> LoadResult:
        for (_, pipe), job in zip(self.workers, jobs, strict=True):
            pipe.send(job)
        broken = False
        try:
            self.go.wait(timeout=120)  # every process connected
            if on_start is not None:
                on_start()
            self.start_at.value = time.time() + lead
            self.go.wait(timeout=60)
        except threading.BrokenBarrierError:
            broken = True  # a process failed to connect: every one returns its errors
        total = LoadResult()
        for _, pipe in self.workers:
            total.merge(pipe.recv())
        if broken:
            self.go.reset()
            total.errors.append("the run did not start: a load process failed")
        return total


def run_load(targets: list[Target], requests: list[bytes], *, connections: int, processes: int = 1) -> LoadResult:
    """``LoadGen.closed`` on ``processes`` processes started for this one run."""
    with LoadGen(max(1, min(processes, connections))) as gen:
        return gen.closed(targets, requests, connections=connections)
