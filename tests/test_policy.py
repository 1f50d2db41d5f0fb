"""What check-config calls dangerous (exit 1) or weak (a warning): SPEC §8."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.app import create_app
from gateway.config import JWTKey, Settings, parse_settings
from gateway.policy import Findings, review

TLS = {"certfile": "certs/dev-cert.pem", "keyfile": "certs/dev-key.pem"}
EVERY_SCOPE = ["sessions:create", "payments:publish", "stats:read"]
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (a value under review, nothing binds to it)
EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"


def key(key_id: str = "ext", scopes: list[str] = EVERY_SCOPE, **extra: Any) -> dict[str, Any]:
    return {"id": key_id, "sha256": f"{len(key_id):064x}", "scopes": scopes, **extra}


def settings(*, tls: bool = True, **sections: dict[str, Any]) -> Settings:
    """``sections`` over the defaults, with TLS on unless ``tls`` is false."""
    doc: dict[str, Any] = {"tls": TLS} if tls else {}
    doc.update(sections)
    return parse_settings(doc)


def findings(*, tls: bool = True, **sections: dict[str, Any]) -> Findings:
    return review(settings(tls=tls, **sections))


def only_danger(found: Findings, *fragments: str) -> None:
    """Exactly one danger, mentioning every fragment."""
    assert len(found.dangers) == 1, found.dangers
    for fragment in fragments:
        assert fragment in found.dangers[0]


def only_warning(found: Findings, *fragments: str) -> None:
    """No danger and exactly one warning, mentioning every fragment."""
    assert found.dangers == []
    assert len(found.warnings) == 1, found.warnings
    for fragment in fragments:
        assert fragment in found.warnings[0]


# --- nothing to report ------------------------------------------------------------


def test_tls_on_loopback_is_clean() -> None:
    """TLS on a loopback host with an https loopback public_url reports nothing."""
    found = findings()
    assert (found.dangers, found.warnings) == ([], [])


def test_a_public_deployment_with_tls_is_clean() -> None:
    """TLS on 0.0.0.0 with an https public_url on a real host reports nothing."""
    found = findings(server={"host": ALL_INTERFACES, "public_url": "https://gw.example.test"})
    assert (found.dangers, found.warnings) == ([], [])


def test_a_key_with_every_scope_pinned_to_an_origin_is_clean() -> None:
    """Pinning an all-scope key to the extension's Origin silences the warning."""
    found = findings(auth={"api_keys": [key(allowed_origins=[EXTENSION])]})
    assert (found.dangers, found.warnings) == ([], [])


def test_a_key_with_some_scopes_is_clean_without_pinning() -> None:
    """An unpinned key that lacks a scope is not reported."""
    found = findings(auth={"api_keys": [key(scopes=["sessions:create", "payments:publish"])]})
    assert (found.dangers, found.warnings) == ([], [])


# --- dangers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sections", "name"),
    [
        ({"cors": {"allowed_origins": ["*"]}}, "cors.allowed_origins"),
        (
            {"websocket": {"allowed_origins": ["https://a.example", "*"]}},
            "websocket.allowed_origins",
        ),
        (
            {"auth": {"api_keys": [key(allowed_origins=["*"])]}},
            "auth.api_keys[ext].allowed_origins",
        ),
    ],
)
def test_a_star_in_any_origin_list_is_dangerous(sections: dict[str, Any], name: str) -> None:
    """'*' in cors, websocket or a key's allowed_origins is a danger naming the list."""
    only_danger(findings(**sections), name, "'*'")


def test_disabled_rate_limits_are_dangerous() -> None:
    """rate_limits.enabled = false is a danger naming the key."""
    only_danger(findings(rate_limits={"enabled": False}), "rate_limits.enabled = false")


def test_an_algorithm_outside_the_safe_list_is_dangerous() -> None:
    """An alg other than HS256/HS384/HS512/ES256/EdDSA is a danger naming it."""
    base = settings()
    unsafe = base.model_copy(
        update={"auth": base.auth.model_copy(update={"algorithms": ("HS256", "RS256")})}
    )
    only_danger(review(unsafe), "auth.algorithms", "RS256")


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_algorithms_are_safe(alg: str) -> None:
    """Every algorithm the config accepts is on the safe list."""
    assert findings(auth={"algorithms": [alg]}).dangers == []


@pytest.mark.parametrize("host", [ALL_INTERFACES, "::", "10.0.0.5", "gw.internal"])
def test_plain_http_on_a_public_host_without_a_proxy_is_dangerous(host: str) -> None:
    """TLS off on a non-loopback host with proxy.trusted_hops = 0 is a danger."""
    found = findings(tls=False, server={"host": host, "public_url": "https://gw.example.test"})
    only_danger(found, "TLS is off", host, "proxy.trusted_hops = 0")


@pytest.mark.parametrize("public_url", ["http://gw.example.test", "http://10.0.0.5:3001"])
def test_an_http_public_url_on_a_public_host_is_dangerous(public_url: str) -> None:
    """An http:// public_url whose host is not loopback is a danger naming it."""
    only_danger(findings(server={"public_url": public_url}), "server.public_url", public_url)


@pytest.mark.parametrize("public_url", ["http://localhost:3001", "http://127.0.0.1:3001"])
def test_an_http_public_url_on_loopback_is_not_dangerous(public_url: str) -> None:
    """http://localhost is fine for local development."""
    assert findings(server={"public_url": public_url}).dangers == []


def test_no_environment_variable_adds_a_test_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped app has no test-only switch: the conformance echo endpoint is wired by
    its own launcher (conformance/echo_server.py), so the old switch changes nothing."""
    monkeypatch.setenv("GATEWAY_TEST_ECHO", "1")
    app = create_app(Settings(), (JWTKey(kid="default", secret=b"s" * 40),))
    assert not [rule for rule in app.url_map.iter_rules() if "echo" in rule.rule]
    assert findings().dangers == []


def test_every_danger_is_reported_at_once() -> None:
    """Several dangerous settings each get their own line."""
    found = findings(
        tls=False,
        server={"host": ALL_INTERFACES, "public_url": "http://gw.example.test"},
        rate_limits={"enabled": False},
        cors={"allowed_origins": ["*"]},
        websocket={"allowed_origins": ["*"]},
    )
    assert len(found.dangers) == 5


# --- warnings ---------------------------------------------------------------------


def test_a_loopback_public_url_on_a_public_host_is_a_warning() -> None:
    """public_url on localhost while listening on 0.0.0.0 warns (links break elsewhere)."""
    found = findings(server={"host": ALL_INTERFACES})
    only_warning(found, "server.public_url", "loopback", ALL_INTERFACES)


def test_tls_off_behind_a_proxy_is_a_warning() -> None:
    """Plain HTTP with proxy.trusted_hops >= 1 warns that the proxy must be the only way in."""
    found = findings(
        tls=False,
        server={"host": ALL_INTERFACES, "public_url": "https://gw.example.test"},
        proxy={"trusted_hops": 1},
    )
    only_warning(found, "TLS is off", "proxy")


def test_tls_off_on_loopback_is_a_warning() -> None:
    """The shipped default (no TLS, loopback) warns that TLS is off."""
    only_warning(review(Settings()), "TLS is off")


def test_a_key_with_every_scope_and_no_pinned_origin_is_a_warning() -> None:
    """An all-scope key without allowed_origins warns, naming the key id."""
    only_warning(findings(auth={"api_keys": [key("extension-main")]}), "extension-main")


def test_warnings_never_show_a_key_hash() -> None:
    """Findings name keys by id, never by their sha256."""
    found = findings(auth={"api_keys": [key("extension-main", allowed_origins=["*"])]})
    text = "\n".join(found.dangers + found.warnings)
    assert key("extension-main")["sha256"] not in text


def test_a_password_in_the_broker_url_is_dangerous() -> None:
    """A Redis password written into broker.url is a secret in the file: dangerous."""
    found = review(parse_settings({"broker": {"url": "redis://:hunter2@127.0.0.1:6379/0"}}))
    assert any("broker.url holds a password" in line for line in found.dangers)
