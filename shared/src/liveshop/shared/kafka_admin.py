"""Kafka administration the runtime and the tools share: topics, consumer groups, the record size limit.

- :func:`ensure_topics` creates missing topics (a service at start-up, the dead-letter tool, the CLI);
- :func:`consumer_lag`, :func:`reset_group_to_earliest` and :func:`group_members` read and move
  consumer groups (``liveshop topics lag``, projection rebuilds, the consumer testing kit);
- :data:`MAX_MESSAGE_BYTES` is the largest record the platform sends (the journal topic accepts it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.structs import OffsetAndMetadata
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from liveshop.shared.kafka_auth import PLAINTEXT, KafkaAuth, aiokafka_kwargs

#: The largest record the outbox relay sends (the journal topic is created to accept it).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

#: CreateTopics error codes: this principal may not create the topic (an existing topic is fine).
_TOPIC_AUTHZ, _CLUSTER_AUTHZ = 29, 31


async def ensure_topics(
    bootstrap: str,
    names: dict[str, int],
    configs: dict[str, dict[str, str]] | None = None,
    *,
    auth: KafkaAuth | None = None,
    replication_factor: int | None = None,
) -> None:
    """Create the topics of ``names`` that do not exist. On a secured cluster a service principal
    sees (DESCRIBE) its namespace's topics and may only create its dead-letter topics: the others
    are created by provisioning (``liveshop.shared.kafka_acl``), and a missing one is an error.

    ``replication_factor``: a service passes its ``KAFKA_REPLICATION_FACTOR`` setting; other callers
    (the CLI) default to the ``KAFKA_REPLICATION_FACTOR`` environment variable, else 1."""
    configs = configs or {}
    if replication_factor is None:
        replication_factor = int(os.environ.get("KAFKA_REPLICATION_FACTOR") or 1)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000, **aiokafka_kwargs(auth))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(n, num_partitions=p, replication_factor=replication_factor, topic_configs=configs.get(n, {}))
            for n, p in names.items()
            if n not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                resp = await admin.create_topics(new)
                refused = [t[0] for t in resp.topic_errors if t[1] in (_TOPIC_AUTHZ, _CLUSTER_AUTHZ)]
                if refused:
                    who = auth.principal if auth is not None else None
                    raise PermissionError(
                        f"Kafka principal {who} may not create topics {sorted(refused)}: provision the "
                        "namespace first (`liveshop kafka provision --namespace NS`, docs/security.md#kafka)"
                    )
    finally:
        await admin.close()


@dataclass
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None
    end: int

    @property
    def lag(self) -> int:
        return self.end - (self.committed or 0)


async def consumer_lag(
    bootstrap: str, groups: list[str] | None = None, *, prefix: str = "", auth: KafkaAuth | None = None
) -> list[PartitionLag]:
    """Committed offset, end offset and lag per partition of every consumer group (or of ``groups``,
    or of the groups whose names start with ``prefix``, e.g. a namespace's ``"<ns>."``)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **aiokafka_kwargs(auth))
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **aiokafka_kwargs(auth))
    await consumer.start()
    out: list[PartitionLag] = []
    try:
        if groups is None:
            listed = await admin.list_consumer_groups()
            groups = sorted(g[0] for g in listed if g[0].startswith(prefix))
        for g in groups:
            offsets = await admin.list_consumer_group_offsets(g)
            if not offsets:
                continue
            ends = await consumer.end_offsets(list(offsets))
            for tp, meta in sorted(offsets.items(), key=lambda kv: (kv[0].topic, kv[0].partition)):
                committed = meta.offset if meta.offset >= 0 else None
                out.append(PartitionLag(g, tp.topic, tp.partition, committed, ends.get(tp, 0)))
        return out
    finally:
        await consumer.stop()
        await admin.close()


async def reset_group_to_earliest(
    bootstrap: str, group: str, topics: list[str], *, auth: KafkaAuth | None = None
) -> None:
    """Move a consumer group (with no active members) back to the beginning of ``topics``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, **aiokafka_kwargs(auth)
    )
    await consumer.start()
    try:
        tps: list[TopicPartition] = []
        for t in topics:
            parts = consumer.partitions_for_topic(t)
            if parts is None:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(t) or set()
            tps.extend(TopicPartition(t, p) for p in parts)
        if not tps:
            return
        consumer.assign(tps)
        begin = await consumer.beginning_offsets(tps)
        await consumer.commit({tp: OffsetAndMetadata(off, "") for tp, off in begin.items()})
    finally:
        await consumer.stop()


async def group_members(
    bootstrap: str, groups: list[str], *, auth: KafkaAuth | None = None, timeout_s: float = 15.0
) -> dict[str, int]:
    """How many live members each consumer group has (0 for an empty or unknown group).

    Asked with confluent-kafka's admin client (in a worker thread), not aiokafka's: aiokafka 0.14
    sends DescribeGroups v3 but decodes the answer with the v2 schema, which lacks the per-group
    ``authorized_operations`` field; a broker that negotiates v3 (Kafka 4 dropped v0) answers with
    it, so describing two groups or more fails to decode ("Buffer underrun decoding string") and
    aiokafka drops the connection."""
    return await asyncio.to_thread(_group_members, bootstrap, list(groups), auth or PLAINTEXT, timeout_s)


def _group_members(bootstrap: str, groups: list[str], auth: KafkaAuth, timeout_s: float) -> dict[str, int]:
    out = {g: 0 for g in groups}
    if not out:
        return out
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4, **auth.confluent()})
    futures = admin.describe_consumer_groups(list(out), request_timeout=timeout_s)
    for group, fut in futures.items():
        try:
            description = fut.result()
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError.GROUP_ID_NOT_FOUND:
                continue  # never created, or deleted: no members
            raise
        out[group] = len(description.members)
    return out
