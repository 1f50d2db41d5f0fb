"""Sentinel URLs and replica acknowledgement in the settings, check-config and the
rate-limit storage, without any network: what is accepted, what is refused, and that
every refusal names the part or the key that is wrong."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from limits.aio.storage import RedisSentinelStorage

from gateway.broker.redis import connect
from gateway.config import (
    SENTINEL_PORT,
    ConfigError,
    SentinelURL,
    is_sentinel_url,
    parse_settings,
)
from gateway.ratelimit import storage_for

from .gatewayproc import run_cli

SECRET = "k" * 32
#: Three Sentinels, one of them by an IPv6 address, with the master's user and password.
THREE = "redis+sentinel://gw:p%40ss%3Aword@10.0.0.1:26379,[::1]:26380,sentinel-c/mymaster/2"


def refused(doc: dict[str, Any]) -> str:
    """The message of the ConfigError that ``doc`` must raise."""
    with pytest.raises(ConfigError) as info:
        parse_settings(doc)
    return str(info.value)


# --- SentinelURL.parse -------------------------------------------------------------


def test_a_url_with_several_sentinels_names_each_of_them() -> None:
    """Every host is kept in order; one without a port gets Sentinel's 26379."""
    url = SentinelURL.parse("redis+sentinel://s1:26380,s2,10.0.0.3:5000/gw")
    assert url.sentinels == (("s1", 26380), ("s2", SENTINEL_PORT), ("10.0.0.3", 5000))
    assert SENTINEL_PORT == 26379
    assert (url.service, url.db, url.tls) == ("gw", 0, False)
    assert (url.username, url.password) == (None, None)


def test_an_ipv6_sentinel_is_written_in_brackets() -> None:
    """[::1]:5 is the address ::1, port 5; [::1] alone takes the default port."""
    url = SentinelURL.parse("redis+sentinel://[::1]:5,[fe80::2]/gw")
    assert url.sentinels == (("::1", 5), ("fe80::2", SENTINEL_PORT))


@pytest.mark.parametrize(
    ("url", "service", "db"),
    [
        ("redis+sentinel://s1/gw", "gw", 0),
        ("redis+sentinel://s1/gw/", "gw", 0),
        ("redis+sentinel://s1/gw/0", "gw", 0),
        ("redis+sentinel://s1/gw/15", "gw", 15),
        ("redis+sentinel://s1/my%20master/3", "my master", 3),
    ],
)
def test_the_path_is_the_service_and_then_the_database(url: str, service: str, db: int) -> None:
    """/<service>[/<db>]: the database is 0 unless named; the service is URL-decoded."""
    parsed = SentinelURL.parse(url)
    assert (parsed.service, parsed.db) == (service, db)


def test_rediss_sentinel_turns_tls_on() -> None:
    """rediss+sentinel:// is the same URL over TLS (the Sentinels included)."""
    assert SentinelURL.parse("rediss+sentinel://s1/gw").tls is True
    assert SentinelURL.parse("redis+sentinel://s1/gw").tls is False


def test_userinfo_is_url_decoded() -> None:
    """The user and the percent-encoded password are those of the master, decoded."""
    url = SentinelURL.parse(THREE)
    assert (url.username, url.password) == ("gw", "p@ss:word")
    assert url.sentinels == (("10.0.0.1", 26379), ("::1", 26380), ("sentinel-c", 26379))
    assert (url.service, url.db) == ("mymaster", 2)
    no_user = SentinelURL.parse("redis+sentinel://:secret@s1/gw")
    assert (no_user.username, no_user.password) == (None, "secret")
    no_password = SentinelURL.parse("redis+sentinel://reader@s1/gw")
    assert (no_password.username, no_password.password) == ("reader", None)


def test_only_the_two_sentinel_schemes_are_sentinel_urls() -> None:
    """redis:// and rediss:// stay plain Redis URLs; the Sentinel schemes are recognised."""
    assert is_sentinel_url("redis+sentinel://s1/gw")
    assert is_sentinel_url("rediss+sentinel://s1/gw")
    assert not is_sentinel_url("redis://s1:6379/0")
    assert not is_sentinel_url("rediss://s1:6380/0")
    assert not is_sentinel_url("memory://")


@pytest.mark.parametrize(
    ("url", "named"),
    [
        pytest.param("redis+sentinel://s1", "service name is missing", id="no-path"),
        pytest.param("redis+sentinel://s1/", "service name is missing", id="empty-service"),
        pytest.param("redis+sentinel://s1//0", "service name is missing", id="db-without-service"),
        pytest.param("redis+sentinel:///gw", "Sentinel host is empty", id="no-host"),
        pytest.param("redis+sentinel://s1,,s2/gw", "Sentinel host is empty", id="empty-host"),
        pytest.param("redis+sentinel://s1,/gw", "Sentinel host is empty", id="trailing-comma"),
        pytest.param("redis+sentinel://u:p@/gw", "Sentinel host is empty", id="only-userinfo"),
        pytest.param("redis+sentinel://:26379/gw", "':26379' has no name", id="port-only"),
        pytest.param("redis+sentinel://[]:5/gw", "'[]:5' has no name", id="empty-brackets"),
        pytest.param("redis+sentinel://[::1/gw", "'[::1' is not [address]:port", id="open-bracket"),
        pytest.param("redis+sentinel://[::1]5/gw", "'[::1]5' is not [address]:port", id="no-colon"),
        pytest.param("redis+sentinel://s1:abc/gw", "port in 's1:abc'", id="port-word"),
        pytest.param("redis+sentinel://s1:0/gw", "port in 's1:0'", id="port-0"),
        pytest.param("redis+sentinel://s1:65536/gw", "port in 's1:65536'", id="port-65536"),
        pytest.param("redis+sentinel://s1:-1/gw", "port in 's1:-1'", id="port-negative"),
        pytest.param("redis+sentinel://s1,s2:x/gw", "port in 's2:x'", id="second-host-port"),
        pytest.param("redis+sentinel://s1:²/gw", "port in 's1:²'", id="port-superscript-digit"),
        pytest.param("redis+sentinel://s1/gw/x", "database 'x' is not a number", id="db-word"),
        pytest.param(
            "redis+sentinel://s1/gw/-1", "database '-1' is not a number", id="db-negative"
        ),
        pytest.param("redis+sentinel://s1/gw/1/2", "database '1/2' is not a number", id="db-path"),
        pytest.param(
            "redis+sentinel://s1/gw/²", "database '²' is not a number", id="db-superscript-digit"
        ),
        pytest.param("redis+sentinel://s1/gw?ssl=true", "no query or fragment", id="query"),
        pytest.param("redis+sentinel://s1/gw/0?x=1", "no query or fragment", id="query-after-db"),
        pytest.param("redis+sentinel://s1/gw#primary", "no query or fragment", id="fragment"),
        pytest.param(
            "redis+sentinel://s1,s2?timeout=1/gw",
            "no query or fragment",
            id="query-in-the-host-part",
        ),
        pytest.param("redis://s1:6379/0", "'redis' is not redis+sentinel", id="plain-redis"),
        pytest.param("sentinel://s1/gw", "'sentinel' is not redis+sentinel", id="other-scheme"),
        pytest.param("s1:26379/gw", "is not redis+sentinel", id="no-scheme"),
    ],
)
def test_a_bad_sentinel_url_is_refused_naming_the_wrong_part(url: str, named: str) -> None:
    """Each ValueError says which part is wrong: the service, a host, a port, the
    database, a query or the scheme."""
    with pytest.raises(ValueError, match=re.escape(named)):
        SentinelURL.parse(url)


# --- broker settings ---------------------------------------------------------------


def test_sentinel_urls_and_the_new_keys_are_accepted() -> None:
    """A Sentinel URL with min_replicas_acked and sentinel_password_env is a valid broker."""
    broker = parse_settings(
        {
            "broker": {
                "url": "rediss+sentinel://s1:26379,s2:26379/gw/1",
                "min_replicas_acked": 2,
                "sentinel_password_env": "SENTINEL_PW",
            }
        }
    ).broker
    assert broker.url == "rediss+sentinel://s1:26379,s2:26379/gw/1"
    assert (broker.min_replicas_acked, broker.sentinel_password_env) == (2, "SENTINEL_PW")
    defaults = parse_settings({}).broker
    assert (defaults.min_replicas_acked, defaults.sentinel_password_env) == (0, None)


def test_min_replicas_acked_also_works_with_a_plain_redis_url() -> None:
    """WAIT needs replicas, not Sentinel: redis:// with min_replicas_acked is valid."""
    broker = parse_settings({"broker": {"url": "redis://r:6379/0", "min_replicas_acked": 1}})
    assert broker.broker.min_replicas_acked == 1


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("redis+sentinel://s1:26379", "service name is missing"),
        ("redis+sentinel://s1,,s2/gw", "Sentinel host is empty"),
        ("redis+sentinel://s1:99999/gw", "not a port number"),
        ("redis+sentinel://s1/gw/zero", "is not a number"),
        ("redis+sentinel://s1/gw?db=1", "no query or fragment"),
        ("redis+sentinel:// s1/gw", "should match pattern"),
    ],
)
def test_a_bad_sentinel_url_in_the_settings_names_broker_url(url: str, named: str) -> None:
    """parse_settings raises ConfigError naming broker.url and the part that is wrong."""
    message = refused({"broker": {"url": url}})
    assert "broker.url" in message
    assert named in message


def test_min_replicas_acked_needs_redis() -> None:
    """memory:// has no replicas: min_replicas_acked > 0 with it is refused by name."""
    message = refused({"broker": {"min_replicas_acked": 1}})
    assert "min_replicas_acked" in message
    assert "memory://" in message
    assert parse_settings({"broker": {"min_replicas_acked": 0}}).broker.url == "memory://"


@pytest.mark.parametrize("value", [-1, 17, True, 1.0, "1"])
def test_min_replicas_acked_is_a_whole_number_from_0_to_16(value: object) -> None:
    """A negative count, one over 16, a bool, a float or a string is refused by name."""
    message = refused({"broker": {"url": "redis://r:6379/0", "min_replicas_acked": value}})
    assert "broker.min_replicas_acked" in message


@pytest.mark.parametrize("url", ["memory://", "redis://r:6379/0", "rediss://r:6380/0"])
def test_sentinel_password_env_needs_a_sentinel_url(url: str) -> None:
    """sentinel_password_env with a URL that asks no Sentinel is refused by name."""
    message = refused({"broker": {"url": url, "sentinel_password_env": "SENTINEL_PW"}})
    assert "sentinel_password_env" in message


def test_redacted_url_hides_the_password_and_keeps_every_sentinel() -> None:
    """The URL shown in logs and check-config has *** for the password, all hosts intact."""
    broker = parse_settings({"broker": {"url": THREE}}).broker
    assert broker.redacted_url == (
        "redis+sentinel://gw:***@10.0.0.1:26379,[::1]:26380,sentinel-c/mymaster/2"
    )
    assert "p%40ss" not in broker.redacted_url
    plain = "redis+sentinel://s1,s2/gw"
    assert parse_settings({"broker": {"url": plain}}).broker.redacted_url == plain


def test_connect_url_splices_the_password_into_every_sentinel_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """password_env's value, URL-encoded, becomes the master's password; each host stays."""
    broker = parse_settings(
        {
            "broker": {
                "url": "redis+sentinel://gw@10.0.0.1:26379,[::1]:26380,sentinel-c/mymaster/2",
                "password_env": "REDIS_PW",
            }
        }
    ).broker
    with pytest.raises(ConfigError, match="REDIS_PW"):
        broker.connect_url()
    monkeypatch.setenv("REDIS_PW", "p@ss:w/rd#1")
    url = broker.connect_url()
    assert url == (
        "redis+sentinel://gw:p%40ss%3Aw%2Frd%231@10.0.0.1:26379,[::1]:26380,sentinel-c/mymaster/2"
    )
    parsed = SentinelURL.parse(url)
    assert (parsed.username, parsed.password) == ("gw", "p@ss:w/rd#1")
    assert parsed.sentinels == (("10.0.0.1", 26379), ("::1", 26380), ("sentinel-c", 26379))
    assert "p@ss" not in broker.redacted_url
    no_user = parse_settings(
        {"broker": {"url": "redis+sentinel://s1,s2/gw", "password_env": "REDIS_PW"}}
    ).broker
    assert no_user.connect_url() == "redis+sentinel://:p%40ss%3Aw%2Frd%231@s1,s2/gw"


def test_sentinel_password_comes_from_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unset variable is a ConfigError naming it; a set one is the Sentinels' password."""
    monkeypatch.delenv("SENTINEL_PW", raising=False)
    broker = parse_settings(
        {"broker": {"url": "redis+sentinel://s1/gw", "sentinel_password_env": "SENTINEL_PW"}}
    ).broker
    with pytest.raises(ConfigError) as missing:
        broker.sentinel_password()
    assert "SENTINEL_PW" in str(missing.value)
    assert "broker.sentinel_password_env" in str(missing.value)
    monkeypatch.setenv("SENTINEL_PW", "s3ntinel:pw")
    assert broker.sentinel_password() == "s3ntinel:pw"
    assert "s3ntinel" not in broker.connect_url() + broker.redacted_url
    unset = parse_settings({"broker": {"url": "redis+sentinel://s1/gw"}}).broker
    assert unset.sentinel_password() is None


# --- check-config ------------------------------------------------------------------


def check_config(
    tmp_path: Path, broker: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m gateway check-config`` on a config of ``[broker]`` lines ``broker``,
    GATEWAY_* and the test's variables cleared but for a valid JWT secret and ``env``."""
    (tmp_path / "config.toml").write_text(f"[broker]\n{broker}\n")
    return run_cli(
        tmp_path, "check-config", secret=SECRET, env=env, unset=("SENTINEL_PW", "REDIS_PW")
    )


def test_check_config_refuses_a_bad_sentinel_url_naming_broker_url(tmp_path: Path) -> None:
    """A Sentinel URL without a service exits 2 with one line naming broker.url."""
    result = check_config(tmp_path, 'url = "redis+sentinel://s1:26379,s2:26379"')
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "broker.url" in lines[0]
    assert "service name is missing" in lines[0]
    assert "Traceback" not in result.stderr
    assert "Effective policy" not in result.stdout


def test_check_config_prints_a_sentinel_broker_and_its_replicas(tmp_path: Path) -> None:
    """A good Sentinel URL with min_replicas_acked = 1 exits 0; the policy shows the
    hosts, the password hidden, and that one replica acknowledges each write."""
    result = check_config(
        tmp_path,
        'url = "redis+sentinel://s1:26379,[::1]:26380/gw/1"\n'
        'password_env = "REDIS_PW"\n'
        'sentinel_password_env = "SENTINEL_PW"\n'
        "min_replicas_acked = 1",
        env={"REDIS_PW": "master-secret", "SENTINEL_PW": "sentinel-secret"},
    )
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.strip().startswith("broker")]
    assert "redis+sentinel://s1:26379,[::1]:26380/gw/1" in line
    assert "1 replica(s) acknowledge each write" in line
    for secret in ("master-secret", "sentinel-secret"):
        assert secret not in result.stdout + result.stderr


def test_check_config_without_replicas_says_nothing_of_them(tmp_path: Path) -> None:
    """min_replicas_acked = 0 (the default) adds no replica clause to the broker line."""
    result = check_config(tmp_path, 'url = "redis+sentinel://s1/gw"')
    assert result.returncode == 0, result.stderr
    assert "replica" not in result.stdout


def test_check_config_needs_the_sentinel_password_variable(tmp_path: Path) -> None:
    """sentinel_password_env naming an unset variable exits 2 naming the variable."""
    result = check_config(
        tmp_path, 'url = "redis+sentinel://s1/gw"\nsentinel_password_env = "SENTINEL_PW"'
    )
    assert result.returncode == 2
    assert "SENTINEL_PW" in result.stderr
    assert "broker.sentinel_password_env" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_never_shows_a_traceback_for_a_bracketed_host_name(tmp_path: Path) -> None:
    """Brackets hold IP literals only (RFC 3986 §3.2.2): "[sentinel-a]" is either refused
    as broker.url (exit 2) or accepted (exit 0), never a traceback."""
    result = check_config(tmp_path, 'url = "redis+sentinel://[sentinel-a]:26379/gw"')
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 2), result.stderr
    if result.returncode == 2:
        assert "broker.url" in result.stderr


# --- the clients: built without a connection ------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any name lookup or connect attempt of this process fails the test."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network I/O while building a client: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(socket.socket, "connect_ex", forbidden)


def sentinel_connections(storage: RedisSentinelStorage) -> list[dict[str, Any]]:
    """The connection options of each Sentinel client limits built (its redis-py bridge)."""
    sentinel = storage.bridge.sentinel  # type: ignore[attr-defined]
    return [dict(client.connection_pool.connection_kwargs) for client in sentinel.sentinels]


@pytest.mark.usefixtures("no_network")
def test_storage_for_a_sentinel_url_is_a_sentinel_storage_built_offline() -> None:
    """storage_for gives limits' RedisSentinelStorage for the URL's Sentinels and service
    without connecting: the gateway starts while Redis is down (docs/protocol.md §2.7)."""
    storage = storage_for(
        "rediss+sentinel://s1.invalid:26379,[::1]:26380,s3.invalid/mymaster/2", 0.5
    )
    assert isinstance(storage, RedisSentinelStorage)
    sentinels = sentinel_connections(storage)
    assert [(c["host"], c["port"]) for c in sentinels] == [
        ("s1.invalid", 26379),
        ("::1", 26380),
        ("s3.invalid", 26379),
    ]
    assert {c["socket_timeout"] for c in sentinels} == {0.5}
    master = storage.bridge.storage.connection_pool  # type: ignore[attr-defined]
    assert master.service_name == "mymaster"
    assert master.connection_kwargs["db"] == 2
    assert storage_for("redis+sentinel://s1.invalid/gw", 1.0).__class__ is RedisSentinelStorage


@pytest.mark.usefixtures("no_network")
def test_storage_for_other_urls_is_unchanged() -> None:
    """memory:// keeps the in-process storage (None); redis:// is not a Sentinel storage."""
    assert storage_for("memory://", 1.0) is None
    plain = storage_for("redis://r.invalid:6379/0", 1.0)
    assert plain is not None
    assert not isinstance(plain, RedisSentinelStorage)


@pytest.mark.usefixtures("no_network")
def test_the_sentinel_password_goes_to_the_sentinels_of_the_storage() -> None:
    """sentinel_password authenticates the storage to each Sentinel."""
    storage = storage_for("redis+sentinel://s1.invalid,s2.invalid/gw", 1.0, sentinel_password="sp")
    assert isinstance(storage, RedisSentinelStorage)
    assert {c.get("password") for c in sentinel_connections(storage)} == {"sp"}


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("sentinel_password", [None, "sp"])
def test_the_masters_credentials_never_go_to_the_sentinels_of_the_storage(
    sentinel_password: str | None,
) -> None:
    """The Sentinels get sentinel_password (or nothing), never the master's user or
    password, as the broker's own client does."""
    storage = storage_for(THREE, 1.0, sentinel_password=sentinel_password)
    assert isinstance(storage, RedisSentinelStorage)
    for options in sentinel_connections(storage):
        assert options.get("username") is None
        assert options.get("password") == sentinel_password


@pytest.mark.usefixtures("no_network")
async def test_the_brokers_client_is_built_offline_and_keeps_credentials_apart() -> None:
    """connect() builds the master's client without connecting; the Sentinels get the
    Sentinel password only, the master the URL's user, password and database."""
    client = connect(THREE, timeout=0.5, sentinel_password="sp")
    try:
        pool = client.connection_pool
        assert pool.service_name == "mymaster"  # type: ignore[attr-defined]
        master = pool.connection_kwargs
        assert (master["username"], master["password"], master["db"]) == ("gw", "p@ss:word", 2)
        sentinels = pool.sentinel_manager.sentinels  # type: ignore[attr-defined]
        options = [s.connection_pool.connection_kwargs for s in sentinels]
        assert [(o["host"], o["port"]) for o in options] == [
            ("10.0.0.1", 26379),
            ("::1", 26380),
            ("sentinel-c", 26379),
        ]
        assert {(o.get("username"), o.get("password")) for o in options} == {(None, "sp")}
    finally:
        await client.aclose()
