"""Operator and merchant actions on ISVs are safe to retry with an ``Idempotency-Key``."""

from __future__ import annotations

from .conftest import Fulfillment


async def test_a_retried_rotation_issues_one_credential_and_never_shows_the_secret_again(
    fulfillment: Fulfillment,
) -> None:
    f = fulfillment
    isv = await f.register_isv("isv-rotate")
    headers = {"Idempotency-Key": "rotate-2026-11"}
    first = await f.http.post(f"/admin/isvs/{isv.isv_id}/credentials", headers=headers)
    again = await f.http.post(f"/admin/isvs/{isv.isv_id}/credentials", headers=headers)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert first.json()["secret"] != isv.secret
    assert "secret" not in again.json() and "note" in again.json(), again.text
    assert {k: v for k, v in again.json().items() if k != "note"} == {
        k: v for k, v in first.json().items() if k != "secret"
    }
    # the same for a retried registration
    reg = {"isv_id": "isv-rotate-2", "name": "WMS"}
    r1 = await f.http.post("/admin/isvs", json=reg, headers={"Idempotency-Key": "reg-1"})
    r2 = await f.http.post("/admin/isvs", json=reg, headers={"Idempotency-Key": "reg-1"})
    assert r1.status_code == r2.status_code == 201 and "secret" in r1.json(), r1.text
    assert "secret" not in r2.json() and r2.json()["app_key"] == r1.json()["app_key"], r2.text
    # two valid credentials now (the original and the rotated one): a third rotation is refused...
    third = await f.http.post(f"/admin/isvs/{isv.isv_id}/credentials", headers={"Idempotency-Key": "rotate-2"})
    assert third.status_code == 409 and third.json()["code"] == "CREDENTIAL_LIMIT_REACHED", third.text
    # ...and the refusal stored nothing: after revoking the old one the same key issues a credential
    r = await f.http.delete(f"/admin/isvs/{isv.isv_id}/credentials/{isv.app_key}")
    assert r.status_code == 200, r.text
    third = await f.http.post(f"/admin/isvs/{isv.isv_id}/credentials", headers={"Idempotency-Key": "rotate-2"})
    assert third.status_code == 201 and third.json()["app_key"] != first.json()["app_key"], third.text


async def test_a_retried_authorisation_gets_the_first_answer(fulfillment: Fulfillment) -> None:
    f = fulfillment
    isv = await f.register_isv("isv-auth")
    path, headers = "/merchants/m-idem/isv-authorisations", {"Idempotency-Key": "auth-1"}
    first = await f.http.post(path, json={"isv_id": isv.isv_id}, headers=headers)
    again = await f.http.post(path, json={"isv_id": isv.isv_id}, headers=headers)
    assert first.status_code == again.status_code == 201 and again.json() == first.json(), again.text
    # without the key (or with a new one) a second authorisation is still refused
    other = await f.http.post(path, json={"isv_id": isv.isv_id}, headers={"Idempotency-Key": "auth-2"})
    assert other.status_code == 409 and other.json()["code"] == "ALREADY_AUTHORISED", other.text
    # the same key for another ISV is a different request
    isv2 = await f.register_isv("isv-auth-2")
    reused = await f.http.post(path, json={"isv_id": isv2.isv_id}, headers=headers)
    assert reused.status_code == 409 and reused.json()["code"] == "IDEMPOTENCY_KEY_REUSED", reused.text
    listed = (await f.http.get(path)).json()["authorisations"]
    assert [a["isv_id"] for a in listed] == [isv.isv_id]
