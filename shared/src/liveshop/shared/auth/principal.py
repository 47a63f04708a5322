"""The verified caller. Built only from a verified credential (or a journal entry on replay)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Actor = Literal["buyer", "merchant", "streamer", "operator", "isv", "service"]
ACTORS: tuple[Actor, ...] = ("buyer", "merchant", "streamer", "operator", "isv", "service")
#: Operator roles (SPEC §0 platform operator): ``ops`` runs the platform, ``finance`` moves money,
#: ``risk`` judges merchants and buyers. A token may carry several.
OPERATOR_ROLES: tuple[str, ...] = ("ops", "finance", "risk")


@dataclass(frozen=True)
class Principal:
    actor: Actor
    sub: str
    roles: frozenset[str] = field(default_factory=frozenset)
    #: How it was proven: ``jwt`` (bearer token), ``isv-hmac`` (signed ISV request), ``replay``.
    via: str = "jwt"

    def is_operator(self, *roles: str) -> bool:
        """An operator holding any of ``roles`` (any operator when none are named)."""
        return self.actor == "operator" and (not roles or bool(self.roles.intersection(roles)))

    def as_dict(self) -> dict[str, Any]:
        return {"actor": self.actor, "sub": self.sub, "roles": sorted(self.roles), "via": self.via}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Principal:
        actor = d["actor"]
        if actor not in ACTORS:
            raise ValueError(f"unknown actor {actor!r}")
        return cls(actor=actor, sub=str(d["sub"]), roles=frozenset(d.get("roles", ())), via=str(d.get("via", "jwt")))
