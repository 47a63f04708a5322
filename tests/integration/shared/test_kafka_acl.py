"""Kafka authentication and ACLs on the real secured broker (docs/security.md#kafka).

The local stack's broker requires SASL/SCRAM and authorises with ACLs; a test namespace is
provisioned (topics + ACLs, as admin) like ``liveshop kafka provision`` does. Each principal may
do what :mod:`liveshop.contracts.access` grants and nothing else.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import GroupAuthorizationFailedError, KafkaConnectionError, TopicAuthorizationFailedError

from liveshop.contracts import access, codec
from liveshop.contracts.common import Channel, ChannelKind, OrderLine, OrderStatus, PaymentMethod, ProductType
from liveshop.contracts.events.isv import ISV_REJECTIONS, ISV_REPORTS
from liveshop.contracts.events.order import ORDER, OrderPlaced
from liveshop.contracts.events.payment import PAYMENTS
from liveshop.contracts.events.promotion import PRICING, OrderPriced, OrderPricingRejected
from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.kafka_acl import PRINCIPALS, isv_group_prefix
from liveshop.shared.kafka_auth import KafkaAuth
from liveshop.shared.runtime import ServiceRuntime
from liveshop.shared.settings import ServiceSettings
from liveshop.shared.testing import eventually, read_topic


@pytest.fixture
async def secured(infra: Infra, namespace: str) -> AsyncIterator[str]:
    """A provisioned namespace on a broker with the liveshop principals."""
    if not infra.has_service_principals:
        if infra.mode in ("env", "docker"):
            pytest.skip(f"Kafka ({infra.mode}) is not the local secured stack: no liveshop principals to test")
        raise AssertionError(f"the {infra.mode} stack must run Kafka with SASL/SCRAM users and ACLs")
    await infra.provision_async(namespace)
    yield namespace


def _producer(infra: Infra, auth: KafkaAuth) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        request_timeout_ms=10_000,
        **auth.aiokafka(),
    )


async def _send(infra: Infra, user: str, topic: str) -> None:
    producer = _producer(infra, infra.kafka_auth(user))
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}", key=b"k")
    finally:
        await producer.stop()


async def test_the_isv_principal_writes_reports_and_nothing_else(infra: Infra, secured: str) -> None:
    await _send(infra, "isv", ISV_REPORTS.qualified(secured))
    with pytest.raises(TopicAuthorizationFailedError):
        await _send(infra, "isv", PAYMENTS.qualified(secured))
    with pytest.raises(TopicAuthorizationFailedError):
        await _send(infra, "isv", ISV_REJECTIONS.qualified(secured))  # only fulfillment writes rejections


async def test_the_isv_principal_reads_rejections_in_its_own_groups_only(infra: Infra, secured: str) -> None:
    async def consume(topic: str, group: str) -> None:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=infra.kafka_bootstrap_servers,
            group_id=group,
            auto_offset_reset="earliest",
            **infra.kafka_client_kwargs("isv"),
        )
        await consumer.start()
        try:
            await consumer.getmany(timeout_ms=1500)
        finally:
            await consumer.stop()

    await consume(ISV_REJECTIONS.qualified(secured), isv_group_prefix(secured) + "acme-wms")
    with pytest.raises(GroupAuthorizationFailedError):
        await consume(ISV_REJECTIONS.qualified(secured), f"{secured}.fulfillment-isv-reports")
    with pytest.raises(TopicAuthorizationFailedError):
        await consume(ORDER.qualified(secured), isv_group_prefix(secured) + "acme-wms")


async def test_a_wrong_password_is_refused(infra: Infra, secured: str, caplog: pytest.LogCaptureFixture) -> None:
    good = infra.kafka_auth("svc-order")
    bad = KafkaAuth(
        security_protocol=good.security_protocol,
        sasl_mechanism=good.sasl_mechanism,
        username=good.username,
        password=good.password + "x",
    )
    producer = _producer(infra, bad)
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()
    assert "Authentication failed" in caplog.text


async def test_no_credentials_at_all_are_refused(infra: Infra, secured: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, request_timeout_ms=3000)
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(producer.start(), 30)
    await producer.stop()


@pytest.mark.parametrize("service", access.SERVICES)
async def test_a_service_writes_its_own_topics_and_not_anothers(infra: Infra, secured: str, service: str) -> None:
    user = PRINCIPALS[service]
    own = access.writes(service)
    foreign = sorted(t for t in access.WRITERS if service not in access.WRITERS[t])
    assert own and foreign
    await _send(infra, user, f"{secured}.{own[0]}")
    await _send(infra, user, f"{secured}.liveshop.dlt.{service}-anything")  # its dead-letter topics (created)
    with pytest.raises(TopicAuthorizationFailedError):
        await _send(infra, user, f"{secured}.{foreign[0]}")
    with pytest.raises(TopicAuthorizationFailedError):
        await _send(infra, user, f"{secured}.liveshop.dlt.other-{service}")


async def test_another_namespace_is_out_of_reach(infra: Infra, secured: str) -> None:
    """ACLs are per namespace: provisioning one grants nothing in another."""
    with pytest.raises(TopicAuthorizationFailedError):
        await _send(infra, "svc-order", ORDER.qualified(secured + "x"))


def _placed(order_id: str) -> OrderPlaced:
    lines = [
        OrderLine(line_no=1, product_id="p_acl", merchant_id="m_acl", title="茶", product_type=ProductType.PHYSICAL,
                  unit_price=1_000, quantity=1),
    ]  # fmt: skip
    return OrderPlaced(
        order_id=order_id, status=OrderStatus.PENDING_PAYMENT, occurred_at=datetime.now(UTC), buyer_id="b_acl",
        merchant_id="m_acl", lines=lines, channel=Channel(kind=ChannelKind.LIVE_ROOM, streamer_id="s_acl"),
        payment_method=PaymentMethod.ONLINE, item_total=1_000,
    )  # fmt: skip


async def test_the_four_services_run_as_their_own_principals(
    infra: Infra, secured: str, settings_for: Callable[..., ServiceSettings]
) -> None:
    """Start-up (topics check, DLT creation, consumer groups) and the event flow work under the ACLs."""
    runtimes: list[ServiceRuntime] = []
    try:
        for name in access.SERVICES:
            mod: Any = importlib.import_module(f"liveshop.{name}.bootstrap")
            rt, _ = mod.build(settings_for(name, **infra.service_kafka_auth(name).settings()))
            assert rt.kafka_auth.username == PRINCIPALS[name]
            await rt.start()
            runtimes.append(rt)
        # the order service's event, as the order service would publish it: promotion prices it
        # (reads liveshop.order, writes liveshop.pricing as svc-promotion)
        env = codec.envelope(_placed("o_acl_1"), source="order")
        rec = codec.to_record(env, secured)
        producer = _producer(infra, infra.kafka_auth("svc-order"))
        await producer.start()
        try:
            await producer.send_and_wait(rec.topic, rec.value, key=rec.key, headers=rec.headers)
        finally:
            await producer.stop()

        async def priced() -> list[Any]:
            records = await read_topic(
                infra.kafka_bootstrap_servers, PRICING.qualified(secured), timeout=2, auth=infra.kafka_auth()
            )
            outcomes = [codec.decode(r.headers, r.value).data for r in records]
            return [o for o in outcomes if isinstance(o, OrderPriced | OrderPricingRejected)]

        assert await eventually(priced, timeout=30, what="promotion's pricing outcome")
        for rt in runtimes:
            assert (await rt.ready())["kafka"] == "ok"
    finally:
        for rt in reversed(runtimes):
            await rt.stop()
