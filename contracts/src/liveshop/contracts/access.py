"""Who writes and who reads each topic: the single source of the Kafka ACLs (docs/security.md#kafka).

``WRITERS[topic]`` are the parties that publish to a topic and ``READERS[topic]`` those that
consume it; a party is a liveshop service (``order``, ``promotion``, ``wallet``, ``fulfillment``)
or ``isv`` (external warehouse systems). Every registered topic appears in both maps (a unit test
checks them against the topic registry and against the services' consumer routers).

Besides these, a service always writes (and creates) its own dead-letter topics
``liveshop.dlt.<service>-*`` and uses the consumer groups ``<service>-*``: router names start with
the service's name.
"""

from __future__ import annotations

SERVICES = ("order", "promotion", "wallet", "fulfillment")
ISV = "isv"
PARTIES = (*SERVICES, ISV)

WRITERS: dict[str, tuple[str, ...]] = {
    "liveshop.order": ("order",),
    "liveshop.catalog": ("order",),
    "liveshop.streamers": ("order",),
    "liveshop.pricing": ("promotion",),
    "liveshop.redenvelopes": ("promotion",),
    "liveshop.bnpl.merchants": ("promotion",),
    "liveshop.bnpl.buyers": ("promotion",),
    "liveshop.bnpl.campaigns": ("promotion",),
    "liveshop.bnpl.checkout": ("promotion", "wallet"),
    "liveshop.budgets": ("promotion", "wallet"),
    "liveshop.payments": ("wallet",),
    "liveshop.wallet.merchants": ("wallet",),
    "liveshop.fulfillment": ("fulfillment",),
    "liveshop.isv.rejections": ("fulfillment",),
    "liveshop.isv.reports": (ISV,),
    # every service journals its inputs (docs/replay.md)
    "liveshop.journal": SERVICES,
}

READERS: dict[str, tuple[str, ...]] = {
    "liveshop.order": ("promotion", "wallet", "fulfillment"),
    "liveshop.catalog": ("promotion",),
    "liveshop.streamers": ("promotion",),
    "liveshop.pricing": ("order", "promotion"),
    "liveshop.redenvelopes": (),
    # order: BNPL activity products (先用后付 on product reads); wallet: the campaign budget account
    "liveshop.bnpl.merchants": ("order",),
    "liveshop.bnpl.buyers": (),
    "liveshop.bnpl.campaigns": ("wallet",),
    "liveshop.bnpl.checkout": ("order", "promotion", "wallet"),
    "liveshop.budgets": ("promotion", "wallet"),
    "liveshop.payments": ("order",),
    "liveshop.wallet.merchants": ("promotion",),
    "liveshop.fulfillment": ("order",),
    "liveshop.isv.rejections": (ISV,),
    "liveshop.isv.reports": ("fulfillment",),
    # a service in replay mode re-reads its own journal
    "liveshop.journal": SERVICES,
}


def writes(party: str) -> list[str]:
    """The (unqualified) topics ``party`` publishes to."""
    return sorted(t for t, who in WRITERS.items() if party in who)


def reads(party: str) -> list[str]:
    """The (unqualified) topics ``party`` consumes."""
    return sorted(t for t, who in READERS.items() if party in who)
