"""``group_members`` on the real broker: live members per consumer group, several groups at once.

aiokafka 0.14 decodes its DescribeGroups v3 answers with the v2 schema, so describing two groups or
more through it failed against Kafka 4 ("Buffer underrun decoding string", the connection dropped):
a projection rebuild (``POST /admin/projections/rebuild``) of a service with two consumers failed
with a 500. ``group_members`` asks with confluent-kafka's admin client instead.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from aiokafka import AIOKafkaConsumer

from liveshop.shared.devstack.resolver import Infra
from liveshop.shared.kafka_acl import prefix
from liveshop.shared.replay import group_members
from liveshop.shared.runtime import ensure_topics
from liveshop.shared.testing import eventually


async def _members(infra: Infra, topic: str, group: str, n: int, stack: AsyncExitStack) -> None:
    """Start ``n`` consumers of ``topic`` in ``group`` and wait until each has its assignment."""
    consumers = []
    for _ in range(n):
        c = AIOKafkaConsumer(
            topic, bootstrap_servers=infra.kafka_bootstrap_servers, group_id=group, **infra.kafka_client_kwargs()
        )
        await c.start()
        stack.push_async_callback(c.stop)
        consumers.append(c)

    async def assigned() -> bool:
        await asyncio.gather(*(c.getmany(timeout_ms=100) for c in consumers))
        return sum(len(c.assignment()) for c in consumers) == 2 and all(c.assignment() for c in consumers)

    await eventually(assigned, timeout=30, what=f"{n} members of {group} assigned")


async def test_live_members_of_several_groups_at_once(infra: Infra, namespace: str) -> None:
    if infra.has_service_principals:
        await infra.provision_async(namespace)
    n = prefix(namespace)
    topic = f"{n}liveshop.members-probe"
    await ensure_topics(infra.kafka_bootstrap_servers, {topic: 2}, auth=infra.kafka_auth())
    one, two, idle, unknown = (f"{n}fulfillment-{x}" for x in ("one", "two", "idle", "unknown"))
    async with AsyncExitStack() as stack:
        await _members(infra, topic, one, 1, stack)
        await _members(infra, topic, two, 2, stack)
        # a group that committed offsets but has no member now
        idle_consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=infra.kafka_bootstrap_servers, group_id=idle, **infra.kafka_client_kwargs()
        )
        await idle_consumer.start()
        try:
            await eventually(lambda: _assigned(idle_consumer), timeout=30, what=f"the member of {idle} assigned")
            await idle_consumer.commit()
        finally:
            await idle_consumer.stop()

        groups = [one, two, idle, unknown]
        want = {one: 1, two: 2, idle: 0, unknown: 0}
        assert await group_members(infra.kafka_bootstrap_servers, groups, auth=infra.kafka_auth()) == want
        if infra.has_service_principals:
            # as the service itself (READ on its groups, prefixed "<ns>.fulfillment-"), like a rebuild asks
            svc = infra.service_kafka_auth("fulfillment")
            assert await group_members(infra.kafka_bootstrap_servers, groups, auth=svc) == want
        assert await group_members(infra.kafka_bootstrap_servers, [], auth=infra.kafka_auth()) == {}
    # the members left: every group is empty again
    assert await group_members(infra.kafka_bootstrap_servers, [one, two], auth=infra.kafka_auth()) == {
        one: 0,
        two: 0,
    }


async def _assigned(c: AIOKafkaConsumer) -> bool:
    await c.getmany(timeout_ms=100)
    return bool(c.assignment())
