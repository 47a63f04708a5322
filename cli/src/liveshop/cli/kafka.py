"""``liveshop kafka provision``, and which broker (with which credentials) a command talks to.

    liveshop kafka provision [--namespace NS] [--bootstrap B] [--no-acls]

Every command that talks to Kafka finds it with :func:`bootstrap_and_auth`: ``--bootstrap`` if
given, else the environment (``KAFKA_BOOTSTRAP_SERVERS``) or the running dev stack, with the
credentials the resolver gives (the admin user of a SASL broker).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from liveshop.cli import console
from liveshop.cli.console import CliError

if TYPE_CHECKING:
    from liveshop.shared.kafka_auth import KafkaAuth


def bootstrap_and_auth(args: argparse.Namespace) -> tuple[str, KafkaAuth]:
    """Bootstrap servers and the credentials to use (the admin user of the env / the dev stack)."""
    from liveshop.shared.devstack import resolver
    from liveshop.shared.kafka_auth import KafkaAuth

    infra = resolver.from_env() or resolver.read_dev_stack()
    auth = infra.kafka_auth() if infra is not None else KafkaAuth.from_env()
    if getattr(args, "bootstrap", None):
        console.talking_to_kafka(str(args.bootstrap))
        return str(args.bootstrap), auth
    if infra is None:
        raise CliError("no broker: pass --bootstrap, set KAFKA_BOOTSTRAP_SERVERS, or run `liveshop dev up`")
    console.talking_to_kafka(infra.kafka_bootstrap_servers)
    return infra.kafka_bootstrap_servers, auth


def add_parser(sub: Any) -> None:
    p = sub.add_parser("kafka", help="provision a namespace's topics and ACLs on a secured cluster (as admin)")
    p.add_argument("action", choices=["provision"])
    p.add_argument("--namespace", help="the namespace (default: none, the production topic names)")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: env or dev stack)")
    p.add_argument("--no-acls", action="store_true", help="only create the topics (an unsecured cluster)")
    p.set_defaults(fn=command)


def command(args: argparse.Namespace) -> int:
    """``liveshop kafka provision``: a namespace's topics and, unless ``--no-acls``, its ACLs."""
    from liveshop.shared import kafka_acl

    bootstrap, auth = bootstrap_and_auth(args)
    ns = args.namespace or ""
    kafka_acl.provision(bootstrap, auth, [ns], acls=not args.no_acls)
    what = "topics" if args.no_acls else "topics and ACLs"
    print(f"provisioned the {what} of namespace {ns or '(none)'} on {bootstrap} as {auth.username or 'PLAINTEXT'}")
    return 0
