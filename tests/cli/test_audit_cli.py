"""``reconciler audit`` as CI runs it: the report, and exit codes with ``--fail-on``; and
the one-line refusal of ``plan``, ``audit`` and ``apply`` for another organisation.

Against the embedded sandbox (``--sandbox``), whose demo seed is created by the first run
relative to that moment, so the keys' ages are the seed's on any date.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import run_cli
from tests.example_dates import copy_example


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("audit-cli")
    copy_example(root / "desired-state")
    return root


def cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``reconciler ARGS`` in a process of its own (forked from one that has imported it)."""
    return run_cli(args, cwd=workdir, timeout=120)


def test_audit_lists_the_demo_keys_with_their_flags(workdir: Path) -> None:
    result = cli(workdir, "audit", "--sandbox", "--attribution-days", "365")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Key audit of sandbox (.sandbox/state.json) (provider: mistral)"
    alice = next(line for line in lines if " dev-alice " in line)
    assert re.search(r"alice\.martin@acme\.example\s+20d\s+\S+ \(1d ago\)", alice)
    assert alice.rstrip().endswith("missing  secret-missing")
    iris = next(line for line in lines if " iris-laptop " in line)
    assert re.search(r"200d\s+\S+ \(45d ago\)\s+-\s+-\s+unused, old, rotation-due, unmanaged", iris)
    below = lines[lines.index(iris) + 1]
    assert re.fullmatch(
        r" {6}# created outside reconciler by iris\.tanaka@acme\.example on \d{4}-\d\d-\d\d",
        below,
    )
    assert (
        "2 keys, 2 flagged: 1 unused, 1 old, 1 rotation-due, 1 unmanaged, 1 secret-missing."
        in lines
    )
    assert re.match(r"Read 3 workspaces, \d+ users, 2 api keys from sandbox", result.stderr)


def test_an_unknown_fail_on_flag_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    copy_example(tmp_path / "desired-state")
    result = cli(tmp_path, "audit", "--sandbox", "--fail-on", "bogus")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: --fail-on: unknown flag bogus;")
    assert len(result.stderr.splitlines()) == 1  # no progress: nothing was read
    assert not (tmp_path / ".sandbox").exists()  # the sandbox was never opened


@pytest.mark.parametrize(
    ("fail_on", "code", "stderr"),
    [
        ("expired,expiring", 0, None),
        ("unused", 2, "Failing (--fail-on): 1 unused."),
        (
            "secret-mismatch,secret-missing,unmanaged",
            2,
            "Failing (--fail-on): 1 unmanaged, 1 secret-missing.",
        ),
        ("stale", 1, "Error: --fail-on: unknown flag stale; use one or more of: unused, old,"),
    ],
)
def test_fail_on_exits_2_when_a_listed_flag_is_present(
    workdir: Path, fail_on: str, code: int, stderr: str | None
) -> None:
    result = cli(workdir, "audit", "--sandbox", "--format", "json", "--fail-on", fail_on)
    assert result.returncode == code, result.stderr
    if stderr is None:
        assert result.stderr == ""  # JSON to a pipe: no progress line either
    else:
        assert result.stderr.strip().splitlines()[-1].startswith(stderr)
    if code != 1:
        doc = json.loads(result.stdout)
        assert [k["name"] for k in doc["keys"]] == ["dev-alice", "iris-laptop"]
    else:
        assert result.stdout == ""


@pytest.mark.parametrize("command", ["plan", "audit", "apply"])
def test_another_organisations_desired_state_is_refused_in_one_line(
    tmp_path: Path, command: str
) -> None:
    copy_example(tmp_path / "desired-state")
    organization = tmp_path / "desired-state" / "organization.yaml"
    text = organization.read_text().replace("name: Acme Analytics", "name: Other Corp")
    organization.write_text(re.sub(r"(?m)^  id: .*$", "  id: org-of-other-corp", text))
    extra = ["--auto-approve"] if command == "apply" else []
    result = cli(tmp_path, command, "--sandbox", *extra)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("Acquiring")]
    lines = [line for line in lines if not line.startswith("Releasing")]
    assert len(lines) == 1, result.stderr
    assert re.fullmatch(
        r'Error: desired-state/ is for organisation "Other Corp" \(org-of-other-corp\) but the '
        rf"Admin API key is for organisation [0-9a-f-]{{36}}; refusing to {command}",
        lines[0],
    )


def test_a_secret_entry_that_cannot_be_read_is_flagged_and_can_fail_the_audit(
    tmp_path: Path,
) -> None:
    """A corrupt entry in the store (or one the store will not give) was shown as
    ``unreadable`` with "none flagged", and no ``--fail-on`` could catch it; a log line
    of the secret check also went raw to stderr beside the plan's own warning."""
    copy_example(tmp_path / "desired-state")
    assert cli(tmp_path, "apply", "--sandbox", "--auto-approve").returncode == 0
    (tmp_path / ".sandbox" / "vault" / "dev" / "dev-bob.json").write_text('{"a":\n')

    audited = cli(tmp_path, "audit", "--sandbox", "--fail-on", "secret-unreadable")
    assert audited.returncode == 2, audited.stderr
    bob = next(line for line in audited.stdout.splitlines() if " dev-bob " in line)
    assert bob.rstrip().endswith("unreadable  secret-unreadable")
    assert "1 flagged: 1 secret-unreadable" in audited.stdout
    planned = cli(tmp_path, "plan", "--sandbox")
    assert "Key audit: 1 key whose secret could not be read (dev-bob)" in planned.stdout
    assert (
        "1 key secret(s) could not be checked (file vault at .sandbox/vault: dev/dev-bob: "
    ) in planned.stdout + planned.stderr
    assert "a lost one is found by the next plan" not in planned.stdout + planned.stderr
    for shown in (audited.stderr, planned.stderr):
        assert "[warning" not in shown and "secret_check_failed" not in shown
