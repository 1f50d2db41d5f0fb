"""Development certificates: a local CA and a localhost certificate (``gateway certs dev``).

Made with trustme (on top of ``cryptography``). The CA's private key is never written,
so the CA can sign nothing else; the server key is written with mode 0600.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme

DEV_HOSTS = ("localhost", "127.0.0.1", "::1")
LIFETIME = timedelta(days=90)


@dataclass(frozen=True)
class DevCertificate:
    ca_file: Path
    cert_file: Path
    key_file: Path


def dev_paths(out: Path) -> DevCertificate:
    return DevCertificate(out / "dev-ca.pem", out / "dev-cert.pem", out / "dev-key.pem")


def make_dev_certificate(out: Path) -> DevCertificate:
    """Write a fresh CA certificate, a localhost certificate chain and its key into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = dev_paths(out)
    ca = trustme.CA(organization_name="Payment QR Gateway dev CA")
    # 90 days, as Mozilla recommends (sslyze flags anything over 366).
    now = datetime.now(UTC)
    leaf = ca.issue_cert(*DEV_HOSTS, not_before=now - timedelta(hours=1), not_after=now + LIFETIME)
    ca.cert_pem.write_to_path(str(paths.ca_file))
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    paths.cert_file.write_bytes(chain)
    fd = os.open(paths.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(leaf.private_key_pem.bytes())
    os.chmod(paths.key_file, 0o600)
    return paths


def ensure_dev_certificate(out: Path) -> DevCertificate:
    """Reuse the dev certificate in ``out`` when it loads, else make a new one."""
    paths = dev_paths(out)
    if all(p.exists() for p in (paths.ca_file, paths.cert_file, paths.key_file)):
        try:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(paths.cert_file, paths.key_file)
            return paths
        except (ssl.SSLError, OSError):
            pass
    return make_dev_certificate(out)
