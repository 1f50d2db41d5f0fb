"""The browser extension's own checks, run from pytest: its unit tests and its build.

``extension/`` is a small npm project (TypeScript, esbuild, Vitest). These tests run
``npm ci`` when its dependencies are missing or the lock file changed, then
``npm test`` (adapters, amount parsing, extraction from fixture HTML, the VietQR parser,
QR decoding, the generic capture, the publisher's retries and idempotency, the gateway
client's error words, the manifest's permissions), and rebuild the extension into a
temporary folder to check that the committed ``extension/dist/`` is what the sources
build to. Without npm they skip, except under CI, where they fail.

One check needs no npm: the extension's VietQR parser and the gateway's must read a
code alike, so the table the extension's parser is tested against
(``extension/test/fixtures/vietqr-vectors.json``) is run through ``gateway.vietqr`` too.
"""

from __future__ import annotations

import filecmp
import json
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from gateway import vietqr
from gateway.emvco import EMVError, parse

from .browser import npm, npm_ci
from .gatewayproc import REPO

EXTENSION = REPO / "extension"
VECTORS = json.loads((EXTENSION / "test" / "fixtures" / "vietqr-vectors.json").read_text("utf-8"))[
    "vectors"
]

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def npm_ready() -> None:
    """node_modules installed from the lock file."""
    npm_ci(EXTENSION, "the extension's tests")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return npm(EXTENSION, *args, timeout=540)


def test_the_extension_unit_tests_pass(npm_ready: None) -> None:
    result = run("test")
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"npm test failed:\n{output}"
    counts = re.search(r"Tests\s+(\d+) passed", output)
    assert counts, f"no test count in:\n{output}"
    assert int(counts.group(1)) >= 100


def differences(left: Path, right: Path) -> list[str]:
    """Files that differ, or exist on one side only, between two trees."""
    compared = filecmp.dircmp(left, right)
    found = [f"only in {left.name}: {n}" for n in compared.left_only]
    found += [f"only in {right.name}: {n}" for n in compared.right_only]
    _, mismatch, errors = filecmp.cmpfiles(left, right, compared.common_files, shallow=False)
    found += [f"differs: {n}" for n in mismatch + errors]
    for sub in compared.common_dirs:
        found += [f"{sub}/{d}" for d in differences(left / sub, right / sub)]
    return found


def test_the_committed_dist_is_what_the_sources_build(npm_ready: None, tmp_path: Path) -> None:
    """``npm run build`` (type check + bundle) reproduces extension/dist exactly."""
    out = tmp_path / "dist"
    result = run("run", "build", "--", "--outdir", str(out))
    assert result.returncode == 0, f"npm run build failed:\n{result.stdout}\n{result.stderr}"
    stale = differences(out, EXTENSION / "dist")
    assert not stale, (
        "extension/dist is stale; rebuild it with: cd extension && npm run build\n"
        + "\n".join(stale)
    )


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_the_gateway_reads_each_code_as_the_extension_does(vector: dict[str, object]) -> None:
    """One table for both parsers: provider, BIN, account, amount, currency, name, bill, purpose."""
    payload = str(vector["payload"])
    if not vector["valid"]:
        with pytest.raises(EMVError):
            vietqr.describe(payload)
        return
    qr = vietqr.describe(payload)
    expected = vector["expected"]
    assert isinstance(expected, dict)
    assert {
        "provider": qr.provider,
        "bankBin": qr.bank_bin,
        "account": qr.account,
        # The extension keeps tag 54 as written, the gateway as a Decimal of it.
        "amount": None if qr.amount is None else parse(payload)["54"],
        "currency": qr.currency,
        "merchantName": qr.merchant_name,
        "billNumber": qr.bill_number,
        "purpose": qr.purpose,
    } == expected
    assert qr.amount == (None if expected["amount"] is None else Decimal(expected["amount"]))


def test_both_sides_name_banks_from_one_table() -> None:
    """The extension bundles gateway/data/napas_bins.json itself: no copy of it lives there."""
    copies = [p for p in EXTENSION.rglob("napas_bins.json") if "node_modules" not in p.parts]
    assert copies == []
    source = (EXTENSION / "src" / "shared" / "vietqr.ts").read_text("utf-8")
    assert 'from "../../../gateway/data/napas_bins.json"' in source
