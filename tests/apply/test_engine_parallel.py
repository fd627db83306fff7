"""The apply engine with several steps in flight: the bound, the phase order, a failure
midway, and a journal that stays whole and in order for each key."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from reconciler.apply.engine import Applier
from reconciler.apply.intents import CreateIntents
from reconciler.apply.journal import Journal
from reconciler.apply.result import ApplyError
from reconciler.errors import ServerError
from reconciler.model import ApiKey, DesiredState
from reconciler.plan import make_plan
from reconciler.provider import CreatedKey
from reconciler.vault.file import FileVault
from tests.apply.fakes import ORG_USERS, FakeProvider, desired_org, live_org

# the phase of each provider call (see reconciler.apply.order.steps)
PHASE = {
    "set_organization_spend_limit": 0,
    "create_workspace": 1,
    "update_workspace": 1,
    "set_member": 2,
    "remove_member": 3,
    "create_key": 4,
    "delete_key": 5,
    "archive_workspace": 7,
}


class SlowProvider(FakeProvider):
    """Each key create stays on the wire for a few turns of the loop, counted."""

    def __init__(self) -> None:
        super().__init__(live_org(), users=ORG_USERS)
        self.in_flight = 0
        self.most_in_flight = 0

    async def create_key(self, key: ApiKey, workspace_id: str) -> CreatedKey:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            return await super().create_key(key, workspace_id)
        finally:
            self.in_flight -= 1


def with_service_keys(count: int) -> DesiredState:
    """The test organisation's desired state and ``count`` more keys for bob in dev."""
    desired = desired_org()
    extra = tuple(
        ApiKey(name=f"svc-{n:02d}", workspace="dev", owner="bob@acme.example") for n in range(count)
    )
    return desired.model_copy(update={"keys": (*desired.keys, *extra)})


def apply(
    tmp_path: Path, provider: FakeProvider, desired: DesiredState, parallelism: int
) -> Journal:
    vault = FileVault(tmp_path / "vault")
    journal = Journal(tmp_path / "state" / "journal.jsonl")

    async def go() -> None:
        live = await provider.fetch()
        plan = make_plan(desired, live, provider="fake")
        applier = Applier(
            provider=provider,
            desired=desired,
            live=live,
            secrets=lambda key: (vault, f"{key.workspace}/{key.name}"),
            journal=journal,
            apply_id="parallel",
            parallelism=parallelism,
        )
        await applier.run(plan)

    asyncio.run(go())
    return journal


def test_independent_changes_run_concurrently_within_the_bound(tmp_path: Path) -> None:
    provider = SlowProvider()
    apply(tmp_path, provider, with_service_keys(20), parallelism=4)
    assert 1 < provider.most_in_flight <= 4
    assert sum(1 for call, _ in provider.calls if call == "create_key") == 23


@pytest.mark.parametrize("parallelism", [1, 8])
def test_phases_never_overlap_and_a_replacement_is_stored_before_its_old_key_goes(
    tmp_path: Path, parallelism: int
) -> None:
    provider = SlowProvider()
    journal = apply(tmp_path, provider, with_service_keys(20), parallelism)
    phases = [PHASE[call] for call, _ in provider.calls]
    assert phases == sorted(phases)  # a workspace before its members and keys, and so on
    events = [(e["event"], e.get("name") or e.get("key_id")) for e in journal.entries()]
    stored_new = next(
        i
        for i, (event, _) in enumerate(events)
        if event == "secret-stored" and journal_name(journal, i) == "dev-alice"
    )
    assert stored_new < events.index(("key-delete-intent", "k-alice"))


def journal_name(journal: Journal, index: int) -> str:
    """The key name of the ``secret-stored`` entry at ``index`` (through its key id)."""
    entries = list(journal.entries())
    key_id = entries[index]["key_id"]
    return str(
        next(e["name"] for e in entries if e["event"] == "key-created" and e["key_id"] == key_id)
    )


def test_a_failure_lets_the_steps_in_flight_finish_and_starts_no_other(tmp_path: Path) -> None:
    provider = SlowProvider()
    provider.fail["create_key"] = lambda name: (
        ServerError("Mistral: POST /api-keys failed with HTTP 400") if name == "svc-05" else None
    )
    with pytest.raises(ApplyError) as caught:
        apply(tmp_path, provider, with_service_keys(20), parallelism=4)
    assert str(caught.value).startswith("api_key.svc-05: Mistral: POST /api-keys failed")
    created = [name for call, name in provider.calls if call == "create_key"]
    assert "svc-19" not in created  # no step started after the failure was seen
    assert not [call for call, _ in provider.calls if PHASE[call] > 4]  # nor a later phase
    journal = Journal(tmp_path / "state" / "journal.jsonl")
    live = asyncio.run(provider.fetch())
    # every key created in flight was stored; the next plan only finishes the replacement
    assert list(journal.abandoned_keys(live)) == ["k-alice"]
    assert journal.pending_secrets() == []


def test_journal_lines_stay_whole_and_each_keys_records_in_order(tmp_path: Path) -> None:
    journal = apply(tmp_path, SlowProvider(), with_service_keys(30), parallelism=8)
    lines = journal.path.read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # every line whole
    position: dict[tuple[str, str], int] = {}
    ids: dict[str, str] = {}
    for index, entry in enumerate(entries):
        if entry["event"] in ("key-create-intent", "key-created"):
            position[(entry["event"], entry["intent"])] = index
            if entry["event"] == "key-created":
                ids[entry["key_id"]] = entry["intent"]
        elif entry["event"] == "secret-stored":
            position[("secret-stored", ids[entry["key_id"]])] = index
    intents = {intent for _, intent in position}
    assert len(intents) == 33
    for intent in intents:
        assert (
            position[("key-create-intent", intent)]
            < position[("key-created", intent)]
            < position[("secret-stored", intent)]
        )


class FsyncCountingProvider(SlowProvider):
    """Checks, as each create is sent, that its intent is already in the journal file, and
    counts the journal's fsyncs."""

    def __init__(self, journal: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__()
        self.journal = journal
        self.fsyncs = 0
        self.unannounced: list[str] = []
        real = os.fsync

        def counting(fd: int) -> None:
            if os.readlink(f"/proc/self/fd/{fd}") == str(journal):
                self.fsyncs += 1
            real(fd)

        monkeypatch.setattr(os, "fsync", counting)

    async def create_key(self, key: ApiKey, workspace_id: str) -> CreatedKey:
        intents = [
            json.loads(line)
            for line in self.journal.read_text().splitlines()
            if '"key-create-intent"' in line
        ]
        if key.name not in {e["name"] for e in intents}:
            self.unannounced.append(key.name)
        return await super().create_key(key, workspace_id)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names a descriptor via /proc")
def test_creates_announced_together_each_before_it_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = FsyncCountingProvider(tmp_path / "state" / "journal.jsonl", monkeypatch)
    journal = apply(tmp_path, provider, with_service_keys(29), parallelism=8)
    assert provider.unannounced == []
    creates = [e for e in journal.entries() if e["event"] == "key-create-intent"]
    assert len(creates) == 32
    # the 32 intents went out in 4 writes of 8, not one fsync each; each key's secret
    # write is announced too (one fsync per key at most), and the apply's start and end
    assert provider.fsyncs <= 4 + 32 + 2


def test_intents_announced_but_never_sent_are_answered(tmp_path: Path) -> None:
    provider = SlowProvider()
    provider.fail["create_key"] = lambda name: (
        ServerError("Mistral: POST /api-keys failed with HTTP 400") if name == "svc-05" else None
    )
    with pytest.raises(ApplyError):
        apply(tmp_path, provider, with_service_keys(20), parallelism=4)
    journal = Journal(tmp_path / "state" / "journal.jsonl")
    entries = list(journal.entries())
    announced = {e["intent"]: e["name"] for e in entries if e["event"] == "key-create-intent"}
    answers = {
        e["intent"]: e["event"]
        for e in entries
        if e["event"] in ("key-created", "key-create-failed", "key-create-skipped")
    }
    assert answers.keys() == announced.keys()  # no intent left open
    skipped = {announced[i] for i, event in answers.items() if event == "key-create-skipped"}
    assert not skipped & {name for call, name in provider.calls if call == "create_key"}


def test_a_window_of_intents_is_announced_at_once_and_the_unsent_answered(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    names = ["svc-a", "svc-b", "svc-c", "svc-d"]
    fields = {
        f"api_key.{n}": {"apply_id": "w", "intent": f"w:{n}", "name": n, "workspace": "dev"}
        for n in names
    }
    intents = CreateIntents(journal, fields, window=3)
    asyncio.run(intents.before_create("api_key.svc-a"))  # announces a, b and c
    intents.close()  # b and c were never sent
    events = [(e["event"], e["intent"]) for e in journal.entries()]
    assert events == [
        ("key-create-intent", "w:svc-a"),
        ("key-create-intent", "w:svc-b"),
        ("key-create-intent", "w:svc-c"),
        ("key-create-skipped", "w:svc-b"),
        ("key-create-skipped", "w:svc-c"),
    ]
    # a key of such a name made later, by an apply elsewhere, is not taken for one this
    # apply may have made
    provider = FakeProvider(live_org(), users=ORG_USERS)
    key = ApiKey(name="svc-b", workspace="dev", owner="bob@acme.example")
    made = asyncio.run(provider.create_key(key, "ws-dev")).key.id
    assert made not in journal.abandoned_keys(asyncio.run(provider.fetch()))
