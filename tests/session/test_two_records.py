"""Two ownership records of one organisation: its own, and one under an earlier identity.

They arise when an organisation renamed without ``previous_names`` was applied (a new
record started under the new name), and the previous name is given afterwards: the keys
reconciler made under the old name that the new record never claimed (here dev-bob,
removed from the YAML with the rename) would stay unmanaged. The plan warns, naming both
records and those keys, and reads the two as one; the next apply merges the earlier
record's entries into the organisation's and leaves a pointer where it was, as a move does.

Against the embedded sandbox (the demo seed) with the small desired state of
:mod:`tests.e2e.apply_support`, its dev workspace not pruning.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import time_machine

from reconciler.ownership import decode, moved_to
from reconciler.plan import Plan
from reconciler.platform.sandbox import SandboxStore
from reconciler.platform.target import sandbox_target_name
from reconciler.session import Session
from reconciler.vault.file import FileVault
from reconciler.vault.ledger_store import document_name
from tests.e2e.apply_support import write_small_desired
from tests.session.test_apply import apply as apply_as_caller
from tests.session.test_apply import live_keys, options, plan, state_of
from tests.session.test_ownership import BOB, DEV, actions, apply, edit_dev

# the small desired state's keys expire in 2039: its applies run before that, on any day
BEFORE_THE_KEYS_EXPIRE = time_machine.travel(dt.datetime(2030, 1, 15, 12, tzinfo=dt.UTC))

OLD, NEW = "Acme Analytics", "Acme Data"


def record(root: Path, name: str) -> str | None:
    """The text of the ownership record document kept under the organisation ``name``."""
    identity = f"{name}@{sandbox_target_name(state_of(root))}"
    found = asyncio.run(
        FileVault(root / "sandbox" / "vault").read_document(document_name(identity))
    )
    return None if found is None else found.text


def apply_in(desired: Path, root: Path) -> None:
    """Apply the organisation of ``desired`` (against ``root``'s sandbox and vault)."""

    async def go() -> None:
        async with Session(desired, options(root)) as session:
            await session.apply(auto_approve=True)

    asyncio.run(go())


def plan_in(desired: Path, root: Path) -> Plan:
    async def go() -> Plan:
        async with Session(desired, options(root)) as session:
            return (await session.plan()).plan

    return asyncio.run(go())


def live_organization_id(root: Path) -> str:
    async def go() -> str:
        async with Session(root / "orgs" / "unpinned", options(root)) as session:
            return str((await session.provider.fetch()).organization.id)

    return asyncio.run(go())


def rename(root: Path, text: str) -> None:
    """The organisation's ``name:`` line replaced by ``text``."""
    organization = root / "desired-state" / "organization.yaml"
    lines = organization.read_text().splitlines(keepends=True)
    organization.write_text("".join(text if ln.startswith("  name:") else ln for ln in lines))


@BEFORE_THE_KEYS_EXPIRE
def test_a_second_record_under_an_earlier_name_is_warned_of_then_merged_by_the_apply(
    tmp_path: Path,
) -> None:
    root = tmp_path
    write_small_desired(root, dev=DEV)
    SandboxStore.open(state_of(root)).close()  # the demo organisation, seeded at the moment
    apply(root)  # recorded under Acme Analytics: dev-alice, dev-bob, dev-carol, prod-...
    rename(root, f"  name: {NEW}\n")  # without previous_names: a record of its own begins
    edit_dev(root, BOB, "")
    apply(root)
    assert "dev-bob" in live_keys(root)  # not claimed by the new record: left alone
    old_record, new_record = record(root, OLD), record(root, NEW)
    assert old_record is not None and new_record is not None
    bob_id = live_keys(root)["dev-bob"]
    assert decode(old_record).owns(bob_id) and not decode(new_record).owns(bob_id)

    rename(root, f"  name: {NEW}\n  previous_names: [{OLD}]\n")  # both records in reach
    planned = plan(root)

    target = sandbox_target_name(state_of(root))
    (warning,) = [w for w in planned.warnings if w.startswith("Two ownership records")]
    assert warning == (
        f'Two ownership records were found: this organisation\'s, "{NEW}@{target}" '
        f"(_reconciler/{document_name(f'{NEW}@{target}')}), and one kept under its earlier "
        f'identity "{OLD}@{target}" (_reconciler/{document_name(f"{OLD}@{target}")}) that '
        "lists 1 live key this one does not: dev-bob (dev). This plan reads them as one, so "
        "those keys are reconciler's (deleted once the desired state no longer names them); "
        f'the next apply merges them into "{NEW}@{target}" and leaves a pointer in place of '
        "the earlier record. If those keys are not this organisation's, remove the earlier "
        "record from the store before applying."
    )
    assert actions(planned)["api_key.dev-bob"] == ("delete",)  # managed, no longer declared
    assert record(root, OLD) == old_record  # the plan moved nothing

    outcome = apply(root)
    assert outcome.result is not None and outcome.result.destroyed == 1
    assert "dev-bob" not in live_keys(root)
    assert moved_to(record(root, OLD) or "") == document_name(f"{NEW}@{target}")
    merged = decode(record(root, NEW) or "")
    assert set(merged.keys) == set(live_keys(root).values()) & set(decode(old_record).keys)
    again = plan(root)
    assert not [w for w in again.warnings if "ownership record" in w]
    assert "api_key.dev-bob" not in actions(again)


@BEFORE_THE_KEYS_EXPIRE
def test_an_apply_declined_leaves_both_records_as_they_were(tmp_path: Path) -> None:
    """The merge is written once the apply is approved: one that is declined (the person
    read the warning, and the earlier record's keys are not this organisation's) leaves
    the earlier record where it was, to be removed before the next apply."""
    root = tmp_path
    write_small_desired(root, dev=DEV)
    SandboxStore.open(state_of(root)).close()
    apply(root)
    rename(root, f"  name: {NEW}\n")
    edit_dev(root, BOB, "")
    apply(root)
    old_record, new_record = record(root, OLD), record(root, NEW)
    rename(root, f"  name: {NEW}\n  previous_names: [{OLD}]\n")

    asked: list[str] = []

    def decline(plan: Plan) -> bool:
        asked.extend(w for w in plan.warnings if w.startswith("Two ownership records"))
        return False

    outcome = apply_as_caller(root, approve=decline)

    assert outcome.cancelled and outcome.result is None
    assert asked and "this apply merges them" in asked[0]
    assert record(root, OLD) == old_record and record(root, NEW) == new_record
    assert "dev-bob" in live_keys(root)


@BEFORE_THE_KEYS_EXPIRE
def test_a_sibling_of_the_same_name_keeps_its_record_when_the_other_pins_its_id(
    tmp_path: Path,
) -> None:
    """Two organisations of one repository with one name at one address, one of them
    pinning its id: the other's record is kept under that name, which is not an earlier
    identity of the pinned one, so the pinned one's apply neither takes it over nor
    merges it (the other's next plan would find a pointer in place of its record)."""
    repo = tmp_path / "orgs"
    repo.mkdir()
    unpinned = write_small_desired(tmp_path, dev=DEV).rename(repo / "unpinned")
    SandboxStore.open(state_of(tmp_path)).close()
    apply_in(unpinned, tmp_path)
    before = record(tmp_path, OLD)
    assert before is not None
    pinned = write_small_desired(tmp_path, dev=DEV).rename(repo / "pinned")
    organization = pinned / "organization.yaml"
    live_id = live_organization_id(tmp_path)
    organization.write_text(
        organization.read_text().replace("organization:\n", f"organization:\n  id: {live_id}\n")
    )

    apply_in(pinned, tmp_path)

    assert record(tmp_path, OLD) == before  # neither taken over nor merged
    assert not [w for w in plan_in(unpinned, tmp_path).warnings if "ownership record" in w]
