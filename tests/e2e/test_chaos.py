"""The chaos script (``scripts/chaos.py``), short and seeded: every invariant holds.

Six rounds of random desired-state edits, platform and Vault faults and SIGKILLs, each
followed by a clean apply (seed 2's first six bring all three kinds; on a loaded machine,
at least three rounds: those that start within 60 seconds). The script exits 0 only if
no secret was lost, no key duplicated or orphaned, nothing leaked, nothing crashed and
every round converged. The long runs are the script's own (``--rounds``).
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
            "2",
            "--rounds",
            "6",
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
    rounds = re.search(r"^rounds\s+(\d+)$", result.stdout, re.M)
    assert rounds is not None and int(rounds.group(1)) >= 3, result.stdout
    violations = re.findall(r"^violations: (\w+)\s+(\d+)$", result.stdout, re.M)
    assert len(violations) == 6 and all(n == "0" for _, n in violations), result.stdout
    fired = re.search(r"^faults fired\s+(\d+)$", result.stdout, re.M)
    assert fired is not None and int(fired.group(1)) > 0, result.stdout
