"""ISV registry, credentials, and merchants' authorisations."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from liveshop.fulfillment.domain.errors import (
    Conflict,
    ErrorCode,
    FulfillmentError,
    InvalidInput,
    NotFound,
)
from liveshop.fulfillment.domain.isv import (
    MAX_ACTIVE_CREDENTIALS,
    Authorisation,
    Isv,
    MerchantAuthorisations,
    check_report_authorisation,
    new_app_key,
    new_secret,
    secret_fingerprint,
)

T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
SKEW = timedelta(minutes=5)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def creds() -> dict[str, str]:
    """A fresh app key and secret, as the entrypoint makes them (from entropy)."""
    return {"app_key": new_app_key(secrets.token_hex), "secret": new_secret(secrets.token_urlsafe)}


def test_register_issues_a_first_credential_and_keeps_only_its_fingerprint() -> None:
    isv, issued = Isv.register("isv-wms", "WMS 仓储", T0, **creds())
    assert issued.isv_id == "isv-wms"
    assert issued.app_key.startswith("lsk_")
    assert len(issued.secret) >= 32
    cred = isv.credential(issued.app_key)
    assert cred is not None
    assert cred.secret_fingerprint == secret_fingerprint(issued.secret)
    assert issued.secret not in repr(cred)
    assert isv.valid_credential(issued.app_key, T0) == cred
    assert isv.valid_credential(issued.app_key, minutes(-1)) is None  # not yet issued
    assert isv.valid_credential("lsk_nope", T0) is None


def test_rotation_allows_two_valid_credentials_then_revoke_the_old_one() -> None:
    isv, old = Isv.register("isv-wms", "WMS", T0, **creds())
    new = isv.issue_credential(minutes(1), **creds())
    assert MAX_ACTIVE_CREDENTIALS == 2
    with pytest.raises(Conflict) as exc:
        isv.issue_credential(minutes(2), **creds())
    assert exc.value.code == ErrorCode.CREDENTIAL_LIMIT_REACHED
    isv.revoke_credential(old.app_key, minutes(3))
    assert isv.valid_credential(old.app_key, minutes(3)) is None
    assert isv.valid_credential(old.app_key, minutes(2)) is not None  # it was valid before
    assert isv.valid_credential(new.app_key, minutes(3)) is not None
    isv.issue_credential(minutes(4), **creds())
    assert len(isv.credentials) == 3
    with pytest.raises(Conflict) as exc:
        isv.revoke_credential(old.app_key, minutes(5))
    assert exc.value.code == ErrorCode.CREDENTIAL_ALREADY_REVOKED
    with pytest.raises(NotFound) as nf:
        isv.revoke_credential("lsk_unknown", minutes(5))
    assert nf.value.code == ErrorCode.UNKNOWN_CREDENTIAL


@pytest.mark.parametrize(
    ("isv_id", "name"),
    [("", "WMS"), ("has space", "WMS"), ("x" * 65, "WMS"), ("isv-1", "  "), ("isv-1", "n" * 101)],
)
def test_invalid_isv(isv_id: str, name: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        Isv(isv_id, name, T0)
    assert exc.value.code == ErrorCode.INVALID_ISV


def test_short_secret_and_naive_times_are_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        Isv.register("isv-1", "WMS", T0, app_key=new_app_key(secrets.token_hex), secret="too-short")
    assert exc.value.code == ErrorCode.INVALID_ISV
    with pytest.raises(InvalidInput) as exc:
        Isv("isv-1", "WMS", datetime(2025, 1, 1))  # noqa: DTZ001
    assert exc.value.code == ErrorCode.INVALID_TIME


def test_suspended_isv_has_no_valid_credential_and_cannot_be_authorised() -> None:
    isv, issued = Isv.register("isv-wms", "WMS", T0, **creds())
    isv.suspend(minutes(10))
    assert isv.is_active_at(minutes(9))
    assert not isv.is_active_at(minutes(10))
    assert isv.valid_credential(issued.app_key, minutes(10)) is None
    shop = MerchantAuthorisations("m-1")
    with pytest.raises(Conflict) as exc:
        shop.authorise(isv, minutes(11))
    assert exc.value.code == ErrorCode.ISV_SUSPENDED
    isv.reinstate()
    assert shop.authorise(isv, minutes(12)).is_active_at(minutes(12))


def test_authorise_revoke_reauthorise() -> None:
    isv, _ = Isv.register("isv-wms", "WMS", T0, **creds())
    shop = MerchantAuthorisations("m-1")
    first = shop.authorise(isv, minutes(0))
    assert shop.authorised_isvs(minutes(1)) == ["isv-wms"]
    with pytest.raises(Conflict) as exc:
        shop.authorise(isv, minutes(1))
    assert exc.value.code == ErrorCode.ALREADY_AUTHORISED

    revoked = shop.revoke("isv-wms", minutes(10))
    assert revoked.granted_at == first.granted_at
    assert revoked.revoked_at == minutes(10)
    assert revoked.is_active_at(minutes(9))
    assert not revoked.is_active_at(minutes(10))  # half-open period
    assert shop.active("isv-wms", minutes(10)) is None
    with pytest.raises(Conflict) as exc:
        shop.revoke("isv-wms", minutes(11))
    assert exc.value.code == ErrorCode.AUTHORISATION_NOT_ACTIVE

    with pytest.raises(InvalidInput) as bad:
        shop.authorise(isv, minutes(-5))  # before the last revocation
    assert bad.value.code == ErrorCode.INVALID_TIME
    second = shop.authorise(isv, minutes(20))
    assert shop.periods_of("isv-wms") == [revoked, second]
    rebuilt = MerchantAuthorisations("m-1", shop.periods)
    assert rebuilt.active("isv-wms", minutes(21)) == second


def test_periods_of_another_merchant_are_refused() -> None:
    with pytest.raises(ValueError):
        MerchantAuthorisations("m-1", [Authorisation("m-2", "isv-wms", T0)])


def test_errors_carry_code_message_and_details() -> None:
    err = FulfillmentError("SOME_CODE", "human text", isv_id="x")
    assert err.as_dict() == {"code": "SOME_CODE", "message": "human text", "details": {"isv_id": "x"}}
    assert FulfillmentError("C", "m").as_dict() == {"code": "C", "message": "m"}


class TestReportAuthorisation:
    periods = (
        Authorisation("m-1", "isv-wms", granted_at=minutes(0), revoked_at=minutes(60)),
        Authorisation("m-1", "isv-wms", granted_at=minutes(120)),
        Authorisation("m-1", "isv-erp", granted_at=minutes(0)),
        Authorisation("m-2", "isv-other", granted_at=minutes(0)),
    )

    def check(self, isv_id: str, occurred: float, now: float, merchant: str = "m-1") -> str | None:
        return check_report_authorisation(
            self.periods,
            merchant_id=merchant,
            isv_id=isv_id,
            occurred_at=minutes(occurred),
            now=minutes(now),
            clock_skew=SKEW,
        )

    def test_active_authorisation_accepts(self) -> None:
        assert self.check("isv-wms", 10, 11) is None
        assert self.check("isv-erp", 10, 11) is None

    def test_operation_before_revocation_arriving_after_it_is_rejected(self) -> None:
        assert self.check("isv-wms", 59, 61) == "the merchant revoked this ISV's authorisation"

    def test_operation_in_an_earlier_period_arriving_in_a_new_one_is_rejected(self) -> None:
        assert self.check("isv-wms", 30, 121) == "the operation happened before the merchant authorised this ISV"

    def test_operation_before_the_grant_within_the_clock_skew_is_accepted(self) -> None:
        assert self.check("isv-wms", 115, 121) is None
        assert self.check("isv-wms", 114.9, 121) is not None

    def test_never_authorised(self) -> None:
        assert self.check("isv-other", 10, 11) == "the merchant has not authorised this ISV"
        assert self.check("isv-wms", 10, 11, merchant="m-2") is not None
