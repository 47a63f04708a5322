"""Demo chapter: the whole stack, recorded and replayed into a fresh one (SPEC §9, docs/replay.md).

Every service journaled its inputs while the chapters above ran. This chapter records every topic of
the demo's stack, replays the recording into a fresh namespace (new topics, new schemas), starts the
four services there in replay mode, and compares every service's state digest with the original's.
It needs the stack's namespace and infrastructure (``Demo.namespace`` / ``Demo.env``), which the demo
sets; a Demo without them (a test driving the chapters) skips it.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from liveshop.cli import stack
from liveshop.cli.demo import Demo
from liveshop.cli.procs import SERVICES
from liveshop.shared.devstack.paths import state_dir
from liveshop.shared.kafka_auth import KafkaAuth


def chapter_replay(d: Demo) -> None:
    if not d.namespace or not d.env:
        return
    d.chapter(
        "Replay: the whole stack, recorded and replayed into a fresh one",
        """Each service journaled every input it committed (HTTP writes, consumed batches, timer runs) together
        with the clock readings and ids it made up, in the same transaction as the effects. Record every
        topic, replay the recording into a fresh namespace, start the four services in replay mode: they
        re-run their journals and must end with exactly the same state (every table, row by row, and
        every event they emitted).""",
    )
    env, ns = d.env, d.namespace
    auth = KafkaAuth.from_env(env)  # the admin user: recording and replaying read and write every topic
    copy = ns + "copy"
    with tempfile.TemporaryDirectory(prefix="liveshop-recording-") as tmp:
        rec = Path(tmp)
        for _ in range(3):  # a timer may still commit while we look: take a stable snapshot
            asyncio.run(stack.wait_settled(env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"], ns, auth=auth))
            before = asyncio.run(stack.hashes(env["DATABASE_URL"], ns))
            counts = asyncio.run(stack.record_all(env["KAFKA_BOOTSTRAP_SERVERS"], ns, rec, auth=auth))
            after = asyncio.run(stack.hashes(env["DATABASE_URL"], ns))
            if all(before[s].digest == after[s].digest for s in SERVICES):
                break
        d.step("operator", f"liveshop stack record → {sum(counts.values())} records from {len(counts)} topics")
        d.result(f"of which {counts.get('liveshop.journal', 0)} journal entries")
        t0 = time.monotonic()
        asyncio.run(stack.replay_all(env["KAFKA_BOOTSTRAP_SERVERS"], rec, copy, auth=auth))
        status = stack.run_replay_mode(env, copy, state_dir() / "logs" / copy, infra=d.infra)
        d.step("operator", f"liveshop stack replay --namespace {copy} --run ({time.monotonic() - t0:.1f}s)")
        replayed = asyncio.run(stack.hashes(env["DATABASE_URL"], copy))
    for s in SERVICES:
        st = status.get(s, {})
        same = after[s].digest == replayed[s].digest and not st.get("error")
        d.result(
            f"{s:<12} {st.get('applied', 0):>3} inputs re-run · {sum(after[s].rows.values()):>4} rows · "
            f"digest {replayed[s].digest[:16]}"
        )
        d.check(
            same, f"{s}: replayed state identical to the original" + (f" ({st['error']})" if st.get("error") else "")
        )
