"""``liveshop dlt list | show | redrive`` against a real broker: an operator sees why a record was
dead-lettered, fixes the cause, sends it back; a second redrive is skipped, a forced one has no
second effect (the inbox dedupes by event id)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from liveshop.cli.main import main
from liveshop.contracts import codec
from liveshop.contracts.events.order import ORDER
from liveshop.contracts.topics import dead_letter_topic
from liveshop.shared import dlt
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually
from tests.integration.shared.test_runtime import completed, effects, make_sink


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    """Run the CLI (it calls asyncio.run: in a thread) and parse its --json output."""
    capsys.readouterr()
    rc = await asyncio.to_thread(main, list(argv))
    out = capsys.readouterr().out
    return rc, json.loads(out) if "--json" in argv else out


async def test_an_operator_lists_shows_and_redrives_a_dead_letter_once(
    infra: Infra,
    settings_for: Callable[..., ServiceSettings],
    namespace: str,
    kafka_reader: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for k, v in infra.env().items():  # the CLI finds the broker and its credentials as an operator's would
        monkeypatch.setenv(k, v)
    broken = {"poison"}
    sink = await make_sink(infra, settings_for("sink", consumer_max_attempts=2), fail_on=broken)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, **infra.kafka_client_kwargs())
    await producer.start()
    try:
        poison = codec.envelope(completed("poison"), source="test")
        for env in (poison, codec.envelope(completed("fine"), source="test")):
            rec = codec.to_record(env, namespace)
            await producer.send_and_wait(rec.topic, rec.value, key=rec.key, headers=rec.headers)
        await kafka_reader(dead_letter_topic("sink", namespace), min_count=1)
        await eventually(lambda: _orders(sink, {"fine"}), what="the good event behind the poison one")

        rc, topics = await cli(capsys, "dlt", "list", "--namespace", namespace, "--json")
        assert rc == 0
        assert topics == {"sink": {"topic": dead_letter_topic("sink", namespace), "records": 1, "redriven": 0}}
        rc, listed = await cli(capsys, "dlt", "list", "--namespace", namespace, "--group", "sink", "--json")
        assert rc == 0 and len(listed) == 1
        (entry,) = listed
        assert entry["offset"] == 0 and entry["redriven"] is None
        assert (entry["reason"], entry["category"], entry["attempts"]) == (
            "RETRIES_EXHAUSTED",
            "RETRIES_EXHAUSTED",
            "2",
        )
        assert "handler cannot process poison" in entry["error"]
        assert entry["original_topic"] == ORDER.qualified(namespace) and entry["event_id"] == poison.id
        # the consumer group's name works as well as the router's
        rc, shown = await cli(
            capsys, "dlt", "show", "--namespace", namespace, "--group", f"{namespace}.sink", "--offset", "0", "--json"
        )
        assert rc == 0 and shown[0]["value"]["order_id"] == "poison"
        rc, text = await cli(capsys, "dlt", "list", "--namespace", namespace, "--group", "sink")
        assert "RETRIES_EXHAUSTED" in text and "handler cannot process poison" in text

        broken.clear()  # the fix is deployed
        rc, dry = await cli(
            capsys, "dlt", "redrive", "--namespace", namespace, "--group", "sink", "--all", "--dry-run", "--json"
        )
        assert rc == 0 and [r["outcome"] for r in dry] == ["would redrive"]
        assert await _orders(sink, {"fine"}), "a dry run sends nothing"
        redrive = ("dlt", "redrive", "--namespace", namespace, "--group", "sink", "--offset", "0", "--json")
        rc, first = await cli(capsys, *redrive)
        assert rc == 0 and [r["outcome"] for r in first] == ["redriven"]
        assert first[0]["sent_to"]["topic"] == ORDER.qualified(namespace)
        await eventually(lambda: _orders(sink, {"fine", "poison"}), what="the redriven event to be handled")

        # the redriven record keeps the event id and says where it came from
        back = [
            r
            for r in await kafka_reader(ORDER.qualified(namespace), min_count=3)
            if dict(r.headers).get(dlt.REDRIVEN_FROM)
        ]
        assert len(back) == 1
        assert dict(back[0].headers)["ce_id"].decode() == poison.id
        assert dict(back[0].headers)[dlt.REDRIVEN_FROM].decode() == f"{dead_letter_topic('sink', namespace)}:0:0"

        rc, second = await cli(capsys, *redrive)
        assert rc == 0 and [r["outcome"] for r in second] == ["skipped"], "redriven before: not sent again"
        rc, forced = await cli(capsys, *redrive, "--force")
        assert [r["outcome"] for r in forced] == ["redriven"]
        runner = sink.runners["sink"]
        await eventually(lambda: _true(runner.stats.duplicates >= 1), what="the forced copy to be consumed")
        assert sorted(r["order_id"] for r in await effects(sink)) == ["fine", "poison"], "one effect"

        rc, topics = await cli(capsys, "dlt", "list", "--namespace", namespace, "--json")
        assert topics["sink"]["redriven"] == 1
        rc, listed = await cli(capsys, "dlt", "list", "--namespace", namespace, "--group", "sink", "--json")
        assert listed[0]["redriven"]["count"] == 2 and listed[0]["redriven"]["forced"] is True
    finally:
        await producer.stop()
        await sink.stop()


async def test_redrive_refuses_without_a_choice_and_names_a_missing_topic(
    infra: Infra, namespace: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in infra.env().items():
        monkeypatch.setenv(k, v)
    rc, _ = await cli(capsys, "dlt", "redrive", "--namespace", namespace, "--group", "sink")
    assert rc == 2, "redrive needs --offset or --all"
    capsys.readouterr()
    rc = await asyncio.to_thread(main, ["dlt", "list", "--namespace", namespace, "--group", "nope"])
    assert rc == 1 and "no dead-letter topic" in capsys.readouterr().err


async def _orders(sink: Any, expected: set[str]) -> bool:
    return {r["order_id"] for r in await effects(sink)} == expected


async def _true(value: bool) -> bool:
    return value
