"""Renames end to end on the embedded sandbox: ``previous_names`` on a workspace and a key.

The small desired state of :mod:`tests.e2e.apply_support` is applied first, so the live
organisation matches it; then a workspace or a key is renamed in the YAML, declaring its
former name. What is checked is what a user sees: the plan, the live organisation after
the apply, the secrets in the file vault.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reconciler.audit import AuditReport, Flag, SecretState
from reconciler.diff import REPLACE, Action, Change
from reconciler.platform.sandbox import SandboxStore
from reconciler.session import Session
from tests.e2e.apply_support import SMALL_DEV, write_small_desired
from tests.session.test_apply import apply, counts, options, plan, state_of, vault

LEFT_ALONE = {"workspace.Default Workspace", "workspace.ml"}


@pytest.fixture
def converged(tmp_path: Path) -> Path:
    """The small desired state, applied to the demo organisation."""
    write_small_desired(tmp_path)
    SandboxStore.open(state_of(tmp_path)).close()
    apply(tmp_path, auto_approve=True)
    assert counts(plan(tmp_path)) == (0, 0, 0)
    return tmp_path


def changes(root: Path) -> list[Change]:
    """The plan's changes, with the objects the small state leaves alone (the default
    workspace, ml and its keys) left out."""
    return [c for c in plan(root).changes if c.address not in LEFT_ALONE]


def live_workspaces(root: Path) -> dict[str, tuple[set[str], set[str]]]:
    """workspace name -> (member emails, key names), as the sandbox holds them."""
    store = SandboxStore.open(state_of(root))
    try:
        snap = store.snapshot()
    finally:
        store.close()
    emails = {u["uuid"]: u["email"] for u in snap["users"]}
    return {
        w["name"]: (
            {emails[uid] for uid in w["members"]},
            {k["name"] for k in snap["keys"] if k["workspace_id"] == w["uuid"]},
        )
        for w in snap["workspaces"]
        if not w["archived"]
    }


def test_a_workspace_renamed_with_its_previous_name_is_renamed_in_place(converged: Path) -> None:
    before = live_workspaces(converged)["dev"]
    workspaces = converged / "desired-state" / "workspaces"
    renamed = SMALL_DEV.replace("  name: dev\n", "  name: developers\n  previous_names: [dev]\n")
    (workspaces / "developers.yaml").write_text(renamed)
    (workspaces / "dev.yaml").unlink()

    planned = changes(converged)
    assert [(c.address, c.actions) for c in planned] == [("workspace.developers", (Action.UPDATE,))]
    change = planned[0]
    assert change.reason == "renamed from 'dev'"
    assert [(f.path, f.before, f.after) for f in change.fields] == [("name", "dev", "developers")]

    outcome = apply(converged, auto_approve=True)
    assert outcome.result is not None
    assert (outcome.result.added, outcome.result.changed, outcome.result.destroyed) == (0, 1, 0)
    assert changes(converged) == []
    live = live_workspaces(converged)
    assert "dev" not in live
    assert live["developers"] == before  # the same members and keys, under the new name


def test_a_renamed_workspace_s_keys_keep_their_secrets_where_they_were_written(
    converged: Path,
) -> None:
    """A renamed workspace's keys keep their secrets at the old default path until their
    next rotation (no move): the plan and the audit find them there. Every plan warned
    "no secret in the store" for each, and ``audit --fail-on secret-missing`` failed."""
    workspaces = converged / "desired-state" / "workspaces"
    renamed = SMALL_DEV.replace("  name: dev\n", "  name: developers\n  previous_names: [dev]\n")
    (workspaces / "developers.yaml").write_text(renamed)
    (workspaces / "dev.yaml").unlink()
    assert apply(converged, auto_approve=True).result is not None
    written = vault(converged)
    assert {"dev/dev-alice", "dev/dev-bob"} <= set(written)  # where they were written

    planned = plan(converged)
    assert not [w for w in planned.warnings if "no secret in the store" in w]

    async def audited() -> AuditReport:
        async with Session(converged / "desired-state", options(converged)) as session:
            return await session.audit()

    found = {k.name: k for k in asyncio.run(audited()).audit.keys}
    for name in ("dev-alice", "dev-bob"):
        fact = found[name].secret
        assert fact is not None and fact.state is SecretState.STORED, (name, fact)
        assert fact.where.endswith(f": dev/{name}")
        assert Flag.SECRET_MISSING not in found[name].flags


def test_a_key_renamed_with_its_previous_name_is_replaced_as_a_rotation(
    converged: Path,
) -> None:
    """The platform cannot rename a key: the renamed key is created, and the old key, with
    its secret, lives on for the rotation grace (as a rotated key's) before a later apply
    deletes it, so that whatever still uses the old secret keeps working meanwhile."""
    dev = converged / "desired-state" / "workspaces" / "dev.yaml"
    renamed = "    - name: dev-robert\n      previous_names: [dev-bob]\n"
    grace = "      rotation_grace_hours: 48\n"
    dev.write_text(SMALL_DEV.replace("    - name: dev-bob\n", renamed + grace))
    old_id = vault(converged)["dev/dev-bob"]

    planned = changes(converged)
    assert [(c.address, c.actions) for c in planned] == [("api_key.dev-robert", REPLACE)]
    change = planned[0]
    assert change.reason == "renamed from 'dev-bob'; the platform cannot rename a key"
    assert change.message == "the old key and its secret are kept 48 h, then deleted"
    assert change.grace_hours == 48
    assert change.live_id == old_id
    assert [(f.path, f.before, f.after, f.forces_replacement) for f in change.fields] == [
        ("name", "dev-bob", "dev-robert", True)
    ]

    outcome = apply(converged, auto_approve=True)
    assert outcome.result is not None
    assert [(k.address, k.key_id) for k in outcome.result.retiring] == [
        ("api_key.dev-robert", old_id)
    ]
    assert changes(converged) == []  # the old key is in its grace: nothing to do yet
    _, keys = live_workspaces(converged)["dev"]
    assert keys == {"dev-alice", "dev-bob", "dev-robert"}
    stored = vault(converged)
    assert stored["dev/dev-bob"] == old_id  # its secret kept while the old key lives
    assert stored["dev/dev-robert"] not in (old_id, "")


def test_a_key_renamed_with_no_grace_loses_its_old_key_and_secret_in_the_same_apply(
    converged: Path,
) -> None:
    dev = converged / "desired-state" / "workspaces" / "dev.yaml"
    renamed = "    - name: dev-robert\n      previous_names: [dev-bob]\n"
    no_grace = "      rotation_grace_hours: 0\n"
    dev.write_text(SMALL_DEV.replace("    - name: dev-bob\n", renamed + no_grace))

    assert changes(converged)[0].message == "the old key and its secret are deleted in this apply"
    apply(converged, auto_approve=True)
    assert changes(converged) == []
    _, keys = live_workspaces(converged)["dev"]
    assert keys == {"dev-alice", "dev-robert"}
    assert "dev/dev-bob" not in vault(converged)  # the deleted key's secret went with it
