"""Provision a namespace on a secured cluster: its topics and the ACLs of the liveshop principals.

Run with a super user (``admin`` on the dev stack) whenever a namespace is first used: ``liveshop
dev up`` / ``liveshop kafka provision``, the demo, and the test fixtures per test namespace. The
ACLs come from :mod:`liveshop.contracts.access` (who writes and reads each topic). With ``N`` the
namespace prefix (``<ns>.`` or nothing), each service principal ``svc-<service>`` gets:

- DESCRIBE on topics prefixed ``N liveshop.`` (metadata; ``ensure_topics`` at start-up);
- WRITE on the topics it publishes, READ on those it consumes (literal names);
- WRITE and CREATE on its dead-letter topics, prefixed ``N liveshop.dlt.<service>-``;
- READ on its consumer groups, prefixed ``N <service>-``.

The ``isv`` principal may WRITE ``N liveshop.isv.reports``, READ ``N liveshop.isv.rejections`` and
use the consumer groups prefixed ``N isv.``. Everything else is refused (``super.users`` aside).
Topics are created here by the super user, so services never need CREATE beyond their DLTs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import cast

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported, no __all__
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from liveshop.contracts import access
from liveshop.contracts.events.journal import JOURNAL
from liveshop.contracts.topics import TOPICS
from liveshop.shared.kafka_admin import MAX_MESSAGE_BYTES
from liveshop.shared.kafka_auth import KafkaAuth

#: The Kafka user of each party of :mod:`liveshop.contracts.access`.
PRINCIPALS: dict[str, str] = {**{s: f"svc-{s}" for s in access.SERVICES}, access.ISV: "isv"}

# Kafka's ACL operation and resource names (confluent-kafka enum member names).
Grant = tuple[str, str, str, str, str]  # (resource type, name, pattern type, principal, operation)


def prefix(namespace: str) -> str:
    return f"{namespace}." if namespace else ""


def isv_group_prefix(namespace: str) -> str:
    """Consumer groups of ISVs must start with this (e.g. ``<ns>.isv.<isv id>``)."""
    return f"{prefix(namespace)}isv."


def grants(namespace: str, principals: Mapping[str, str] | None = None) -> list[Grant]:
    """Every ALLOW grant of ``namespace``, as plain tuples (easy to test and to print)."""
    who = principals or PRINCIPALS
    n = prefix(namespace)
    out: list[Grant] = []
    for svc in access.SERVICES:
        user = f"User:{who[svc]}"
        out.append(("TOPIC", f"{n}liveshop.", "PREFIXED", user, "DESCRIBE"))
        out += [("TOPIC", f"{n}{t}", "LITERAL", user, "WRITE") for t in access.writes(svc)]
        out += [("TOPIC", f"{n}{t}", "LITERAL", user, "READ") for t in access.reads(svc)]
        dlt = f"{n}liveshop.dlt.{svc}-"
        out += [("TOPIC", dlt, "PREFIXED", user, op) for op in ("WRITE", "CREATE")]
        out.append(("GROUP", f"{n}{svc}-", "PREFIXED", user, "READ"))
    isv = f"User:{who[access.ISV]}"
    for t in access.writes(access.ISV):
        out += [("TOPIC", f"{n}{t}", "LITERAL", isv, op) for op in ("WRITE", "DESCRIBE")]
    for t in access.reads(access.ISV):
        out += [("TOPIC", f"{n}{t}", "LITERAL", isv, op) for op in ("READ", "DESCRIBE")]
    out.append(("GROUP", isv_group_prefix(namespace), "PREFIXED", isv, "READ"))
    return out


def _admin(bootstrap: str, auth: KafkaAuth) -> AdminClient:
    # log_level 4: warnings and worse (librdkafka's info lines would go to stderr)
    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 4, **auth.confluent()})


def create_topics(bootstrap: str, auth: KafkaAuth, namespace: str, *, timeout: float = 30.0) -> None:
    """Create every registered topic of ``namespace`` that does not exist yet."""
    admin = _admin(bootstrap, auth)
    existing = set(admin.list_topics(timeout=timeout).topics)
    journal = JOURNAL.qualified(namespace)
    new = [
        NewTopic(
            name,
            num_partitions=t.partitions,
            replication_factor=-1,
            config={"max.message.bytes": str(MAX_MESSAGE_BYTES)} if name == journal else {},
        )
        for t in TOPICS.values()
        if (name := t.qualified(namespace)) not in existing
    ]
    if not new:
        return
    for fut in admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout).values():
        try:
            fut.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def create_acls(
    bootstrap: str,
    auth: KafkaAuth,
    namespace: str,
    *,
    principals: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> int:
    """Create the ACLs of ``namespace`` and wait until the broker enforces them; returns their count."""
    admin = _admin(bootstrap, auth)
    wanted = grants(namespace, principals)
    bindings = [
        AclBinding(
            ResourceType[rt], name, ResourcePatternType[pt], user, "*", AclOperation[op], AclPermissionType.ALLOW
        )
        for rt, name, pt, user, op in wanted
    ]
    for fut in admin.create_acls(bindings, request_timeout=timeout).values():
        fut.result()
    # create_acls returns once the controller committed them; the broker applies the metadata a
    # moment later: wait until it describes every one, so the next request is already governed.
    key = {(rt, name, pt, user, op) for rt, name, pt, user, op in wanted}
    users = {g[3] for g in wanted}
    deadline = time.monotonic() + timeout
    while True:
        seen: set[Grant] = set()
        for user in users:
            anything = cast(str, None)  # None matches any name / host (the stubs say str)
            flt = AclBindingFilter(
                ResourceType.ANY,
                anything,
                ResourcePatternType.ANY,
                user,
                anything,
                AclOperation.ANY,
                AclPermissionType.ANY,
            )
            for b in admin.describe_acls(flt, request_timeout=timeout).result():
                seen.add((b.restype.name, b.name, b.resource_pattern_type.name, b.principal, b.operation.name))
        if key <= seen:
            return len(wanted)
        if time.monotonic() > deadline:
            raise TimeoutError(f"the broker did not apply {len(key - seen)} ACLs of namespace {namespace!r}")
        time.sleep(0.05)


def provision(
    bootstrap: str,
    auth: KafkaAuth,
    namespaces: Iterable[str],
    *,
    acls: bool = True,
    principals: Mapping[str, str] | None = None,
) -> None:
    """Topics (and, with ``acls``, the ACLs) of each namespace; idempotent, run as a super user."""
    for ns in namespaces:
        create_topics(bootstrap, auth, ns)
        if acls:
            create_acls(bootstrap, auth, ns, principals=principals)
