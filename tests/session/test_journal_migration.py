"""The journal an earlier release kept per target, met by a release that keeps one per
organisation: read in place by a plan and taken over once by the next apply when the
target is one organisation's, refused by name when several organisations of the
repository may be at it.

Against the embedded sandbox (the demo seed) with the small desired state of
:mod:`tests.e2e.apply_support`; the earlier release's journal is written as it wrote it
(one key created, its secret never stored).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from pathlib import Path

import pytest
import time_machine

from reconciler.apply.journal import Journal, journal_path, legacy_journal_path
from reconciler.errors import ConfigError
from reconciler.plan import Plan
from reconciler.platform.sandbox import SandboxStore
from reconciler.platform.target import sandbox_target_name
from reconciler.session import Session, TargetOptions
from tests.e2e.apply_support import write_small_desired

# the small desired state's keys expire in 2039: its applies run before that, on any day
BEFORE_THE_KEYS_EXPIRE = time_machine.travel(dt.datetime(2030, 1, 15, 12, tzinfo=dt.UTC))

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
    key_id = left_behind(state)
    path = legacy_journal_path(root / "state", sandbox_target_name(state))
    journal = Journal(path)
    journal.record("key-create-intent", intent="a:alice", name="dev-alice", workspace="dev")
    journal.record(
        "key-created", intent="a:alice", key_id=key_id, name="dev-alice", workspace="dev"
    )
    journal.close()
    return path


def options_of(root: Path, state: Path) -> TargetOptions:
    return TargetOptions(sandbox=True, sandbox_state=state, state_dir=root / "state", env={})


def plan_of(desired: Path, root: Path, state: Path) -> tuple[Plan, str]:
    async def go() -> tuple[Plan, str]:
        async with Session(desired, options_of(root, state)) as session:
            ctx = await session.plan()
            return ctx.plan, session.identity(ctx.desired)

    return asyncio.run(go())


def apply_of(desired: Path, root: Path, state: Path) -> None:
    async def go() -> None:
        async with Session(desired, options_of(root, state)) as session:
            await session.apply(auto_approve=True)

    asyncio.run(go())


def live_key_ids(state: Path) -> set[str]:
    store = SandboxStore.open(state)
    try:
        return {k["key_id"] for k in store.snapshot()["keys"]}
    finally:
        store.close()


def left_behind(state: Path) -> str:
    """The id of the key the earlier release's journal says it created (dev-alice's)."""
    store = SandboxStore.open(state)
    try:
        return str(next(k["key_id"] for k in store.snapshot()["keys"] if k["name"] == "dev-alice"))
    finally:
        store.close()


@BEFORE_THE_KEYS_EXPIRE
def test_an_earlier_releases_journal_is_read_in_place_by_a_plan_and_taken_over_by_apply(
    tmp_path: Path,
) -> None:
    desired = write_small_desired(tmp_path)
    state = sandbox_state(tmp_path)
    earlier = earlier_journal(tmp_path, state)
    plan, identity = plan_of(desired, tmp_path, state)
    assert INTERRUPTED in plan.warnings
    assert earlier.exists()  # a plan moves nothing
    assert not journal_path(tmp_path / "state", identity).exists()
    again, _ = plan_of(desired, tmp_path, state)  # still read where it is
    assert INTERRUPTED in again.warnings and earlier.exists()

    key_id = left_behind(state)
    apply_of(desired, tmp_path, state)

    assert not earlier.exists()  # taken over, acted on, compacted
    assert key_id not in live_key_ids(state)  # the key it left behind was deleted
    after, _ = plan_of(desired, tmp_path, state)
    assert INTERRUPTED not in after.warnings


@BEFORE_THE_KEYS_EXPIRE
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
    assert journal_path(tmp_path / "state", named).exists()  # read in place by the plan
    assert not journal_path(tmp_path / "state", pinned).exists()

    key_id = left_behind(state)
    apply_of(desired, tmp_path, state)

    assert not journal_path(tmp_path / "state", named).exists()  # taken over by the apply
    assert key_id not in live_key_ids(state)


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


@BEFORE_THE_KEYS_EXPIRE
def test_an_apply_declined_leaves_the_earlier_journal_where_it_was(tmp_path: Path) -> None:
    """Taking the journal over is the approved apply's: a declined one (its plan read, as
    a plan's is) leaves it where it was, for the run it belongs to."""
    desired = write_small_desired(tmp_path)
    state = sandbox_state(tmp_path)
    earlier = earlier_journal(tmp_path, state)

    async def go() -> tuple[bool, str]:
        async with Session(desired, options_of(tmp_path, state)) as session:
            outcome = await session.apply(approve=lambda plan: False)
            return outcome.cancelled, session.identity(session.load_desired())

    cancelled, identity = asyncio.run(go())

    assert cancelled
    assert earlier.exists()
    assert not journal_path(tmp_path / "state", identity).exists()
