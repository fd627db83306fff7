"""The chaos script (``scripts/chaos.py``), short and seeded: every invariant holds.

Three rounds of random desired-state edits, platform and Vault faults and SIGKILLs, each
followed by a clean apply: seed 6's first three fire all three kinds (platform faults
before and after the server acted and a timeout, refused Vault reads, a kill), which the
test checks. The script exits 0 only if no secret was lost, no key duplicated or
orphaned, nothing leaked, nothing crashed and every round converged. The long runs are
the script's own (``--rounds``).

The script's ``main`` runs in this process, so its CLI runs fork from this worker's fork
server (:func:`tests.e2e.conftest.fork_server`) instead of a server of its own.
"""

from __future__ import annotations

import importlib.util
import re
import signal
import sys
from types import ModuleType

import pytest

from tests.e2e.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def chaos_script() -> ModuleType:
    """``scripts/chaos.py`` imported as the module ``chaos`` (its dataclasses look it up)."""
    spec = importlib.util.spec_from_file_location("chaos", REPO / "scripts" / "chaos.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules["chaos"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_short_seeded_chaos_run_finds_no_violation(capsys: pytest.CaptureFixture[str]) -> None:
    terminated = signal.getsignal(signal.SIGTERM)  # the script takes SIGTERM over
    try:
        code = chaos_script().main(["--seed", "6", "--rounds", "3", "--max-seconds", "60"])
    finally:
        signal.signal(signal.SIGTERM, terminated)
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert count(out, "rounds") == 3, out
    violations = re.findall(r"^violations: (\w+)\s+(\d+)$", out, re.M)
    assert len(violations) == 6 and all(n == "0" for _, n in violations), out
    for kind in ("platform faults fired", "vault faults fired", "kills"):
        assert count(out, kind) > 0, f"no {kind}:\n{out}"


def count(summary: str, label: str) -> int:
    """The number on the summary's line ``label``."""
    found = re.search(rf"^{label}\s+(\d+)$", summary, re.M)
    assert found is not None, f"no line {label!r} in:\n{summary}"
    return int(found.group(1))
