# syntax=docker/dockerfile:1
# Payment QR gateway: a multi-stage image.
#
# Nothing secret is built in. At run time, mount
#   /etc/gateway/config.toml  the config, read-only; inside a container it needs
#                             server.host = "0.0.0.0" (the shipped default is loopback)
#   /run/certs/               the TLS certificate and key, read-only (tls.certfile / tls.keyfile)
# and pass the JWT secret as GATEWAY_JWT_SECRET (or mount it and set auth.jwt_secret_file).
# tests/test_dockerfile.py lints this file and runs its pip install and CMD in a fresh venv.

# --- builder: a venv in /opt/venv holding the gateway and its dependencies ---
FROM python:3.12-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv

WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway/ ./gateway/
RUN /opt/venv/bin/pip install --no-cache-dir .

# --- runtime: the venv only, tini as PID 1, a non-root user with a fixed UID ---
FROM python:3.12-slim-bookworm AS runtime

RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin gateway

COPY --from=builder /opt/venv /opt/venv

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GATEWAY_CONFIG=/etc/gateway/config.toml

WORKDIR /app
USER 10001:10001
EXPOSE 3001

# Slim images have no curl, so stdlib urllib. The certificate is left unverified for
# loopback only (a self-signed or dev certificate); anything else is verified. Set
# GATEWAY_HEALTH_URL for another port, or http:// when a proxy terminates TLS.
HEALTHCHECK --interval=30s --timeout=10s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os,ssl,sys,urllib.parse as p,urllib.request as r; url=os.environ.get('GATEWAY_HEALTH_URL','https://127.0.0.1:3001/health'); ctx=ssl._create_unverified_context() if p.urlsplit(url).hostname in ('127.0.0.1','::1','localhost') else None; sys.exit(0 if r.urlopen(url,timeout=5,context=ctx).status==200 else 1)"]

# tini reaps zombies and forwards SIGTERM (docker stop) to the gateway, which drains
# and exits 0 within 10 s, inside docker stop's default grace period.
ENTRYPOINT ["tini", "--"]
CMD ["gateway", "serve"]
