"""Session tokens: short JWTs that grant read access to one session (docs/protocol.md §8).

Verification follows one order so every failure has one answer: signature (an allowed
``alg`` and a known ``kid``), then ``typ``, ``aud``, ``iss`` and the required claims,
then ``nbf``/``iat`` not in the future (5 s leeway for the clocks of several
instances) — all :class:`InvalidToken` — and only then ``exp``
(:class:`SessionExpired`). The session lookup is the caller's.
"""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass
from typing import Any

import jwt

from ..config import JWTKey, Settings
from ..errors import InvalidToken, SessionExpired

TOKEN_TYPE = "gw-view+jwt"  # noqa: S105 (the JWT typ header, not a secret)
LEEWAY_SECONDS = 5
REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "exp")
MAX_TOKEN_CHARS = 4096
#: JWS compact serialization (RFC 7515 §7.1): three base64url parts. Anything else is
#: malformed before a byte of it is decoded (a lone surrogate cannot even be encoded).
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
#: Header members that must be strings encodable as UTF-8, without NUL (docs/protocol.md §8).
STRING_HEADERS = ("alg", "typ", "kid")
#: NumericDate claims (RFC 7519 §2): JSON integers, never strings, floats or booleans.
TIME_CLAIMS = ("iat", "exp", "nbf")
#: Verified tokens kept (about 0.5 KiB each): one per live publishing session is plenty.
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class TokenClaims:
    session_id: str
    issued_at: int
    expires_at: int


class TokenService:
    """Issues tokens with the newest key and verifies them with every configured key."""

    def __init__(
        self,
        keys: tuple[JWTKey, ...],
        *,
        issuer: str,
        audience: str,
        algorithms: tuple[str, ...],
    ) -> None:
        if not keys:
            raise ValueError("at least one JWT key is required")
        self._signing = keys[0]
        self._keys = {k.kid: k.secret for k in keys}
        self._issuer = issuer
        self._audience = audience
        self._algorithms = list(algorithms)
        self._verified: dict[str, TokenClaims] = {}

    @classmethod
    def from_settings(cls, settings: Settings, keys: tuple[JWTKey, ...]) -> TokenService:
        return cls(
            keys,
            issuer=settings.issuer,
            audience=settings.auth.audience,
            algorithms=settings.auth.algorithms,
        )

    def issue(self, session_id: str, *, issued_at: float, expires_at: float) -> str:
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": session_id,
            "iat": int(issued_at),
            "exp": int(expires_at),
        }
        return jwt.encode(
            claims,
            self._signing.secret,
            algorithm=self._algorithms[0],
            headers={"kid": self._signing.kid, "typ": TOKEN_TYPE},
        )

    def verify(self, token: str, *, bearer: bool = False, now: float | None = None) -> TokenClaims:
        """Return the claims of a valid token, else raise InvalidToken or SessionExpired."""

        def invalid(detail: str) -> InvalidToken:
            return InvalidToken(detail, bearer=bearer)

        if not token or len(token) > MAX_TOKEN_CHARS or not COMPACT_JWS.fullmatch(token):
            raise invalid("token missing, too long or not a compact JWS")
        current = time.time() if now is None else now
        known = self._verified.get(token)
        if known is not None:
            # Verified before; only the clock-dependent checks can change their answer.
            if known.issued_at > current + LEEWAY_SECONDS:
                raise invalid("token is not yet valid")
            if known.expires_at <= current:
                raise SessionExpired("the session token has expired")
            return known
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise invalid("token is malformed") from None
        if not all(_is_text(header.get(name)) for name in STRING_HEADERS if name in header):
            raise invalid("token header alg, typ and kid must be UTF-8 strings")
        kid = header.get("kid")
        secret = self._lookup(kid) if isinstance(kid, str) else None
        if secret is None:
            raise invalid("token key id is unknown")
        try:
            # One pass: signature and algorithm first (PyJWT's own order), then aud,
            # iss, the required claims and nbf; exp is left for last (module docstring).
            decoded = jwt.decode_complete(
                token,
                secret,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"verify_exp": False, "require": list(REQUIRED_CLAIMS)},
            )
        except jwt.InvalidTokenError as exc:
            raise invalid(f"token is not valid: {type(exc).__name__}") from None
        except (ValueError, TypeError, OverflowError):
            # PyJWT's own claim checks convert with int() and float(): an Infinity or a
            # huge number in a signed token raises these rather than InvalidTokenError.
            raise invalid("token claims are not valid") from None
        if decoded["header"].get("typ") != TOKEN_TYPE:
            raise invalid("token type is not " + TOKEN_TYPE)
        claims = decoded["payload"]
        if not all(_is_integer(claims[name]) for name in TIME_CLAIMS if name in claims):
            raise invalid("token iat, exp and nbf must be integers")
        sub, iat, exp = claims["sub"], claims["iat"], claims["exp"]
        if not _is_text(sub) or not sub:
            raise invalid("token claims are not valid")
        if iat > current + LEEWAY_SECONDS:
            raise invalid("token is not yet valid")
        if exp <= current:
            raise SessionExpired("the session token has expired")
        claims_ = TokenClaims(session_id=sub, issued_at=iat, expires_at=exp)
        self._remember(token, claims_)
        return claims_

    def _remember(self, token: str, claims: TokenClaims) -> None:
        """Keep a verified token so a publisher's next request skips the HMAC and parsing.

        Only tokens that passed every check are kept, keyed by their exact string, and
        the time checks run again on each use; the oldest entry goes when full.
        """
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))
        self._verified[token] = claims

    def _lookup(self, kid: str) -> bytes | None:
        found = None
        for known, secret in self._keys.items():
            if hmac.compare_digest(known.encode(), kid.encode()):
                found = secret
        return found


def _is_text(value: Any) -> bool:
    """A string that encodes as UTF-8 (no lone surrogate) and holds no NUL."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
