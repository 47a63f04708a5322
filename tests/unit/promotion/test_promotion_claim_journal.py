"""What a group-committed claim batch journals: the same document as before the fast path (asdict)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict

from liveshop.promotion.service_layer import commands as cmds
from liveshop.promotion.service_layer.claims import _Pending


async def test_a_claim_is_journaled_as_asdict_of_its_command_and_replays_to_it() -> None:
    cmd = cmds.ClaimEnvelope("re1", "v1", "POPUP", "env_1")
    future: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
    for key, digest in ((None, None), ("k1", "abc")):
        entry = _Pending(cmd, key, digest, future).journaled()
        before = {"cmd": asdict(cmd), "key": key, "request_hash": digest}
        assert json.dumps(entry, sort_keys=True) == json.dumps(before, sort_keys=True)
        assert list(entry["cmd"]) == list(asdict(cmd))  # same fields, same order
        assert cmds.ClaimEnvelope(**entry["cmd"]) == cmd
        entry["cmd"]["viewer_id"] = "changed"  # a copy: the command is untouched
        assert cmd.viewer_id == "v1"
