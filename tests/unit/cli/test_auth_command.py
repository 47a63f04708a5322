"""``liveshop auth token|jwks`` and the operator token the CLI's admin commands send."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from liveshop.cli import tokens
from liveshop.cli.main import main
from liveshop.shared.auth import DevIssuer, Principal, TokenVerifier


@pytest.fixture(autouse=True)
def own_issuer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DevIssuer]:
    """A dev issuer of this test only (its own key pair), no LIVESHOP_TOKEN."""
    monkeypatch.setenv("LIVESHOP_AUTH_DIR", str(tmp_path / "auth"))
    monkeypatch.delenv(tokens.TOKEN_ENV, raising=False)
    monkeypatch.setattr(tokens, "_issuer", None)
    yield DevIssuer(tmp_path / "auth").ensure()


def _verify(issuer: DevIssuer, token: str) -> Principal:
    return asyncio.run(TokenVerifier(issuer.settings()).verify(token))


def test_token_is_verified_as_the_actor_it_names(own_issuer: DevIssuer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["auth", "token", "--actor", "operator", "--sub", "op_wang", "--role", "finance", "--role", "ops"]) == 0
    out = capsys.readouterr().out.strip()
    assert _verify(own_issuer, out) == Principal("operator", "op_wang", frozenset({"finance", "ops"}))


def test_ttl_and_json_output(own_issuer: DevIssuer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["auth", "token", "--actor", "buyer", "--sub", "b_123", "--ttl", "2h", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["ttl_s"] == 7200 and shown["actor"] == "buyer" and shown["roles"] == []
    claims = jwt.decode(shown["token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 7200
    assert (claims["iss"], claims["aud"], claims["actor"], claims["sub"]) == (
        "liveshop-dev",
        "liveshop",
        "buyer",
        "b_123",
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--actor", "buyr", "--sub", "b1"],
        ["--actor", "buyer"],
        ["--sub", "b1"],
        ["--actor", "buyer", "--sub", "x" * 65],
        ["--actor", "buyer", "--sub", "b1", "--role", "finance"],
        ["--actor", "operator", "--sub", "o1", "--role", "boss"],
        ["--actor", "buyer", "--sub", "b1", "--ttl", "15x"],
        ["--actor", "buyer", "--sub", "b1", "--ttl=-5m"],
        ["--actor", "buyer", "--sub", "b1", "--ttl"],
    ],
)
def test_errors_are_one_line_with_a_non_zero_exit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        rc = main(["auth", "token", *argv])
    except SystemExit as exc:  # argparse's own errors
        rc = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("liveshop: "), err


def test_jwks_prints_the_path_or_the_keys(own_issuer: DevIssuer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["auth", "jwks"]) == 0
    assert capsys.readouterr().out.strip() == str(own_issuer.jwks_path)
    assert main(["auth", "jwks", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["keys"][0]["kid"]


def test_admin_commands_send_liveshop_token_when_set(own_issuer: DevIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    minted = tokens.operator_headers("ops")["Authorization"].removeprefix("Bearer ")
    assert _verify(own_issuer, minted) == Principal("operator", tokens.CLI_OPERATOR, frozenset({"ops"}))
    monkeypatch.setenv(tokens.TOKEN_ENV, "a.production.token")
    assert tokens.operator_headers("ops") == {"Authorization": "Bearer a.production.token"}
