"""The apply engine against an in-memory platform and the real file vault."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from reconciler.apply.engine import Applier
from reconciler.apply.journal import LOST_SECRET, Journal
from reconciler.apply.order import steps
from reconciler.apply.result import ApplyError, ApplyResult
from reconciler.errors import AmbiguousCreate, SecretStoreError, ServerError, Timeout
from reconciler.logging import clear_registered_secrets, configure_logging, reset_logging
from reconciler.model import ApiKey, DesiredState, LiveState
from reconciler.plan import Plan, make_plan
from reconciler.vault.base import LockLost, SecretMetadata, SecretStore
from reconciler.vault.file import FileVault
from tests.apply.fakes import ORG_USERS, FakeProvider, FlakyStore, desired_org, live_org

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


class Rig:
    """One apply: platform, desired state, file vault, journal and what was reported."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        desired: DesiredState | None = None,
        live: LiveState | None = None,
        store: SecretStore | None = None,
        parallelism: int = 1,
    ) -> None:
        self.parallelism = parallelism  # 1: steps in plan order, as most tests here expect
        self.desired = desired or desired_org()
        self.provider = FakeProvider(live or live_org(), users=ORG_USERS)
        self.vault = FileVault(tmp_path / "vault")
        self.store = store or self.vault
        self.journal = Journal(tmp_path / "state" / "journal.jsonl")
        self.lines: list[str] = []
        self.sleeps: list[float] = []

    def router(self, key: ApiKey) -> tuple[SecretStore, str]:
        return self.store, key.secret.path if key.secret else f"{key.workspace}/{key.name}"

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def plan(self, abandoned: dict[str, str] | None = None) -> Plan:
        live = run(self.provider.fetch())
        return make_plan(self.desired, live, provider="fake", abandoned_keys=abandoned)

    def apply(
        self, plan: Plan | None = None, guard: Callable[[], None] = lambda: None
    ) -> ApplyResult:
        plan = plan or self.plan()
        applier = Applier(
            provider=self.provider,
            desired=self.desired,
            live=run(self.provider.fetch()),
            secrets=self.router,
            journal=self.journal,
            apply_id="test-apply",
            report=self.lines.append,
            sleep=self._sleep,
            guard=guard,
            parallelism=self.parallelism,
        )
        return run(applier.run(plan))

    def stored(self, path: str) -> tuple[str | None, SecretMetadata | None]:
        secret = run(self.vault.read_secret(path))
        meta = run(self.vault.read_metadata(path))
        return (
            secret.get_secret_value() if secret else None,
            meta.metadata if meta is not None else None,
        )

    def events(self) -> list[str]:
        return [e["event"] for e in self.journal.entries()]


def test_changes_are_applied_in_the_safe_order(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.apply()
    assert rig.provider.calls == [
        ("set_organization_spend_limit", "5000 USD/month"),
        ("update_workspace", "dev"),
        ("create_workspace", "ml"),
        ("set_member", "dev/carol@acme.example"),
        ("set_member", "ml/dan@acme.example"),
        ("remove_member", "dev/iris@acme.example"),
        ("create_key", "dev-alice"),  # the replacement's new half, before the old goes
        ("create_key", "dev-bob"),
        ("create_key", "ml-dan"),
        ("delete_key", "dev-alice"),  # the old dev-alice
        ("delete_key", "iris-laptop"),
        ("archive_workspace", "archive-me"),
    ]
    assert [k.name for k in rig.provider.keys.values()] == ["dev-alice", "dev-bob", "ml-dan"]
    assert "k-alice" not in rig.provider.keys


def test_a_lost_lock_stops_the_apply_before_its_next_change(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    lost = LockLost("The state lock was released by someone else", holder=None)
    asked: list[int] = []

    def guard() -> None:  # what the lock's lease says before each step
        asked.append(len(rig.provider.calls))
        if len(asked) == 3:
            raise lost

    with pytest.raises(ApplyError) as caught:
        rig.apply(guard=guard)
    assert str(caught.value) == "The state lock was released by someone else"
    assert caught.value.__cause__ is lost
    assert asked == [0, 1, 2]  # asked before each change, and the third never began
    assert rig.provider.calls == [
        ("set_organization_spend_limit", "5000 USD/month"),
        ("update_workspace", "dev"),
    ]
    assert (caught.value.result.changed, caught.value.result.added) == (2, 0)


def test_result_counts_match_the_plan_summary(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    plan = rig.plan()
    result = rig.apply(plan)
    assert (result.added, result.changed, result.destroyed) == (
        plan.summary.add,
        plan.summary.change,
        plan.summary.destroy,
    )
    assert result.sentence() == (
        f"Apply complete! Resources: {plan.summary.add} added, {plan.summary.change} changed, "
        f"{plan.summary.destroy} destroyed."
    )
    # a second plan against the result has nothing left to do
    assert not rig.plan().actionable


def test_each_new_secret_is_stored_with_its_metadata(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.apply()
    by_name = {k.name: k for k in rig.provider.keys.values()}
    bob = by_name["dev-bob"]
    secret, meta = rig.stored("dev/dev-bob")
    assert secret == rig.provider.secrets[bob.id or ""]
    assert meta is not None
    assert (meta.key_id, meta.key_name, meta.workspace, meta.owner) == (
        bob.id,
        "dev-bob",
        "dev",
        "bob@acme.example",
    )
    assert meta.created == bob.created_at
    assert meta.expires == dt.date(2027, 6, 30)
    assert meta.role == "developer"
    # the role's models within the workspace's (mistral-large-latest is the workspace's only)
    assert meta.allowed_models == ("codestral-latest", "mistral-small-latest")
    assert (meta.max_tokens_per_request, meta.daily_token_budget) == (8000, 1_000_000)
    assert meta.rpm == 60
    assert meta.monthly_budget_usd == Decimal(50)
    # an admin-role key in a workspace without a policy: any model, no daily budget
    dan_secret, dan = rig.stored("ml/ml-dan")
    assert dan is not None and dan_secret == rig.provider.secrets[dan.key_id]
    assert dan.allowed_models == ("*",) and dan.daily_token_budget is None


def test_a_replacement_overwrites_the_old_keys_secret(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    run(rig.vault.put("dev/dev-alice", _secret("old-secret"), _meta("k-alice", "dev-alice")))
    rig.apply()
    new_alice = next(k for k in rig.provider.keys.values() if k.name == "dev-alice")
    secret, meta = rig.stored("dev/dev-alice")
    assert meta is not None and meta.key_id == new_alice.id
    assert secret == rig.provider.secrets[new_alice.id or ""]


def test_a_pruned_keys_secret_is_removed_only_if_it_is_that_keys(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    run(rig.vault.put("dev/iris-laptop", _secret("iris"), _meta("k-iris", "iris-laptop")))
    rig.apply()
    assert rig.stored("dev/iris-laptop") == (None, None)
    assert "api_key.iris-laptop: secret removed from file vault" in " ".join(rig.lines)

    other = Rig(tmp_path / "other")
    run(other.vault.put("dev/iris-laptop", _secret("x"), _meta("k-someone-else", "iris-laptop")))
    other.apply()
    assert other.stored("dev/iris-laptop")[0] == "x"


@pytest.mark.parametrize("failing", [{1}, {1, 2}, {1, 2, 3}])
def test_a_failed_secret_write_is_retried(tmp_path: Path, failing: set[int]) -> None:
    rig = Rig(tmp_path)
    rig.store = FlakyStore(rig.vault, failing)
    rig.apply()
    alice = next(k for k in rig.provider.keys.values() if k.name == "dev-alice")
    assert rig.stored("dev/dev-alice")[0] == rig.provider.secrets[alice.id or ""]
    assert rig.sleeps == [0.5, 1.0, 2.0][: len(failing)]
    assert ("delete_key", "dev-alice") in rig.provider.calls  # the OLD key, as planned
    assert alice.id in rig.provider.keys


def test_when_the_store_keeps_failing_the_new_key_is_deleted(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.store = FlakyStore(rig.vault, set(range(1, 100)))
    with pytest.raises(ApplyError) as caught:
        rig.apply()
    message = str(caught.value)
    assert message.startswith("api_key.dev-alice: could not store the new key's secret in file")
    assert "at dev/dev-alice after 4 attempts" in message
    assert "Vault is sealed" in message
    assert "the new key was deleted on the platform" in message
    # created, then deleted at once; nothing after it was attempted
    assert rig.provider.calls[-2:] == [("create_key", "dev-alice"), ("delete_key", "dev-alice")]
    assert [k.id for k in rig.provider.keys.values() if k.name == "dev-alice"] == ["k-alice"]
    assert not any(c[0] == "create_key" and c[1] != "dev-alice" for c in rig.provider.calls)
    result = caught.value.result
    assert (result.added, result.stored) == (3, [])  # workspace ml, carol and dan; no key
    assert "secret could not be stored; deleting the new key" in " ".join(rig.lines)
    assert rig.sleeps == [0.5, 1.0, 2.0]
    # the journal leaves nothing for the next plan to clean up
    assert rig.journal.abandoned_keys(run(rig.provider.fetch())) == {}


def test_when_deleting_the_unstored_key_fails_too_the_next_plan_deletes_it(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    rig.store = FlakyStore(rig.vault, set(range(1, 100)))
    rig.provider.fail["delete_key"] = lambda _id: ServerError("Mistral: DELETE failed, HTTP 500")
    with pytest.raises(ApplyError) as caught:
        rig.apply()
    assert "deleting the new key" in str(caught.value)
    assert "The next plan will find it in the journal and delete it" in str(caught.value)
    orphan = next(
        k for k in rig.provider.keys.values() if k.name == "dev-alice" and k.id != "k-alice"
    )
    live = run(rig.provider.fetch())
    assert rig.journal.abandoned_keys(live) == {orphan.id: LOST_SECRET}

    # the next apply, vault healthy again, converges
    rig.store = rig.vault
    del rig.provider.fail["delete_key"]
    rig.apply(rig.plan(rig.journal.abandoned_keys(live)))
    alive = [k for k in rig.provider.keys.values() if k.name == "dev-alice"]
    assert len(alive) == 1 and alive[0].id not in (orphan.id, "k-alice")
    assert rig.stored("dev/dev-alice")[1].key_id == alive[0].id  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "error",
    [
        AmbiguousCreate("Mistral: POST /api-keys failed with HTTP 500"),
        AmbiguousCreate("Mistral: POST /api-keys timed out"),
    ],
)
def test_an_ambiguous_create_is_not_resent_and_stays_open_in_the_journal(
    tmp_path: Path, error: AmbiguousCreate
) -> None:
    rig = Rig(tmp_path)
    error.__cause__ = Timeout("Mistral Admin API: POST /api-keys timed out")
    rig.provider.fail["create_key"] = lambda name: error if name == "dev-bob" else None
    with pytest.raises(ApplyError) as caught:
        rig.apply()
    message = str(caught.value)
    assert message.startswith("api_key.dev-bob: Mistral Admin API: POST /api-keys timed out")
    assert "may or may not have been created, so it was not sent again" in message
    assert "Run plan" in message
    assert [c for c in rig.provider.calls if c == ("create_key", "dev-bob")] == []
    # the request did create it after all (its answer was lost): the journal finds it
    ghost = ApiKey(
        name="dev-bob", workspace="dev", id="k-ghost", created_at=dt.datetime.now(dt.UTC)
    )
    rig.provider.keys["k-ghost"] = ghost
    abandoned = rig.journal.abandoned_keys(run(rig.provider.fetch()))
    assert abandoned["k-ghost"] == LOST_SECRET
    # and the dev-alice replaced before the failure is old news to delete
    assert abandoned["k-alice"].startswith("replaced by key ")


def test_an_ordinary_create_failure_closes_its_intent(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.provider.fail["create_key"] = lambda name: (
        ServerError("Mistral: HTTP 422 owner is not a member") if name == "dev-bob" else None
    )
    with pytest.raises(ApplyError, match=r"api_key\.dev-bob: Mistral: HTTP 422"):
        rig.apply()
    assert "key-create-failed" in rig.events()
    # a later key named dev-bob (made by hand) is not mistaken for this apply's
    rig.provider.keys["k-hand"] = ApiKey(
        name="dev-bob", workspace="dev", id="k-hand", created_at=dt.datetime.now(dt.UTC)
    )
    assert "k-hand" not in rig.journal.abandoned_keys(run(rig.provider.fetch()))


def test_preflight_refuses_to_overwrite_another_live_keys_secret(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    # dev-bob's secret path already holds iris-laptop's secret: an accident, not a rotation
    run(rig.vault.put("dev/dev-bob", _secret("iris"), _meta("k-iris", "iris-laptop")))
    with pytest.raises(SecretStoreError) as caught:
        rig.apply()
    assert "api_key.dev-bob: file vault at" in str(caught.value)
    assert "secret of live key 'iris-laptop' (k-iris)" in str(caught.value)
    assert rig.provider.calls == []
    assert rig.events() == []


def test_a_secret_path_that_cannot_be_read_stops_the_apply_before_any_change(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    broken = tmp_path / "vault" / "dev" / "dev-bob.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    with pytest.raises(SecretStoreError) as caught:
        rig.apply()
    assert "dev/dev-bob" in str(caught.value)
    assert "is not valid JSON" in str(caught.value)
    assert rig.provider.calls == []
    assert rig.events() == []


def test_a_secret_written_to_the_path_after_preflight_is_never_written_over(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    other = FileVault(tmp_path / "vault")

    def meanwhile(name: str) -> None:  # someone writes dev-bob's path as its create is sent
        if name == "dev-bob":
            put = other.put("dev/dev-bob", _secret("hand"), _meta("k-hand", "by-hand"))
            ThreadPoolExecutor(1).submit(asyncio.run, put).result()

    rig.provider.fail["create_key"] = meanwhile
    with pytest.raises(ApplyError) as caught:
        rig.apply()
    assert "the new key was deleted on the platform" in str(caught.value)
    secret, metadata = rig.stored("dev/dev-bob")
    assert (secret, metadata.key_id if metadata else None) == ("hand", "k-hand")
    assert "dev-bob" not in [k.name for k in rig.provider.keys.values()]


def test_a_failure_stops_the_apply_and_reports_what_was_done(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.provider.fail["set_member"] = lambda email: (
        ServerError("Mistral: PATCH failed with HTTP 500") if email == "dan@acme.example" else None
    )
    with pytest.raises(ApplyError) as caught:
        rig.apply()
    assert str(caught.value) == "member.ml/dan@acme.example: Mistral: PATCH failed with HTTP 500"
    result = caught.value.result
    assert (result.added, result.changed, result.destroyed) == (2, 2, 0)
    assert not any(c[0] in ("create_key", "delete_key") for c in rig.provider.calls)
    assert rig.events()[-1] == "apply-failed"


def test_no_secret_reaches_the_journal_the_log_or_the_report(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "apply.jsonl"
    configure_logging(json_file=log_file, console_level="CRITICAL")
    try:
        rig = Rig(tmp_path)
        rig.store = FlakyStore(rig.vault, {2})  # a retry is logged too
        plan = rig.plan()
        rig.apply(plan)
    finally:
        reset_logging()
        clear_registered_secrets()
    secrets = list(rig.provider.secrets.values())
    assert len(secrets) == 3
    outputs = {
        "journal": rig.journal.path.read_text(),
        "log": log_file.read_text(),
        "report": "\n".join(rig.lines),
    }
    for name, text in outputs.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into the {name}"
    actions = [json.loads(line) for line in outputs["log"].splitlines()]
    logged = [(e["address"], e["action"]) for e in actions if e["event"] == "apply.action"]
    assert logged == [(s.change.address, s.action.value) for s in steps(plan.changes)]
    assert ("api_key.dev-alice", "create") in logged and ("api_key.dev-alice", "delete") in logged
    assert any(e["event"] == "apply.secret_store_retry" for e in actions)


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


def _meta(key_id: str, name: str) -> SecretMetadata:
    return SecretMetadata(
        key_id=key_id,
        key_name=name,
        workspace="dev",
        created=dt.datetime.now(dt.UTC),
        allowed_models=("*",),
    )
