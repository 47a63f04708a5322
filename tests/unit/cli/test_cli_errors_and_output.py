"""The CLI's contract with scripts and people: one-line errors with exit codes (no traceback unless
``LIVESHOP_DEBUG=1``), ``-`` for stdin/stdout, ``--version``, ``--json`` that parses, quiet progress."""

from __future__ import annotations

import asyncio
import io
import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from liveshop.cli import console, stack
from liveshop.cli import main as cli_main
from liveshop.cli.main import main
from liveshop.shared import replay, statehash

DOWN = "127.0.0.1:1"  # nothing listens there: refused at once


@pytest.fixture(autouse=True)
def unreachable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A broker and a database that refuse connections; plain credentials; no traceback switch."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", DOWN)
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone:s3cret@127.0.0.1:1/liveshop")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    for name in ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE", console.DEBUG_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LIVESHOP_AUTH_DIR", str(tmp_path / "auth"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line(err: str, starts: str = "liveshop: ") -> None:
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(starts), err


def test_version_is_the_installed_packages(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "--version")
    assert rc == 0 and out.strip() == f"liveshop {version('liveshop-cli')}" and err == ""


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "argv",
    [
        ["topics", "lag"],
        ["topics", "lag", "--json"],
        ["topics", "lag", "--bootstrap", DOWN],
        ["topics", "record", "liveshop.order", "-"],
        ["dlt", "list"],
    ],
)
def test_a_broker_that_is_down_is_one_line_and_exit_1(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, *argv)
    assert rc == 1 and out == ""
    assert_one_line(err, f"liveshop: cannot reach Kafka at {DOWN} (")
    assert "refused" in err.lower() or "failed" in err.lower(), err


@pytest.mark.timeout(60)
def test_liveshop_debug_adds_the_traceback(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(console.DEBUG_ENV, "1")
    rc, _, err = run(capsys, "topics", "lag")
    assert rc == 1 and "Traceback" in err and "KafkaConnectionError" in err
    assert err.strip().splitlines()[-1].startswith(f"liveshop: cannot reach Kafka at {DOWN}")


@pytest.mark.timeout(60)
def test_a_database_that_is_down_is_named_without_its_password(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "stack", "hash", "--namespace", "x1")
    assert rc == 1 and out == ""
    assert_one_line(err, "liveshop: cannot reach PostgreSQL at 127.0.0.1:1/liveshop (")
    assert "s3cret" not in err


@pytest.mark.timeout(60)
def test_a_service_that_is_down_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "rebuild", "http://127.0.0.1:1", "--no-wait")
    assert rc == 1 and out == ""
    assert_one_line(err, "liveshop: cannot reach http://127.0.0.1:1 (")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "required"),
        (["nope"], "invalid choice"),
        (["topics", "bogus"], "liveshop: topics: argument action: invalid choice"),
        (["topics", "lag", "--from-offset", "x"], "invalid int value"),
        (["topics", "record"], "usage: liveshop topics record TOPIC FILE|-"),
        (["topics", "record", "liveshop.order"], "usage: liveshop topics record"),
        (["topics", "replay"], "usage: liveshop topics replay FILE|-"),
        (["topics", "replay", "a.jsonl", "b.jsonl"], "takes one file"),
        (["topics", "record", "t", "f", "--from-time", "2026-01-01T00:00:00"], "needs a timezone"),
        (["topics", "record", "t", "f", "--to-time", "yesterday"], "not an ISO time"),
        (["stack", "record"], "usage: liveshop stack record DIR"),
        (["stack", "record", "-", "--namespace", "x"], "cannot stand for a directory"),
        (["stack", "replay", "-", "--namespace", "x"], "cannot stand for a directory"),
        (["stack", "replay", "rec"], "--namespace NEW"),
        (["dlt", "show", "--group", "g", "--offset", "x:y"], "--offset 'x:y'"),
        (["auth", "token", "--actor", "buyr", "--sub", "b1"], "unknown actor"),
        (["rebuild"], "required: service_url"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == "", (rc, out, err)
    assert_one_line(err)
    assert says in err, err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "topics", "--help")
    assert rc == 0 and "- for stdin" in out and "--quiet" in out and "--json" in out


def test_a_bad_recording_on_stdin_is_refused_before_any_connection(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = '{"topic": "liveshop.order", "headers": [], "value": null}\n'
    monkeypatch.setattr("sys.stdin", io.StringIO(good + "{not json\n"))
    rc, out, err = run(capsys, "topics", "replay", "-", "--allow-unknown")
    assert rc == 2 and out == ""
    assert_one_line(err, "liveshop: stdin: line 2: not JSON")
    assert "nothing was written" in err


def test_a_missing_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, out, err = run(capsys, "topics", "replay", str(tmp_path / "absent.jsonl"))
    assert rc == 1 and out == ""
    assert_one_line(err, f"liveshop: {tmp_path / 'absent.jsonl'}: No such file")


def test_an_unexpected_error_is_one_line_naming_the_debug_switch(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(args: Any) -> int:
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(cli_main, "_contracts", boom)
    rc, _, err = run(capsys, "contracts", "check")
    assert rc == 1
    assert_one_line(err, "liveshop: unexpected RuntimeError: something broke")
    assert console.DEBUG_ENV in err


def test_a_command_exiting_with_a_message_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def leaves(args: Any) -> int:
        raise SystemExit("error: cannot go on")

    monkeypatch.setattr(cli_main, "_contracts", leaves)
    rc, _, err = run(capsys, "contracts", "check")
    assert rc == 1 and err == "liveshop: cannot go on\n"


def test_interrupted_exits_130(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_main, "_contracts", interrupted)
    rc, _, err = run(capsys, "contracts", "check")
    assert rc == 130 and err == "liveshop: interrupted\n"


# ---- --json -------------------------------------------------------------------------------------


def test_topics_lag_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    async def lags(bootstrap: str, groups: list[str] | None = None, **_: Any) -> list[replay.PartitionLag]:
        assert bootstrap == DOWN and groups == ["g1"]
        return [
            replay.PartitionLag("g1", "liveshop.order", 0, 5, 9),
            replay.PartitionLag("g1", "liveshop.order", 1, None, 2),
        ]

    monkeypatch.setattr(replay, "consumer_lag", lags)
    rc, out, _ = run(capsys, "topics", "lag", "--group", "g1", "--json")
    assert rc == 0
    assert json.loads(out) == [
        {"group": "g1", "topic": "liveshop.order", "partition": 0, "committed": 5, "end": 9, "lag": 4},
        {"group": "g1", "topic": "liveshop.order", "partition": 1, "committed": None, "end": 2, "lag": 2},
    ]


def test_dev_status_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from liveshop.shared.devstack import resolver

    monkeypatch.setattr(resolver, "read_dev_stack", lambda: None)
    rc, out, _ = run(capsys, "dev", "status", "--json")
    assert rc == 1 and json.loads(out) == {"status": "down"}


def test_contracts_check_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "contracts", "check", "--json")
    shown = json.loads(out)
    assert set(shown) == {"breaking", "stale"} and rc == (1 if shown["breaking"] or shown["stale"] else 0)


def test_stack_hash_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    async def hashes(database_url: str, namespace: str) -> dict[str, statehash.ServiceState]:
        return {"order": statehash.ServiceState("x1_order", tables={"orders": "ab" * 32}, rows={"orders": 3})}

    monkeypatch.setattr(stack, "hashes", hashes)
    rc, out, _ = run(capsys, "stack", "hash", "--namespace", "x1", "--json")
    shown = json.loads(out)
    assert rc == 0 and shown["namespace"] == "x1"
    assert shown["state"]["order"]["tables"] == {"orders": {"rows": 3, "hash": "ab" * 32}}
    assert shown["state"]["order"]["digest"] == statehash.ServiceState("s", tables={"orders": "ab" * 32}).digest


# ---- progress bars ------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bars_only_on_a_terminal_and_not_when_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with console.progress_bar(total=3) as bar:
        assert bar.disable, "stderr is not a terminal"
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with console.progress_bar(total=3, quiet=True) as bar:
        assert bar.disable
    with console.progress_bar(desc="liveshop.order") as bar:
        bar.reset(total=10)  # the total arrives once the end offsets are known
        bar.update(10)
    assert "liveshop.order" in terminal.getvalue() and "10/10" in terminal.getvalue()


def test_dash_is_stdout_and_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with console.output("-") as out:
        out.write("line\n")
    assert capsys.readouterr().out == "line\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("a\nb\n"))
    with console.input_path("-") as path:
        assert path.read_text(encoding="utf-8") == "a\nb\n"
        assert path.read_text(encoding="utf-8") == "a\nb\n", "read twice: validated, then replayed"
    assert not path.exists()


# ---- rebuild: following the catch-up ------------------------------------------------------------


class _Bar:
    def __init__(self) -> None:
        self.n = 0
        self.total: int | None = None
        self.seen: list[int] = []

    def reset(self, total: int | None = None) -> None:
        self.n, self.total = 0, total

    def update(self, n: int = 1) -> None:
        self.n += n
        self.seen.append(self.n)


class _Consumer:
    def __init__(self, **_: Any) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def beginning_offsets(self, tps: list[Any]) -> dict[Any, int]:
        return {tp: 1 if tp.partition == 1 else 0 for tp in tps}  # partition 1 lost offset 0 to retention


def _lags(*committed: tuple[int | None, int | None]) -> list[replay.PartitionLag]:
    return [
        replay.PartitionLag("ns.sink", "ns.liveshop.order", 0, committed[0][0], 10),
        replay.PartitionLag("ns.sink", "ns.liveshop.order", 1, committed[0][1], 5),
    ]


def test_rebuild_follows_the_groups_to_the_end_offsets_seen_at_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    import aiokafka

    polls = iter([_lags((0, 1)), _lags((4, 3)), _lags((10, 5))])

    async def consumer_lag(bootstrap: str, groups: list[str], **_: Any) -> list[replay.PartitionLag]:
        assert groups == ["ns.sink"]
        return next(polls)

    monkeypatch.setattr(replay, "consumer_lag", consumer_lag)
    monkeypatch.setattr(aiokafka, "AIOKafkaConsumer", _Consumer)
    bar = _Bar()
    asyncio.run(cli_main._catch_up(DOWN, None, ["ns.sink"], bar, timeout=30))  # type: ignore[arg-type]
    assert bar.total == 14, "10 + (5 - 1): from the beginning offsets to the end offsets"
    assert bar.seen == [0, 6, 14]


def test_rebuild_that_does_not_catch_up_in_time_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import aiokafka

    async def consumer_lag(bootstrap: str, groups: list[str], **_: Any) -> list[replay.PartitionLag]:
        return _lags((3, None))

    monkeypatch.setattr(replay, "consumer_lag", consumer_lag)
    monkeypatch.setattr(aiokafka, "AIOKafkaConsumer", _Consumer)
    with pytest.raises(console.CliError, match=r"not caught up after 0s \(11 records to go"):
        asyncio.run(cli_main._catch_up(DOWN, None, ["ns.sink"], _Bar(), timeout=0))  # type: ignore[arg-type]
