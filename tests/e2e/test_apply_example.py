"""``reconciler apply`` end to end on the served sandbox with the file vault.

The example ``desired-state/`` is applied to the demo organisation, planned again (no
changes left but the console-only ones), edited, and applied again; then every output
stream, log and file the runs wrote is searched for every secret.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest

from reconciler.env import RECONCILER_CRASH_AFTER_RECORD as CRASH_ENV
from tests.e2e.apply_support import (
    Cli,
    actionable,
    applied_sentence,
    assert_converged,
    desired_keys,
    file_vault_entries,
    fragments,
    live_keys,
    plan_document,
    planned,
    secret_works,
)
from tests.e2e.conftest import SEEDED_SECRET, SandboxServer
from tests.example_dates import shifted

pytestmark = pytest.mark.e2e


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} does not contain {old!r}"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.slow
def test_apply_the_example_plan_again_edit_and_apply_again(
    sandbox: SandboxServer, workdir: Path
) -> None:
    cli = Cli(sandbox, workdir)
    desired = workdir / "desired-state"

    plan = cli("plan")
    assert plan.returncode == 0, plan.stderr
    first = cli("apply", "--auto-approve")
    assert first.returncode == 0, first.stderr
    assert applied_sentence(planned(plan.stdout)) in first.stdout
    assert "manual change(s) remain for the admin console" in first.stdout
    assert_converged(sandbox, workdir / "vault", desired)

    again = cli("plan", "--detailed-exitcode", "--format", "json")
    doc = plan_document(again)
    assert actionable(doc) == []
    assert again.returncode == 2  # only what the Admin API cannot do is left: manual changes
    assert doc["summary"]["manual"] == 2
    text = cli("plan")
    assert "No changes to apply through the Admin API.\nAlso: 2 manual changes" in text.stdout
    assert "matches the configuration" not in text.stdout

    old_bob = file_vault_entries(workdir / "vault")["dev/dev-bob"]
    dev = (desired / "workspaces" / "dev.yaml").read_text()
    bob_block = dev[dev.index("- name: dev-bob") : dev.index("- name: dev-carol")]
    (desired / "workspaces" / "dev.yaml").write_text(
        dev.replace(bob_block, bob_block.replace(shifted("2039-06-30"), shifted("2039-12-31")))
    )
    edit(
        desired / "workspaces" / "ml.yaml",
        "description: ML engineering, training and evaluation",
        "description: ML engineering and evaluation",
    )
    with (desired / "workspaces" / "ml.yaml").open("a") as handle:
        handle.write(
            "\n    - name: ml-erin-notebook\n"
            "      owner: erin.kowalski@acme.example\n"
            f"      expires: {shifted('2039-03-31')}\n"
            "      role: senior\n"
        )

    edited = cli("plan")
    assert edited.returncode == 0, edited.stderr
    assert planned(edited.stdout) == (2, 1, 1)  # bob replaced, erin's key, ml's description
    assert "api_key.dev-bob must be replaced" in edited.stdout
    second = cli("apply", "--auto-approve")
    assert second.returncode == 0, second.stderr
    assert applied_sentence((2, 1, 1)) in second.stdout
    lines = second.stdout.splitlines()
    assert lines.index("api_key.dev-bob: Creating...") < lines.index(
        "api_key.dev-bob: Destroying the replaced key..."
    )
    assert_converged(sandbox, workdir / "vault", desired)
    new_bob = file_vault_entries(workdir / "vault")["dev/dev-bob"]
    assert new_bob.metadata["key_id"] != old_bob.metadata["key_id"]
    assert new_bob.metadata["expires"] == shifted("2039-12-31")
    assert not secret_works(sandbox.api_base_url, old_bob.secret)  # the old key is gone
    final = plan_document(cli("plan", "--detailed-exitcode", "--format", "json"))
    assert actionable(final) == []


def test_vault_entries_hold_the_secret_and_the_policy(
    sandbox: SandboxServer, workdir: Path
) -> None:
    cli = Cli(sandbox, workdir)
    result = cli("apply", "--auto-approve")
    assert result.returncode == 0, result.stderr
    live = {k["name"]: k for k in live_keys(sandbox.admin_base_url, sandbox.admin_key)}
    entries = file_vault_entries(workdir / "vault")
    carol = entries["dev/dev-carol"]
    assert secret_works(sandbox.api_base_url, carol.secret)
    meta = carol.metadata
    assert meta["key_id"] == live["dev-carol"]["key_id"]
    assert meta["created"][:19] == live["dev-carol"]["created_at"][:19]
    assert {k: meta[k] for k in meta if k not in ("key_id", "created")} == {
        "key_name": "dev-carol",
        "workspace": "dev",
        "owner": "carol.diaz@acme.example",
        "expires": shifted("2039-06-30"),
        "role": "developer",
        "allowed_models": "codestral-latest,mistral-small-latest",
        "max_tokens_per_request": "8000",
        "daily_token_budget": "1000000",
        "rpm": "60",
        "monthly_budget_usd": "50",
        "managed_by": "reconciler",
    }
    # role senior narrowed by nothing (ml allows every model); admin has no daily budget
    assert entries["ml/ml-dan"].metadata["allowed_models"] == "*"
    assert "daily_token_budget" not in entries["ml/ml-dan"].metadata
    pipeline = entries["ml/ml-training-pipeline"].metadata
    assert pipeline["allowed_models"].split(",") == sorted(
        [
            "codestral-latest",
            "mistral-large-latest",
            "mistral-medium-latest",
            "mistral-small-latest",
        ]
    )
    assert (pipeline["rpm"], pipeline["monthly_budget_usd"]) == ("200", "500")
    # every key's secret went to the override vault, the GitHub-targeted one included
    assert set(desired_keys(workdir / "desired-state").values()) <= {
        (e.metadata["workspace"], path) for path, e in entries.items()
    }


@pytest.mark.slow
def test_no_secret_in_any_output_log_plan_or_file(sandbox: SandboxServer, workdir: Path) -> None:
    cli = Cli(sandbox, workdir, keep_files=True)
    desired = workdir / "desired-state"
    runs = [cli("plan"), cli("plan", "--format", "json"), cli("plan", "--format", "markdown")]
    runs.append(cli("plan", "--out", "first.plan"))
    applied = cli("apply", "first.plan")
    assert applied.returncode == 0, applied.stderr
    assert re.search(r"Audit log: \.reconciler/logs/apply-\S+\.jsonl", applied.stderr)
    # a replacement whose create answers 500 after it happened: an error path, then recovery
    dev = desired / "workspaces" / "dev.yaml"
    # (later dates than the example's: an earlier one would be past sooner, and refused)
    dev.write_text(dev.read_text().replace(shifted("2039-03-31"), shifted("2039-11-30")))
    sandbox.set_faults(
        {"method": "POST", "path": "/v1/admin/api-keys", "status": 500, "after": True}
    )
    failed = cli("apply", "--auto-approve")
    assert failed.returncode == 1
    assert (
        "Error: api_key.dev-henry-notebooks: mistral admin: POST /api-keys failed with HTTP 500"
        in failed.stderr
    )
    sandbox.set_faults()
    recovery = cli("plan", "--format", "json", "--out", "second.plan")
    assert json.loads(recovery.stdout)["warnings"]  # the orphan is found and will go
    runs += [recovery, cli("apply", "second.plan")]
    # killed late in a replacement (its secret stored): the journal stays as it was written
    dev.write_text(dev.read_text().replace(shifted("2039-11-30"), shifted("2039-10-31")))
    killed = cli("apply", "--auto-approve", env={CRASH_ENV: "6"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "api_key.dev-henry-notebooks: Creation complete" in killed.stdout
    runs += [cli("plan"), cli("apply", "--auto-approve"), cli("plan", "--detailed-exitcode")]
    assert [r.returncode for r in runs] == [0, 0, 0, 0, 0, 0, 0, 0, 2], cli.outputs()

    vault = workdir / "vault"
    secret_files = {
        f for f in vault.rglob("*.json") if not {"_locks", "_reconciler"} & set(f.parts)
    }
    secrets = {SEEDED_SECRET, sandbox.admin_key}
    for file in secret_files:
        for version in json.loads(file.read_text())["versions"]:
            secrets.add(version["data"]["api_key"])
    # every desired key's, the replaced dev-henry-notebooks', the seed's and the admin key
    assert len(secrets) >= len(desired_keys(desired)) + 3
    names = {path.name for path, _ in cli.files}
    assert {"first.plan", "second.plan"} <= names
    assert any(n.startswith("journal-") for n in names)  # as the killed apply left it
    assert any(n.startswith("apply-") and n.endswith(".jsonl") for n in names)  # audit logs
    streams = cli.outputs()
    # each content written once (most files were kept unchanged across runs), in one text
    written = {content: path for path, content in cli.files if path not in secret_files}
    everything = b"\0".join(written)  # a secret's piece holds no NUL: it cannot straddle two
    for secret in secrets:
        for piece in fragments(secret):
            assert piece not in streams, "a secret is in an output stream"
            if piece.encode() in everything:
                found = [path for content, path in written.items() if piece.encode() in content]
                raise AssertionError(f"a secret is in {found}")
    # the vault's own files hold the secrets, and there is one per secret path
    assert {f.relative_to(vault).with_suffix("").as_posix() for f in secret_files} == set(
        file_vault_entries(vault)
    )
