"""docs/protocol.md and docs/security.md say what the code does.

Each test collects a set from the code (close codes, error statuses, routes, message
types, settings, rate-limit rules, payee providers, bank names) and the matching set
from the docs, and compares them, both ways where the docs list them in a table: a
change on either side that the other does not follow fails here. Links and test-file
names in the docs must point at files of this repository.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import typing
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel
from quart import Quart

import gateway
from gateway import errors, hypercorn_patches, ratelimit, vietqr
from gateway.app import create_app
from gateway.config import JWTKey, RateLimitSettings, Settings
from gateway.schemas import Payee
from gateway.transport import ws

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
PROTOCOL = DOCS / "protocol.md"
SECURITY = DOCS / "security.md"
README = REPO / "README.md"
#: The gateway's own sources, wherever the imported package lives.
PACKAGE = Path(gateway.__file__).resolve().parent
#: Answers the framework gives for the gateway, outside its error tree (protocol §7).
FRAMEWORK_PROBLEMS = {(408, "internal")}
#: The close code a client sees for a TCP connection that ended without a close frame.
NEVER_SENT = 1006
#: Methods the docs name a route by; HEAD and OPTIONS come with every route.
DOCUMENTED_METHODS = ("GET", "POST")


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def without_code_blocks(markdown: str) -> str:
    return re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)


def section(markdown: str, number: str) -> str:
    """The text under the heading numbered ``number`` ("4" or "4.4"), up to the next
    heading of the same or a higher level."""
    level = "##" if "." not in number else "###"
    match = re.search(rf"^{level} {re.escape(number)}\.? .*$", markdown, flags=re.M)
    assert match, f"no heading {level} {number}"
    rest = markdown[match.end() :]
    end = re.search(r"^##(?!#) " if level == "##" else r"^###? ", rest, flags=re.M)
    return rest[: end.start()] if end else rest


def titled(markdown: str, title: str) -> str:
    """The text under the top-level heading that starts with ``title``."""
    match = re.search(rf"^## {re.escape(title)}.*$", markdown, flags=re.M)
    assert match, f"no heading ## {title}"
    rest = markdown[match.end() :]
    end = re.search(r"^## ", rest, flags=re.M)
    return rest[: end.start()] if end else rest


def tables(markdown: str) -> list[list[list[str]]]:
    """Every table of ``markdown``: rows of cells, the header first, separators dropped."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    return found


def bare(cell: str) -> str:
    return cell.strip().strip("`").strip()


def first_cells(markdown: str) -> list[str]:
    """The first cell of every body row of every table of ``markdown``."""
    return [bare(row[0]) for table in tables(markdown) for row in table[1:]]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    kept = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return kept.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", without_code_blocks(markdown), flags=re.M)
    return {slug(h) for h in headings}


def sources() -> Iterator[tuple[Path, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, text(path)


@cache
def modules() -> tuple[ModuleType, ...]:
    """Every module of the gateway package (``__main__`` would run the command)."""
    names = [
        info.name
        for info in pkgutil.walk_packages(gateway.__path__, "gateway.")
        if not info.name.endswith("__main__")
    ]
    return tuple(importlib.import_module(name) for name in sorted(names))


def error_classes() -> list[type[errors.GatewayError]]:
    found: list[type[errors.GatewayError]] = [errors.GatewayError]
    for cls in found:
        found.extend(cls.__subclasses__())
    return found


@cache
def app() -> Quart:
    return create_app(Settings(), (JWTKey(kid="default", secret=b"x" * 40),))


# --- close codes ---------------------------------------------------------------


def close_codes_in_code() -> set[int]:
    """Every close code the gateway can send: its errors', the CLOSE_* constants of any
    module, the codes the transport closes with, and literal codes in the sources."""
    codes = {cls.close_code for cls in error_classes()}
    codes.add(hypercorn_patches.MESSAGE_TOO_BIG)
    for module in modules():
        for name, value in vars(module).items():
            if name.startswith("CLOSE_") and isinstance(value, int) and value >= 1000:
                codes.add(value)
            elif name.endswith("CLOSES") and isinstance(value, frozenset | set):
                codes.update(value)
    for _, source in sources():
        codes.update(int(c) for c in re.findall(r"Farewell\(\s*(\d{4})\b", source))
        codes.update(int(c) for c in re.findall(r"\"code\":\s*(\d{4})\b", source))
    return codes


def close_code_table() -> dict[int, str]:
    rows = tables(section(text(PROTOCOL), "4.4"))[0][1:]
    return {int(bare(row[0])): row[1] for row in rows}


def test_close_codes_are_collected_from_every_layer() -> None:
    """The close codes found in the code include each layer's: errors, hub, socket, transport."""
    assert {4401, 1013, 1001, 4408, 4410, 1003, 1002, 1007, 1009} <= close_codes_in_code()


def test_every_close_code_the_code_sends_is_in_the_close_code_table_and_only_those() -> None:
    """The close-code table of protocol §4.4 lists exactly the codes the code can send."""
    assert set(close_code_table()) == close_codes_in_code()


def test_the_close_code_a_client_only_sees_is_marked_never_sent() -> None:
    """1006 is in the table only as what a client sees, never as a code the gateway sends."""
    assert close_code_table()[NEVER_SENT].startswith("never sent")


# --- errors ---------------------------------------------------------------------------


def error_table() -> set[tuple[int, str]]:
    rows = tables(section(text(PROTOCOL), "7"))[0][1:]
    return {(int(bare(row[0])), bare(row[1])) for row in rows}


def test_every_error_of_the_error_tree_is_in_the_error_table() -> None:
    """Each error class's HTTP status and problem type slug is a row of protocol §7."""
    tree = {(cls.status, cls.slug) for cls in error_classes()}
    assert tree - error_table() == set()


def test_every_row_of_the_error_table_is_an_error_the_code_answers() -> None:
    """The error table of protocol §7 names no status or slug the code does not answer."""
    tree = {(cls.status, cls.slug) for cls in error_classes()}
    assert error_table() - tree - FRAMEWORK_PROBLEMS == set()


# --- routes ---------------------------------------------------------------------------


def route_names() -> set[str]:
    """``METHOD /path`` for every route of the app, with ``<converter:name>`` as ``<name>``."""
    names = set()
    for rule in app().url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule)
        names.update(f"{method} {path}" for method in DOCUMENTED_METHODS if method in rule.methods)
    names.update(f"GET {path}?token=<token>" for path in ws.VIEWER_PATHS)
    return names


def endpoint_table() -> set[str]:
    table = tables(section(text(PROTOCOL), "2.2"))[0]
    return {name for row in table[1:] for name in re.findall(r"`((?:GET|POST) [^`]+)`", row[0])}


def test_every_route_of_the_app_is_in_the_endpoint_table() -> None:
    """Each route of the app, and each viewer socket path, is named in protocol §2.2."""
    assert route_names() - endpoint_table() == set()


def test_the_endpoint_table_names_no_route_the_app_lacks() -> None:
    """Protocol §2.2 names only routes the app serves."""
    assert endpoint_table() - route_names() == set()


# --- settings ---------------------------------------------------------------------


def setting_keys(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[str]:
    """Every key of the configuration: ``section.key``, and ``[[auth.api_keys]] id`` for
    the fields of a list of tables."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        args = typing.get_args(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from setting_keys(annotation, f"{prefix}{name}.")
        elif args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            for sub in args[0].model_fields:
                yield f"[[{prefix}{name}]] {sub}"
        else:
            yield prefix + name


def documented(key: str, corpus: str) -> bool:
    if key.startswith("[["):
        table, field = key.split(" ")
        return any(table in line and f"`{field}`" in line for line in corpus.splitlines())
    return f"`{key}`" in corpus


def test_every_setting_is_documented() -> None:
    """Each configuration key is named in docs/ or the README."""
    corpus = text(PROTOCOL) + text(SECURITY) + text(README)
    keys = list(setting_keys())
    assert len(keys) > 40
    assert [key for key in keys if not documented(key, corpus)] == []


def test_every_setting_the_docs_name_exists() -> None:
    """Each ``section.key`` the docs name is a configuration key of the code."""
    keys = set(setting_keys())
    sections = set(Settings.model_fields)
    lists = {re.sub(r"^\[\[(.*)\]\] .*", r"\1", key) for key in keys if key.startswith("[[")}
    protocol = text(PROTOCOL).split("## Appendix B", 1)[0]
    named = set(re.findall(r"`([a-z_]+\.[a-z_]+)`", protocol + text(SECURITY)))
    unknown = {n for n in named if n.split(".")[0] in sections and n not in keys | lists}
    assert unknown == set()


# --- rate limits ------------------------------------------------------------------


def test_the_rate_limit_table_lists_every_rule_with_its_default() -> None:
    """Protocol §6 lists exactly the rules of gateway/ratelimit.py, with their defaults."""
    rows = tables(section(text(PROTOCOL), "6"))[0][1:]
    documented_rules = {bare(row[0]): bare(row[1]) for row in rows}
    defaults = RateLimitSettings()
    assert documented_rules == {rule: getattr(defaults, rule) for rule in ratelimit.RULES}


# --- WebSocket messages ---------------------------------------------------------


def message_types_in_code() -> set[str]:
    """Message types spelled in the sources: constants named as their value, and the
    ``type`` of messages serialized by hand or by a helper."""
    found = set()
    for _, source in sources():
        found.update(re.findall(r"^([A-Z][A-Z_]+) = \"\1\"$", source, flags=re.M))
        found.update(re.findall(r"\"type\":\s*\"([A-Z][A-Z_]+)\"", source))
        found.update(re.findall(r"message\(\s*\"([A-Z][A-Z_]+)\"", source))
    return found


def server_message_table() -> set[str]:
    return set(first_cells(section(text(PROTOCOL), "4.2")))


def test_the_six_server_messages_are_spelled_in_the_code() -> None:
    """The code spells SESSION_INFO, PAYMENT_DATA, PAYMENT_CLEARED, PONG, ERROR, SESSION_EXPIRED."""
    six = {"SESSION_INFO", "PAYMENT_DATA", "PAYMENT_CLEARED", "PONG", "ERROR", "SESSION_EXPIRED"}
    assert six <= message_types_in_code()


def test_every_message_type_of_the_code_is_documented() -> None:
    """Each message type the code spells is a server message of protocol §4.2 or the
    client message of §4.3."""
    client = re.findall(r"`\{\"type\":\"([A-Z_]+)\"\}`", section(text(PROTOCOL), "4.3"))
    assert client == ["PING"]
    assert message_types_in_code() - server_message_table() - set(client) == set()


def test_every_server_message_of_the_docs_is_spelled_in_the_code() -> None:
    """Protocol §4.2 lists no message type the code never sends."""
    assert server_message_table() - message_types_in_code() == set()


# --- payee ------------------------------------------------------------------------


def payee_tables() -> tuple[list[list[str]], list[list[str]]]:
    """Protocol §3.5's table of payee members and its table of providers."""
    members, providers = tables(section(text(PROTOCOL), "3.5"))
    return members, providers


def test_the_payee_members_are_the_schema_fields() -> None:
    """Protocol §3.5 describes exactly the members of the Payee schema."""
    members, _ = payee_tables()
    assert {bare(row[0]) for row in members[1:]} == set(Payee.model_fields)


def test_the_payee_providers_are_the_schema_values() -> None:
    """Protocol §3.5's providers are the values Payee.provider and gateway/vietqr.py allow."""
    _, providers = payee_tables()
    values = set(typing.get_args(Payee.model_fields["provider"].annotation))
    assert {bare(row[0]) for row in providers[1:]} == values
    assert set(typing.get_args(vietqr.Provider)) == values


def test_the_provider_rules_name_the_code_s_guids_bins_and_prefixes() -> None:
    """Each provider row names the GUID, or the BIN and account prefix, the code reads."""
    _, providers = payee_tables()
    rows = {bare(row[0]): row[1] for row in providers[1:]}
    assert f"`{vietqr.NAPAS_GUID}`" in rows["VIETQR"]
    assert f"`{vietqr.VNPAY_GUID}`" in rows["VNPAY"]
    for (bin_, prefix), wallet in vietqr.WALLETS.items():
        assert f"`{prefix}`" in rows[wallet]
        assert f"`{bin_}`" in rows["MOMO"]  # the ZaloPay row says "the same"


def test_the_bank_name_table_is_the_bundled_one() -> None:
    """Appendix A of the protocol is gateway/data/napas_bins.json, row for row."""
    rows = tables(titled(text(PROTOCOL), "Appendix A"))[0][1:]
    assert {bare(row[0]): bare(row[1]) for row in rows} == vietqr.bank_names()


# --- links, files and citations -----------------------------------------------------


def markdown_files() -> list[Path]:
    return [*sorted(DOCS.glob("*.md")), README]


def links(path: Path) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", without_code_blocks(text(path)))


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_points_into_the_repository(path: Path) -> None:
    """Each relative link resolves to a file or folder of this repository, and its
    ``#anchor``, if any, to a heading of the Markdown file it names."""
    broken = []
    for link in links(path):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):
            continue  # https:, mailto:
        target, _, anchor = link.partition("#")
        resolved = (path.parent / target).resolve() if target else path
        if not resolved.is_relative_to(REPO) or not resolved.exists():
            broken.append(link)
            continue
        if anchor and resolved.suffix == ".md" and anchor not in anchors(text(resolved)):
            broken.append(link)
    assert broken == []


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_benchmark_result_the_docs_quote_is_kept(path: Path) -> None:
    """Each ``bench/results/…`` file named in the prose (a ``*`` matching at least one)
    is in the repository: ``*.json`` there is ignored by git unless added with ``-f``,
    and a figure whose raw result was never committed cannot be checked."""
    prose = without_code_blocks(text(path))
    named = set(re.findall(r"`(bench/results/[^`\s<]+)`", prose))
    named |= set(re.findall(r"\]\((bench/results/[^)\s]+)\)", prose))
    missing = [name for name in sorted(named) if not list(REPO.glob(name))]
    assert missing == []


def test_the_readme_links_both_docs() -> None:
    """The README links docs/protocol.md and docs/security.md."""
    targets = {link.partition("#")[0] for link in links(README)}
    assert {"docs/protocol.md", "docs/security.md"} <= targets


def test_every_test_file_the_docs_name_exists() -> None:
    """Each ``test_*.py`` and ``tests/…`` file the docs name is in tests/."""
    corpus = text(PROTOCOL) + text(SECURITY)
    named = set(re.findall(r"\b(test_[a-z0-9_]+\.py)\b", corpus))
    named |= set(re.findall(r"`tests/([a-z0-9_]+\.py)`", corpus))
    assert len(named) > 20
    assert sorted(n for n in named if not (REPO / "tests" / n).is_file()) == []


def numbered_sections(markdown: str) -> list[str]:
    return re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", markdown, flags=re.M)


@pytest.mark.parametrize("path", [PROTOCOL, SECURITY], ids=lambda p: p.name)
def test_section_numbers_count_up_without_gaps(path: Path) -> None:
    """Sections are numbered 1, 2, … and subsections N.1, N.2, …, so citations stay stable."""
    numbers = numbered_sections(text(path))
    tops = [n for n in numbers if "." not in n]
    assert tops == [str(i) for i in range(1, len(tops) + 1)]
    for top in tops:
        subs = [n.split(".")[1] for n in numbers if n.startswith(f"{top}.")]
        assert subs == [str(i) for i in range(1, len(subs) + 1)]


def test_every_citation_of_the_docs_in_the_code_names_a_section() -> None:
    """Each "docs/protocol.md §N" or "docs/security.md §N.M" in gateway/ is a section."""
    known = {doc.name: set(numbered_sections(text(doc))) for doc in (PROTOCOL, SECURITY)}
    cited = []
    for path, source in sources():
        for doc, number in re.findall(r"docs/(protocol\.md|security\.md) §(\d+(?:\.\d+)?)", source):
            cited.append((path.name, doc, number))
    assert [c for c in cited if c[2] not in known[c[1]]] == []
