"""The 芝麻先用后付立减 draw seed stays secret until the campaign has ended: the input journal (a Kafka topic)
holds it only sealed with the promotion service's key, a seed in a request body is refused (it would be
journaled in the clear), and after the end ``GET /bnpl/admin/campaigns/{id}/seed`` reveals it."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from liveshop.contracts.events.journal import InputJournaled
from liveshop.promotion.adapters.secrets import JournalSealer, SecretBox
from liveshop.promotion.bootstrap import DEV_SECRETS_KEY
from liveshop.promotion.domain.bnpl.draw import seed_commitment
from liveshop.shared.journal import read_journal
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually

from .support import running


def _blob(entries: list[InputJournaled]) -> bytes:
    """Everything the journal topic says about these inputs, request bodies decoded."""
    out = [e.model_dump_json().encode() for e in entries]
    out += [base64.b64decode(e.request.body_b64) for e in entries if e.request is not None]
    return b"\n".join(out)


def _forms(seed: bytes) -> list[bytes]:
    return [
        seed,
        seed.hex().encode(),
        seed.hex().upper().encode(),
        base64.b64encode(seed).rstrip(b"="),
        base64.urlsafe_b64encode(seed).rstrip(b"="),
    ]


async def test_the_campaign_seed_is_sealed_in_the_journal_until_revealed(
    settings_for: Callable[..., ServiceSettings],
) -> None:
    async with running(settings_for) as bnpl:
        p, s = bnpl.promotion, bnpl.settings

        # a seed in the body is refused before anything commits: it never reaches the journal
        offered = bytes(range(100, 132))
        refused = await p.post(
            "/bnpl/admin/campaigns",
            json={"name": "x", "registration_starts_at": "2030-01-01T00:00:00+08:00",
                  "registration_ends_at": "2030-02-01T00:00:00+08:00", "starts_at": "2030-01-02T00:00:00+08:00",
                  "ends_at": "2030-02-01T00:00:00+08:00", "budget": 1000, "seed_hex": offered.hex()},
        )  # fmt: skip
        assert (refused.status_code, refused.json()["code"]) == (422, "SEED_NOT_ACCEPTED"), refused.text

        c = await bnpl.campaign(starts_in=-60, ends_in=3)
        cid = c["campaign_id"]
        not_yet = await p.get(f"/bnpl/admin/campaigns/{cid}/seed")
        assert (not_yet.status_code, not_yet.json()["code"]) == (409, "SEED_NOT_REVEALED")

        async def journaled() -> list[InputJournaled] | None:
            entries = await read_journal(s.kafka_bootstrap_servers, s.namespace, "promotion", auth=s.kafka_auth())
            created = [
                e for e in entries
                if e.request is not None and e.request.method == "POST" and e.request.path == "/bnpl/admin/campaigns"
            ]  # fmt: skip
            return entries if created else None

        entries = await eventually(journaled, what="the campaign's creation in the journal")
        [creation] = [e for e in entries if e.request is not None and e.request.path == "/bnpl/admin/campaigns"]
        secrets = [v.value for v in creation.values if v.kind == "secret"]
        assert len(secrets) == 1, creation.values

        # after the end the seed is revealed: it matches the commitment, and the journal never had it in clear
        async def revealed() -> dict[str, Any] | None:
            r = await p.get(f"/bnpl/admin/campaigns/{cid}/seed")
            return r.json() if r.status_code == 200 else None

        shown = await eventually(revealed, timeout=30, what="the seed revealed after the campaign's end")
        seed = bytes.fromhex(shown["seed_hex"])
        assert len(seed) == 32 and seed_commitment(seed) == c["seed_commitment"] == shown["seed_commitment"]
        blob = _blob(await read_journal(s.kafka_bootstrap_servers, s.namespace, "promotion", auth=s.kafka_auth()))
        for form in _forms(seed) + _forms(offered):
            assert form not in blob, f"{form!r} is readable in the journal"
        # ... sealed with the service's key (the tests run with the dev key): a replay opens the same seed
        opened = JournalSealer(SecretBox(DEV_SECRETS_KEY)).open(secrets[0])
        assert base64.urlsafe_b64decode(opened + "=" * (-len(opened) % 4)) == seed
