"""The ISV examples (examples/isv/) against the real service: the signed curl script over HTTP, the
signed Kafka producer and the signed kcat script, run as an ISV would run them, plus forged records on
the topic."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import socket
import subprocess
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


async def kafka_env_of_isv(infra: Infra, namespace: str) -> dict[str, str]:
    """The ISV connects as the shared `isv` Kafka principal where the stack has it (ACLs: write the
    reports topic, read the rejections topic); the signature says which ISV it is."""
    if infra.has_service_principals:
        await infra.provision_async(namespace)
        return infra.kafka_auth("isv").env()
    return infra.kafka_auth().env()


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
    kafka_env = await kafka_env_of_isv(infra, namespace)

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


#: librdkafka before 2.6.1 answers a Kafka 4.x broker's SCRAM challenge wrongly (the client nonce
#: twice; the broker says "invalid credentials"): confluentinc/librdkafka#4895.
SCRAM_FIXED = (2, 6, 1)


def _librdkafka_version(env: dict[str, str]) -> tuple[int, ...]:
    out = subprocess.run(["kcat", "-V"], env={**os.environ, **env}, capture_output=True, text=True, check=True)
    m = re.search(r"librdkafka (\d+)\.(\d+)\.(\d+)", out.stdout + out.stderr)
    assert m, out
    return tuple(int(g) for g in m.groups())


def kcat_env(tmp_path: Path) -> dict[str, str]:
    """What kcat needs in its environment to talk SCRAM to this suite's Kafka 4.x broker.

    Not a skip when kcat is missing: scripts/test installs it (scripts/_setup.sh, apt-get as root), and
    an example the quickstart shows must be run by the suite. Debian 12's kcat 1.7.1 links librdkafka
    2.0.2, which fails SCRAM against Kafka 4.x; then kcat runs on the newer librdkafka that the
    project's confluent-kafka wheel bundles (same C ABI, ``librdkafka.so.1``), as an ISV would install
    a newer librdkafka (docs/isv-quickstart.md).
    """
    assert shutil.which("kcat"), (
        "kcat is not installed: examples/isv/produce_report_kcat.sh needs it. scripts/test installs it when run "
        "as root (scripts/_setup.sh); otherwise install it yourself: sudo apt-get install -y kcat"
    )
    if _librdkafka_version({}) >= SCRAM_FIXED:
        return {}
    spec = importlib.util.find_spec("confluent_kafka")
    assert spec is not None and spec.origin is not None, "confluent-kafka (a liveshop-shared dependency) is missing"
    libs = sorted((Path(spec.origin).parent.parent / "confluent_kafka.libs").glob("librdkafka-*.so*"))
    assert libs, "kcat's librdkafka is older than 2.6.1 and no newer one was found in the confluent-kafka wheel"
    lib_dir = tmp_path / "librdkafka"
    lib_dir.mkdir()
    (lib_dir / "librdkafka.so.1").symlink_to(libs[0])
    env = {"LD_LIBRARY_PATH": str(lib_dir)}
    assert _librdkafka_version(env) >= SCRAM_FIXED, "kcat did not pick up the newer librdkafka"
    return env


async def test_the_kcat_example_signs_and_a_wrong_secret_is_rejected(
    fulfillment: Fulfillment, infra: Infra, namespace: str, tmp_path: Path
) -> None:
    kcat = kcat_env(tmp_path)
    f = fulfillment
    isv = await f.isv_for("m1")
    await f.paid_order("o-ex4", paid_at=ago(600))
    kafka_env = await kafka_env_of_isv(infra, namespace)

    async def produce(status: str, request_id: str, **env: str) -> tuple[int, str]:
        return await run(
            ["bash", str(EXAMPLES / "produce_report_kcat.sh")],
            {
                **kcat,
                **kafka_env,
                "BOOTSTRAP": infra.kafka_bootstrap_servers,
                "NAMESPACE": namespace,
                "APP_KEY": isv.app_key,
                "SECRET": isv.secret,
                "ISV_ID": isv.isv_id,
                "MERCHANT_ID": "m1",
                "ORDER_ID": "o-ex4",
                "STATUS": status,
                "REQUEST_ID": request_id,
                "OCCURRED_AT": ago(5).strftime("%Y-%m-%dT%H:%M:%SZ"),
                **env,
            },
        )

    code, out = await produce("ACCEPTED", "kcat-1")
    assert code == 0 and "produced ACCEPTED" in out, out
    await f.wait_statuses("o-ex4", ["PAID", "ACCEPTED"])
    [track] = [t for t in await f.tracks("o-ex4") if t["status"] == "ACCEPTED"]
    assert track["text"].startswith("【已接单】"), track

    # Signed with the wrong secret: the broker takes it (it cannot tell), the service rejects it
    # BAD_SIGNATURE to the ISV it names, on the rejections topic; nothing is recorded.
    code, out = await produce("PICKING", "kcat-forged-1", SECRET="z" * 43)
    assert code == 0, out
    [row] = await f.rejections(isv.isv_id)
    assert (row["request_id"], row["reason_code"], row["channel"]) == ("kcat-forged-1", "BAD_SIGNATURE", "KAFKA"), row
    events = [e.data for e in await f.rejection_events(min_count=1)]
    [ev] = [e for e in events if e.request_id == "kcat-forged-1"]
    assert (ev.isv_id, ev.order_id, ev.reason_code) == (isv.isv_id, "o-ex4", "BAD_SIGNATURE"), ev
    assert "signature" in ev.reason, ev
    assert await f.statuses("o-ex4") == ["PAID", "ACCEPTED"]

    # Not delivered (nothing listens there): the script fails loudly.
    code, out = await produce("PICKING", "kcat-2", BOOTSTRAP=f"127.0.0.1:{_free_port()}", MESSAGE_TIMEOUT_MS="3000")
    assert code != 0 and "produced" not in out, out
