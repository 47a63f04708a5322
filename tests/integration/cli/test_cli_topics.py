"""``liveshop topics record|replay`` with ``-`` (stdout/stdin) against the real (SASL) broker, the
``--json`` summaries, and the progress hooks' totals (from the end offsets)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from liveshop.cli.main import main
from liveshop.contracts.events.order import ORDER
from liveshop.shared import replay
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.runtime import ensure_topics

from ..replay.test_record_replay import _produce


@pytest.fixture
def cli_env(infra: Infra, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI finds the broker and its admin credentials in the environment, as an operator's shell would."""
    for k, v in infra.env().items():
        monkeypatch.setenv(k, v)


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI (it calls asyncio.run: in a thread); its exit code, stdout and stderr."""
    capsys.readouterr()
    rc = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _view(recs: list[Any]) -> list[tuple[int, bytes, bytes, tuple[Any, ...], int]]:
    return sorted((r.partition, r.key, r.value, tuple(r.headers), r.timestamp) for r in recs)


async def test_record_to_stdout_then_replay_from_stdin_copies_the_topic(
    infra: Infra,
    namespace: str,
    cli_env: None,
    kafka_reader: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = ORDER.qualified(namespace)
    await ensure_topics(infra.kafka_bootstrap_servers, {topic: 6}, auth=infra.kafka_auth())
    await _produce(infra, namespace, 40)

    rc, out, err = await cli(capsys, "topics", "record", topic, "-", "--quiet")
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 40 and all(json.loads(line)["topic"] == topic for line in lines), "stdout is the data"
    assert err.startswith("recorded 40 records (") and f"from {topic} to stdout" in err, "the report: on stderr"

    fresh = namespace + "c"
    await ensure_topics(infra.kafka_bootstrap_servers, {ORDER.qualified(fresh): 6}, auth=infra.kafka_auth())
    monkeypatch.setattr("sys.stdin", io.StringIO(out))
    rc, out2, err2 = await cli(capsys, "topics", "replay", "-", "--namespace", fresh, "--json")
    assert rc == 0, err2
    assert json.loads(out2)["records"] == 40 and json.loads(out2)["file"] == "stdin"

    original = await kafka_reader(topic, min_count=40)
    copied = await kafka_reader(ORDER.qualified(fresh), min_count=40)
    assert _view(original) == _view(copied), "same keys (so partitions), headers, values and timestamps"


async def test_record_to_a_file_with_a_json_summary_and_lag_as_json(
    infra: Infra, namespace: str, cli_env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    topic = ORDER.qualified(namespace)
    await ensure_topics(infra.kafka_bootstrap_servers, {topic: 3}, auth=infra.kafka_auth())
    await _produce(infra, namespace, 12)
    path = tmp_path / "order.jsonl"
    rc, out, err = await cli(capsys, "topics", "record", topic, str(path), "--json")
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["records"] == 12 and summary["file"] == str(path)
    assert sum(p["last"] - p["first"] + 1 for p in summary["partitions"].values()) == 12
    assert len(path.read_text(encoding="utf-8").splitlines()) == 12

    group = f"{namespace}.reader"
    await replay.reset_group_to_earliest(infra.kafka_bootstrap_servers, group, [topic], auth=infra.kafka_auth())
    rc, out, err = await cli(capsys, "topics", "lag", "--group", group, "--json")
    assert rc == 0, err
    lags = json.loads(out)
    assert {(x["group"], x["topic"]) for x in lags} == {(group, topic)} and sum(x["lag"] for x in lags) == 12


async def test_a_missing_topic_is_one_line(
    namespace: str, cli_env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rc, out, err = await cli(capsys, "topics", "record", f"{namespace}.nope", str(tmp_path / "x.jsonl"))
    assert rc == 1 and out == ""
    assert err.startswith("liveshop: ") and "does not exist" in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


async def test_record_and_replay_report_their_totals_up_front(infra: Infra, namespace: str, tmp_path: Path) -> None:
    topic = ORDER.qualified(namespace)
    await ensure_topics(infra.kafka_bootstrap_servers, {topic: 4}, auth=infra.kafka_auth())
    await _produce(infra, namespace, 25)
    totals: list[int] = []
    steps: list[int] = []
    path = tmp_path / "order.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        s = await replay.record(
            infra.kafka_bootstrap_servers,
            topic,
            fh,
            auth=infra.kafka_auth(),
            total=totals.append,
            progress=steps.append,
        )
    assert s.records == 25 and totals == [25] and sum(steps) == 25, "the total comes from the end offsets"

    fresh = namespace + "t"
    await ensure_topics(infra.kafka_bootstrap_servers, {ORDER.qualified(fresh): 4}, auth=infra.kafka_auth())
    totals.clear()
    steps.clear()
    n = await replay.replay(
        infra.kafka_bootstrap_servers, path, namespace=fresh, auth=infra.kafka_auth(), total=totals.append,
        progress=steps.append,
    )  # fmt: skip
    assert n == 25 and totals == [25] and sum(steps) == 25


async def test_stack_record_and_replay_with_json_summaries(
    infra: Infra, namespace: str, cli_env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    await ensure_topics(infra.kafka_bootstrap_servers, {ORDER.qualified(namespace): 3}, auth=infra.kafka_auth())
    await _produce(infra, namespace, 9)
    rec = tmp_path / "rec"
    rc, out, err = await cli(capsys, "stack", "record", str(rec), "--namespace", namespace, "--json")
    assert rc == 0, err
    assert json.loads(out)["topics"] == {"liveshop.order": 9} and (rec / "liveshop.order.jsonl").exists()
    rc, out, err = await cli(capsys, "stack", "replay", str(rec), "--namespace", namespace + "s", "--json")
    assert rc == 0, err
    assert json.loads(out) == {"namespace": namespace + "s", "records": 9, "files": {"liveshop.order": 9}}
