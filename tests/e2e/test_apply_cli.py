"""``reconciler apply`` as a user runs it: approval, saved plans, order, safety, targeting,
the lock, the summary and the audit log. Against the served sandbox, secrets in a file
vault, with the small desired state of :mod:`tests.e2e.apply_support`.
"""

from __future__ import annotations

import getpass
import json
import os
import pty
import re
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.apply_support import (
    SMALL_KEYS,
    Cli,
    actionable,
    applied_sentence,
    assert_converged,
    file_vault_entries,
    live_keys,
    plan_document,
    planned,
    write_small_desired,
)
from tests.e2e.conftest import (
    CLI_TIMEOUT,
    SandboxServer,
    clean_env,
    run_cli,
)
from tests.example_dates import copy_example

pytestmark = pytest.mark.e2e


@pytest.fixture
def small(tmp_path: Path) -> Path:
    write_small_desired(tmp_path)
    return tmp_path


def key_ids(sandbox: SandboxServer) -> set[str]:
    return {k["key_id"] for k in live_keys(sandbox.admin_base_url, sandbox.admin_key)}


def with_tty(
    cli: Cli, args: list[str], answer: str, *, as_a_shell_starts_it: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a terminal on stdin and type ``answer`` at the prompt; with
    ``as_a_shell_starts_it``, as ``python -m reconciler`` rather than forked."""
    leader, follower = pty.openpty()
    full = [*args, "--no-color", "--vault", cli.vault]
    variables = cli.server.env(TMPDIR=str(cli.cwd / "tmp"))
    try:
        os.write(leader, (answer + "\n").encode())  # waits in the terminal until read
        if as_a_shell_starts_it:
            proc = subprocess.Popen(
                [sys.executable, "-m", "reconciler", *full],
                cwd=cli.cwd,
                env=clean_env(variables),
                stdin=follower,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            out, err = proc.communicate(timeout=CLI_TIMEOUT)
            result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        else:
            result = run_cli(full, cwd=cli.cwd, env=variables, stdin=os.ttyname(follower))
    finally:
        os.close(follower)
        os.close(leader)
    cli.results.append(result)
    return result


# --- approval ------------------------------------------------------------------------


def test_without_a_terminal_apply_refuses_before_it_locks_or_reads(
    sandbox: SandboxServer, small: Path
) -> None:
    cli = Cli(sandbox, small)
    result = cli("apply")
    assert result.returncode == 1
    assert result.stderr == (
        "Error: apply needs approval: run it in a terminal, or pass --auto-approve (for CI)\n"
    )
    assert result.stdout == ""  # no plan: nothing was read to make one
    assert sandbox.stats()["requests"] == 0
    assert not (small / "vault").exists()  # nor was the lock taken
    # a saved plan applies without approval, as reviewed
    saved = cli("plan", "--out", "plan.out")
    assert saved.returncode == 0, saved.stderr
    applied = cli("apply", "plan.out")
    assert applied.returncode == 0, applied.stderr
    assert applied_sentence((7, 0, 2)) in applied.stdout


def test_ctrl_c_at_the_prompt_cancels_at_once_and_releases_the_lock(
    sandbox: SandboxServer, small: Path
) -> None:
    before = key_ids(sandbox)
    leader, follower = pty.openpty()
    env = clean_env(sandbox.env(TMPDIR=str(small / "tmp")))
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "--no-color", "--vault", "file:vault"],
        cwd=small,
        env=env,
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    os.close(follower)
    try:
        assert proc.stdout is not None
        shown = b""
        while not shown.endswith(b"Enter a value: "):  # waits on the prompt, not on time
            chunk = os.read(proc.stdout.fileno(), 4096)
            assert chunk, "the apply ended before asking"
            shown += chunk
        # held while asking (one lock, named after the sandbox)
        assert len(list((small / "vault" / "_locks").glob("apply-*.lock"))) == 1
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=CLI_TIMEOUT)
    finally:
        proc.kill()
        os.close(leader)
    stderr = err.decode()
    assert proc.returncode == 130, stderr
    assert stderr.rstrip().endswith("Apply cancelled.\nReleasing state lock.")
    assert "Traceback" not in stderr and "Interrupted" not in stderr
    assert not list((small / "vault" / "_locks").glob("*.lock"))  # released
    assert key_ids(sandbox) == before
    assert file_vault_entries(small / "vault") == {}


@pytest.mark.parametrize("answer", ["no", "y", "YES", "", "yes please"])
def test_anything_but_yes_cancels(sandbox: SandboxServer, small: Path, answer: str) -> None:
    cli = Cli(sandbox, small)
    before = key_ids(sandbox)
    result = with_tty(cli, ["apply"], answer)
    assert result.returncode == 1, result.stderr
    assert "Only 'yes' will be accepted to approve." in result.stdout
    assert "Apply cancelled." in result.stderr
    assert "Creating..." not in result.stdout
    assert key_ids(sandbox) == before
    assert file_vault_entries(small / "vault") == {}


def test_yes_applies(sandbox: SandboxServer, small: Path) -> None:
    cli = Cli(sandbox, small)
    result = with_tty(cli, ["apply"], "yes", as_a_shell_starts_it=True)
    assert result.returncode == 0, result.stderr
    assert applied_sentence((7, 0, 2)) in result.stdout
    assert_converged(sandbox, small / "vault", small / "desired-state")


# --- saved plans -------------------------------------------------------------------------


def test_a_saved_plan_is_applied_as_it_is_without_asking(
    sandbox: SandboxServer, small: Path
) -> None:
    cli = Cli(sandbox, small)
    saved = cli("plan", "--out", "plan.out")
    assert saved.returncode == 0, saved.stderr
    assert "To apply exactly this plan, run: reconciler apply plan.out" in saved.stderr
    result = cli("apply", "plan.out")  # no terminal, no --auto-approve: the plan is approved
    assert result.returncode == 0, result.stderr
    assert applied_sentence(planned(saved.stdout)) in result.stdout
    assert_converged(sandbox, small / "vault", small / "desired-state")


def _change_desired(small: Path, sandbox: SandboxServer) -> None:
    dev = small / "desired-state" / "workspaces" / "dev.yaml"
    line = "    - {email: henry.novak@acme.example, roles: [user]}\n"
    assert line in dev.read_text()
    dev.write_text(dev.read_text().replace(line, ""))


def _change_live(small: Path, sandbox: SandboxServer) -> None:
    dev_key = next(
        k for k in live_keys(sandbox.admin_base_url, sandbox.admin_key) if k["name"] == "dev-alice"
    )
    response = sandbox.http.delete(f"/v1/admin/api-keys/{dev_key['key_id']}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("change", "reason", "detail"),
    [
        (
            _change_desired,
            "the desired state changed since the plan was made",
            "member.dev/henry.novak@acme.example: saved plan: nothing to do; now: destroy",
        ),
        (
            _change_live,
            "the live state was changed by another operation after the plan was created",
            "api_key.dev-alice: saved plan: replace; now: create",
        ),
    ],
    ids=["desired-changed", "live-changed"],
)
def test_a_stale_saved_plan_is_refused_saying_what_changed(
    sandbox: SandboxServer, small: Path, change: Any, reason: str, detail: str
) -> None:
    cli = Cli(sandbox, small)
    assert cli("plan", "--out", "plan.out").returncode == 0
    change(small, sandbox)
    before = key_ids(sandbox)
    result = cli("apply", "plan.out")
    assert result.returncode == 1
    assert f"Error: Saved plan is stale: {reason}. Run plan again. What a plan says now:\n" in (
        result.stderr
    )
    assert f"\n  {detail}\n" in result.stderr
    assert "Creating..." not in result.stdout
    assert key_ids(sandbox) == before
    assert file_vault_entries(small / "vault") == {}


# --- order, summary, audit log -----------------------------------------------------------


def test_steps_run_in_the_safe_order(sandbox: SandboxServer, small: Path) -> None:
    ml = small / "desired-state" / "workspaces" / "ml.yaml"
    ml.write_text(
        "version: 1\nworkspace:\n  name: ml\n  admin: dan.okafor@acme.example\n  archived: true\n"
    )
    cli = Cli(sandbox, small)
    result = cli("apply", "--auto-approve")
    assert result.returncode == 0, result.stderr
    steps = [line for line in result.stdout.splitlines() if line.endswith("...")]
    assert steps == [
        "workspace.prod: Creating...",
        "member.dev/carol.diaz@acme.example: Adding...",
        "member.prod/ci-bot@acme.example: Adding...",
        "member.prod/grace.lee@acme.example: Adding...",
        "api_key.dev-alice: Creating...",
        "api_key.dev-bob: Creating...",
        "api_key.prod-checkout-service: Creating...",
        "api_key.dev-alice: Destroying the replaced key...",
        "api_key.iris-laptop: Destroying...",
        "workspace.ml: Archiving...",
    ]
    assert applied_sentence((7, 0, 3)) in result.stdout
    names = {w["name"] for w in sandbox.state_doc()["workspaces"] if not w["archived"]}
    assert "ml" not in names and "prod" in names


def test_the_audit_log_holds_every_action_and_no_secret(
    sandbox: SandboxServer, small: Path
) -> None:
    cli = Cli(sandbox, small)
    plan = plan_document(cli("plan", "--format", "json"))
    result = cli("apply", "--auto-approve")
    assert result.returncode == 0, result.stderr
    logs = list((small / ".reconciler" / "logs").glob("apply-*.jsonl"))
    assert len(logs) == 1
    assert f"Audit log: .reconciler/logs/{logs[0].name}" in result.stderr
    assert stat.S_IMODE(logs[0].stat().st_mode) == 0o600
    events = [json.loads(line) for line in logs[0].read_text().splitlines()]
    logged = [(e["address"], e["action"]) for e in events if e["event"] == "apply.action"]
    expected = {
        (c["address"], action)
        for c in plan["resource_changes"]
        for action in c["change"]["actions"]
        if action in ("create", "update", "delete")
    }
    assert set(logged) == expected and len(logged) == len(expected)
    assert all(e["result"] == "ok" for e in events if e["event"] == "apply.action")
    complete = next(e for e in events if e["event"] == "apply.complete")
    assert (complete["added"], complete["changed"], complete["destroyed"]) == (7, 0, 2)
    assert len({e["apply_id"] for e in events if "apply_id" in e}) == 1
    text = logs[0].read_text()
    for entry in file_vault_entries(small / "vault").values():
        assert entry.secret not in text


# --- safety rails ------------------------------------------------------------------------


def _prune_prod_key(desired: Path) -> str:
    prod = desired / "workspaces" / "prod.yaml"
    text = prod.read_text()
    head = text[: text.index("  api_keys:")]
    prod.write_text(
        head.replace("protected: true", "protected: true\n  prune_unmanaged_keys: true")
    )
    return (
        "api_key.prod-checkout-service: key in protected workspace 'prod' would be deleted. "
        "Set protected: false first, in a change of its own."
    )


def _archive_protected_ml(desired: Path) -> str:
    (desired / "workspaces" / "ml.yaml").write_text(
        "version: 1\nworkspace:\n  name: ml\n  admin: dan.okafor@acme.example\n"
        "  protected: true\n  archived: true\n"
    )
    return (
        "workspace.ml: workspace is protected; it cannot be archived. Set protected: false "
        "first, in a change of its own."
    )


@pytest.mark.parametrize("change", [_prune_prod_key, _archive_protected_ml])
def test_deleting_in_a_protected_workspace_is_an_error(
    sandbox: SandboxServer, small: Path, change: Any
) -> None:
    cli = Cli(sandbox, small)
    assert cli("apply", "--auto-approve").returncode == 0
    problem = change(small / "desired-state")
    before = key_ids(sandbox)
    workspaces = sandbox.state_doc()["workspaces"]
    result = cli("apply", "--auto-approve")
    assert result.returncode == 1
    assert f"Error: Refusing to apply:\n  {problem}" in result.stderr
    assert "Destroying" not in result.stdout and "Archiving" not in result.stdout
    assert key_ids(sandbox) == before
    assert sandbox.state_doc()["workspaces"] == workspaces


def test_too_many_deletes_need_force(sandbox: SandboxServer, tmp_path: Path) -> None:
    copy_example(tmp_path / "desired-state")
    cli = Cli(sandbox, tmp_path)
    assert cli("apply", "--auto-approve").returncode == 0
    # the ten desired keys; iris-laptop went with iris, who left (people.yaml offboards her)
    assert len(key_ids(sandbox)) == 10

    dev = tmp_path / "desired-state" / "workspaces" / "dev.yaml"
    text = dev.read_text()
    dev.write_text(text[: text.index("    - name: dev-bob")])  # bob, carol, henry go
    ml = tmp_path / "desired-state" / "workspaces" / "ml.yaml"
    text = ml.read_text()
    ml.write_text(text[: text.index("    - name: ml-dan")])  # and dan's key
    before = key_ids(sandbox)
    refused = cli("apply", "--auto-approve")
    assert refused.returncode == 1
    assert "Too many deletes: 40% is over 30% (4/10); --force required" in refused.stderr
    logs_before = set((tmp_path / ".reconciler" / "logs").glob("apply-*.jsonl"))
    assert key_ids(sandbox) == before
    forced = cli("apply", "--auto-approve", "--force")
    assert forced.returncode == 0, forced.stderr
    # the plan shown no longer says apply will refuse what --force lets through
    assert "Apply will refuse this plan" not in forced.stdout
    assert "Applying with --force despite: Too many deletes: 40% is over 30% (4/10)\n" in (
        forced.stderr
    )
    assert applied_sentence((0, 0, 4)) in forced.stdout
    assert len(key_ids(sandbox)) == 6
    # and the audit log keeps what --force went ahead despite, as the terminal said it
    (log,) = set((tmp_path / ".reconciler" / "logs").glob("apply-*.jsonl")) - logs_before
    events = [json.loads(line) for line in log.read_text().splitlines()]
    start = next(e for e in events if e["event"] == "apply.start")
    assert start["forced"] == ["Too many deletes: 40% is over 30% (4/10); --force required"]


# --- targeting -----------------------------------------------------------------------------


def test_target_limits_the_apply_with_a_warning(sandbox: SandboxServer, small: Path) -> None:
    cli = Cli(sandbox, small)
    before = key_ids(sandbox)
    result = cli("apply", "--auto-approve", "--target", "api_key.dev-bob")
    assert result.returncode == 0, result.stderr
    assert "Warning: Resource targeting is in effect." in result.stderr
    assert applied_sentence((1, 0, 0)) in result.stdout
    new = key_ids(sandbox) - before
    assert len(new) == 1 and before <= key_ids(sandbox)
    assert list(file_vault_entries(small / "vault")) == ["dev/dev-bob"]
    # the rest is still to do
    assert planned(cli("plan").stdout) == (6, 0, 2)


# --- the lock ------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_applies_never_run_at_once(sandbox: SandboxServer, small: Path) -> None:
    # The platform holds the first apply's first create until the test lets it go.
    sandbox.set_faults({"method": "POST", "path": "/v1/admin/api-keys", "nth": 1, "hold": True})
    cli = Cli(sandbox, small)
    env = clean_env(sandbox.env(TMPDIR=str(small / "tmp"), MISTRAL_TIMEOUT="600"))
    args = [sys.executable, "-m", "reconciler", "apply", "--auto-approve", "--no-color"]
    args += ["--vault", "file:vault"]
    pipes: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    first = subprocess.Popen(args, cwd=small, env=env, **pipes)
    waiting: subprocess.Popen[str] | None = None
    try:
        assert first.stdout is not None
        for line in first.stdout:
            if line.startswith("api_key.dev-alice: Creating..."):
                break  # it holds the lock, and its create is held
        busy = cli("apply", "--auto-approve")
        waiting = subprocess.Popen([*args, "--lock-timeout", "600"], cwd=small, env=env, **pipes)
        assert waiting.stderr is not None
        notice = next(e for e in waiting.stderr if e.startswith("The state lock is held by"))
        sandbox.set_faults()  # the held create goes on
        first_rest, first_err = first.communicate(timeout=CLI_TIMEOUT)
        waited, waited_err = waiting.communicate(timeout=CLI_TIMEOUT)
    finally:
        for proc in (first, waiting):
            if proc is not None:
                proc.kill()
                proc.wait()
    assert first.returncode == 0, first_err
    assert applied_sentence((7, 0, 2)) in first_rest
    assert busy.returncode == 1
    held = re.search(
        rf"Error: Error acquiring the state lock: it is held by {re.escape(getpass.getuser())} "
        rf"on {re.escape(socket.gethostname())} \(pid {first.pid}\) for apply since "
        r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)",
        busy.stderr,
    )
    assert held, busy.stderr
    assert "Retry later, or wait for it with --lock-timeout SECONDS." in busy.stderr
    assert f"(pid {first.pid}) for apply since" in notice  # the second waited for the first
    # the one that waited planned after the first finished: nothing left to do, no duplicate
    assert waiting.returncode == 0, waited_err
    assert applied_sentence((0, 0, 0)) in waited
    assert_converged(sandbox, small / "vault", small / "desired-state")
    assert {e.metadata["key_name"] for e in file_vault_entries(small / "vault").values()} == set(
        SMALL_KEYS
    )
    assert actionable(plan_document(cli("plan", "--format", "json"))) == []
