"""Settings: the defaults of SPEC §7, the shipped config.toml, and errors that name the key."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway.config import (
    DEFAULT_KID,
    ConfigError,
    Settings,
    available_cpus,
    is_loopback,
    load_jwt_keys,
    load_settings,
    origin_of,
    parse_settings,
)

SHIPPED = Path(__file__).resolve().parents[1] / "config.toml"
SECRET = "x" * 32
API_KEY = {
    "id": "extension-main",
    "sha256": "a" * 64,
    "scopes": ["sessions:create", "payments:publish", "stats:read"],
}


def refused(doc: dict[str, Any]) -> str:
    """The message of the ConfigError that ``doc`` must raise."""
    with pytest.raises(ConfigError) as info:
        parse_settings(doc)
    return str(info.value)


def plain(value: Any) -> Any:
    """Tuples as lists, so settings compare with parsed TOML."""
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


# --- defaults ---------------------------------------------------------------------


def test_defaults_are_the_spec_table() -> None:
    """Every default equals SPEC §7 (and §6 for the rate limits)."""
    s = Settings()
    assert (s.server.host, s.server.port) == ("127.0.0.1", 3001)
    assert s.server.public_url == "https://localhost:3001"
    assert s.server.ws_public_url is None
    assert s.server.effective_ws_public_url == "wss://localhost:3001"
    assert (s.tls.certfile, s.tls.keyfile, s.tls.enabled) == (None, None, False)
    assert s.proxy.trusted_hops == 0
    assert s.auth.jwt_secret_env == "GATEWAY_JWT_SECRET"
    assert s.auth.jwt_secret_file is None
    assert s.issuer == "https://localhost:3001"
    assert s.auth.audience == "gw-viewer"
    assert s.auth.algorithms == ("HS256",)
    assert s.auth.api_keys == ()
    assert s.auth.jwt_keys == ()
    assert s.sessions.ttl_seconds == 1800
    assert s.sessions.data_linger_seconds == 300
    assert s.sessions.sweep_interval_seconds == 300
    assert s.sessions.max_viewers_per_session == 20
    assert s.payload.max_body_bytes == 400_000
    assert s.payload.max_qr_bytes == 262_144
    assert s.payload.max_amount == 50_000_000
    assert s.payload.allow_extra_fields is False
    assert s.payload.currencies == ("VND",)
    assert s.payload.deeplink_hosts == ()
    assert s.rate_limits.enabled is True
    assert s.rate_limits.token_generate_per_ip == "30/minute"
    assert s.rate_limits.token_generate_per_key == "600/hour"
    assert s.rate_limits.payment_per_ip == "120/minute"
    assert s.rate_limits.payment_per_token == "30/minute"
    assert s.rate_limits.ws_connect_per_ip == "60/minute"
    assert s.rate_limits.ws_messages_per_connection == "20/10 seconds"
    assert s.cors.allowed_origins == ()
    assert s.websocket.allowed_origins == ()
    assert s.websocket.max_message_bytes == 4096
    assert s.websocket.send_queue_size == 32
    assert s.websocket.ping_interval_seconds == 20
    assert s.websocket.idle_timeout_seconds == 60
    assert s.broker.url == "memory://"
    assert s.broker.timeout_seconds == 2
    assert s.viewer.url_template == "{public_url}/qr/{token}"
    assert s.metrics.bind is None
    assert (s.logging.level, s.logging.format) == ("INFO", "json")


def test_an_empty_document_gives_the_defaults() -> None:
    """parse_settings({}) equals Settings()."""
    assert parse_settings({}) == Settings()


# --- the shipped config.toml ------------------------------------------------------


def shipped() -> dict[str, Any]:
    with SHIPPED.open("rb") as fh:
        return tomllib.load(fh)


def test_the_shipped_config_parses() -> None:
    """config.toml is valid and equals the defaults as a whole."""
    assert parse_settings(shipped()) == Settings()


def test_every_key_of_the_shipped_config_holds_its_default() -> None:
    """Each key config.toml sets has the value SPEC §7 gives as default."""
    defaults = Settings()
    checked = 0
    for section, keys in shipped().items():
        assert isinstance(keys, dict), section
        for key, value in keys.items():
            assert plain(getattr(getattr(defaults, section), key)) == value, f"{section}.{key}"
            checked += 1
    assert checked >= 35


def test_the_shipped_config_documents_every_section() -> None:
    """config.toml has a [section] for every settings section."""
    assert set(shipped()) == set(Settings.model_fields)


def test_load_settings_reads_a_file(tmp_path: Path) -> None:
    """load_settings parses the TOML file at the given path."""
    path = tmp_path / "gw.toml"
    path.write_text('[server]\nport = 8443\npublic_url = "https://gw.example.test"\n')
    settings = load_settings(path)
    assert settings.server.port == 8443
    assert settings.issuer == "https://gw.example.test"


def test_load_settings_follows_gateway_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a path, $GATEWAY_CONFIG names the file."""
    path = tmp_path / "env.toml"
    path.write_text("[sessions]\nttl_seconds = 60\n")
    monkeypatch.setenv("GATEWAY_CONFIG", str(path))
    assert load_settings().sessions.ttl_seconds == 60


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A path that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "absent.toml")


def test_a_file_that_is_not_toml_is_a_config_error(tmp_path: Path) -> None:
    """Invalid TOML is a ConfigError, not a traceback."""
    path = tmp_path / "bad.toml"
    path.write_text("[server\nport = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_errors_from_a_file_name_the_file_and_the_key(tmp_path: Path) -> None:
    """A bad key in a file is reported as '<path>: <dotted key>: ...'."""
    path = tmp_path / "typo.toml"
    path.write_text("[websocket]\nmax_mesage_bytes = 4096\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}: websocket.max_mesage_bytes: ")


# --- unknown keys -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "dotted"),
    [
        ({"websocket": {"max_mesage_bytes": 4096}}, "websocket.max_mesage_bytes"),
        ({"servr": {"port": 1}}, "servr"),
        ({"server": {"prot": 1}}, "server.prot"),
        ({"auth": {"api_keys": [{**API_KEY, "sha265": "a" * 64}]}}, "auth.api_keys[0].sha265"),
        (
            {"auth": {"api_keys": [API_KEY, {**API_KEY, "id": "b", "scope": []}]}},
            "auth.api_keys[1].scope",
        ),
        (
            {"auth": {"jwt_keys": [{"kid": "a", "secret": "x"}]}},
            "auth.jwt_keys[0].secret",
        ),
        ({"rate_limits": {"payment_per_session": "1/minute"}}, "rate_limits.payment_per_session"),
        ({"echo_endpoint": True}, "echo_endpoint"),
    ],
)
def test_an_unknown_key_anywhere_names_its_dotted_path(doc: dict[str, Any], dotted: str) -> None:
    """A typo stops start-up with a message naming the full dotted key."""
    msg = refused(doc)
    assert f": {dotted}: unknown key" in msg


# --- wrong types and values -------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "dotted"),
    [
        ({"server": {"port": "3001"}}, "server.port"),
        ({"server": {"port": 3001.0}}, "server.port"),
        ({"server": {"port": True}}, "server.port"),
        ({"server": {"port": 70000}}, "server.port"),
        ({"server": "localhost"}, "server"),
        ({"rate_limits": {"enabled": "no"}}, "rate_limits.enabled"),
        ({"rate_limits": {"payment_per_ip": "lots"}}, "rate_limits.payment_per_ip"),
        ({"payload": {"currencies": "VND"}}, "payload.currencies"),
        ({"payload": {"max_amount": 1.5}}, "payload.max_amount"),
        ({"payload": {"max_amount": 0}}, "payload.max_amount"),
        ({"payload": {"allow_extra_fields": 1}}, "payload.allow_extra_fields"),
        ({"auth": {"algorithms": ["RS256"]}}, "auth.algorithms[0]"),
        ({"auth": {"algorithms": []}}, "auth.algorithms"),
        ({"auth": {"api_keys": [{**API_KEY, "sha256": "A" * 64}]}}, "auth.api_keys[0].sha256"),
        ({"auth": {"api_keys": [{**API_KEY, "sha256": "abc"}]}}, "auth.api_keys[0].sha256"),
        ({"auth": {"api_keys": [{**API_KEY, "scopes": ["admin"]}]}}, "auth.api_keys[0].scopes[0]"),
        ({"auth": {"api_keys": [{**API_KEY, "scopes": []}]}}, "auth.api_keys[0].scopes"),
        ({"auth": {"api_keys": [{**API_KEY, "id": "has space"}]}}, "auth.api_keys[0].id"),
        (
            {"auth": {"api_keys": [{**API_KEY, "allowed_origins": ["https://a.example/"]}]}},
            "auth.api_keys[0].allowed_origins[0]",
        ),
        ({"websocket": {"allowed_origins": ["example.com"]}}, "websocket.allowed_origins[0]"),
        ({"cors": {"allowed_origins": "https://a.example"}}, "cors.allowed_origins"),
        ({"sessions": {"ttl_seconds": 0}}, "sessions.ttl_seconds"),
        ({"sessions": {"max_viewers_per_session": 0}}, "sessions.max_viewers_per_session"),
        ({"logging": {"level": "LOUD"}}, "logging.level"),
        ({"logging": {"format": "xml"}}, "logging.format"),
        ({"metrics": {"bind": "9464"}}, "metrics.bind"),
        ({"proxy": {"trusted_hops": -1}}, "proxy.trusted_hops"),
        ({"tls": {"handshakes_in_flight": 0}}, "tls.handshakes_in_flight"),
        ({"tls": {"handshakes_in_flight": 1025}}, "tls.handshakes_in_flight"),
        ({"tls": {"handshakes_in_flight": True}}, "tls.handshakes_in_flight"),
    ],
)
def test_a_wrong_type_or_value_names_its_dotted_path(doc: dict[str, Any], dotted: str) -> None:
    """Values are not coerced: a wrong type or range is a ConfigError naming the key."""
    assert f"config: {dotted}: " in refused(doc)


@pytest.mark.parametrize(
    ("server", "fragment"),
    [
        ({"public_url": "ftp://gw.example"}, "server.public_url"),
        ({"public_url": "https://gw.example/"}, "server.public_url"),
        ({"public_url": "gw.example"}, "server.public_url"),
        ({"ws_public_url": "https://gw.example"}, "server.ws_public_url"),
    ],
)
def test_public_urls_must_be_absolute_without_a_trailing_slash(
    server: dict[str, Any], fragment: str
) -> None:
    """public_url is http(s), ws_public_url is ws(s), neither ends with '/'."""
    assert fragment in refused({"server": server})


def test_tls_needs_both_files() -> None:
    """tls.certfile without tls.keyfile (or the reverse) is refused."""
    assert "tls" in refused({"tls": {"certfile": "cert.pem"}})
    assert "tls" in refused({"tls": {"keyfile": "key.pem"}})
    assert parse_settings({"tls": {"certfile": "c.pem", "keyfile": "k.pem"}}).tls.enabled


def test_api_key_ids_and_hashes_are_unique() -> None:
    """Two entries with one id, or one sha256, are refused."""
    assert "unique" in refused({"auth": {"api_keys": [API_KEY, API_KEY]}})
    twin = {**API_KEY, "id": "other"}
    assert "sha256" in refused({"auth": {"api_keys": [API_KEY, twin]}})


def test_a_viewer_template_must_contain_the_token() -> None:
    """viewer.url_template without {token}, or with an unknown placeholder, is refused."""
    assert "viewer.url_template" in refused({"viewer": {"url_template": "{public_url}/qr"}})
    assert "viewer.url_template" in refused({"viewer": {"url_template": "{host}/{token}"}})


# --- payload sizes ----------------------------------------------------------------


def test_max_body_bytes_must_hold_a_base64_qr_plus_4096() -> None:
    """payload.max_body_bytes < 4/3 max_qr_bytes + 4096 is refused, and the message says so."""
    needed = (262_144 * 4 + 2) // 3 + 4096
    msg = refused({"payload": {"max_body_bytes": needed - 1}})
    assert "payload.max_body_bytes" in msg
    assert str(needed) in msg
    assert parse_settings({"payload": {"max_body_bytes": needed}}).payload.max_body_bytes == needed


def test_a_larger_max_qr_bytes_needs_a_larger_body() -> None:
    """Raising max_qr_bytes alone past what the default body holds is refused."""
    assert "payload.max_body_bytes" in refused({"payload": {"max_qr_bytes": 300_000}})


# --- JWT keys ---------------------------------------------------------------------


ROTATION = [
    {"kid": "2026-12", "secret_env": "GW_TEST_JWT_NEW"},
    {"kid": "2026-11", "secret_env": "GW_TEST_JWT_OLD"},
]


@pytest.mark.parametrize("name", ["jwt_secret_env", "jwt_secret_file"])
def test_jwt_keys_exclude_the_single_key_settings(name: str) -> None:
    """[[auth.jwt_keys]] together with auth.jwt_secret_env or _file is refused."""
    msg = refused({"auth": {name: "X", "jwt_keys": ROTATION}})
    assert f"auth.{name}" in msg
    assert "jwt_keys" in msg


def test_the_shipped_auth_section_must_drop_jwt_secret_env_for_rotation() -> None:
    """The shipped file sets jwt_secret_env, so adding jwt_keys to it alone is refused."""
    doc = shipped()
    doc["auth"]["jwt_keys"] = ROTATION
    assert "auth.jwt_secret_env" in refused(doc)
    del doc["auth"]["jwt_secret_env"]
    assert [k.kid for k in parse_settings(doc).auth.jwt_keys] == ["2026-12", "2026-11"]


@pytest.mark.parametrize(
    "key",
    [{"kid": "a"}, {"kid": "a", "secret_env": "A", "secret_file": "/f"}],
    ids=["neither", "both"],
)
def test_a_jwt_key_has_exactly_one_source(key: dict[str, Any]) -> None:
    """Each [[auth.jwt_keys]] entry names secret_env or secret_file, not both or neither."""
    assert "auth.jwt_keys[0]" in refused({"auth": {"jwt_keys": [key]}})


def test_jwt_kids_are_unique() -> None:
    """Two jwt_keys with one kid are refused."""
    key = {"kid": "a", "secret_env": "A"}
    assert "kid" in refused({"auth": {"jwt_keys": [key, key]}})


def test_the_default_key_comes_from_gateway_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without jwt_keys, one key named "default" is read from $GATEWAY_JWT_SECRET."""
    monkeypatch.setenv("GATEWAY_JWT_SECRET", SECRET)
    (key,) = load_jwt_keys(Settings())
    assert key.kid == DEFAULT_KID == "default"
    assert key.secret == SECRET.encode()


def test_a_missing_secret_variable_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unset secret variable stops start-up, naming the key and the variable."""
    monkeypatch.delenv("GATEWAY_JWT_SECRET", raising=False)
    with pytest.raises(ConfigError) as info:
        load_jwt_keys(Settings())
    assert "auth.jwt_secret_env" in str(info.value)
    assert "GATEWAY_JWT_SECRET" in str(info.value)


def test_a_secret_shorter_than_32_bytes_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """31 bytes is too short; the message gives the length, never the secret."""
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "q" * 31)
    with pytest.raises(ConfigError) as info:
        load_jwt_keys(Settings())
    assert "31 bytes" in str(info.value)
    assert "q" * 31 not in str(info.value)


def test_secret_length_is_counted_in_utf8_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Eleven three-byte characters (33 bytes) suffice; ten (30 bytes) do not."""
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "ứ" * 11)
    assert load_jwt_keys(Settings())[0].secret == ("ứ" * 11).encode()
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "ứ" * 10)
    with pytest.raises(ConfigError, match="30 bytes"):
        load_jwt_keys(Settings())


def test_a_secret_file_is_read_without_its_trailing_newline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """auth.jwt_secret_file is read as bytes, minus a final newline, and wins over the env."""
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "e" * 40)
    path = tmp_path / "jwt"
    path.write_bytes(b"f" * 40 + b"\n")
    (key,) = load_jwt_keys(parse_settings({"auth": {"jwt_secret_file": str(path)}}))
    assert key.secret == b"f" * 40


def test_an_unreadable_secret_file_is_a_config_error(tmp_path: Path) -> None:
    """A secret file that does not exist names the key and the file."""
    path = tmp_path / "absent"
    with pytest.raises(ConfigError) as info:
        load_jwt_keys(parse_settings({"auth": {"jwt_secret_file": str(path)}}))
    assert "auth.jwt_secret_file" in str(info.value)
    assert str(path) in str(info.value)


def test_a_short_secret_file_is_refused(tmp_path: Path) -> None:
    """The 32-byte minimum applies to secret files too."""
    path = tmp_path / "jwt"
    path.write_bytes(b"short\n")
    with pytest.raises(ConfigError, match="5 bytes"):
        load_jwt_keys(parse_settings({"auth": {"jwt_secret_file": str(path)}}))


def test_no_secret_source_is_a_config_error() -> None:
    """With jwt_secret_env cleared and no file, there is no key."""
    with pytest.raises(ConfigError, match="auth"):
        load_jwt_keys(parse_settings({"auth": {"jwt_secret_env": None}}))


def test_rotation_keys_load_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """jwt_keys load in file order (the first signs), from env or file each."""
    monkeypatch.setenv("GW_TEST_JWT_NEW", "n" * 32)
    path = tmp_path / "old"
    path.write_bytes(b"o" * 32)
    settings = parse_settings(
        {
            "auth": {
                "jwt_keys": [
                    {"kid": "2026-12", "secret_env": "GW_TEST_JWT_NEW"},
                    {"kid": "2026-11", "secret_file": str(path)},
                ]
            }
        }
    )
    keys = load_jwt_keys(settings)
    assert [(k.kid, k.secret) for k in keys] == [("2026-12", b"n" * 32), ("2026-11", b"o" * 32)]


def test_rotation_ignores_gateway_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """With jwt_keys, the default variable is not read: a missing listed variable still fails."""
    monkeypatch.setenv("GATEWAY_JWT_SECRET", SECRET)
    monkeypatch.setenv("GW_TEST_JWT_NEW", "n" * 32)
    monkeypatch.delenv("GW_TEST_JWT_OLD", raising=False)
    with pytest.raises(ConfigError) as info:
        load_jwt_keys(parse_settings({"auth": {"jwt_keys": ROTATION}}))
    assert "auth.jwt_keys[1]" in str(info.value)
    assert "GW_TEST_JWT_OLD" in str(info.value)


def test_a_short_rotation_secret_names_its_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A short secret in jwt_keys names the entry's index."""
    monkeypatch.setenv("GW_TEST_JWT_NEW", "n" * 31)
    monkeypatch.setenv("GW_TEST_JWT_OLD", "o" * 32)
    with pytest.raises(ConfigError, match=r"auth\.jwt_keys\[0\]"):
        load_jwt_keys(parse_settings({"auth": {"jwt_keys": ROTATION}}))


def test_the_jwt_key_repr_hides_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JWTKey printed in a log or traceback does not show its secret."""
    monkeypatch.setenv("GATEWAY_JWT_SECRET", SECRET)
    (key,) = load_jwt_keys(Settings())
    assert SECRET not in repr(key)


# --- URLs and origins -------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://localhost:3001", "https://localhost:3001"),
        ("https://Example.COM:443/path?q=1", "https://example.com"),
        ("http://example.com:80", "http://example.com"),
        ("http://example.com:8080/", "http://example.com:8080"),
        ("wss://example.com:443", "wss://example.com"),
        ("ws://example.com:80", "ws://example.com"),
        ("http://[::1]:8080/x", "http://[::1]:8080"),
        ("chrome-extension://abcdef", "chrome-extension://abcdef"),
        ("HTTPS://example.com", "https://example.com"),
    ],
)
def test_origin_of_serializes_scheme_host_and_non_default_port(url: str, origin: str) -> None:
    """origin_of lowercases scheme and host and leaves out the default port."""
    assert origin_of(url) == origin


def test_the_public_origin_is_derived_from_public_url() -> None:
    """server.public_origin is the origin of server.public_url."""
    settings = parse_settings({"server": {"public_url": "https://gw.example.test:443"}})
    assert settings.server.public_origin == "https://gw.example.test"


@pytest.mark.parametrize(
    ("public_url", "ws_url"),
    [
        ("https://gw.example.test", "wss://gw.example.test"),
        ("https://gw.example.test:8443/base", "wss://gw.example.test:8443/base"),
        ("http://127.0.0.1:3001", "ws://127.0.0.1:3001"),
        ("HTTPS://gw.example.test", "wss://gw.example.test"),
    ],
)
def test_ws_public_url_is_derived_from_public_url(public_url: str, ws_url: str) -> None:
    """Unset ws_public_url is public_url with https→wss and http→ws."""
    settings = parse_settings({"server": {"public_url": public_url}})
    assert settings.server.effective_ws_public_url == ws_url


def test_an_explicit_ws_public_url_wins() -> None:
    """server.ws_public_url, when set, is used as is."""
    settings = parse_settings(
        {"server": {"public_url": "https://gw.example.test", "ws_public_url": "wss://ws.example"}}
    )
    assert settings.server.effective_ws_public_url == "wss://ws.example"


def test_the_issuer_follows_public_url_unless_set() -> None:
    """auth.issuer defaults to server.public_url; when set, it wins."""
    assert parse_settings({"server": {"public_url": "https://a.example"}}).issuer == (
        "https://a.example"
    )
    assert parse_settings({"auth": {"issuer": "urn:gw"}}).issuer == "urn:gw"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),  # noqa: S104 (a value under test, nothing binds to it)
        ("10.0.0.1", False),
        ("gw.example.test", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    """Loopback addresses and "localhost" count as loopback; nothing else does."""
    assert is_loopback(host) is loopback


# --- websocket timing -------------------------------------------------------------


@pytest.mark.parametrize(("ping", "idle"), [(20, 20), (30, 20)])
def test_idle_timeout_must_exceed_the_ping_interval(ping: int, idle: int) -> None:
    """idle_timeout_seconds <= ping_interval_seconds would drop healthy viewers; refused."""
    msg = refused({"websocket": {"ping_interval_seconds": ping, "idle_timeout_seconds": idle}})
    assert "websocket.idle_timeout_seconds" in msg


def test_an_idle_timeout_just_above_the_ping_interval_is_accepted() -> None:
    """idle 21 s with pings every 20 s is valid."""
    settings = parse_settings({"websocket": {"idle_timeout_seconds": 21}})
    assert settings.websocket.idle_timeout_seconds == 21


def test_settings_are_frozen() -> None:
    """Settings cannot be changed after validation."""
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.server.port = 1  # type: ignore[misc]


def test_longer_hmac_algorithms_need_longer_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """With HS512 allowed, a 40-byte secret is refused: RFC 7518 wants 64 bytes."""
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "s" * 40)
    settings = parse_settings({"auth": {"algorithms": ["HS256", "HS512"]}})
    with pytest.raises(ConfigError, match="at least 64"):
        load_jwt_keys(settings)
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "s" * 64)
    assert load_jwt_keys(settings)[0].secret == b"s" * 64


def test_broker_password_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """broker.password_env splices the password into the URL; shown URLs never hold it."""
    settings = parse_settings(
        {"broker": {"url": "rediss://gw@redis.internal:6380/0", "password_env": "REDIS_PW"}}
    )
    with pytest.raises(ConfigError, match="REDIS_PW"):
        settings.broker.connect_url()
    monkeypatch.setenv("REDIS_PW", "p@ss:word")
    assert settings.broker.connect_url() == "rediss://gw:p%40ss%3Aword@redis.internal:6380/0"
    inline = parse_settings({"broker": {"url": "redis://:hunter2@10.0.0.9:6379/0"}})
    assert "hunter2" not in inline.broker.redacted_url


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("max 100000\n", None),  # no quota: the affinity mask decides
        ("100000 100000\n", 1),  # --cpus 1
        ("150000 100000\n", 2),  # --cpus 1.5 rounds up
        ("5000 100000\n", 1),  # a sliver of a CPU is still one worker
        ("garbage\n", None),
    ],
)
def test_auto_workers_follow_the_container_cpu_quota(
    tmp_path: Path, cpu_max: str, expected: int | None
) -> None:
    """workers = "auto" is the affinity mask's CPUs, capped by cgroup v2's cpu.max."""
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    cpus = len(os.sched_getaffinity(0))
    assert available_cpus(path) == (cpus if expected is None else min(cpus, expected))
    assert available_cpus(tmp_path / "missing") == cpus


@pytest.mark.parametrize(
    ("workers", "message"),
    [
        (0, 'must be a whole number from 1 to 256, or "auto"'),
        (257, 'must be a whole number from 1 to 256, or "auto"'),
        (True, 'must be a whole number from 1 to 256, or "auto"'),
        (1.5, 'must be a whole number from 1 to 256, or "auto"'),
        ("many", 'must be a whole number from 1 to 256, or "auto"'),
        (2, "2 workers need a shared broker"),
    ],
)
def test_workers_are_validated(workers: object, message: str) -> None:
    """server.workers: 1-256 or "auto"; more than one only with a shared broker."""
    with pytest.raises(ConfigError, match=r"server\.workers") as caught:
        parse_settings({"server": {"workers": workers}})
    assert message in str(caught.value)
    shared = parse_settings({"server": {"workers": 2}, "broker": {"url": "redis://r:6379/0"}})
    assert shared.server.worker_count == 2
