"""The chaos script (``scripts/chaos.py``), short and seeded: every invariant holds.

Three rounds of random desired-state edits, platform and Vault faults and SIGKILLs, each
followed by a clean apply: seed 6's first three fire all three kinds (platform faults
before and after the server acted and a timeout, refused Vault reads, a kill), which the
test checks. The script exits 0 only if no secret was lost, no key duplicated or
orphaned, nothing leaked, nothing crashed and every round converged. The long runs are
the script's own (``--rounds``).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.e2e.conftest import REPO, clean_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_short_seeded_chaos_run_finds_no_violation() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "chaos.py"),
            "--seed",
            "6",
            "--rounds",
            "3",
            "--max-seconds",
            "60",
        ],
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert count(result.stdout, "rounds") == 3, result.stdout
    violations = re.findall(r"^violations: (\w+)\s+(\d+)$", result.stdout, re.M)
    assert len(violations) == 6 and all(n == "0" for _, n in violations), result.stdout
    for kind in ("platform faults fired", "vault faults fired", "kills"):
        assert count(result.stdout, kind) > 0, f"no {kind}:\n{result.stdout}"


def count(summary: str, label: str) -> int:
    """The number on the summary's line ``label``."""
    found = re.search(rf"^{label}\s+(\d+)$", summary, re.M)
    assert found is not None, f"no line {label!r} in:\n{summary}"
    return int(found.group(1))
