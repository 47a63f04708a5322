"""Identity and access for every HTTP route: who is calling (a verified bearer token) and may they.

- :mod:`.principal` — the verified caller (actor kind, subject, operator roles).
- :mod:`.tokens` — JWT verification against a JWKS (file or URL; any OIDC issuer) and the
  development issuer the dev stack, the demo and the tests use.
- :mod:`.policy` — ``allow(...)``: the policy every route declares; identity comes from the
  token, a path/query/body id must equal the token's subject unless an operator role allows it.
"""

from liveshop.shared.auth.policy import (
    Grant,
    Policy,
    allow,
    buyer,
    current_principal,
    isv,
    merchant,
    operator,
    policy_of,
    public,
    streamer,
)
from liveshop.shared.auth.principal import ACTORS, OPERATOR_ROLES, Principal
from liveshop.shared.auth.tokens import AuthConfigError, DevIssuer, TokenVerifier

__all__ = [
    "ACTORS",
    "OPERATOR_ROLES",
    "AuthConfigError",
    "DevIssuer",
    "Grant",
    "Policy",
    "Principal",
    "TokenVerifier",
    "allow",
    "buyer",
    "current_principal",
    "isv",
    "merchant",
    "operator",
    "policy_of",
    "public",
    "streamer",
]
