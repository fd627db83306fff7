"""Behaviour every full secret store shares: the file vault and Vault KV v2 (through a fake)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import SecretStr

from reconciler.errors import SecretStoreError
from reconciler.vault.base import CasMismatch, LockHolder, SecretExists, SecretStore

from .helpers import NOW, OTHER_TEXT, SECRET, SECRET_TEXT, assert_no_secret, make_metadata, run

TTL = dt.timedelta(minutes=30)


def holder(who: str) -> LockHolder:
    return LockHolder(
        who=who, host="ci-runner-1", pid=4242, operation="apply", since=NOW, expires=NOW + TTL
    )


def test_put_then_read_back_secret_and_metadata(store: SecretStore) -> None:
    meta = make_metadata()

    async def scenario() -> None:
        version = await store.put("dev/dev-alice", SECRET, meta)
        assert version == 1
        assert (await store.read_secret("dev/dev-alice")) == SECRET
        found = await store.read_metadata("dev/dev-alice")
        assert found is not None
        assert found.version == 1
        assert found.metadata == meta
        assert found.key_id == meta.key_id
        assert found.updated is not None
        assert_no_secret(repr(found), repr(store), store.description)

    run(scenario())


def test_absent_path_reads_as_none(store: SecretStore) -> None:
    async def scenario() -> None:
        assert await store.read_secret("dev/nobody") is None
        assert await store.read_metadata("dev/nobody") is None

    run(scenario())


@pytest.mark.parametrize(
    ("writes", "expect", "outcome"),
    [
        (0, 0, 1),  # new path, expected absent
        (0, None, 1),  # unconditional on a new path
        (1, 1, 2),  # rotation that read version 1
        (2, None, 3),  # unconditional overwrite
        (1, 0, SecretExists),  # a key's secret already there
        (2, 1, CasMismatch),  # someone rotated meanwhile
        (0, 3, CasMismatch),  # expected a version that does not exist
    ],
)
def test_check_and_set_follows_vault_kv2(
    store: SecretStore, writes: int, expect: int | None, outcome: int | type[Exception]
) -> None:
    async def scenario() -> None:
        for _ in range(writes):
            await store.put(
                "dev/dev-bob", SecretStr(OTHER_TEXT), make_metadata(), expect_version=None
            )
        if isinstance(outcome, int):
            assert (
                await store.put("dev/dev-bob", SECRET, make_metadata(), expect_version=expect)
                == outcome
            )
            assert await store.read_secret("dev/dev-bob") == SECRET
            return
        new = make_metadata(key_id="k-new")
        with pytest.raises(outcome) as caught:
            await store.put("dev/dev-bob", SECRET, new, expect_version=expect)
        message = str(caught.value)
        assert "dev/dev-bob" in message
        assert store.description in message
        assert_no_secret(message, repr(caught.value))
        # a failed check-and-set changes nothing: no version, the same secret and metadata
        found = await store.read_metadata("dev/dev-bob")
        if writes == 0:
            assert found is None
            return
        assert await store.read_secret("dev/dev-bob") == SecretStr(OTHER_TEXT)
        assert found is not None
        assert found.version == writes
        assert found.key_id == make_metadata().key_id

    run(scenario())


def test_secret_exists_is_a_cas_mismatch(store: SecretStore) -> None:
    async def scenario() -> None:
        await store.put("k", SECRET, make_metadata())
        with pytest.raises(CasMismatch):
            await store.put("k", SECRET, make_metadata(), expect_version=0)

    run(scenario())


def test_delete_removes_all_versions_and_path_can_be_created_again(store: SecretStore) -> None:
    async def scenario() -> None:
        await store.put("dev/dev-carol", SECRET, make_metadata())
        await store.put("dev/dev-carol", SECRET, make_metadata(), expect_version=1)
        await store.delete("dev/dev-carol")
        assert await store.read_metadata("dev/dev-carol") is None
        assert await store.read_secret("dev/dev-carol") is None
        await store.delete("dev/dev-carol")  # absent: not an error
        assert await store.put("dev/dev-carol", SECRET, make_metadata(), expect_version=0) == 1

    run(scenario())


def test_list_is_recursive_sorted_and_hides_locks(store: SecretStore) -> None:
    async def scenario() -> None:
        for path in ("prod/checkout", "dev/dev-bob", "dev/dev-alice", "ml/team/pipeline"):
            await store.put(path, SECRET, make_metadata())
        assert await store.acquire_lock("apply", holder("alice"), TTL) is None
        assert await store.list() == [
            "dev/dev-alice",
            "dev/dev-bob",
            "ml/team/pipeline",
            "prod/checkout",
        ]
        assert await store.list("dev") == ["dev/dev-alice", "dev/dev-bob"]
        assert await store.list("ml/") == ["ml/team/pipeline"]
        assert await store.list("nothing-here") == []

    run(scenario())


def test_the_previous_version_is_given_back_for_a_rotation_to_put_back(
    store: SecretStore,
) -> None:
    other = SecretStr(OTHER_TEXT)

    async def scenario() -> None:
        assert store.keeps_versions
        assert await store.read_previous("dev/dev-erin") is None  # nothing there
        await store.put("dev/dev-erin", SECRET, make_metadata())
        assert await store.read_previous("dev/dev-erin") is None  # one version: none before
        await store.put("dev/dev-erin", other, make_metadata(), expect_version=1)
        assert await store.read_previous("dev/dev-erin") == SECRET
        assert await store.read_secret("dev/dev-erin") == other  # the current is untouched

    run(scenario())


@pytest.mark.parametrize(
    "path",
    ["../escape", "/etc/passwd", "dev/../../x", "dev//x", "", "_locks/apply", "a\\b", ".hidden"],
)
def test_paths_that_could_escape_are_refused(store: SecretStore, path: str) -> None:
    async def scenario() -> None:
        with pytest.raises(SecretStoreError) as caught:
            await store.put(path, SECRET, make_metadata())
        assert store.description in str(caught.value)
        assert_no_secret(str(caught.value))
        assert await store.list() == []

    run(scenario())


def test_lock_is_exclusive_and_reports_its_holder(store: SecretStore) -> None:
    async def scenario() -> None:
        alice, bob = holder("alice"), holder("bob")
        assert await store.acquire_lock("apply", alice, TTL) is None
        current = await store.acquire_lock("apply", bob, TTL)
        assert current is not None
        assert (current.who, current.id, current.host, current.pid, current.operation) == (
            "alice",
            alice.id,
            "ci-runner-1",
            4242,
            "apply",
        )
        assert current.expires - current.since == TTL
        assert "alice" in current.describe()
        await store.release_lock("apply", bob)  # not bob's: nothing happens
        assert (await store.acquire_lock("apply", bob, TTL)) is not None
        await store.release_lock("apply", alice)
        assert await store.acquire_lock("apply", bob, TTL) is None
        again = await store.acquire_lock("apply", alice, TTL)
        assert again is not None
        assert again.who == "bob"

    run(scenario())


def test_release_by_another_process_with_the_holder_frees_the_lock(store: SecretStore) -> None:
    """A holder read back from the store (a dead process's) can be released by id."""

    async def scenario() -> None:
        await store.acquire_lock("apply", holder("crashed"), TTL)
        found = await store.acquire_lock("apply", holder("me"), TTL)
        assert found is not None
        await store.release_lock("apply", found)
        assert await store.acquire_lock("apply", holder("me"), TTL) is None

    run(scenario())


def test_different_lock_names_do_not_conflict(store: SecretStore) -> None:
    async def scenario() -> None:
        assert await store.acquire_lock("apply", holder("alice"), TTL) is None
        assert await store.acquire_lock("rotate", holder("bob"), TTL) is None

    run(scenario())


def test_secret_text_is_not_in_a_failed_write_message(store: SecretStore) -> None:
    async def scenario() -> None:
        await store.put("dev/dev-alice", SECRET, make_metadata())
        with pytest.raises(SecretStoreError) as caught:
            await store.put("dev/dev-alice", SECRET, make_metadata())
        assert SECRET_TEXT not in f"{caught.value} {caught.value!r} {caught.value.args}"

    run(scenario())
