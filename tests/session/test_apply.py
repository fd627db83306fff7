"""``Session.apply`` as a Python caller uses it: no terminal, no printing, one call.

Against the embedded sandbox (the demo seed) with the small desired state of
:mod:`tests.e2e.apply_support`; new secrets go to the file vault beside the sandbox's
state. What is checked is what a user would see: the live keys, the stored secrets, the
journal, the errors.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.lock import LockHeld, apply_lock
from reconciler.errors import ConfigError, PlanError
from reconciler.model import LiveState
from reconciler.plan import Plan
from reconciler.platform.sandbox import SandboxStore
from reconciler.platform.target import sandbox_target_name
from reconciler.session import ApplyListener, ApplyOutcome, Session, TargetOptions
from reconciler.vault.file import FileVault
from tests.e2e.apply_support import file_vault_entries, write_small_desired
from tests.example_dates import shifted

LOCK_LINES = ("Acquiring state lock. This may take a few moments...", "Releasing state lock.")
# prod-checkout-service's expiry in the small desired state, and late that day
PROD_EXPIRY = shifted(dt.date(2039, 5, 31))
EVENING = dt.datetime.combine(PROD_EXPIRY, dt.time(23, 30), dt.UTC)
TARGETING = (
    "Warning: Resource targeting is in effect. The plan may be incomplete; use --target "
    "only for exceptional situations, not routine operations."
)


class Heard(ApplyListener):
    """Keeps everything the apply tells its caller."""

    def __init__(self) -> None:
        self.notices: list[str] = []
        self.steps: list[str] = []
        self.shown: list[Plan] = []
        self.read_live: list[LiveState] = []

    def read(self, live: LiveState) -> None:
        self.read_live.append(live)

    def notice(self, message: str) -> None:
        self.notices.append(message)

    def show(self, plan: Plan) -> None:
        self.shown.append(plan)

    def step(self, line: str) -> None:
        self.steps.append(line)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_small_desired(tmp_path)
    SandboxStore.open(state_of(tmp_path)).close()  # the demo organisation, before any apply
    return tmp_path


def state_of(root: Path) -> Path:
    return root / "sandbox" / "state.json"


def options(root: Path, state: Path | None = None) -> TargetOptions:
    return TargetOptions(
        sandbox=True, sandbox_state=state or state_of(root), state_dir=root / "state", env={}
    )


Clock = Callable[[], dt.datetime]


def at(clock: Clock | None) -> dict[str, Clock]:
    """The session's clock: ``clock``, else its own (the wall clock)."""
    return {"clock": clock} if clock is not None else {}


def apply(
    root: Path, state: Path | None = None, clock: Clock | None = None, **kwargs: Any
) -> ApplyOutcome:
    async def go() -> ApplyOutcome:
        async with Session(root / "desired-state", options(root, state), **at(clock)) as session:
            return await session.apply(**kwargs)

    return asyncio.run(go())


def plan(root: Path, state: Path | None = None, clock: Clock | None = None) -> Plan:
    async def go() -> Plan:
        async with Session(root / "desired-state", options(root, state), **at(clock)) as session:
            return (await session.plan()).plan

    return asyncio.run(go())


def live_keys(root: Path) -> dict[str, str]:
    """name -> key id of every key the sandbox holds."""
    store = SandboxStore.open(state_of(root))
    try:
        return {k["name"]: k["key_id"] for k in store.snapshot()["keys"]}
    finally:
        store.close()


def vault(root: Path) -> dict[str, str]:
    """secret path -> the key id its metadata names."""
    entries = file_vault_entries(root / "sandbox" / "vault")
    return {path: entry.metadata["key_id"] for path, entry in entries.items()}


def counts(plan: Plan) -> tuple[int, int, int]:
    return plan.summary.add, plan.summary.change, plan.summary.destroy


def test_an_apply_carries_the_plan_out_and_stores_each_new_secret(root: Path) -> None:
    before = live_keys(root)
    heard = Heard()
    outcome = apply(root, auto_approve=True, listener=heard)

    assert outcome.result is not None and not outcome.cancelled
    done = outcome.result
    assert (done.added, done.changed, done.destroyed) == counts(outcome.plan) == (7, 0, 2)
    live = live_keys(root)
    assert set(live) == {"dev-alice", "dev-bob", "prod-checkout-service"}  # iris-laptop pruned
    assert live["dev-alice"] != before["dev-alice"]  # replaced
    assert vault(root) == {
        "dev/dev-alice": live["dev-alice"],
        "dev/dev-bob": live["dev-bob"],
        "prod/checkout-service": live["prod-checkout-service"],
    }
    assert [line.rsplit(": ", 1)[1] for line in outcome.stored] == sorted(vault(root))
    assert counts(plan(root)) == (0, 0, 0)  # converged
    # the live state was read again after the apply, and the journal dropped
    assert list((root / "state").glob("journal-*.jsonl")) == []
    # what the caller heard, in order: the lock, the plan, each step, the lock again
    assert (heard.notices[0], heard.notices[-1]) == LOCK_LINES
    assert heard.shown == [outcome.plan]
    assert "api_key.dev-bob: Creating..." in heard.steps
    assert outcome.warnings == ()


def test_a_stale_saved_plan_is_refused_and_changes_nothing(root: Path) -> None:
    saved = plan(root)
    dev = root / "desired-state" / "workspaces" / "dev.yaml"
    line = "    - {email: henry.novak@acme.example, roles: [user]}\n"
    dev.write_text(dev.read_text().replace(line, ""))
    before = live_keys(root)

    with pytest.raises(PlanError) as refused:
        apply(root, saved=saved)
    assert str(refused.value) == (
        "Saved plan is stale: the desired state changed since the plan was made. Run plan "
        "again. What a plan says now:\n"
        "  member.dev/henry.novak@acme.example: saved plan: nothing to do; now: destroy"
    )
    assert live_keys(root) == before
    assert vault(root) == {}


def test_a_saved_plan_whose_new_keys_expired_after_midnight_is_refused_before_any_change(
    root: Path,
) -> None:
    """prod-checkout-service is created with the expiry :data:`PROD_EXPIRY`: a plan saved
    late that day is stale the next, when the platform would refuse the create midway."""
    saved = plan(root, clock=lambda: EVENING)
    assert not saved.refusals
    before = live_keys(root)

    with pytest.raises(PlanError) as refused:
        apply(root, saved=saved, clock=lambda: EVENING + dt.timedelta(hours=1))
    message = str(refused.value)
    assert message.startswith(
        "Saved plan is stale: api_key.prod-checkout-service would be created with an expiry "
        f"that has passed since the plan was made ({PROD_EXPIRY}; today is "
        f"{PROD_EXPIRY + dt.timedelta(days=1)}), and the "
        "platform refuses to create a key that has expired. Run plan again."
    )
    assert live_keys(root) == before
    assert vault(root) == {}


def test_a_saved_plan_targeted_away_from_a_key_that_expired_since_still_applies(
    root: Path,
) -> None:
    """Only the creates an apply carries out make a saved plan lapse: ``--target`` of
    another key applies it, as a fresh plan targeted alike would."""
    saved = plan(root, clock=lambda: EVENING)
    before = live_keys(root)

    outcome = apply(
        root,
        saved=saved,
        clock=lambda: EVENING + dt.timedelta(hours=1),
        targets=["api_key.dev-bob"],
    )
    assert [c.address for c in outcome.plan.changes] == ["api_key.dev-bob"]
    live = live_keys(root)
    assert set(live) - set(before) == {"dev-bob"}
    assert set(vault(root)) == {"dev/dev-bob"}


def test_a_saved_plan_for_another_target_is_refused(root: Path) -> None:
    other = root / "other" / "state.json"
    saved = plan(root, other)
    before = live_keys(root)

    with pytest.raises(PlanError) as refused:
        apply(root, saved=saved)
    assert str(refused.value) == (
        f"Saved plan was made for {sandbox_target_name(other)}, not "
        f"{sandbox_target_name(state_of(root))}; refusing to apply"
    )
    assert live_keys(root) == before


def test_a_current_saved_plan_is_applied_without_asking(root: Path) -> None:
    saved = plan(root)

    def approve(plan: Plan) -> bool:
        raise AssertionError("a saved plan was approved when it was reviewed")

    outcome = apply(root, saved=saved, approve=approve)
    assert outcome.plan is saved
    assert outcome.result is not None
    assert (outcome.result.added, outcome.result.changed, outcome.result.destroyed) == (7, 0, 2)
    assert set(vault(root)) == {"dev/dev-alice", "dev/dev-bob", "prod/checkout-service"}


def test_a_declined_approval_changes_nothing(root: Path) -> None:
    before = live_keys(root)
    asked: list[Plan] = []

    def approve(plan: Plan) -> bool:
        asked.append(plan)
        return False

    heard = Heard()
    outcome = apply(root, approve=approve, listener=heard)
    assert outcome.cancelled and outcome.result is None
    assert asked == heard.shown == [outcome.plan]
    assert counts(outcome.plan) == (7, 0, 2)
    assert heard.steps == []
    assert heard.notices[-1] == LOCK_LINES[1]  # the lock was released
    assert live_keys(root) == before
    assert vault(root) == {}


def test_without_anyone_to_approve_a_fresh_plan_is_refused_before_the_lock(root: Path) -> None:
    before = live_keys(root)
    heard = Heard()
    with pytest.raises(ConfigError, match="apply needs approval"):
        apply(root, listener=heard)
    assert heard.notices == [] and heard.read_live == []  # no lock taken, nothing read
    assert live_keys(root) == before
    assert vault(root) == {}


def test_an_approval_may_be_awaited(root: Path) -> None:
    async def approve(plan: Plan) -> bool:
        await asyncio.sleep(0)  # e.g. a prompt that lets the lock be renewed meanwhile
        return False

    outcome = apply(root, approve=approve)
    assert outcome.cancelled and outcome.result is None


def test_targets_restrict_the_apply_with_a_warning(root: Path) -> None:
    before = live_keys(root)
    heard = Heard()
    outcome = apply(root, auto_approve=True, targets=["api_key.dev-bob"], listener=heard)
    assert outcome.warnings == (TARGETING,)
    assert [n for n in heard.notices if n.startswith("Warning:")] == list(outcome.warnings)
    assert [c.address for c in outcome.plan.changes] == ["api_key.dev-bob"]
    live = live_keys(root)
    assert live == {**before, "dev-bob": live["dev-bob"]}  # one key made, nothing else
    assert vault(root) == {"dev/dev-bob": live["dev-bob"]}
    assert counts(plan(root)) == (6, 0, 2)  # the rest is still to do


def test_a_target_that_names_no_object_applies_nothing(root: Path) -> None:
    before = live_keys(root)
    with pytest.raises(ConfigError, match=r"--target api_key\.dev-bobb \(did you mean"):
        apply(root, auto_approve=True, targets=["api_key.dev-bob", "api_key.dev-bobb"])
    assert live_keys(root) == before
    assert vault(root) == {}


def test_the_lock_is_taken_before_the_live_state_is_read(root: Path) -> None:
    heard = Heard()

    async def while_locked() -> None:
        lock = FileVault(root / "sandbox" / "vault")
        async with (
            Session(root / "desired-state", options(root)) as session,
            apply_lock(
                lock,
                target=session.provider.target,
                identity=session.identity(session.load_desired()),
                operation="apply",
            ),
        ):
            await session.apply(auto_approve=True, listener=heard)

    with pytest.raises(LockHeld):
        asyncio.run(while_locked())
    assert heard.read_live == [] and heard.shown == []


def test_another_organisations_apply_at_the_same_target_does_not_block_this_one(
    root: Path,
) -> None:
    """acme-staging's lock, in the same store at the same target, is not this one's."""

    async def while_staging_applies() -> ApplyOutcome:
        lock = FileVault(root / "sandbox" / "vault")
        async with Session(root / "desired-state", options(root)) as session:
            target = session.provider.target
            async with apply_lock(
                lock, target=target, identity=f"acme-staging@{target}", operation="apply"
            ):
                return await session.apply(auto_approve=True)

    outcome = asyncio.run(while_staging_applies())
    assert outcome.result is not None and outcome.result.added > 0
    assert counts(plan(root)) == (0, 0, 0)
