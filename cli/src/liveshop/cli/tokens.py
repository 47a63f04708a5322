"""Bearer tokens for the CLI: ``liveshop auth token|jwks`` and the operator token admin commands send.

Development tokens come from the project's own issuer (:class:`liveshop.shared.auth.DevIssuer`, key in
``.liveshop/auth/``): ``iss`` liveshop-dev, ``aud`` liveshop, ``actor``, ``sub``, ``roles``. Against
a production stack the services verify a real OIDC issuer's tokens: set ``LIVESHOP_TOKEN`` to an
operator token from that issuer and the CLI's admin commands send it instead of minting one.
"""

from __future__ import annotations

import argparse
import json
import os

from liveshop.cli import console
from liveshop.shared.auth import ACTORS, OPERATOR_ROLES, DevIssuer
from liveshop.shared.auth.tokens import parse_ttl

#: Set to an operator token of the services' issuer (production): admin commands send it as is.
TOKEN_ENV = "LIVESHOP_TOKEN"
#: The subject of the operator tokens the CLI mints for itself in development.
CLI_OPERATOR = "op_cli"
#: Longest subject a service accepts (the platform's id limit).
MAX_SUB = 64

_issuer: DevIssuer | None = None


def dev_issuer() -> DevIssuer:
    """The development issuer, created on first use (one key pair per checkout)."""
    global _issuer
    if _issuer is None:
        _issuer = DevIssuer().ensure()
    return _issuer


def bearer(actor: str, sub: str, roles: tuple[str, ...] = (), ttl_s: float = 900) -> dict[str, str]:
    """``Authorization`` header with a development token for ``actor`` ``sub``."""
    return {"Authorization": f"Bearer {dev_issuer().token(actor, sub, roles, ttl_s=ttl_s)}"}


def operator_headers(*roles: str) -> dict[str, str]:
    """What a CLI admin command sends: ``$LIVESHOP_TOKEN`` if set, else a dev operator token with ``roles``."""
    given = os.environ.get(TOKEN_ENV, "").strip()
    if given:
        return {"Authorization": f"Bearer {given.removeprefix('Bearer ').strip()}"}
    return bearer("operator", CLI_OPERATOR, roles)


def _fail(message: str) -> int:
    console.error(f"auth: {message}")
    return console.EXIT_USAGE


def command(args: argparse.Namespace) -> int:
    """``liveshop auth token ...`` / ``liveshop auth jwks [--json]``; errors are one line, exit 2."""
    try:
        issuer = dev_issuer()
    except (OSError, ValueError) as exc:
        return _fail(f"the development issuer is unusable: {exc}")
    if args.action == "jwks":
        if args.json:
            print(issuer.jwks_path.read_text(encoding="utf-8").strip())
        else:
            print(issuer.jwks_path)
        return 0
    if not args.actor:
        return _fail(f"--actor is required (one of {', '.join(ACTORS)})")
    if args.actor not in ACTORS:
        return _fail(f"unknown actor {args.actor!r}: one of {', '.join(ACTORS)}")
    if not args.sub:
        return _fail("--sub is required (the caller's id, e.g. b_123)")
    if len(args.sub) > MAX_SUB or not args.sub.strip():
        return _fail(f"--sub must be a non-empty id of at most {MAX_SUB} characters")
    roles = tuple(args.role or ())
    unknown = [r for r in roles if r not in OPERATOR_ROLES]
    if unknown:
        return _fail(f"unknown role {unknown[0]!r}: one of {', '.join(OPERATOR_ROLES)}")
    if roles and args.actor != "operator":
        return _fail("--role is for operators only (--actor operator)")
    try:
        ttl = parse_ttl(args.ttl)
    except ValueError:
        return _fail(f"--ttl {args.ttl!r} is not a duration (e.g. 90s, 15m, 2h, 1d)")
    if not 0 < ttl <= 30 * 86400:
        return _fail("--ttl must be more than 0 and at most 30d")
    token = issuer.token(args.actor, args.sub, roles, ttl_s=ttl)
    if args.json:
        print(json.dumps({"token": token, "actor": args.actor, "sub": args.sub, "roles": list(roles), "ttl_s": ttl}))
    else:
        print(token)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    auth = sub.add_parser(
        "auth",
        help="development bearer tokens (liveshop auth token --actor buyer --sub b_123) and the issuer's JWKS",
        description="token: print a token from the development issuer; jwks: print its JWKS path (--json: the JWKS). "
        f"Production: the services verify a real issuer; set {TOKEN_ENV} for the CLI's admin commands.",
    )
    auth.add_argument("action", choices=["token", "jwks"])
    auth.add_argument("--actor", help=f"token: {' | '.join(ACTORS)}")
    auth.add_argument("--sub", help="token: the caller's id (b_…, m_…, s_…, op_…)")
    auth.add_argument(
        "--role", action="append", help=f"token: an operator role ({' | '.join(OPERATOR_ROLES)}); repeatable"
    )
    auth.add_argument("--ttl", default="15m", help="token: lifetime, e.g. 90s, 15m (default), 2h")
    auth.add_argument("--json", action="store_true", help="token: the token with its claims; jwks: the JWKS itself")
    auth.set_defaults(fn=command)  # usage errors are one line, exit 2: the CLI's parser class
