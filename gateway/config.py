"""The gateway's settings: one TOML file, validated once, loudly (docs/security.md §4).

Every section is a frozen pydantic model that forbids unknown keys, so a typo in an
operator's file stops start-up with a message naming the dotted key. Secrets never
live in the file: it names the environment variable or file that holds them, and
:func:`load_secrets` reads them.
"""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import limits
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_CONFIG_PATH = Path("config.toml")
MIN_SECRET_BYTES = 32

#: Scopes an API key may hold (docs/protocol.md §2).
SCOPES = ("sessions:create", "payments:publish", "stats:read")
Scope = Literal["sessions:create", "payments:publish", "stats:read"]

#: The kid of the single key from ``auth.jwt_secret_env``/``_file``.
DEFAULT_KID = "default"


#: The most processes ``server.workers`` may ask for.
MAX_WORKERS = 256


class ConfigError(Exception):
    """Raised when the configuration cannot be used; the message names the key."""


def _rate(value: str) -> str:
    limits.parse(value)  # raises ValueError with a readable message
    return value


def _origin(value: str) -> str:
    if value == "*":
        return value
    parts = urlsplit(value)
    if not parts.scheme or not parts.netloc or parts.path or parts.query or parts.fragment:
        raise ValueError(f"{value!r} is not a serialized origin (scheme://host[:port])")
    return value


RateString = Annotated[str, AfterValidator(_rate)]
Origin = Annotated[str, AfterValidator(_origin)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=3001, ge=0, le=65535)
    public_url: str = "https://localhost:3001"
    ws_public_url: str | None = None
    #: Processes serving the port: a number, or "auto" for the CPUs this process may use.
    workers: int | str = 1

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, value: object) -> object:
        if value == "auto" or (
            type(value) is int and 1 <= value <= MAX_WORKERS  # not a bool
        ):
            return value
        raise ValueError(f'must be a whole number from 1 to {MAX_WORKERS}, or "auto"')

    @property
    def worker_count(self) -> int:
        return available_cpus() if self.workers == "auto" else int(self.workers)

    @model_validator(mode="after")
    def _urls(self) -> ServerSettings:
        for name in ("public_url", "ws_public_url"):
            url = getattr(self, name)
            if url is None:
                continue
            scheme = urlsplit(url).scheme
            allowed = ("http", "https") if name == "public_url" else ("ws", "wss")
            if scheme not in allowed or not urlsplit(url).hostname:
                raise ValueError(f"server.{name} must be an absolute {'/'.join(allowed)} URL")
            if url.endswith("/"):
                raise ValueError(f"server.{name} must not end with '/'")
        return self

    @property
    def effective_ws_public_url(self) -> str:
        if self.ws_public_url is not None:
            return self.ws_public_url
        # The scheme is case-insensitive (RFC 3986 §3.1): "HTTPS://host" is https.
        scheme, rest = self.public_url.split("://", 1)
        return ("wss" if scheme.lower() == "https" else "ws") + "://" + rest

    @property
    def public_origin(self) -> str:
        return origin_of(self.public_url)


class TLSSettings(Section):
    certfile: str | None = None
    keyfile: str | None = None
    #: TLS handshakes a worker runs at once; more connections wait in the accept queue.
    handshakes_in_flight: int = Field(default=64, ge=1, le=1024)

    @model_validator(mode="after")
    def _both_or_neither(self) -> TLSSettings:
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("tls.certfile and tls.keyfile must be set together")
        return self

    @property
    def enabled(self) -> bool:
        return self.certfile is not None


class ProxySettings(Section):
    trusted_hops: int = Field(default=0, ge=0, le=10)


class APIKeySettings(Section):
    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: tuple[Scope, ...] = Field(min_length=1, strict=False)
    # None: any Origin. A list pins the key; an empty one would refuse every use.
    allowed_origins: tuple[Origin, ...] | None = Field(default=None, strict=False, min_length=1)


class JWTKeySettings(Section):
    kid: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    secret_env: str | None = None
    secret_file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> JWTKeySettings:
        if (self.secret_env is None) == (self.secret_file is None):
            raise ValueError("set exactly one of secret_env and secret_file")
        return self


Algorithm = Literal["HS256", "HS384", "HS512"]


class AuthSettings(Section):
    jwt_secret_env: str | None = "GATEWAY_JWT_SECRET"  # noqa: S105 (a variable name)
    jwt_secret_file: str | None = None
    issuer: str | None = None
    audience: str = "gw-viewer"
    algorithms: tuple[Algorithm, ...] = Field(default=("HS256",), min_length=1, strict=False)
    api_keys: tuple[APIKeySettings, ...] = Field(default=(), strict=False)
    jwt_keys: tuple[JWTKeySettings, ...] = Field(default=(), strict=False)

    @model_validator(mode="before")
    @classmethod
    def _rotation_excludes_single_key(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("jwt_keys"):
            for name in ("jwt_secret_env", "jwt_secret_file"):
                if name in data:
                    raise ValueError(f"auth.{name} cannot be set together with [[auth.jwt_keys]]")
        return data

    @model_validator(mode="after")
    def _unique(self) -> AuthSettings:
        ids = [k.id for k in self.api_keys]
        if len(ids) != len(set(ids)):
            raise ValueError("auth.api_keys: every id must be unique")
        hashes = [k.sha256 for k in self.api_keys]
        if len(hashes) != len(set(hashes)):
            raise ValueError("auth.api_keys: two entries share one sha256")
        kids = [k.kid for k in self.jwt_keys]
        if len(kids) != len(set(kids)):
            raise ValueError("auth.jwt_keys: every kid must be unique")
        return self


class SessionSettings(Section):
    ttl_seconds: float = Field(default=1800, gt=0, le=7 * 24 * 3600)
    data_linger_seconds: float = Field(default=300, ge=0)
    sweep_interval_seconds: float = Field(default=300, gt=0)
    max_viewers_per_session: int = Field(default=20, ge=1)
    max_sessions: int = Field(default=100_000, ge=1)


class PayloadSettings(Section):
    max_body_bytes: int = Field(default=400_000, ge=1024)
    max_qr_bytes: int = Field(default=262_144, ge=1)
    max_amount: int = Field(default=50_000_000, ge=1)
    allow_extra_fields: bool = False
    currencies: tuple[str, ...] = Field(default=("VND",), min_length=1, strict=False)
    deeplink_hosts: tuple[str, ...] = Field(default=(), strict=False)

    @model_validator(mode="after")
    def _body_holds_qr(self) -> PayloadSettings:
        needed = (self.max_qr_bytes * 4 + 2) // 3 + 4096
        if self.max_body_bytes < needed:
            raise ValueError(
                f"payload.max_body_bytes must be at least {needed} "
                f"(4/3 of payload.max_qr_bytes plus 4096)"
            )
        return self


class RateLimitSettings(Section):
    # ruff reads "token" in these names as a password (S105); they are rate strings.
    enabled: bool = True
    token_generate_per_ip: RateString = "30/minute"  # noqa: S105
    token_generate_per_key: RateString = "600/hour"  # noqa: S105
    payment_per_ip: RateString = "120/minute"
    payment_per_token: RateString = "30/minute"  # noqa: S105
    ws_connect_per_ip: RateString = "60/minute"
    ws_messages_per_connection: RateString = "20/10 seconds"


class CORSSettings(Section):
    allowed_origins: tuple[Origin, ...] = Field(default=(), strict=False)


class WebSocketSettings(Section):
    allowed_origins: tuple[Origin, ...] = Field(default=(), strict=False)
    max_message_bytes: int = Field(default=4096, ge=64, le=1_048_576)
    send_queue_size: int = Field(default=32, ge=1, le=10_000)
    ping_interval_seconds: float = Field(default=20, gt=0)
    idle_timeout_seconds: float = Field(default=60, gt=0)
    #: After the gateway's close frame, how long the client has to answer with its own
    #: before the TCP connection is closed (RFC 6455 §7.1.1; docs/protocol.md §4.6: 5 s at most).
    close_timeout_seconds: float = Field(default=5, gt=0, le=5)

    @model_validator(mode="after")
    def _idle_after_ping(self) -> WebSocketSettings:
        if self.idle_timeout_seconds <= self.ping_interval_seconds:
            raise ValueError(
                "websocket.idle_timeout_seconds must be longer than ping_interval_seconds"
            )
        return self


#: Sentinel's own port, when a host in a ``redis+sentinel://`` URL names none.
SENTINEL_PORT = 26379


@dataclass(frozen=True, slots=True)
class SentinelURL:
    """A ``redis+sentinel://[user[:password]@]host[:port],.../<service>[/<db>]`` URL, parsed.

    The Sentinels are asked where the master of ``service`` is; data, pub/sub and the
    rate limit storage all connect to that master (``rediss+sentinel://``: over TLS,
    the Sentinels included).
    """

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SentinelURL:
        """Parse ``url``; the ValueError names the part that is wrong."""
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in ("redis+sentinel", "rediss+sentinel"):
            raise ValueError(f"{scheme!r} is not redis+sentinel or rediss+sentinel")
        if "?" in rest or "#" in rest:
            raise ValueError("a Sentinel URL takes no query or fragment")
        location, _, path = rest.partition("/")
        userinfo, at, hosts = location.rpartition("@")
        username = password = None
        if at:
            user, colon, secret = userinfo.partition(":")
            username = unquote(user) or None
            password = unquote(secret) if colon else None
        sentinels = tuple(_sentinel_host(h) for h in hosts.split(","))
        service, _, db = path.partition("/")
        if not service:
            raise ValueError(
                "the service name is missing: redis+sentinel://host:26379,.../<service>/<db>"
            )
        if "/" in db or (db and not _ascii_digits(db)):
            raise ValueError(f"the database {db!r} is not a number (…/<service>/<db>)")
        return cls(
            sentinels,
            unquote(service),
            int(db or 0),
            scheme.startswith("rediss"),
            username,
            password,
        )


def _sentinel_host(text: str) -> tuple[str, int]:
    if not text:
        raise ValueError("a Sentinel host is empty (host1:26379,host2:26379)")
    if text.startswith("["):  # [IPv6]:port
        host, bracket, port = text[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            raise ValueError(f"the Sentinel host {text!r} is not [address]:port")
        if host and not _is_ipv6(host):
            raise ValueError(f"the Sentinel host {text!r}: brackets hold an IPv6 address")
        port = port[1:]
    else:
        host, _, port = text.partition(":")
    if not host:
        raise ValueError(f"the Sentinel host {text!r} has no name")
    if port and not (_ascii_digits(port) and 0 < int(port) < 65536):
        raise ValueError(f"the Sentinel port in {text!r} is not a port number")
    return host, int(port or SENTINEL_PORT)


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _ascii_digits(text: str) -> bool:
    # str.isdigit() also holds for "²" and "٢", which int() refuses or reads as digits.
    return text.isascii() and text.isdigit()


def is_sentinel_url(url: str) -> bool:
    return url.startswith(("redis+sentinel://", "rediss+sentinel://"))


class BrokerSettings(Section):
    url: str = Field(
        default="memory://",
        pattern=r"^(memory://|rediss?(\+sentinel)?://[^\s]+)$",
    )
    timeout_seconds: float = Field(default=2, gt=0, le=60)
    #: Environment variable holding the Redis password (never written in the URL here).
    password_env: str | None = None
    #: Environment variable holding the Sentinels' own password (``redis+sentinel://``).
    sentinel_password_env: str | None = None
    #: Replicas that must acknowledge a session, publish or clear before it is answered
    #: (Redis ``WAIT``); 0 answers once the master has it.
    min_replicas_acked: int = Field(default=0, ge=0, le=16)

    @field_validator("url")
    @classmethod
    def _sentinel_url(cls, url: str) -> str:
        if is_sentinel_url(url):
            SentinelURL.parse(url)
        return url

    @model_validator(mode="after")
    def _needs_redis(self) -> BrokerSettings:
        if self.url == "memory://" and self.min_replicas_acked:
            raise ValueError(
                f"min_replicas_acked = {self.min_replicas_acked}: memory:// has no "
                'replicas (it needs url = "redis+sentinel://..." or "redis://...")'
            )
        if self.sentinel_password_env is not None and not is_sentinel_url(self.url):
            raise ValueError("sentinel_password_env is set but url is not a Sentinel URL")
        return self

    @property
    def redacted_url(self) -> str:
        """The URL with any password hidden, for logs and check-config."""
        if urlsplit(self.url).password is None:
            return self.url
        return _with_password(self.url, "***")

    def connect_url(self) -> str:
        """The URL to connect with: the password from ``password_env`` spliced in."""
        if self.password_env is None:
            return self.url
        return _with_password(
            self.url, quote(_from_env("broker.password_env", self.password_env), safe="")
        )

    def sentinel_password(self) -> str | None:
        """The Sentinels' password, from ``sentinel_password_env``."""
        if self.sentinel_password_env is None:
            return None
        return _from_env("broker.sentinel_password_env", self.sentinel_password_env)


def _from_env(key: str, name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise ConfigError(f"{key}: environment variable {name} is not set")
    return value


def _with_password(url: str, password: str) -> str:
    """``url`` with ``password`` (already URL-encoded) as the password of its userinfo.

    The host part is kept as written, so a Sentinel URL's list of hosts survives.
    """
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{hosts}"))


class ViewerSettings(Section):
    url_template: str = "{public_url}/qr/{token}"

    @model_validator(mode="after")
    def _has_token(self) -> ViewerSettings:
        if "{token}" not in self.url_template:
            raise ValueError("viewer.url_template must contain {token}")
        try:
            self.url_template.format(public_url="", token="", session_id="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"viewer.url_template: unknown placeholder {exc}") from None
        return self


class MetricsSettings(Section):
    bind: str | None = Field(default=None, pattern=r"^[^:]+:\d{1,5}$")


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"


class Settings(Section):
    server: ServerSettings = ServerSettings()
    tls: TLSSettings = TLSSettings()
    proxy: ProxySettings = ProxySettings()
    auth: AuthSettings = AuthSettings()
    sessions: SessionSettings = SessionSettings()
    payload: PayloadSettings = PayloadSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    cors: CORSSettings = CORSSettings()
    websocket: WebSocketSettings = WebSocketSettings()
    broker: BrokerSettings = BrokerSettings()
    viewer: ViewerSettings = ViewerSettings()
    metrics: MetricsSettings = MetricsSettings()
    logging: LoggingSettings = LoggingSettings()

    @property
    def issuer(self) -> str:
        return self.auth.issuer or self.server.public_url

    @model_validator(mode="after")
    def _workers_share_a_broker(self) -> Settings:
        count = self.server.worker_count
        if count > 1 and self.broker.url == "memory://":
            raise ValueError(
                f"server.workers: {count} workers need a shared broker (broker.url = "
                '"redis://..."): with memory:// each worker would keep its own sessions, '
                "and a viewer connected to one would never see a publish made on another"
            )
        return self


#: Where cgroup v2 keeps the CPU quota of this process's container.
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs this process may run on: its affinity mask, capped by a cgroup v2 CPU
    quota (``cpu.max``, what a container's ``--cpus`` sets), rounded up."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def origin_of(url: str) -> str:
    """The serialized origin of ``url``: ``scheme://host[:port]``, default port left out."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
    port = parts.port
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def parse_settings(data: dict[str, object], *, source: str = "config") -> Settings:
    """Validate a parsed TOML document; raise :class:`ConfigError` naming the first bad key."""
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        if not loc:  # a rule across sections: its message names the keys
            raise ConfigError(f"{source}: {msg}") from None
        raise ConfigError(f"{source}: {_dotted(loc)}: {msg}") from None


def load_settings(path: Path | str | None = None) -> Settings:
    """Read and validate the TOML file at ``path`` (or ``$GATEWAY_CONFIG``, or ./config.toml)."""
    resolved = Path(path or os.environ.get("GATEWAY_CONFIG") or DEFAULT_CONFIG_PATH)
    try:
        with resolved.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{resolved}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{resolved}: not valid TOML: {exc}") from None
    return parse_settings(data, source=str(resolved))


# --- secrets -----------------------------------------------------------------


class JWTKey(BaseModel):
    """One HMAC key for session tokens, read from the environment or a file."""

    model_config = ConfigDict(frozen=True)
    kid: str
    secret: bytes = Field(repr=False)


#: RFC 7518 §3.2: an HMAC key at least as long as the hash output.
HMAC_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}


def _read_secret(
    *, env: str | None, file: str | None, key: str, min_bytes: int = MIN_SECRET_BYTES
) -> bytes:
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"{key}: environment variable {env} is not set")
        secret = value.encode()
    else:
        assert file is not None
        try:
            secret = Path(file).read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise ConfigError(f"{key}: cannot read {file}: {exc.strerror}") from None
    if len(secret) < min_bytes:
        raise ConfigError(
            f"{key}: the secret is {len(secret)} bytes; at least {min_bytes} are required"
            + (" for the configured algorithms" if min_bytes > MIN_SECRET_BYTES else "")
        )
    return secret


def load_jwt_keys(settings: Settings) -> tuple[JWTKey, ...]:
    """The configured JWT keys, newest (signing) first; raise :class:`ConfigError` if unusable."""
    auth = settings.auth
    need = max(HMAC_KEY_BYTES[alg] for alg in auth.algorithms)
    if auth.jwt_keys:
        return tuple(
            JWTKey(
                kid=k.kid,
                secret=_read_secret(
                    env=k.secret_env,
                    file=k.secret_file,
                    key=f"auth.jwt_keys[{i}]",
                    min_bytes=need,
                ),
            )
            for i, k in enumerate(auth.jwt_keys)
        )
    if auth.jwt_secret_file is not None:
        secret = _read_secret(
            env=None, file=auth.jwt_secret_file, key="auth.jwt_secret_file", min_bytes=need
        )
    elif auth.jwt_secret_env is not None:
        secret = _read_secret(
            env=auth.jwt_secret_env, file=None, key="auth.jwt_secret_env", min_bytes=need
        )
    else:
        raise ConfigError("auth: no JWT secret configured (auth.jwt_secret_env or _file)")
    # Rotation later lists this key as `[[auth.jwt_keys]] kid = "default"`.
    return (JWTKey(kid=DEFAULT_KID, secret=secret),)
