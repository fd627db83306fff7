"""Rotation through plan and apply, as a user sees it: a key past its period gets a new key
whose secret becomes the store's current version, the old key lives on for its grace and
a later apply deletes it; ``--replace`` rotates now, ``--grace 0`` deletes the old key in
the same apply; a new key the platform refuses is deleted and the old one stays current.

Against the embedded sandbox (the demo seed) with the small desired state; secrets go to
the file vault beside the sandbox's state. The session's clock is injected: days pass
without anyone waiting, counted from when the sandbox made the keys.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from reconciler.apply.result import ApplyError
from reconciler.apply.rotation import RotationFailed
from reconciler.audit import AuditReport, Flag, SecretState
from reconciler.diff import RetiringKey, Rotations
from reconciler.errors import ConfigError
from reconciler.model import ApiKey
from reconciler.ownership import Ledger, SecretLocation
from reconciler.plan import Plan, from_dict, to_dict
from reconciler.platform.sandbox import SandboxStore, journaled
from reconciler.render import render_text
from reconciler.session import ApplyListener, ApplyOutcome, Session, TargetOptions
from reconciler.vault import ledger_store
from reconciler.vault.file import FileVault
from tests.e2e.apply_support import write_small_desired
from tests.e2e.vault_server import FakeVaultServer
from tests.ledgers import identity_of
from tests.session.test_apply import Heard, live_keys, options, state_of, vault

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
ORG_KEYS = "  keys: {rotation_period_days: 365}\n"  # only dev-bob is due (below)
BOB_PERIOD = "      owner: bob.chen@acme.example\n      rotation_period_days: 30\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    directory = write_small_desired(tmp_path)
    org = directory / "organization.yaml"
    org.write_text(org.read_text() + ORG_KEYS)
    dev = directory / "workspaces" / "dev.yaml"
    dev.write_text(dev.read_text().replace("      owner: bob.chen@acme.example\n", BOB_PERIOD))
    SandboxStore.open(state_of(tmp_path)).close()
    return tmp_path


class Clock:
    """The time of the session and of the sandbox: a fixed moment, until a test moves it."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """One clock for reconciler and the platform (the sandbox dates its keys by it)."""
    shared = Clock()
    monkeypatch.setattr(journaled, "utc_now", shared)
    return shared


def run(
    root: Path, clock: Clock, go: Callable[[Session], Any], target: TargetOptions | None = None
) -> Any:
    async def inside() -> Any:
        where = target or options(root)
        async with Session(root / "desired-state", where, clock=clock) as session:
            return await go(session)

    return asyncio.run(inside())


def plan(
    root: Path,
    clock: Clock,
    rotations: Rotations | None = None,
    target: TargetOptions | None = None,
) -> Plan:
    async def go(session: Session) -> Plan:
        return (await session.plan(rotations=rotations)).plan

    result: Plan = run(root, clock, go, target)
    return result


def apply(
    root: Path,
    clock: Clock,
    rotations: Rotations | None = None,
    target: TargetOptions | None = None,
    listener: ApplyListener | None = None,
) -> ApplyOutcome:
    async def go(session: Session) -> ApplyOutcome:
        return await session.apply(auto_approve=True, rotations=rotations, listener=listener)

    result: ApplyOutcome = run(root, clock, go, target)
    return result


def audit(root: Path, clock: Clock) -> AuditReport:
    async def go(session: Session) -> AuditReport:
        return await session.audit()

    result: AuditReport = run(root, clock, go)
    return result


def key_changes(plan: Plan) -> dict[str, tuple[str | None, tuple[str, ...]]]:
    """The plan's key changes (address -> reason, actions), unmanaged keys left out."""
    return {
        c.address: (c.reason, tuple(a.value for a in c.actions))
        for c in plan.changes
        if c.address.startswith("api_key.") and "unmanaged" not in c.actions
    }


def bob_ids(root: Path) -> list[str]:
    store = SandboxStore.open(state_of(root))
    try:
        return sorted(k["key_id"] for k in store.snapshot()["keys"] if k["name"] == "dev-bob")
    finally:
        store.close()


def organization_of(root: Path) -> str:
    """Whose ownership record the small desired state at the sandbox of ``root`` keeps."""
    return identity_of(root / "desired-state", f"sandbox ({state_of(root)})")


def ledger_entry(root: Path, key_id: str) -> dict[str, Any]:
    """The ownership record's entry of ``key_id``, as the store holds it."""
    store = FileVault(root / "sandbox" / "vault")
    stored = asyncio.run(ledger_store.load(store, organization_of(root)))
    entry = stored.ledger.entry(key_id)
    assert entry is not None
    return entry.model_dump(mode="json")


def versions(root: Path, path: str) -> list[str]:
    """The key id of every version the file vault keeps at ``path``, oldest first."""
    doc = json.loads((root / "sandbox" / "vault" / f"{path}.json").read_text())
    return [v["custom_metadata"]["key_id"] for v in doc["versions"]]


def test_a_key_past_its_period_is_rotated_and_its_predecessor_deleted_after_the_grace(
    root: Path, clock: Clock
) -> None:
    apply(root, clock)
    (old,) = bob_ids(root)
    assert key_changes(plan(root, clock)) == {}

    clock.now += 29 * DAY
    assert key_changes(plan(root, clock)) == {}  # day 29 of 30: not yet
    clock.now += DAY
    due = plan(root, clock)
    assert key_changes(due) == {
        "api_key.dev-bob": (
            "rotation due: created 30 days ago, period 30 days",
            ("create", "delete"),
        )
    }
    # the headline counts the old key destroyed; the plan says when that happens
    assert (
        "Note: 1 key to destroy is the old key of a rotation or rename: it stays live for "
        "its grace period (24 h) and is deleted by the first apply after that, not by this one.\n"
    ) in render_text(due)
    clock.now = rotated_at = clock.now.replace(second=0, microsecond=0)
    outcome = apply(root, clock)
    assert outcome.result is not None
    assert (outcome.result.added, outcome.result.destroyed) == (1, 0)  # the old key waits
    until = (rotated_at + 24 * HOUR).strftime("%Y-%m-%d %H:%M UTC")
    assert outcome.result.sentence() == (
        "Apply complete! Resources: 1 added, 0 changed, 0 destroyed; "
        f"1 key retiring until {until} (deleted by the first apply after that)."
    )
    assert [(r.address, r.key_id, r.until) for r in outcome.retiring] == [
        ("api_key.dev-bob", old, rotated_at + 24 * HOUR)
    ]
    old_, new = sorted(bob_ids(root), key=lambda k: k != old)
    assert old_ == old
    assert vault(root)["dev/dev-bob"] == new  # the current version: the new key
    assert versions(root, "dev/dev-bob")[-2:] == [old, new]  # the old one kept before it
    retiring = ledger_entry(root, old)["retiring"]
    assert retiring["replaced_by"] == new
    assert dt.datetime.fromisoformat(retiring["delete_after"]) == rotated_at + 24 * HOUR

    clock.now = rotated_at + 24 * HOUR - dt.timedelta(seconds=1)
    waiting = plan(root, clock)
    assert key_changes(waiting) == {}  # the grace has not ended: nothing to do
    assert waiting.retiring == (RetiringKey("api_key.dev-bob", old, rotated_at + 24 * HOUR),)
    assert render_text(
        waiting
    ).endswith(  # a note, not a change
        "Retiring: old keys of rotations, live until their grace ends (the first apply after "
        f"that deletes them):\n  api_key.dev-bob[{old[:8]}] until {until}\n"
    )
    audited = {k.key_id: k for k in audit(root, clock).audit.keys}
    assert Flag.RETIRING in audited[old].flags and audited[old].retiring_until == (
        rotated_at + 24 * HOUR
    )
    assert Flag.RETIRING not in audited[new].flags
    old_secret, new_secret = audited[old].secret, audited[new].secret
    assert old_secret is not None and old_secret.state is SecretState.PREVIOUS
    assert new_secret is not None and new_secret.state is SecretState.STORED
    clock.now = rotated_at + 24 * HOUR
    assert key_changes(plan(root, clock)) == {
        f"api_key.dev-bob[{old[:8]}]": ("rotated, grace period ended", ("delete",))
    }
    apply(root, clock)
    assert bob_ids(root) == [new]
    assert vault(root)["dev/dev-bob"] == new  # the old key's deletion left the secret alone
    assert key_changes(plan(root, clock)) == {}


def test_replace_with_no_grace_rotates_a_leaked_key_in_one_apply(root: Path, clock: Clock) -> None:
    apply(root, clock)
    (old,) = bob_ids(root)
    leaked = Rotations(forced=frozenset({"api_key.dev-bob"}), grace_hours=0)
    planned = key_changes(plan(root, clock, leaked))
    assert planned == {
        "api_key.dev-bob": ("replacement requested (--replace)", ("create", "delete"))
    }
    outcome = apply(root, clock, leaked)
    assert outcome.result is not None
    assert (outcome.result.added, outcome.result.destroyed) == (1, 1)
    assert outcome.retiring == []  # no grace: nothing left for a later apply
    assert outcome.result.sentence().endswith("1 added, 0 changed, 1 destroyed.")
    (new,) = bob_ids(root)
    assert new != old and vault(root)["dev/dev-bob"] == new
    assert key_changes(plan(root, clock)) == {}


def test_replace_of_an_unknown_address_changes_nothing(root: Path, clock: Clock) -> None:
    apply(root, clock)
    before = live_keys(root)
    with pytest.raises(ConfigError, match=r"^--replace api_key\.dev\.dev-bob: no live key"):
        apply(root, clock, Rotations(forced=frozenset({"api_key.dev.dev-bob"})))
    assert live_keys(root) == before


@pytest.mark.parametrize("leaked", [False, True], ids=["due", "replace-grace-0"])
def test_a_new_key_the_platform_refuses_is_deleted_and_the_old_one_stays_current(
    root: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, leaked: bool
) -> None:
    apply(root, clock)
    (old,) = bob_ids(root)
    secret_before = vault_secret(root, "dev/dev-bob")

    async def refused(self: object, secret: SecretStr) -> bool:
        return False

    from reconciler.platform.mistral.provider import MistralProvider

    monkeypatch.setattr(MistralProvider, "check_key", refused)
    asked = Rotations(forced=frozenset({"api_key.dev-bob"}), grace_hours=0) if leaked else None
    if not leaked:
        clock.now += 30 * DAY
    with pytest.raises(ApplyError) as failed:
        apply(root, clock, asked)
    assert isinstance(failed.value.__cause__, RotationFailed)
    assert str(failed.value).startswith("api_key.dev-bob: the new key ")
    assert "was refused by the platform's inference API (GET /models)" in str(failed.value)
    assert "holds the old key's secret again" in str(failed.value)
    assert bob_ids(root) == [old]  # the new key is gone, the old one live
    assert vault(root)["dev/dev-bob"] == old
    assert vault_secret(root, "dev/dev-bob") == secret_before
    monkeypatch.undo()
    # nothing is left half-done: the old key is no leftover to delete, and the same
    # rotation is planned again
    assert key_changes(plan(root, clock, asked)) == {
        "api_key.dev-bob": (
            "replacement requested (--replace)"
            if leaked
            else "rotation due: created 30 days ago, period 30 days",
            ("create", "delete"),
        )
    }


def vault_secret(root: Path, path: str) -> str:
    doc = json.loads((root / "sandbox" / "vault" / f"{path}.json").read_text())
    current = next(v for v in doc["versions"] if v["version"] == doc["current_version"])
    secret: str = current["data"]["api_key"]
    return secret


def test_an_adopted_key_whose_secret_reconciler_never_had_is_rotated_into_the_store(
    root: Path, clock: Clock
) -> None:
    apply(root, clock)
    (old,) = bob_ids(root)
    vault_dir = FileVault(root / "sandbox" / "vault")
    organization = organization_of(root)

    def adopted(ledger: Ledger) -> Ledger:  # as `reconciler import` records a key
        entry = ledger.entry(old)
        assert entry is not None
        live = ApiKey(name="dev-bob", workspace="dev", id=old, created_at=entry.created)
        where = SecretLocation(**entry.secret.model_dump(exclude={"state"}))
        return ledger.adopt(live, where)

    asyncio.run(ledger_store.update(vault_dir, organization, adopted))
    asyncio.run(vault_dir.delete("dev/dev-bob"))
    assert ledger_entry(root, old)["secret"]["state"] == "unknown"
    assert key_changes(plan(root, clock)) == {}  # a secret never had is not "missing"

    clock.now += 30 * DAY
    apply(root, clock)
    new = vault(root)["dev/dev-bob"]
    assert new != old and sorted(bob_ids(root)) == sorted([old, new])
    assert ledger_entry(root, new)["secret"]["state"] == "stored"
    assert ledger_entry(root, old)["retiring"]["replaced_by"] == new


def test_a_saved_plan_with_a_replace_is_applied_exactly_as_reviewed(
    root: Path, clock: Clock
) -> None:
    apply(root, clock)
    (old,) = bob_ids(root)
    leaked = Rotations(forced=frozenset({"api_key.dev-bob"}), grace_hours=0)
    reviewed = from_dict(to_dict(plan(root, clock, leaked)))

    async def go(session: Session) -> ApplyOutcome:
        return await session.apply(saved=reviewed, exact=True)

    outcome: ApplyOutcome = run(root, clock, go)
    assert outcome.result is not None
    assert (outcome.result.added, outcome.result.destroyed) == (1, 1)
    (new,) = bob_ids(root)
    assert new != old and vault(root)["dev/dev-bob"] == new


# --- a rotation resumed after a kill between storing the new secret and verifying it ---

VAULT_TOKEN = "rotation-vault-token-" + "beef" * 6
PREFIX = "mistral/acme"  # the small desired state's Vault path prefix


class Killed(BaseException):
    """The apply dies here, as under SIGKILL: nothing of reconciler runs after it."""


class Secrets:
    """Where a test's secrets go (the file vault, or Vault served on 127.0.0.1), and what
    the current version at a path holds: (secret, key id)."""

    def __init__(self, root: Path, server: FakeVaultServer | None) -> None:
        self.root, self.server = root, server
        target = options(root)
        if server is not None:
            target = replace(target, vault=f"vault:{server.url}", env={"VAULT_TOKEN": VAULT_TOKEN})
        self.target = target

    def current(self, path: str) -> tuple[str, str]:
        if self.server is None:
            return vault_secret(self.root, path), vault(self.root)[path]
        secret, metadata = self.server.entries(PREFIX)[path]
        assert secret is not None
        return secret, metadata["key_id"]


@pytest.fixture(params=["file", "vault"])
def secrets(request: pytest.FixtureRequest, root: Path) -> Iterator[Secrets]:
    if request.param == "file":
        yield Secrets(root, None)
        return
    server = FakeVaultServer(token=VAULT_TOKEN)
    try:
        yield Secrets(root, server)
    finally:
        server.stop()


def killed_before_verifying(root: Path, clock: Clock, secrets: Secrets) -> tuple[str, str, str]:
    """A due rotation of dev-bob whose apply dies once the new key's secret is stored, as it
    is about to verify it; the old and the new key's ids, and the old key's secret."""
    apply(root, clock, target=secrets.target)
    (old,) = bob_ids(root)
    secret_before, _ = secrets.current("dev/dev-bob")
    clock.now += 30 * DAY

    async def dies(self: object, secret: SecretStr) -> bool:
        raise Killed

    from reconciler.platform.mistral.provider import MistralProvider

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MistralProvider, "check_key", dies)
        with pytest.raises(Killed):
            apply(root, clock, target=secrets.target)
    (new,) = set(bob_ids(root)) - {old}
    assert secrets.current("dev/dev-bob")[1] == new  # stored as the current version
    return old, new, secret_before


def test_a_resumed_rotation_whose_new_key_is_refused_puts_the_old_secret_back(
    root: Path, clock: Clock, secrets: Secrets
) -> None:
    old, new, secret_before = killed_before_verifying(root, clock, secrets)
    checked: list[str] = []

    async def refused(self: object, secret: SecretStr) -> bool:
        checked.append(secret.get_secret_value())
        return False

    from reconciler.platform.mistral.provider import MistralProvider

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MistralProvider, "check_key", refused)
        with pytest.raises(RotationFailed) as failed:
            apply(root, clock, target=secrets.target)
    message = str(failed.value)
    assert message.startswith(f"api_key.dev-bob: the new key {new} was refused by the platform")
    assert "so it was deleted" in message and "holds the old key's secret again" in message
    assert checked and checked[0] != secret_before  # the new key's secret was checked
    assert bob_ids(root) == [old]  # the new key is gone, the old one live
    assert secrets.current("dev/dev-bob") == (secret_before, old)  # current again
    # the old key is not retiring: the rotation is planned again, from the start
    assert key_changes(plan(root, clock, target=secrets.target)) == {
        "api_key.dev-bob": (
            "rotation due: created 30 days ago, period 30 days",
            ("create", "delete"),
        )
    }


def test_a_resumed_rotation_whose_new_key_is_accepted_retires_the_old_key(
    root: Path, clock: Clock
) -> None:
    secrets = Secrets(root, None)
    old, new, _ = killed_before_verifying(root, clock, secrets)
    began = clock.now
    clock.now += HOUR
    heard = Heard()
    apply(root, clock, target=secrets.target, listener=heard)
    assert "api_key.dev-bob: the new key is accepted by the inference API" in heard.steps
    assert sorted(bob_ids(root)) == sorted([old, new])
    retiring = ledger_entry(root, old)["retiring"]
    assert retiring["replaced_by"] == new
    # the grace is counted from when the rotation began, not from the resume
    assert dt.datetime.fromisoformat(retiring["delete_after"]) == began + 24 * HOUR


def test_a_key_whose_secret_moves_is_replaced_and_its_new_secret_written_there(
    root: Path, clock: Clock
) -> None:
    apply(root, clock)
    (old,) = bob_ids(root)
    dev = root / "desired-state" / "workspaces" / "dev.yaml"
    moved = BOB_PERIOD + "      secret: {path: team-a/bob}\n"
    dev.write_text(dev.read_text().replace(BOB_PERIOD, moved))
    store = f"file vault at {root / 'sandbox' / 'vault'}"
    planned = plan(root, clock)
    assert key_changes(planned) == {
        "api_key.dev-bob": (
            f"its secret moves from dev/dev-bob to team-a/bob in {store}",
            ("create", "delete"),
        )
    }
    # kept, like a rotation's old key: whoever reads the old place goes on working
    assert "it stays live for its grace period (24 h)" in render_text(planned)
    apply(root, clock)
    new = next(k for k in bob_ids(root) if k != old)
    assert vault(root)["team-a/bob"] == new
    assert vault(root)["dev/dev-bob"] == old  # the old key's secret stays with it
    assert ledger_entry(root, new)["secret"]["path"] == "team-a/bob"
    assert key_changes(plan(root, clock)) == {}
    # the grace ends: the old key goes, as a rotated one does
    clock.now += 24 * HOUR
    assert key_changes(plan(root, clock)) == {
        f"api_key.dev-bob[{old[:8]}]": ("rotated, grace period ended", ("delete",))
    }
    apply(root, clock)
    assert bob_ids(root) == [new]


def test_a_secret_sent_back_to_the_place_its_names_give_is_a_move_too(
    root: Path, clock: Clock
) -> None:
    # a pull request that drops the key's named path (or names the default one) sends
    # its secret back to <workspace>/<key name>: the plan says so, as for any other move
    apply(root, clock)
    dev = root / "desired-state" / "workspaces" / "dev.yaml"
    default = dev.read_text()
    dev.write_text(default.replace(BOB_PERIOD, BOB_PERIOD + "      secret: {path: team-a/bob}\n"))
    apply(root, clock)
    store = f"file vault at {root / 'sandbox' / 'vault'}"
    back = {
        "api_key.dev-bob": (
            f"its secret moves from team-a/bob to dev/dev-bob in {store}",
            ("create", "delete"),
        )
    }
    named = BOB_PERIOD + "      secret: {path: dev/dev-bob}\n"
    for text in (default, default.replace(BOB_PERIOD, named)):
        dev.write_text(text)
        assert key_changes(plan(root, clock)) == back
