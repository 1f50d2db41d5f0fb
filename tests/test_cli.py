"""The gateway command (SPEC §8), run as `python -m gateway` in a scratch directory."""

from __future__ import annotations

import hashlib
import re
import ssl
import stat
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.certs import make_dev_certificate
from gateway.config import APIKeySettings

from .gatewayproc import run_cli

SHIPPED = Path(__file__).resolve().parents[1] / "config.toml"
SECRET = "k" * 32
KEY_HASH = hashlib.sha256(b"gw_some-key-for-the-cli-test").hexdigest()

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """Run `python -m gateway ARGS` in tmp_path, GATEWAY_* cleared but for ``secret``/``env``."""

    def run(
        *args: str, secret: str | None = SECRET, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(tmp_path, *args, secret=secret, env=env)

    return run


def write_config(tmp_path: Path, text: str, *, shipped: bool = True) -> Path:
    """config.toml in tmp_path: the shipped file with ``text`` appended (or ``text`` alone)."""
    path = tmp_path / "config.toml"
    path.write_text((SHIPPED.read_text() if shipped else "") + "\n" + text)
    return path


def replace_in_shipped(tmp_path: Path, old: str, new: str) -> Path:
    source = SHIPPED.read_text()
    assert old in source
    path = tmp_path / "config.toml"
    path.write_text(source.replace(old, new))
    return path


# --- keys new ---------------------------------------------------------------------


def test_keys_new_prints_a_key_and_the_toml_block_of_its_hash(run: Run) -> None:
    """The printed TOML block holds the SHA-256 of the printed key, with every scope."""
    result = run("keys", "new", "--id", "x")
    assert result.returncode == 0, result.stderr
    keys = re.findall(r"\bgw_[A-Za-z0-9_-]{43}\b", result.stdout)
    assert len(set(keys)) == 1
    key = keys[0]
    block = result.stdout[result.stdout.index("[[auth.api_keys]]") :]
    (entry,) = tomllib.loads(block)["auth"]["api_keys"]
    settings = APIKeySettings.model_validate(entry)
    assert settings.id == "x"
    assert settings.sha256 == hashlib.sha256(key.encode()).hexdigest()
    assert settings.scopes == ("sessions:create", "payments:publish", "stats:read")


def test_keys_new_with_scopes_limits_the_block(run: Run) -> None:
    """--scopes narrows the scopes written into the block."""
    result = run("keys", "new", "--id", "stats-reader", "--scopes", "stats:read")
    assert result.returncode == 0, result.stderr
    block = result.stdout[result.stdout.index("[[auth.api_keys]]") :]
    assert tomllib.loads(block)["auth"]["api_keys"][0]["scopes"] == ["stats:read"]


def test_keys_new_gives_a_new_key_each_time(run: Run) -> None:
    """Two runs print two different keys."""
    first, second = run("keys", "new", "--id", "a"), run("keys", "new", "--id", "a")
    pattern = r"\bgw_[A-Za-z0-9_-]{43}\b"
    assert re.findall(pattern, first.stdout) != re.findall(pattern, second.stdout)


def test_keys_new_refuses_an_unknown_scope(run: Run) -> None:
    """A scope outside SPEC §2 is a usage error (exit 2)."""
    result = run("keys", "new", "--id", "x", "--scopes", "admin")
    assert result.returncode == 2
    assert "gw_" not in result.stdout


def test_keys_new_refuses_a_bad_id_without_a_traceback(run: Run) -> None:
    """An id outside [A-Za-z0-9_.:-] is refused with one line and exit 2, printing no key."""
    result = run("keys", "new", "--id", "bad id")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "gw_" not in result.stdout


# --- certs dev --------------------------------------------------------------------


def handshake(ca: Path, cert: Path, key: Path, hostname: str) -> None:
    """A TLS handshake in memory: a client trusting ``ca`` against a server using cert/key."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(ca))
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, end, outgoing, incoming in (
            ("client", client, c_out, s_in),
            ("server", server, s_out, c_in),
        ):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            data = outgoing.read()
            if data:
                incoming.write(data)
        if all(done.values()):
            return
    raise AssertionError("the TLS handshake did not finish")


def test_certs_dev_writes_a_ca_a_certificate_and_a_private_key(run: Run, tmp_path: Path) -> None:
    """certs dev --out DIR writes dev-ca.pem, dev-cert.pem and dev-key.pem (mode 0600)."""
    result = run("certs", "dev", "--out", "tls")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "tls"
    assert {p.name for p in out.iterdir()} == {"dev-ca.pem", "dev-cert.pem", "dev-key.pem"}
    assert stat.S_IMODE((out / "dev-key.pem").stat().st_mode) == 0o600
    assert "PRIVATE KEY" in (out / "dev-key.pem").read_text()
    assert "PRIVATE KEY" not in (out / "dev-cert.pem").read_text()
    assert "PRIVATE KEY" not in (out / "dev-ca.pem").read_text()


def test_the_dev_certificate_verifies_for_localhost(run: Run, tmp_path: Path) -> None:
    """A client trusting dev-ca.pem completes a TLS handshake with server_hostname localhost."""
    assert run("certs", "dev", "--out", "tls").returncode == 0
    out = tmp_path / "tls"
    handshake(out / "dev-ca.pem", out / "dev-cert.pem", out / "dev-key.pem", "localhost")


def test_the_dev_certificate_does_not_verify_for_another_host(run: Run, tmp_path: Path) -> None:
    """The certificate names localhost only: another hostname fails verification."""
    assert run("certs", "dev", "--out", "tls").returncode == 0
    out = tmp_path / "tls"
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(out / "dev-ca.pem", out / "dev-cert.pem", out / "dev-key.pem", "example.com")


def test_certs_dev_prints_a_tls_section_that_uses_the_files(run: Run, tmp_path: Path) -> None:
    """The printed [tls] section names the written certificate and key."""
    result = run("certs", "dev", "--out", "tls")
    section = result.stdout[result.stdout.index("[tls]") :]
    tls = tomllib.loads(section)["tls"]
    assert (tmp_path / tls["certfile"]).name == "dev-cert.pem"
    assert (tmp_path / tls["keyfile"]).name == "dev-key.pem"


# --- check-config -----------------------------------------------------------------


def test_check_config_accepts_the_shipped_config(run: Run, tmp_path: Path) -> None:
    """The shipped config.toml with a valid secret exits 0 and prints the policy."""
    (tmp_path / "config.toml").write_text(SHIPPED.read_text())
    result = run("check-config")
    assert result.returncode == 0, result.stderr
    assert "Effective policy" in result.stdout
    assert "HS256" in result.stdout
    assert "DANGEROUS" not in result.stdout


def test_check_config_takes_config_and_gateway_config(run: Run, tmp_path: Path) -> None:
    """--config PATH names the file; so does GATEWAY_CONFIG; without either it is needed here."""
    other = tmp_path / "elsewhere.toml"
    other.write_text(SHIPPED.read_text().replace("port = 3001", "port = 3443"))
    by_flag = run("check-config", "--config", str(other))
    assert by_flag.returncode == 0, by_flag.stderr
    assert ":3443" in by_flag.stdout
    by_env = run("check-config", env={"GATEWAY_CONFIG": str(other)})
    assert by_env.returncode == 0, by_env.stderr
    assert ":3443" in by_env.stdout
    assert run("check-config").returncode == 2  # no ./config.toml in tmp_path


@pytest.mark.parametrize(
    ("text", "dotted"),
    [
        ("[websocket]\nmax_mesage_bytes = 4096\n", "websocket.max_mesage_bytes"),
        ("[server]\nport = 'x'\n", "server.port"),
        (
            '[[auth.api_keys]]\nid = "k"\nsha256 = "ABC"\nscopes = ["stats:read"]\n',
            "auth.api_keys[0].sha256",
        ),
    ],
)
def test_check_config_exits_2_with_one_line_naming_a_bad_key(
    run: Run, tmp_path: Path, text: str, dotted: str
) -> None:
    """A bad file exits 2 with a single line on stderr naming the dotted key."""
    write_config(tmp_path, text, shipped=False)
    result = run("check-config")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert dotted in lines[0]
    assert "Traceback" not in result.stderr


def test_check_config_exits_2_on_a_missing_file(run: Run) -> None:
    """Without a config file there is nothing to check: exit 2."""
    result = run("check-config", "--config", "absent.toml")
    assert result.returncode == 2
    assert "absent.toml" in result.stderr


def test_check_config_exits_2_on_invalid_toml(run: Run, tmp_path: Path) -> None:
    """A file that is not TOML exits 2 without a traceback."""
    write_config(tmp_path, "[server\n", shipped=False)
    result = run("check-config")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_check_config_exits_2_without_a_jwt_secret(run: Run, tmp_path: Path) -> None:
    """A missing GATEWAY_JWT_SECRET is an error, naming the variable."""
    (tmp_path / "config.toml").write_text(SHIPPED.read_text())
    result = run("check-config", secret=None)
    assert result.returncode == 2
    assert "GATEWAY_JWT_SECRET" in result.stderr


def test_check_config_exits_2_on_a_short_jwt_secret(run: Run, tmp_path: Path) -> None:
    """A secret under 32 bytes is an error, and the secret is not printed."""
    (tmp_path / "config.toml").write_text(SHIPPED.read_text())
    result = run("check-config", secret="short-secret-31-bytes-long-xxxx")
    assert result.returncode == 2
    assert "32" in result.stderr
    assert "short-secret" not in result.stderr + result.stdout


def test_check_config_exits_1_on_a_dangerous_setting(run: Run, tmp_path: Path) -> None:
    """rate_limits.enabled = false exits 1 with a line naming it."""
    replace_in_shipped(tmp_path, "enabled = true", "enabled = false")
    result = run("check-config")
    assert result.returncode == 1
    flagged = [line for line in result.stdout.splitlines() if line.startswith("DANGEROUS")]
    assert len(flagged) == 1
    assert "rate_limits.enabled" in flagged[0]


def test_check_config_allow_insecure_exits_0_but_still_reports(run: Run, tmp_path: Path) -> None:
    """--allow-insecure exits 0 and still prints the danger."""
    replace_in_shipped(tmp_path, "enabled = true", "enabled = false")
    result = run("check-config", "--allow-insecure")
    assert result.returncode == 0
    assert "DANGEROUS: rate_limits.enabled" in result.stdout


def test_check_config_names_each_danger_on_its_own_line(run: Run, tmp_path: Path) -> None:
    """Two dangerous settings give two DANGEROUS lines."""
    path = replace_in_shipped(tmp_path, "enabled = true", "enabled = false")
    # The first `allowed_origins = []` of the shipped file is the one under [cors].
    path.write_text(path.read_text().replace("allowed_origins = []", 'allowed_origins = ["*"]', 1))
    result = run("check-config")
    assert result.returncode == 1
    flagged = [line for line in result.stdout.splitlines() if line.startswith("DANGEROUS")]
    assert len(flagged) == 2, result.stdout
    assert any("cors.allowed_origins" in line for line in flagged)


def test_check_config_prints_key_ids_and_scopes_but_never_hashes(run: Run, tmp_path: Path) -> None:
    """The policy lists each key's id and scopes; its sha256 appears nowhere in the output."""
    write_config(
        tmp_path,
        f'[[auth.api_keys]]\nid = "extension-main"\nsha256 = "{KEY_HASH}"\n'
        'scopes = ["sessions:create", "payments:publish"]\n',
    )
    result = run("check-config")
    assert result.returncode == 0, result.stderr
    assert "extension-main" in result.stdout
    assert "payments:publish" in result.stdout
    assert KEY_HASH not in result.stdout + result.stderr
    assert KEY_HASH[:16] not in result.stdout + result.stderr


def test_check_config_never_prints_the_jwt_secret(run: Run, tmp_path: Path) -> None:
    """The JWT secret is used, never shown."""
    (tmp_path / "config.toml").write_text(SHIPPED.read_text())
    result = run("check-config")
    assert SECRET not in result.stdout + result.stderr


def test_check_config_warns_without_failing(run: Run, tmp_path: Path) -> None:
    """The shipped config (TLS off on loopback) prints a warning and exits 0."""
    (tmp_path / "config.toml").write_text(SHIPPED.read_text())
    result = run("check-config")
    assert result.returncode == 0
    assert any(line.startswith("warning: TLS is off") for line in result.stdout.splitlines())


def test_check_config_exits_2_when_the_tls_files_do_not_load(run: Run, tmp_path: Path) -> None:
    """A [tls] section naming missing files is an error, as it is for serve."""
    replace_in_shipped(
        tmp_path,
        '# certfile = "certs/dev-cert.pem"\n# keyfile = "certs/dev-key.pem"',
        'certfile = "missing-cert.pem"\nkeyfile = "missing-key.pem"',
    )
    assert run("check-config").returncode == 2


def test_check_config_shows_the_tls_handshakes_a_worker_runs_at_once(
    run: Run, tmp_path: Path
) -> None:
    certs = make_dev_certificate(tmp_path / "certs")
    replace_in_shipped(
        tmp_path,
        '# certfile = "certs/dev-cert.pem"\n# keyfile = "certs/dev-key.pem"',
        f'certfile = "{certs.cert_file}"\nkeyfile = "{certs.key_file}"',
    )
    text = (tmp_path / "config.toml").read_text()
    (tmp_path / "config.toml").write_text(
        text.replace("handshakes_in_flight = 64", "handshakes_in_flight = 32")
    )
    result = run("check-config")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "32 handshakes at once per worker" in result.stdout
