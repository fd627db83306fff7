"""The journal an earlier release kept per target, met by a release that keeps one per
organisation: taken over once when the target is one organisation's, refused by name when
several organisations of the repository may be at it.

Against the embedded sandbox (the demo seed) with the small desired state of
:mod:`tests.e2e.apply_support`; the earlier release's journal is written as it wrote it
(one key created, its secret never stored).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from reconciler.apply.journal import Journal, journal_path, legacy_journal_path
from reconciler.errors import ConfigError
from reconciler.plan import Plan
from reconciler.platform.sandbox import SandboxStore
from reconciler.platform.target import sandbox_target_name
from reconciler.session import Session, TargetOptions
from tests.e2e.apply_support import write_small_desired

INTERRUPTED = (
    "An earlier apply did not finish: 1 key(s) it left behind will be deleted, and what "
    "the desired state needs re-created."
)


def sandbox_state(root: Path) -> Path:
    state = root / "sandbox" / "state.json"
    SandboxStore.open(state).close()  # the demo organisation
    return state


def earlier_journal(root: Path, state: Path) -> Path:
    """The journal an earlier release's apply left when killed after creating dev-alice's
    new key (a live one) and before storing its secret."""
    store = SandboxStore.open(state)
    try:
        key_id = next(k["key_id"] for k in store.snapshot()["keys"] if k["name"] == "dev-alice")
    finally:
        store.close()
    path = legacy_journal_path(root / "state", sandbox_target_name(state))
    journal = Journal(path)
    journal.record("key-create-intent", intent="a:alice", name="dev-alice", workspace="dev")
    journal.record(
        "key-created", intent="a:alice", key_id=key_id, name="dev-alice", workspace="dev"
    )
    journal.close()
    return path


def plan_of(desired: Path, root: Path, state: Path) -> tuple[Plan, str]:
    options = TargetOptions(sandbox=True, sandbox_state=state, state_dir=root / "state", env={})

    async def go() -> tuple[Plan, str]:
        async with Session(desired, options) as session:
            ctx = await session.plan()
            return ctx.plan, session.identity(ctx.desired)

    return asyncio.run(go())


def test_one_organisations_journal_of_an_earlier_release_is_taken_over(tmp_path: Path) -> None:
    desired = write_small_desired(tmp_path)
    state = sandbox_state(tmp_path)
    earlier = earlier_journal(tmp_path, state)
    plan, identity = plan_of(desired, tmp_path, state)
    assert INTERRUPTED in plan.warnings
    assert not earlier.exists()
    assert journal_path(tmp_path / "state", identity).exists()
    again, _ = plan_of(desired, tmp_path, state)  # read from its new name from now on
    assert INTERRUPTED in again.warnings


def test_the_journal_of_an_organisation_whose_id_is_pinned_later_is_taken_over(
    tmp_path: Path,
) -> None:
    desired = write_small_desired(tmp_path)
    state = sandbox_state(tmp_path)
    unpinned, named = plan_of(desired, tmp_path, state)  # known by its name
    earlier_journal(tmp_path, state).replace(journal_path(tmp_path / "state", named))
    advice = next(w for w in unpinned.warnings if "organization.id is not set" in w)
    pinned_id = advice.split("this one's id is ")[1].split()[0]
    organization = desired / "organization.yaml"
    text = organization.read_text()
    organization.write_text(text.replace("organization:\n", f"organization:\n  id: {pinned_id}\n"))

    plan, pinned = plan_of(desired, tmp_path, state)

    assert pinned != named and INTERRUPTED in plan.warnings
    assert journal_path(tmp_path / "state", pinned).exists()
    assert not journal_path(tmp_path / "state", named).exists()


def test_a_journal_of_an_earlier_release_at_a_shared_target_is_refused_by_name(
    tmp_path: Path,
) -> None:
    tree = tmp_path / "desired-state"
    tree.mkdir()
    prod = write_small_desired(tmp_path / "prod").rename(tree / "acme-prod")
    shutil.copytree(prod, tree / "acme-staging")
    state = sandbox_state(tmp_path)
    earlier = earlier_journal(tmp_path, state)
    with pytest.raises(ConfigError) as caught:
        plan_of(prod, tmp_path, state)
    message = str(caught.value)
    assert str(earlier) in message and "\n" not in message
    assert "journal-" in message.split(f"rename it to {tmp_path / 'state'}/", 1)[1]
    assert earlier.exists()
