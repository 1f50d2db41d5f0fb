"""Session tokens: issue, verify, the verification order of SPEC §2, and key rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest

from gateway.auth.tokens import LEEWAY_SECONDS, TOKEN_TYPE, TokenClaims, TokenService
from gateway.config import JWTKey, Settings, parse_settings
from gateway.errors import InvalidToken, SessionExpired

SECRET = b"s" * 32 + b"-current-secret-for-tests"
OLD_SECRET = b"o" * 32 + b"-previous-secret-for-tests"
LONG_SECRET = b"L" * 64 + b"-long-enough-for-hs512"
ISSUER = "https://gw.example.test"
AUDIENCE = "gw-viewer"
SESSION = "6f1c2d4e-8a3b-4c5d-9e6f-0a1b2c3d4e5f"


def service(
    *keys: JWTKey, algorithms: tuple[str, ...] = ("HS256",), issuer: str = ISSUER
) -> TokenService:
    return TokenService(
        keys or (JWTKey(kid="k1", secret=SECRET),),
        issuer=issuer,
        audience=AUDIENCE,
        algorithms=algorithms,
    )


def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims for SESSION, issued now and expiring in ten minutes; ``...`` drops one."""
    now = int(time.time())
    out: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": SESSION,
        "iat": now,
        "exp": now + 600,
    }
    for name, value in changes.items():
        if value is ...:
            out.pop(name)
        else:
            out[name] = value
    return out


def craft(
    payload: dict[str, Any] | None = None,
    *,
    secret: bytes = SECRET,
    alg: str = "HS256",
    kid: Any = "k1",
    typ: Any = TOKEN_TYPE,
) -> str:
    """A token signed by hand with jwt.encode (``kid``/``typ`` of ``...`` are left out)."""
    headers: dict[str, Any] = {}
    if kid is not ...:
        headers["kid"] = kid
    if typ is not ...:
        headers["typ"] = typ
    return jwt.encode(claims() if payload is None else payload, secret, alg, headers=headers)


def forge(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None = SECRET) -> str:
    """A compact JWS with any header at all, HMAC-SHA256-signed (or unsigned for None)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)


def invalid(token: str, svc: TokenService | None = None) -> InvalidToken:
    """Assert that ``token`` fails verification with InvalidToken; return the error."""
    with pytest.raises(InvalidToken) as info:
        (svc or service()).verify(token)
    return info.value


# --- issue and verify -------------------------------------------------------------


def test_an_issued_token_verifies_to_its_session() -> None:
    """issue then verify returns the session id and the whole-second times."""
    svc = service()
    now = time.time()
    token = svc.issue(SESSION, issued_at=now, expires_at=now + 1800)
    assert svc.verify(token) == TokenClaims(
        session_id=SESSION, issued_at=int(now), expires_at=int(now + 1800)
    )


def test_an_issued_token_has_kid_typ_and_the_allowed_alg_in_its_header() -> None:
    """The header names the signing key's kid, typ gw-view+jwt and the first algorithm."""
    now = time.time()
    token = service().issue(SESSION, issued_at=now, expires_at=now + 60)
    header = jwt.get_unverified_header(token)
    assert header["kid"] == "k1"
    assert header["typ"] == "gw-view+jwt"
    assert header["alg"] == "HS256"


def test_issued_claims_are_iss_aud_sub_iat_exp() -> None:
    """The claims are exactly iss, aud, sub, iat and exp, exp being expiresAt truncated."""
    now = time.time()
    expires_at = int(now) + 1800.987
    token = service().issue(SESSION, issued_at=now, expires_at=expires_at)
    payload = jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
    assert payload == {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": SESSION,
        "iat": int(now),
        "exp": int(expires_at),
    }


def test_the_hmac_key_is_the_secret_bytes() -> None:
    """A token signed by hand with the UTF-8 secret verifies."""
    assert service().verify(craft()).session_id == SESSION


def test_from_settings_uses_public_url_as_issuer_and_gw_viewer_as_audience() -> None:
    """By default iss is server.public_url and aud is gw-viewer."""
    settings = Settings()
    svc = TokenService.from_settings(settings, (JWTKey(kid="k1", secret=SECRET),))
    now = time.time()
    token = svc.issue(SESSION, issued_at=now, expires_at=now + 60)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["iss"] == "https://localhost:3001"
    assert payload["aud"] == "gw-viewer"


def test_from_settings_honours_auth_issuer_and_audience() -> None:
    """auth.issuer and auth.audience override the defaults, and verification checks them."""
    settings = parse_settings({"auth": {"issuer": "urn:gw", "audience": "screens"}})
    svc = TokenService.from_settings(settings, (JWTKey(kid="k1", secret=SECRET),))
    now = time.time()
    token = svc.issue(SESSION, issued_at=now, expires_at=now + 60)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert (payload["iss"], payload["aud"]) == ("urn:gw", "screens")
    assert svc.verify(token).session_id == SESSION
    invalid(craft(claims(iss="urn:gw")), svc)  # aud gw-viewer is not screens


def test_a_service_needs_at_least_one_key() -> None:
    """TokenService refuses to be built without keys."""
    with pytest.raises(ValueError, match="key"):
        TokenService((), issuer=ISSUER, audience=AUDIENCE, algorithms=("HS256",))


# --- signature, algorithm and key -------------------------------------------------


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b.c", "e30.e30.", "x" * 4097],
    ids=["empty", "garbage", "three-parts", "empty-signature", "too-long"],
)
def test_a_malformed_token_is_invalid(token: str) -> None:
    """Anything that is not a compact JWS of at most 4096 characters is InvalidToken."""
    invalid(token)


def test_a_token_signed_with_another_secret_is_invalid() -> None:
    """A bad signature is InvalidToken."""
    invalid(craft(secret=b"w" * 48))


def test_a_token_with_a_tampered_payload_is_invalid() -> None:
    """Changing the claims after signing breaks the signature."""
    token = craft()
    other = craft(claims(sub="another-session"))
    header, _, signature = token.split(".")
    invalid(".".join([header, other.split(".")[1], signature]))


def test_a_token_with_an_unknown_kid_is_invalid() -> None:
    """A kid that names no configured key is InvalidToken, even if the secret is right."""
    assert "key id" in invalid(craft(kid="k9")).detail


def test_forge_signs_like_pyjwt() -> None:
    """The hand-made tokens below are real HS256 tokens (checked on a valid one)."""
    token = forge({"alg": "HS256", "kid": "k1", "typ": TOKEN_TYPE}, claims())
    assert service().verify(token).session_id == SESSION


@pytest.mark.parametrize("kid", [..., 7, None, "", ["k1"]], ids=repr)
def test_a_token_without_a_string_kid_is_invalid(kid: Any) -> None:
    """kid is required and must be a string naming a key."""
    header: dict[str, Any] = {"alg": "HS256", "typ": TOKEN_TYPE}
    if kid is not ...:
        header["kid"] = kid
    invalid(forge(header, claims()))


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_a_token_with_alg_none_is_invalid(alg: str) -> None:
    """An unsigned token is never accepted, whatever the case of "none"."""
    invalid(forge({"alg": alg, "kid": "k1", "typ": TOKEN_TYPE}, claims(), secret=None))
    invalid(forge({"alg": alg, "kid": "k1", "typ": TOKEN_TYPE}, claims()))


def test_a_token_that_is_not_json_inside_is_invalid() -> None:
    """A header that decodes to something other than a JSON object is InvalidToken."""
    invalid("bm90IGpzb24." + craft().split(".", 1)[1])


def test_an_algorithm_outside_the_allow_list_is_invalid() -> None:
    """HS512 is refused when only HS256 is allowed, even with the right secret."""
    invalid(craft(alg="HS512", secret=LONG_SECRET), service(JWTKey(kid="k1", secret=LONG_SECRET)))


def test_an_algorithm_on_the_allow_list_verifies() -> None:
    """With HS512 in auth.algorithms, an HS512 token verifies."""
    svc = service(JWTKey(kid="k1", secret=LONG_SECRET), algorithms=("HS256", "HS512"))
    assert svc.verify(craft(alg="HS512", secret=LONG_SECRET)).session_id == SESSION


def test_new_tokens_use_the_first_allowed_algorithm() -> None:
    """The first entry of auth.algorithms signs."""
    svc = service(JWTKey(kid="k1", secret=LONG_SECRET), algorithms=("HS512", "HS256"))
    now = time.time()
    token = svc.issue(SESSION, issued_at=now, expires_at=now + 60)
    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    assert svc.verify(token).session_id == SESSION


# --- typ, aud, iss and the required claims ----------------------------------------


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "", ..., 1], ids=repr)
def test_a_token_of_another_type_is_invalid(typ: Any) -> None:
    """typ must be exactly gw-view+jwt."""
    invalid(craft(typ=typ))


@pytest.mark.parametrize("aud", ["gw-admin", "", ["other"]], ids=repr)
def test_a_token_for_another_audience_is_invalid(aud: Any) -> None:
    """aud must name the configured audience."""
    invalid(craft(claims(aud=aud)))


@pytest.mark.parametrize("iss", ["https://evil.example", ISSUER + "/", ""], ids=repr)
def test_a_token_from_another_issuer_is_invalid(iss: str) -> None:
    """iss must equal the configured issuer exactly."""
    invalid(craft(claims(iss=iss)))


@pytest.mark.parametrize("name", ["iss", "aud", "sub", "iat", "exp"])
def test_a_token_missing_a_required_claim_is_invalid(name: str) -> None:
    """iss, aud, sub, iat and exp are each required."""
    invalid(craft(claims(**{name: ...})))


@pytest.mark.parametrize(
    ("name", "value"),
    [("sub", ""), ("sub", 42), ("exp", "soon"), ("exp", 1.5e12), ("exp", True), ("iat", "now")],
    ids=repr,
)
def test_a_token_with_a_mistyped_claim_is_invalid(name: str, value: Any) -> None:
    """sub is a non-empty string, exp and iat are integer seconds."""
    invalid(craft(claims(**{name: value})))


# --- malformations an attacker can send without the secret (SPEC §11.1) ------------


UNENCODABLE = ["\ud800", "k1\udfff", "k\x00", "\x00"]


@pytest.mark.parametrize("member", ["kid", "alg", "typ"])
@pytest.mark.parametrize("value", UNENCODABLE, ids=repr)
def test_a_header_string_that_is_not_utf8_is_invalid(member: str, value: str) -> None:
    """A lone surrogate or a NUL in kid, alg or typ is a malformed token, not a crash."""
    header: dict[str, Any] = {"alg": "HS256", "kid": "k1", "typ": TOKEN_TYPE, member: value}
    assert "\\u" in json.dumps(header)  # the escape travels as JSON, as an attacker sends it
    invalid(forge(header, claims()))


@pytest.mark.parametrize(
    "token",
    [
        "\ud800.e30.sig",
        "é.e30.sig",
        "a.b.c\x00",
        " " + "a.b.c",
        "a.b.c\n",
        "a..c",
        "a.b",
        "a.b.c.d",
    ],
    ids=repr,
)
def test_a_token_outside_the_compact_jws_alphabet_is_invalid(token: str) -> None:
    """Only base64url parts joined by two dots are decoded at all."""
    invalid(token)


def test_a_token_of_4097_valid_characters_is_invalid_and_4096_is_parsed() -> None:
    """The length bound is about the string, whatever it holds."""
    real = craft()
    padded = real + "A" * (4097 - len(real))
    assert "too long" in invalid(padded).detail
    assert "too long" not in invalid(padded[:4096]).detail


@pytest.mark.parametrize("name", ["iat", "exp", "nbf"])
@pytest.mark.parametrize(
    "value", ["1700000000", 1700000000.0, 1700000000.5, True, None, [1], {"t": 1}], ids=repr
)
def test_time_claims_must_be_json_integers(name: str, value: Any) -> None:
    """iat, exp and nbf are NumericDate integers: a string, float or boolean is malformed,
    even when signed with the right key (a string iat used to be accepted)."""
    invalid(craft(claims(**{name: value})))


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
@pytest.mark.parametrize("name", ["iat", "exp", "nbf"])
def test_non_finite_time_claims_are_invalid(name: str, value: Any) -> None:
    """Infinity and NaN (which PyJWT's JSON reader accepts) are InvalidToken, not a crash."""
    invalid(forge({"alg": "HS256", "kid": "k1", "typ": TOKEN_TYPE}, claims(**{name: value})))


@pytest.mark.parametrize("name", ["iat", "nbf"])
def test_a_400_digit_issue_time_is_not_yet_valid(name: str) -> None:
    """A huge integer iat or nbf is compared, not converted: InvalidToken, not a crash."""
    invalid(forge({"alg": "HS256", "kid": "k1", "typ": TOKEN_TYPE}, claims(**{name: 10**400})))


def test_a_sub_that_is_not_utf8_is_invalid() -> None:
    """A session id with a lone surrogate never reaches the session lookup."""
    invalid(forge({"alg": "HS256", "kid": "k1", "typ": TOKEN_TYPE}, claims(sub="\ud800")))


# --- iat / nbf, then exp ----------------------------------------------------------


def test_a_token_issued_a_minute_in_the_future_is_invalid() -> None:
    """iat beyond the 5 s leeway is InvalidToken (not yet valid)."""
    invalid(craft(claims(iat=int(time.time()) + 60)))


def test_a_token_issued_within_the_leeway_verifies() -> None:
    """iat a few seconds ahead (another instance's clock) is accepted."""
    future = int(time.time()) + LEEWAY_SECONDS - 2
    assert service().verify(craft(claims(iat=future))).issued_at == future


def test_the_iat_check_uses_the_given_clock() -> None:
    """With now given, iat more than 5 s after now is InvalidToken."""
    now = time.time()
    token = craft(claims(iat=int(now)))
    assert service().verify(token, now=now - LEEWAY_SECONDS + 1).session_id == SESSION
    with pytest.raises(InvalidToken):
        service().verify(token, now=now - LEEWAY_SECONDS - 2)


def test_a_token_not_before_a_future_time_is_invalid() -> None:
    """nbf beyond the leeway is InvalidToken."""
    invalid(craft(claims(nbf=int(time.time()) + 60)))


def test_an_expired_token_is_session_expired() -> None:
    """A token whose exp passed raises SessionExpired (410/4410), not InvalidToken."""
    now = int(time.time())
    token = craft(claims(iat=now - 700, exp=now - 100))
    with pytest.raises(SessionExpired):
        service().verify(token)


def test_a_token_expires_at_exp_exactly() -> None:
    """exp is the first second the token is no longer valid."""
    now = int(time.time())
    token = craft(claims(exp=now + 100))
    assert service().verify(token, now=now + 99).expires_at == now + 100
    with pytest.raises(SessionExpired):
        service().verify(token, now=now + 100)


def test_expiry_does_not_excuse_a_bad_signature() -> None:
    """An expired token with a bad signature is InvalidToken: the signature is checked first."""
    now = int(time.time())
    expired = claims(iat=now - 700, exp=now - 100)
    invalid(craft(expired, secret=b"w" * 48))


@pytest.mark.parametrize(
    "header_or_claims",
    [
        {"kid": "k9"},
        {"typ": "JWT"},
        {"alg": "HS512"},
        {"claims": {"aud": "other"}},
        {"claims": {"iss": "other"}},
        {"claims": {"sub": ...}},
    ],
    ids=["kid", "typ", "alg", "aud", "iss", "sub"],
)
def test_expiry_is_checked_after_every_other_check(header_or_claims: dict[str, Any]) -> None:
    """An expired token that also fails another check is InvalidToken, never SessionExpired."""
    now = int(time.time())
    kw: dict[str, Any] = dict(header_or_claims)
    payload = claims(iat=now - 700, exp=now - 100, **kw.pop("claims", {}))
    if kw.get("alg") == "HS512":
        kw["secret"] = LONG_SECRET
        svc = service(JWTKey(kid="k1", secret=LONG_SECRET))
    else:
        svc = service()
    invalid(craft(payload, **kw), svc)


def test_an_expired_token_in_the_future_is_invalid_not_expired() -> None:
    """A token both not yet valid and expired is InvalidToken: iat comes before exp."""
    now = int(time.time())
    invalid(craft(claims(iat=now + 60, exp=now - 1)))


# --- key rotation -----------------------------------------------------------------


def test_a_token_signed_by_the_previous_key_still_verifies() -> None:
    """After rotation, tokens from the old key verify with the kid that names it."""
    before = service(JWTKey(kid="2026-11", secret=OLD_SECRET))
    now = time.time()
    old_token = before.issue(SESSION, issued_at=now, expires_at=now + 600)
    after = service(JWTKey(kid="2026-12", secret=SECRET), JWTKey(kid="2026-11", secret=OLD_SECRET))
    assert after.verify(old_token).session_id == SESSION


def test_new_tokens_are_signed_by_the_first_key() -> None:
    """The first key of [[auth.jwt_keys]] signs; its kid is in the header."""
    svc = service(JWTKey(kid="2026-12", secret=SECRET), JWTKey(kid="2026-11", secret=OLD_SECRET))
    now = time.time()
    token = svc.issue(SESSION, issued_at=now, expires_at=now + 600)
    assert jwt.get_unverified_header(token)["kid"] == "2026-12"
    jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)


def test_a_kid_only_verifies_with_its_own_key() -> None:
    """A token signed by the old secret but naming the new kid is InvalidToken."""
    svc = service(JWTKey(kid="2026-12", secret=SECRET), JWTKey(kid="2026-11", secret=OLD_SECRET))
    invalid(craft(kid="2026-12", secret=OLD_SECRET), svc)


def test_a_dropped_key_no_longer_verifies() -> None:
    """Once the old key is removed from the list, its tokens are InvalidToken."""
    now = time.time()
    old = service(JWTKey(kid="2026-11", secret=OLD_SECRET))
    token = old.issue(SESSION, issued_at=now, expires_at=now + 600)
    invalid(token, service(JWTKey(kid="2026-12", secret=SECRET)))


# --- what the errors carry --------------------------------------------------------


def test_bearer_invalid_tokens_ask_for_a_bearer_token() -> None:
    """With bearer=True the 401 carries WWW-Authenticate: Bearer."""
    with pytest.raises(InvalidToken) as info:
        service().verify("garbage", bearer=True)
    assert info.value.headers()["WWW-Authenticate"].startswith("Bearer")
    assert info.value.status == 401
    assert info.value.close_code == 4401


def test_path_invalid_tokens_carry_no_challenge() -> None:
    """Without bearer, InvalidToken adds no WWW-Authenticate header."""
    assert invalid("garbage").headers() == {}


def test_bearer_applies_to_every_kind_of_invalid_token() -> None:
    """A wrong typ (a later check) also carries the Bearer challenge when bearer=True."""
    with pytest.raises(InvalidToken) as info:
        service().verify(craft(typ="JWT"), bearer=True)
    assert "Bearer" in info.value.headers()["WWW-Authenticate"]


def test_expired_tokens_map_to_410_and_4410() -> None:
    """SessionExpired is 410 over HTTP and 4410 over WebSocket."""
    assert (SessionExpired.status, SessionExpired.close_code) == (410, 4410)


def test_error_details_never_contain_the_token_or_the_secret() -> None:
    """Neither the token nor the secret appears in an InvalidToken detail."""
    token = craft(claims(aud="other"))
    err = invalid(token)
    assert token not in err.detail
    assert SECRET.decode() not in err.detail
    assert token not in repr(err.problem())


def test_a_remembered_token_still_expires() -> None:
    """A token verified once is answered from memory, but its exp is checked every time."""
    svc = service()
    now = time.time()
    token = svc.issue(SESSION, issued_at=now, expires_at=now + 60)
    assert svc.verify(token).session_id == SESSION
    assert svc.verify(token, now=now + 30).session_id == SESSION
    with pytest.raises(SessionExpired):
        svc.verify(token, now=now + 61)


def test_a_tampered_copy_of_a_remembered_token_is_still_invalid() -> None:
    """Memory is keyed by the whole token: a changed signature is verified, and refused."""
    svc = service()
    now = time.time()
    token = svc.issue(SESSION, issued_at=now, expires_at=now + 60)
    svc.verify(token)
    head, body, signature = token.split(".")
    tampered = f"{head}.{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    invalid(tampered, svc)
