"""API keys: presented in ``X-API-Key``, stored only as SHA-256 hashes (docs/security.md §3.1).

A presented key is hashed and compared with every configured hash in constant time,
with no early exit, so response timing says nothing about which prefix matched.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from ..config import SCOPES, APIKeySettings
from ..errors import Forbidden, Unauthorized

KEY_PREFIX = "gw_"
MAX_KEY_CHARS = 256


@dataclass(frozen=True, slots=True)
class APIKey:
    id: str
    scopes: frozenset[str]
    allowed_origins: frozenset[str] | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A new random API key: a recognisable prefix and 256 bits from :mod:`secrets`."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def toml_block(key_id: str, key: str, scopes: tuple[str, ...] = SCOPES) -> str:
    quoted = ", ".join(f'"{s}"' for s in scopes)
    return (
        "[[auth.api_keys]]\n"
        f'id = "{key_id}"\n'
        f'sha256 = "{hash_key(key)}"\n'
        f"scopes = [{quoted}]\n"
        '# allowed_origins = ["chrome-extension://<extension id>"]\n'
    )


class KeyRing:
    """The configured API keys, looked up by the hash of the presented key."""

    def __init__(self, entries: tuple[APIKeySettings, ...]) -> None:
        self._entries = [
            (
                bytes.fromhex(e.sha256),
                APIKey(
                    id=e.id,
                    scopes=frozenset(e.scopes),
                    allowed_origins=(
                        None if e.allowed_origins is None else frozenset(e.allowed_origins)
                    ),
                ),
            )
            for e in entries
        ]

    def authenticate(self, presented: str | None) -> APIKey:
        """Return the key matching ``presented``; raise :class:`Unauthorized` otherwise."""
        if not presented or len(presented) > MAX_KEY_CHARS:
            raise Unauthorized("missing or unknown API key")
        digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
        found = None
        for stored, key in self._entries:
            if hmac.compare_digest(stored, digest):
                found = key
        if found is None:
            raise Unauthorized("missing or unknown API key")
        return found

    def authorize(self, key: APIKey, scope: str, origin: str | None) -> None:
        """Raise :class:`Forbidden` unless ``key`` holds ``scope`` and is usable from ``origin``."""
        if scope not in key.scopes:
            raise Forbidden(f"the API key lacks the scope {scope}")
        if key.allowed_origins is not None and origin not in key.allowed_origins:
            raise Forbidden("the API key is not accepted from this Origin")
