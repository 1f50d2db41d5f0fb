"""API keys: hashes only, constant-time lookup, scopes and Origin pinning (SPEC §2, §9)."""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
from typing import Any

import pytest

from gateway.auth.apikeys import (
    KEY_PREFIX,
    MAX_KEY_CHARS,
    APIKey,
    KeyRing,
    hash_key,
    new_key,
    toml_block,
)
from gateway.config import SCOPES, APIKeySettings, parse_settings
from gateway.errors import Forbidden, Unauthorized

PUBLISHER_KEY = "gw_publisher-key-for-tests"
READER_KEY = "gw_reader-key-for-tests"
PINNED_KEY = "gw_pinned-key-for-tests"
EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"


def entry(key_id: str, key: str, scopes: list[str], **extra: Any) -> APIKeySettings:
    return APIKeySettings.model_validate(
        {"id": key_id, "sha256": hash_key(key), "scopes": scopes, **extra}
    )


@pytest.fixture
def ring() -> KeyRing:
    """Three keys: a publisher, a stats reader, and a publisher pinned to the extension."""
    return KeyRing(
        (
            entry("publisher", PUBLISHER_KEY, ["sessions:create", "payments:publish"]),
            entry("reader", READER_KEY, ["stats:read"]),
            entry("pinned", PINNED_KEY, list(SCOPES), allowed_origins=[EXTENSION]),
        )
    )


def unauthorized(ring: KeyRing, presented: str | None) -> Unauthorized:
    with pytest.raises(Unauthorized) as info:
        ring.authenticate(presented)
    return info.value


# --- hashing and new keys ---------------------------------------------------------


def test_hash_key_is_the_sha256_hex_of_the_utf8_key() -> None:
    """hash_key is lowercase hex SHA-256 of the key's UTF-8 bytes."""
    assert hash_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert hash_key("khóa") == hashlib.sha256("khóa".encode()).hexdigest()


def test_a_new_key_has_the_prefix_and_256_random_bits() -> None:
    """new_key is "gw_" followed by 32 random bytes, URL-safe base64 without padding."""
    key = new_key()
    assert KEY_PREFIX == "gw_"
    assert key.startswith(KEY_PREFIX)
    body = key.removeprefix(KEY_PREFIX)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body)
    assert len(base64.urlsafe_b64decode(body + "=")) == 32


def test_new_keys_do_not_repeat() -> None:
    """Every call gives another key."""
    keys = {new_key() for _ in range(200)}
    assert len(keys) == 200


def test_a_new_key_fits_the_presented_key_limit() -> None:
    """A generated key is short enough to be accepted by authenticate."""
    assert len(new_key()) <= MAX_KEY_CHARS


def test_toml_block_parses_and_validates_as_an_api_key_entry() -> None:
    """The printed block is TOML whose entry is a valid [[auth.api_keys]] for the key."""
    key = new_key()
    doc = tomllib.loads(toml_block("extension-main", key))
    (item,) = doc["auth"]["api_keys"]
    settings = APIKeySettings.model_validate(item)
    assert settings.id == "extension-main"
    assert settings.sha256 == hash_key(key)
    assert settings.scopes == SCOPES
    assert settings.allowed_origins is None
    assert KeyRing((settings,)).authenticate(key).id == "extension-main"


def test_toml_block_with_chosen_scopes_is_a_valid_config() -> None:
    """A block with a subset of scopes pastes into a config that parse_settings accepts."""
    key = new_key()
    doc = tomllib.loads(toml_block("stats", key, ("stats:read",)))
    settings = parse_settings(doc)
    assert settings.auth.api_keys[0].scopes == ("stats:read",)


def test_toml_block_never_contains_the_key() -> None:
    """Only the hash is written into the block."""
    key = new_key()
    assert key not in toml_block("x", key)


# --- authenticate -----------------------------------------------------------------


def test_a_known_key_authenticates_as_its_entry(ring: KeyRing) -> None:
    """The presented key is found by its hash, with its id and scopes."""
    assert ring.authenticate(PUBLISHER_KEY) == APIKey(
        id="publisher",
        scopes=frozenset({"sessions:create", "payments:publish"}),
        allowed_origins=None,
    )
    assert ring.authenticate(READER_KEY).id == "reader"
    assert ring.authenticate(PINNED_KEY).allowed_origins == frozenset({EXTENSION})


@pytest.mark.parametrize(
    "presented",
    [
        None,
        "",
        "gw_unknown",
        PUBLISHER_KEY + " ",
        PUBLISHER_KEY.upper(),
        hash_key(PUBLISHER_KEY),
        chr(0xD800),  # a lone surrogate: str can hold it, UTF-8 cannot
        chr(0xDCFF),
    ],
    ids=["missing", "empty", "unknown", "trailing-space", "uppercase", "the-hash", "sur1", "sur2"],
)
def test_a_missing_or_unknown_key_is_unauthorized(ring: KeyRing, presented: str | None) -> None:
    """Anything but a configured key is 401, including the stored hash itself."""
    err = unauthorized(ring, presented)
    assert err.status == 401


def test_a_key_longer_than_the_limit_is_unauthorized_without_lookup() -> None:
    """A presented key over 256 characters is refused even if it is configured."""
    long_key = "k" * (MAX_KEY_CHARS + 1)
    ring = KeyRing((entry("long", long_key, ["stats:read"]),))
    unauthorized(ring, long_key)
    exact = "k" * MAX_KEY_CHARS
    assert KeyRing((entry("exact", exact, ["stats:read"]),)).authenticate(exact).id == "exact"


def test_unauthorized_asks_for_an_api_key(ring: KeyRing) -> None:
    """The 401 carries WWW-Authenticate: ApiKey."""
    err = unauthorized(ring, "nope")
    assert err.headers()["WWW-Authenticate"].startswith("ApiKey")


def test_the_unauthorized_detail_does_not_echo_the_key(ring: KeyRing) -> None:
    """The refused key never appears in the error."""
    err = unauthorized(ring, "gw_secret-looking-value")
    assert "gw_secret-looking-value" not in err.detail
    assert "gw_secret-looking-value" not in repr(err.problem())


def test_an_empty_ring_authenticates_nothing() -> None:
    """Without configured keys, every key is 401."""
    unauthorized(KeyRing(()), PUBLISHER_KEY)


# --- authorize --------------------------------------------------------------------


def test_a_key_with_the_scope_is_authorized_from_any_origin(ring: KeyRing) -> None:
    """An unpinned key is accepted with or without an Origin."""
    key = ring.authenticate(PUBLISHER_KEY)
    ring.authorize(key, "payments:publish", None)
    ring.authorize(key, "sessions:create", "https://shop.example")


@pytest.mark.parametrize(
    ("presented", "scope"),
    [
        (PUBLISHER_KEY, "stats:read"),
        (READER_KEY, "payments:publish"),
        (READER_KEY, "sessions:create"),
        (PUBLISHER_KEY, "admin"),
    ],
)
def test_a_key_without_the_scope_is_forbidden(ring: KeyRing, presented: str, scope: str) -> None:
    """A known key lacking the scope gets 403."""
    with pytest.raises(Forbidden) as info:
        ring.authorize(ring.authenticate(presented), scope, None)
    assert info.value.status == 403


def test_a_pinned_key_is_authorized_from_its_origin(ring: KeyRing) -> None:
    """A key with allowed_origins is accepted when Origin is one of them."""
    ring.authorize(ring.authenticate(PINNED_KEY), "payments:publish", EXTENSION)


@pytest.mark.parametrize(
    "origin",
    [None, "", "https://evil.example", EXTENSION + "x", EXTENSION.upper(), EXTENSION + "/"],
    ids=["no-origin", "empty", "other", "longer", "uppercase", "trailing-slash"],
)
def test_a_pinned_key_from_another_or_no_origin_is_forbidden(
    ring: KeyRing, origin: str | None
) -> None:
    """A pinned key without an Origin header, or from another Origin, gets 403."""
    with pytest.raises(Forbidden, match="Origin"):
        ring.authorize(ring.authenticate(PINNED_KEY), "payments:publish", origin)


def test_scope_is_checked_before_origin() -> None:
    """A pinned key lacking the scope is refused for the scope, whatever the Origin."""
    ring = KeyRing((entry("p", PINNED_KEY, ["stats:read"], allowed_origins=[EXTENSION]),))
    with pytest.raises(Forbidden, match="scope"):
        ring.authorize(ring.authenticate(PINNED_KEY), "payments:publish", EXTENSION)
