"""``liveshop.cli.procs``: the service processes of the demo and the benchmarks, one or more instances
of each service (no process is started: ``Popen`` records what it would run)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import httpx
import pytest

from liveshop.cli import procs
from liveshop.cli.procs import SERVICES, ServiceProcess, instances_of, start_services, stop_services, wait_ready


class _Popen:
    """Records the command and environment; a made-up pid."""

    started: list[_Popen] = []
    pids = itertools.count(40_000)

    def __init__(self, cmd: list[str], *, env: dict[str, str], **_: Any) -> None:
        self.cmd, self.env, self.pid = cmd, env, next(self.pids)
        _Popen.started.append(self)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[_Popen]:
    _Popen.started = []
    ports = itertools.count(20_000)
    monkeypatch.setattr("liveshop.cli.procs.subprocess.Popen", _Popen)
    monkeypatch.setattr(procs, "free_port", lambda: next(ports))
    return _Popen.started


def test_one_instance_keeps_the_four_service_keys(started: list[_Popen], tmp_path: Path) -> None:
    out = start_services({"X": "1"}, "ns1", tmp_path)
    assert list(out) == list(SERVICES)
    for name, p in out.items():
        assert (p.name, p.service, p.log) == (name, name, tmp_path / f"{name}.log")
    assert [s.cmd[-1] for s in started] == [f"liveshop.{s}" for s in SERVICES]


def test_two_instances_share_namespace_and_settings_on_own_ports(started: list[_Popen], tmp_path: Path) -> None:
    out = start_services({"X": "1"}, "ns2", tmp_path, instances=2)
    assert list(out) == [k for s in SERVICES for k in (s, f"{s}#2")]
    assert len({p.port for p in out.values()}) == 8
    assert len({p.log for p in out.values()}) == 8
    assert out["order#2"].log == tmp_path / "order-2.log"
    for s in started:
        assert (s.env["LIVESHOP_NAMESPACE"], s.env["X"]) == ("ns2", "1")
    by_pid = {s.pid: s for s in started}
    for service in SERVICES:
        pair = instances_of(out, service)
        assert [p.name for p in pair] == [service, f"{service}#2"]
        envs = [by_pid[p.pid].env for p in pair]
        assert [e["SERVICE_NAME"] for e in envs] == [service, service]
        assert [by_pid[p.pid].cmd[-1] for p in pair] == [f"liveshop.{service}"] * 2
        assert [e["HTTP_PORT"] for e in envs] == [str(p.port) for p in pair]
        assert {k: v for k, v in envs[0].items() if k != "HTTP_PORT"} == {
            k: v for k, v in envs[1].items() if k != "HTTP_PORT"
        }


def test_instances_must_be_positive(started: list[_Popen], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        start_services({}, "ns", tmp_path, instances=0)
    assert started == []


def test_service_defaults_to_the_name_without_its_instance_number() -> None:
    assert ServiceProcess(name="order#2", port=1, pid=2, log=Path("x")).service == "order"
    assert ServiceProcess(name="wallet", port=1, pid=2, log=Path("x")).service == "wallet"


def test_wait_ready_and_stop_cover_every_instance(
    started: list[_Popen], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = start_services({}, "ns3", tmp_path, instances=2)
    late = out["wallet#2"].port
    asked: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        port = request.url.port
        assert port is not None
        asked.append(port)
        return httpx.Response(503 if port == late and asked.count(late) < 3 else 200)

    real_client = httpx.Client
    monkeypatch.setattr(
        "liveshop.cli.procs.httpx.Client", lambda **kw: real_client(transport=httpx.MockTransport(answer), **kw)
    )
    monkeypatch.setattr("liveshop.cli.procs.time.sleep", lambda _s: None)
    took = wait_ready(out)
    assert set(took) == set(out)
    assert asked.count(late) == 3
    assert {p: asked.count(p) for p in set(asked) - {late}} == dict.fromkeys(
        (p.port for p in out.values() if p.port != late), 1
    )

    stopped: list[int | None] = []
    monkeypatch.setattr(procs, "stop_tree", lambda pid, timeout: stopped.append(pid))
    stop_services(out)
    assert stopped == [p.pid for p in out.values()]
