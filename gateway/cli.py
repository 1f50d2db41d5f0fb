"""The ``gateway`` command: serve | keys new | certs dev | check-config (docs/security.md §3.9)."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import ssl
import sys
from pathlib import Path

from . import __version__
from .auth.apikeys import hash_key, new_key, toml_block
from .config import (
    DEFAULT_CONFIG_PATH,
    SCOPES,
    APIKeySettings,
    ConfigError,
    JWTKey,
    Settings,
    load_jwt_keys,
    load_settings,
)
from .policy import review

KEY_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
EXIT_CONFIG = 2
OPENSSL_CNF = Path(__file__).with_name("openssl.cnf")
_REEXEC_MARK = "GATEWAY_OPENSSL_CONF_APPLIED"
EXIT_DANGEROUS = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    parser.add_argument("--version", action="version", version=f"gateway {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument(
        "--config", type=Path, help="TOML file (default $GATEWAY_CONFIG or ./config.toml)"
    )
    serve.add_argument(
        "--dev",
        action="store_true",
        help="zero-setup local run: dev certificate, JWT secret and API key made if missing",
    )

    keys = sub.add_parser("keys", help="API keys").add_subparsers(
        dest="keys_command", required=True
    )
    new = keys.add_parser("new", help="print a new API key once, and its TOML block")
    new.add_argument("--id", required=True, help="the key id, e.g. extension-main")
    new.add_argument("--scopes", nargs="+", choices=SCOPES, default=list(SCOPES))

    certs = sub.add_parser("certs", help="certificates").add_subparsers(
        dest="certs_command", required=True
    )
    dev = certs.add_parser("dev", help="write a local CA and a localhost certificate")
    dev.add_argument("--out", type=Path, default=Path("certs"))

    check = sub.add_parser("check-config", help="validate the config and print the policy")
    check.add_argument("--config", type=Path)
    check.add_argument("--allow-insecure", action="store_true", help="exit 0 despite dangers")
    return parser


def _apply_openssl_config(argv: list[str] | None) -> None:
    """Run ``serve`` under the packaged OpenSSL config (TLS group list), re-executing once.

    OpenSSL reads OPENSSL_CONF only when the process starts, and Python 3.11 has no
    API for the group list, so the only way to drop X448/P-521 is a fresh process.
    An OPENSSL_CONF already in the environment is respected.
    """
    if "OPENSSL_CONF" in os.environ or os.environ.get(_REEXEC_MARK):
        return
    env = {**os.environ, "OPENSSL_CONF": str(OPENSSL_CNF), _REEXEC_MARK: "1"}
    args = sys.argv[1:] if argv is None else argv
    os.execve(sys.executable, [sys.executable, "-m", "gateway", *args], env)  # noqa: S606


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        _apply_openssl_config(argv)
    try:
        if args.command == "serve":
            return _serve(args.config, dev=args.dev)
        if args.command == "keys":
            return _keys_new(args.id, tuple(args.scopes))
        if args.command == "certs":
            return _certs_dev(args.out)
        return _check_config(args.config, allow_insecure=args.allow_insecure)
    except ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def load_tls(settings: Settings) -> None:
    """Load the certificate and key once, so that a bad file is one clear config error."""
    if settings.tls.certfile is None or settings.tls.keyfile is None:
        return
    try:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(settings.tls.certfile, settings.tls.keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"tls.certfile/tls.keyfile: cannot load: {exc}") from None


def _keys_new(key_id: str, scopes: tuple[str, ...]) -> int:
    if not KEY_ID.fullmatch(key_id):
        raise ConfigError(f"--id {key_id!r}: use 1-64 characters of [A-Za-z0-9_.:-]")
    key = new_key()
    print(f"API key (shown once, store it in the extension or a secret store):\n\n  {key}\n")
    print("Add this block to config.toml:\n")
    print(toml_block(key_id, key, scopes))
    return 0


def _certs_dev(out: Path) -> int:
    from .certs import make_dev_certificate

    paths = make_dev_certificate(out)
    print(f"CA certificate (trust it in your browser or pass it to clients): {paths.ca_file}")
    print(f"server certificate: {paths.cert_file}")
    print(f"server key (mode 0600, never commit it): {paths.key_file}")
    print("config.toml:")
    print(f'[tls]\ncertfile = "{paths.cert_file}"\nkeyfile = "{paths.key_file}"')
    return 0


def _load(path: Path | None, *, dev: bool = False) -> Settings:
    resolved = path or Path(os.environ.get("GATEWAY_CONFIG") or DEFAULT_CONFIG_PATH)
    if dev and path is None and not resolved.exists():
        return Settings()
    return load_settings(resolved)


def _check_config(path: Path | None, *, allow_insecure: bool) -> int:
    settings = _load(path)
    keys = load_jwt_keys(settings)
    load_tls(settings)
    settings.broker.connect_url()  # a missing broker.password_env variable stops serve too
    settings.broker.sentinel_password()
    findings = review(settings)
    print(describe_policy(settings, keys))
    for line in findings.warnings:
        print(f"warning: {line}")
    for line in findings.dangers:
        print(f"DANGEROUS: {line}")
    if findings.dangers and not allow_insecure:
        return EXIT_DANGEROUS
    return 0


def describe_policy(settings: Settings, keys: tuple[JWTKey, ...]) -> str:
    s = settings
    rl = s.rate_limits
    tls = (
        f"on: {s.tls.certfile}, {s.tls.handshakes_in_flight} handshakes at once per worker"
        if s.tls.enabled
        else "off (plain HTTP)"
    )
    ws_url = s.server.effective_ws_public_url
    sweep = s.sessions.sweep_interval_seconds
    lines = [
        "Effective policy",
        f"  listen            {s.server.host}:{s.server.port}",
        f"  public URL        {s.server.public_url}  (WebSocket {ws_url})",
        f"  TLS               {tls}",
        f"  trusted proxies   {s.proxy.trusted_hops} hop(s)",
        f"  CORS origins      {', '.join(s.cors.allowed_origins) or '(none)'}",
        f"  WS origins        {s.server.public_origin} (own page), "
        f"{', '.join(s.websocket.allowed_origins) or 'no others'}",
        f"  JWT               algorithms {', '.join(s.auth.algorithms)}; issuer {s.issuer}; "
        f"audience {s.auth.audience}",
        f"  JWT keys          {', '.join(k.kid for k in keys)} (first signs)",
        f"  token lifetime    {s.sessions.ttl_seconds:g} s (= session ttl)",
        f"  sessions          ttl {s.sessions.ttl_seconds:g} s, data linger "
        f"{s.sessions.data_linger_seconds:g} s, sweep every {sweep:g} s, "
        f"{s.sessions.max_viewers_per_session} viewers max",
        f"  payload           body {s.payload.max_body_bytes} B, QR {s.payload.max_qr_bytes} B, "
        f"amount <= {s.payload.max_amount}, currencies {', '.join(s.payload.currencies)}, "
        f"extra fields {'kept' if s.payload.allow_extra_fields else 'refused'}",
        f"  websocket         message {s.websocket.max_message_bytes} B, queue "
        f"{s.websocket.send_queue_size}, ping {s.websocket.ping_interval_seconds:g} s, idle "
        f"{s.websocket.idle_timeout_seconds:g} s",
        f"  rate limits       {'ON' if rl.enabled else 'OFF'}: "
        f"token/ip {rl.token_generate_per_ip}, "
        f"token/key {rl.token_generate_per_key}, payment/ip {rl.payment_per_ip}, payment/token "
        f"{rl.payment_per_token}, connect/ip {rl.ws_connect_per_ip}, messages/connection "
        f"{rl.ws_messages_per_connection}",
        f"  broker            {s.broker.redacted_url} (timeout {s.broker.timeout_seconds:g} s"
        + (
            f", {s.broker.min_replicas_acked} replica(s) acknowledge each write)"
            if s.broker.min_replicas_acked
            else ")"
        ),
        "  API keys",
    ]
    for key in s.auth.api_keys:
        pinned = ", ".join(key.allowed_origins) if key.allowed_origins else "any Origin"
        lines.append(f"    {key.id:<18}{', '.join(key.scopes)}; {pinned}")
    if not s.auth.api_keys:
        lines.append("    (none: nothing can create sessions or publish)")
    return "\n".join(lines)


def _dev_settings(settings: Settings) -> tuple[Settings, tuple[JWTKey, ...], str | None]:
    """Fill in what ``--dev`` needs: a certificate, a JWT secret and an API key."""
    from .certs import ensure_dev_certificate

    tls = settings.tls
    server = settings.server
    if not tls.enabled:
        paths = ensure_dev_certificate(Path("certs"))
        tls = tls.model_copy(
            update={"certfile": str(paths.cert_file), "keyfile": str(paths.key_file)}
        )
        public = f"https://localhost:{server.port}"
        server = server.model_copy(update={"public_url": public})
    try:
        keys = load_jwt_keys(settings)
    except ConfigError:
        keys = (JWTKey(kid="dev", secret=secrets.token_bytes(32)),)
        print("dev: no JWT secret configured; using a random one (tokens die with the process)")
    api_key = None
    auth = settings.auth
    if not auth.api_keys:
        api_key = new_key()
        entry = APIKeySettings.model_validate(
            {"id": "dev", "sha256": hash_key(api_key), "scopes": SCOPES}
        )
        auth = auth.model_copy(update={"api_keys": (entry,)})
    updated = settings.model_copy(update={"tls": tls, "server": server, "auth": auth})
    return Settings.model_validate(updated.model_dump()), keys, api_key


def _serve(path: Path | None, *, dev: bool) -> int:
    from . import logs
    from .app import create_app
    from .server import run_loop, serve

    settings = _load(path, dev=dev)
    api_key = None
    if dev:
        settings, keys, api_key = _dev_settings(settings)
    else:
        keys = load_jwt_keys(settings)
    load_tls(settings)
    logs.configure(settings.logging.level, settings.logging.format)
    if dev:
        base = settings.server.public_url
        print(f"dev: gateway on {base} (certificate authority: certs/dev-ca.pem)", flush=True)
        if api_key is not None:
            print(f"dev: API key (shown once): {api_key}", flush=True)
            print(
                f"dev: create a session:  curl --cacert certs/dev-ca.pem -X POST "
                f"-H 'X-API-Key: {api_key}' {base}/api/token/generate",
                flush=True,
            )
        print("dev: then open the returned url, or connect a WebSocket to its wsUrl", flush=True)
    if settings.server.worker_count > 1:
        from .workers import run_workers

        return run_workers(settings, keys)
    app = create_app(settings, keys)
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve(app, settings))
    return 0
