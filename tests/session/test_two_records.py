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
from pydantic import SecretStr

from reconciler.ownership import decode, moved_to
from reconciler.plan import Plan
from reconciler.platform.sandbox import SandboxStore
from reconciler.platform.target import sandbox_target_name
from reconciler.session import Session
from reconciler.vault.file import FileVault
from reconciler.vault.ledger_store import document_name
from tests.e2e.apply_support import file_vault_entries, write_small_desired
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


def live_organization_id(root: Path, desired: Path | None = None) -> str:
    async def go() -> str:
        async with Session(desired or root / "orgs" / "unpinned", options(root)) as session:
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
    old_record, new_record = two_records(root)

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


def two_records(root: Path) -> tuple[str, str]:
    """The first test's two records (the earlier name's, the new name's): dev-bob in the
    earlier one only; ``previous_names`` now names it. The text of each (earlier, own)."""
    write_small_desired(root, dev=DEV)
    SandboxStore.open(state_of(root)).close()
    apply(root)
    rename(root, f"  name: {NEW}\n")
    edit_dev(root, BOB, "")
    apply(root)
    old_record, new_record = record(root, OLD), record(root, NEW)
    assert old_record is not None and new_record is not None
    rename(root, f"  name: {NEW}\n  previous_names: [{OLD}]\n")
    return old_record, new_record


def merged_note(root: Path, own: str = NEW) -> str:
    """What a command that merged the earlier record says (``own``: the organisation's
    identity, its name or its id, with the target)."""
    target = sandbox_target_name(state_of(root))
    return (
        "Two ownership records were found and merged: the one kept under this "
        f'organisation\'s earlier identity "{OLD}@{target}" '
        f'(_reconciler/{document_name(f"{OLD}@{target}")}) into its own, "{own}@{target}" '
        f"(_reconciler/{document_name(f'{own}@{target}')}); it listed 1 key the "
        "organisation's did not (dev-bob (dev)), now reconciler's (deleted once the desired "
        "state no longer names them). A pointer stands in place of the earlier record."
    )


@BEFORE_THE_KEYS_EXPIRE
def test_a_secret_put_that_merges_the_earlier_record_says_so(tmp_path: Path) -> None:
    """``secret put`` writes the record outside an apply: its read merges the earlier
    record as an apply's would, and it says so, as the plan before it warned."""
    root = tmp_path
    old_record, _ = two_records(root)
    secret = file_vault_entries(root / "sandbox" / "vault")["dev/dev-alice"].secret

    async def go() -> tuple[str, list[str]]:
        async with Session(root / "desired-state", options(root)) as session:
            return await session.put_secret("api_key.dev-alice", SecretStr(secret))

    _, notes = asyncio.run(go())

    assert notes == [merged_note(root)]
    target = sandbox_target_name(state_of(root))
    assert moved_to(record(root, OLD) or "") == document_name(f"{NEW}@{target}")
    assert set(decode(record(root, NEW) or "").keys) >= set(decode(old_record).keys)


@BEFORE_THE_KEYS_EXPIRE
def test_an_import_that_merges_the_earlier_record_says_so(tmp_path: Path) -> None:
    """An import pins the organisation's id: its read takes the record kept under the
    name over to the id's, and merges the one kept under the name before into it, in
    one read, as a plan of the pinned organisation reads them."""
    root = tmp_path
    two_records(root)

    async def go() -> list[str]:
        async with Session(root / "desired-state", options(root)) as session:
            return (await session.import_organization(name=NEW)).report.notes

    notes = asyncio.run(go())

    pinned = live_organization_id(root, root / "desired-state")
    assert merged_note(root, own=pinned) in notes
    target = sandbox_target_name(state_of(root))
    for earlier in (OLD, NEW):
        assert moved_to(record(root, earlier) or "") == document_name(f"{pinned}@{target}")
    merged = decode(record(root, pinned) or "")
    assert [e.name for e in merged.keys.values()].count("dev-bob") == 1
