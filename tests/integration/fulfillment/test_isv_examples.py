"""The ISV examples (examples/isv/) against the real service: the signed curl script over HTTP and the
signed Kafka producer, run as an ISV would run them, plus a forged record on the topic."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.testing import eventually

from .conftest import Fulfillment, IsvCreds, ago

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "isv"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def base_url(fulfillment: Fulfillment) -> AsyncIterator[str]:
    """The fixture's app on a real TCP port (curl needs one); the runtime is already started."""
    port = _free_port()
    app = fulfillment.http._transport.app  # type: ignore[attr-defined]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:

        async def started() -> bool:
            return bool(server.started)

        await eventually(started, timeout=15, what="uvicorn to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def run(args: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def post_report(base_url: str, creds: IsvCreds, order_id: str, **env: str) -> tuple[int, str]:
    return await run(
        ["bash", str(EXAMPLES / "post_report.sh")],
        {
            "BASE_URL": base_url,
            "APP_KEY": creds.app_key,
            "SECRET": creds.secret,
            "ISV_ID": creds.isv_id,
            "MERCHANT_ID": "m1",
            "ORDER_ID": order_id,
            **env,
        },
    )


async def test_the_curl_example_signs_and_fails_loudly(fulfillment: Fulfillment, base_url: str) -> None:
    f = fulfillment
    isv = await f.isv_for("m1")
    await f.paid_order("o-ex1", paid_at=ago(600))
    at = ago(5).strftime("%Y-%m-%dT%H:%M:%SZ")  # one time: a retry is the same report
    code, out = await post_report(base_url, isv, "o-ex1", OCCURRED_AT=at, STATUS="ACCEPTED")
    assert code == 0 and '"RECORDED"' in out and "HTTP 200" in out, out
    await f.wait_statuses("o-ex1", ["PAID", "ACCEPTED"])
    # a retry of the same report is signed anew (new nonce) and is a duplicate
    code, out = await post_report(base_url, isv, "o-ex1", OCCURRED_AT=at, STATUS="ACCEPTED")
    assert code == 0 and '"DUPLICATE"' in out, out
    # 401: the wrong secret
    code, out = await post_report(base_url, isv, "o-ex1", OCCURRED_AT=at, STATUS="PICKING", SECRET="x" * 43)
    assert code != 0 and "HTTP 401" in out and "BAD_SIGNATURE" in out, out
    # 422: a rejected report (PAID is the platform's status)
    code, out = await post_report(base_url, isv, "o-ex1", OCCURRED_AT=at, STATUS="PAID")
    assert code != 0 and "HTTP 422" in out and "UNKNOWN_STATUS" in out, out
    assert await f.statuses("o-ex1") == ["PAID", "ACCEPTED"]


async def test_the_kafka_example_signs_and_a_forged_record_is_rejected(
    fulfillment: Fulfillment, infra: Infra, namespace: str
) -> None:
    f = fulfillment
    acme = await f.isv_for("m1", "isv-acme")
    other = await f.isv_for("m1", "isv-other")
    await f.paid_order("o-ex2", paid_at=ago(600))
    # The example reports operations of the last 4 minutes; these tests allow 60 s of clock skew, so
    # the merchant's authorisations must be older than that.
    assert f.runtime.pool is not None
    await f.runtime.pool.execute("UPDATE isv_authorisations SET granted_at = granted_at - interval '10 minutes'")
    # The ISV connects as the shared `isv` Kafka principal where the stack has it (ACLs: write the
    # reports topic, read the rejections topic); the signature says which ISV it is.
    if infra.has_service_principals:
        await infra.provision_async(namespace)
        kafka_env = infra.kafka_auth("isv").env()
    else:
        kafka_env = infra.kafka_auth().env()

    async def produce(isv_id: str, signer: IsvCreds, order_id: str) -> tuple[int, str]:
        args = [sys.executable, str(EXAMPLES / "produce_reports.py"), "--bootstrap", infra.kafka_bootstrap_servers]
        args += ["--namespace", namespace, "--isv-id", isv_id, "--app-key", signer.app_key]
        args += ["--merchant-id", "m1", "--order-id", order_id, "--wait", "1"]
        return await run(args, {**kafka_env, "LIVESHOP_ISV_SECRET": signer.secret})

    code, out = await produce(acme.isv_id, acme, "o-ex2")
    assert code == 0 and out.count("produced") == 5, out
    await f.wait_statuses("o-ex2", ["PAID", "ACCEPTED", "PICKING", "PICKED", "WAYBILL_PRINTED", "PACKED"])

    # Forged: acme's producer claims to be isv-other (its own valid signature, another ISV's id):
    # every record is rejected ISV_NOT_AUTHORISED, answered to the signer; nothing is recorded.
    await f.paid_order("o-ex3", paid_at=ago(600))
    code, out = await produce(other.isv_id, acme, "o-ex3")
    assert code == 0, out
    rows = await f.rejections(acme.isv_id, min_count=5)
    assert {(r["order_id"], r["reason_code"], r["channel"]) for r in rows} == {("o-ex3", "ISV_NOT_AUTHORISED", "KAFKA")}
    assert all("signed" in r["reason"] for r in rows), rows
    # Forged without a signature (anyone holding the shared Kafka principal): MISSING_SIGNATURE, answered
    # to the ISV it claims to be; a record whose signature does not match its value: BAD_SIGNATURE.
    await f.produce(f.report(other, "o-ex3", "ACCEPTED", ago(5), request_id="unsigned-1"), signed=False)
    [row] = await f.rejections(other.isv_id)
    assert (row["request_id"], row["reason_code"]) == ("unsigned-1", "MISSING_SIGNATURE"), row
    wrong = IsvCreds(other.isv_id, other.app_key, "y" * 43)
    await f.produce(f.report(other, "o-ex3", "ACCEPTED", ago(5), request_id="badsig-1"), sign_as=wrong)
    rows = await f.rejections(other.isv_id, min_count=2)
    assert (rows[-1]["request_id"], rows[-1]["reason_code"]) == ("badsig-1", "BAD_SIGNATURE"), rows
    assert await f.statuses("o-ex3") == ["PAID"]
    # A replayed record (same signed nonce): NONCE_REUSED, answered to the signer; the first one counts.
    report = f.report(other, "o-ex3", "ACCEPTED", ago(5), request_id="nonce-1")
    await f.produce(report, nonce="replayed-nonce-0001", ce_id="n-1")
    await f.produce(report, nonce="replayed-nonce-0001", ce_id="n-2")
    await f.wait_statuses("o-ex3", ["PAID", "ACCEPTED"])
    rows = await f.rejections(other.isv_id, min_count=3)
    assert (rows[-1]["request_id"], rows[-1]["reason_code"]) == ("nonce-1", "NONCE_REUSED"), rows
