"""The input journal's record/replay tape and its journal entries (no I/O)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from liveshop.contracts.events.journal import InputJournaled, InputKind
from liveshop.contracts.events.order import ORDER
from liveshop.shared import entropy, journal, journal_replay, statehash


class ReversingSealer:
    """Stands in for a real sealer: reversible, and the clear text is not a substring."""

    def seal(self, secret: str) -> str:
        return base64.b64encode(secret[::-1].encode()).decode()

    def open(self, sealed: str) -> str:
        return base64.b64decode(sealed).decode()[::-1]


class FakeTx:
    """What ``before_commit`` uses of a Transaction."""

    def __init__(self) -> None:
        self.source = "fulfillment"
        self.published: list[Any] = [object()]  # it already published: no database round trip
        self.raw: list[Any] = []
        self.conn: Any = None

    def has_pending(self) -> bool:
        return True

    def publish_raw(self, env: Any) -> None:
        self.raw.append(env)


def test_a_recorded_tape_hands_back_the_same_values_on_replay() -> None:
    with entropy.recording({"kind": "JOB", "job": "x"}, journal=False) as tape:
        made = (entropy.now(), entropy.uuid4(), entropy.token_hex(8), entropy.token_bytes(4))
    replay = entropy.Tape(recording=False, values=[list(v) for v in tape.values])
    with entropy.use(replay):
        again = (entropy.now(), entropy.uuid4(), entropy.token_hex(8), entropy.token_bytes(4))
    assert again == made and replay.exhausted and replay.extra == 0


def test_replay_refuses_a_different_code_path() -> None:
    tape = entropy.Tape(recording=False, values=[["uuid", "3c3b1c1e-0000-4000-8000-000000000000"]])
    with (
        entropy.use(tape),
        pytest.raises(entropy.ReplayDivergence, match="asked for a now value #1; the recording has a uuid"),
    ):
        entropy.now()


def test_values_past_the_last_commit_are_made_up_fresh_on_replay() -> None:
    tape = entropy.Tape(recording=False, values=[])
    with entropy.use(tape):
        entropy.now()
    assert tape.extra == 1


def test_outside_an_input_nothing_is_recorded() -> None:
    assert entropy.current() is None
    assert entropy.now().tzinfo is not None
    assert entropy.uuid4() != entropy.uuid4()


def test_an_outer_input_keeps_its_tape() -> None:
    with (
        entropy.recording({"kind": "HTTP"}, journal=False) as outer,
        entropy.recording({"kind": "EVENTS"}, journal=True) as inner,
    ):
        entropy.now()
    assert inner is outer and len(outer.values) == 1


async def test_each_committed_part_is_journaled_with_the_values_made_up_since_the_last() -> None:
    tx = FakeTx()
    with entropy.recording(lambda: {"kind": "JOB", "job": "timers"}, journal=True) as tape:
        entropy.now()
        entropy.uuid4()
        await journal.before_commit(tx)
        entropy.now()
        await journal.before_commit(tx)
    first, second = (env.data for env in tx.raw)
    assert isinstance(first, InputJournaled) and isinstance(second, InputJournaled)
    assert (first.part, second.part) == (0, 1) and first.input_id == second.input_id == tape.input_id
    assert first.kind == InputKind.JOB and first.job == "timers" and second.job is None
    assert [v.kind for v in first.values] == ["now", "uuid"] and [v.kind for v in second.values] == ["now"]
    assert all(env.attributes.subject == "fulfillment" for env in tx.raw)


async def test_a_made_up_secret_is_sealed_in_the_journal_and_opened_on_replay() -> None:
    tx = FakeTx()
    sealer = ReversingSealer()
    with entropy.recording({"kind": "HTTP"}, journal=True, sealer=sealer):
        secret = entropy.secret_urlsafe(32)
        await journal.before_commit(tx)
    (env,) = tx.raw
    entry = env.data
    assert isinstance(entry, InputJournaled)
    assert secret not in entry.model_dump_json()
    assert sealer.open(entry.values[0].value) == secret


async def test_a_secret_without_a_sealer_is_never_journaled() -> None:
    with entropy.recording({"kind": "HTTP"}, journal=True):
        entropy.secret_urlsafe(32)
        with pytest.raises(RuntimeError, match="no sealer"):
            await journal.before_commit(FakeTx())


def test_topics_are_journaled_without_the_namespace() -> None:
    assert journal.unqualified("ns1.liveshop.order", "ns1") == ORDER.name
    assert journal.qualified(ORDER.name, "ns2") == "ns2.liveshop.order"
    assert journal.unqualified("liveshop.order", "") == ORDER.name


@pytest.mark.parametrize(
    ("default", "identity", "volatile"),
    [
        ("now()", "NO", True),
        ("nextval('outbox_seq_seq'::regclass)", "NO", True),
        (None, "YES", True),
        ("0", "NO", False),
        (None, "NO", False),
    ],
)
def test_the_state_hash_leaves_out_database_clocks_and_sequences(
    default: str | None, identity: str, volatile: bool
) -> None:
    assert statehash._volatile(default, identity) is volatile


def _entry(input_id: str, part: int) -> InputJournaled:
    return InputJournaled(
        service="order", input_id=input_id, part=part, kind=InputKind.JOB, job="t", recorded_at=entropy.now()
    )


async def _stream(*entries: InputJournaled) -> AsyncIterator[InputJournaled]:
    for e in entries:
        yield e


async def test_inputs_are_grouped_with_their_later_parts_in_the_order_of_their_first() -> None:
    got = [
        [(e.input_id, e.part) for e in parts]
        async for parts in journal.group_inputs(
            _stream(_entry("a", 0), _entry("b", 0), _entry("a", 1), _entry("c", 0), _entry("b", 1), _entry("a", 2))
        )
    ]
    assert got == [[("a", 0), ("a", 1), ("a", 2)], [("b", 0), ("b", 1)], [("c", 0)]]


async def test_a_part_beyond_the_look_ahead_window_is_a_divergence() -> None:
    with pytest.raises(entropy.ReplayDivergence, match="more than 1 journal entries after its part 0"):
        async for _ in journal.group_inputs(_stream(_entry("a", 0), _entry("b", 0), _entry("a", 1)), window=1):
            pass


async def test_a_part_without_its_first_part_is_a_divergence() -> None:
    with pytest.raises(entropy.ReplayDivergence, match="part 0 missing"):
        async for _ in journal.group_inputs(_stream(_entry("a", 0), _entry("z", 1))):
            pass


async def test_a_republished_journal_entry_is_grouped_once() -> None:
    dups: list[tuple[str, int]] = []
    # a republished later part, a republished part 0 after its input was yielded, a whole input
    # republished at once: each part counts once
    order = [("a", 0), ("a", 1), ("a", 1), ("b", 0), ("a", 0), ("b", 0), ("c", 0), ("a", 0), ("a", 1)]
    got = [
        [(e.input_id, e.part) for e in parts]
        async for parts in journal.group_inputs(
            _stream(*(_entry(i, p) for i, p in order)),
            window=2,
            on_duplicate=lambda e: dups.append((e.input_id, e.part)),
        )
    ]
    assert got == [[("a", 0), ("a", 1)], [("b", 0)], [("c", 0)]]
    assert dups == [("a", 1), ("a", 0), ("b", 0), ("a", 0), ("a", 1)]


async def test_the_replayer_applies_a_republished_input_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from liveshop.shared.runtime import PeriodicJob

    runs: list[str] = []

    async def job(_: Any) -> None:
        runs.append("t")

    class Pool:
        async def execute(self, *_: Any) -> str:
            return "UPDATE 0"

    runtime = SimpleNamespace(
        service="order", namespace="", pool=Pool(), jobs=[PeriodicJob("t", 1.0, job)], journal_sealer=None,
        kafka_auth=None, settings=SimpleNamespace(kafka_bootstrap_servers="unused:9092"),
    )  # fmt: skip
    entries = [_entry("a", 0), _entry("a", 0), _entry("b", 0), _entry("a", 0)]

    def fake_stream(*_: Any, **__: Any) -> AsyncIterator[InputJournaled]:
        return _stream(*entries)

    monkeypatch.setattr(journal, "stream_journal", fake_stream)
    replayer = journal_replay.JournalReplayer(runtime)
    await replayer.run()
    assert replayer.status.error is None and replayer.status.done
    assert runs == ["t", "t"], "inputs a and b, each once"
    assert (replayer.status.applied, replayer.status.duplicates) == (2, 2)
