"""The file vault on real files: modes, versions kept, atomic writes, locks across processes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import multiprocessing
import os
import stat
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from pydantic import SecretStr

from reconciler.errors import SecretStoreError
from reconciler.vault import file_entry
from reconciler.vault.base import LockHolder, SecretExists, StoredSecret
from reconciler.vault.file import FileVault

from .helpers import OTHER_TEXT, SECRET, SECRET_TEXT, assert_no_secret, make_metadata, run

T0 = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(minutes=10)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def holder(who: str) -> LockHolder:
    return LockHolder(who=who, since=T0, expires=T0 + TTL, operation="apply")


def test_secret_file_is_0600_in_0700_directories(tmp_path: Path) -> None:
    root = tmp_path / ".sandbox" / "vault"
    vault = FileVault(root)
    run(vault.put("prod/prod-checkout-service", SECRET, make_metadata()))
    file = root / "prod" / "prod-checkout-service.json"
    assert mode(file) == 0o600
    assert mode(root) == 0o700
    assert mode(root / "prod") == 0o700
    entry = json.loads(file.read_text())
    assert entry["versions"][0]["data"] == {"api_key": SECRET_TEXT}
    assert [p.name for p in (root / "prod").iterdir()] == ["prod-checkout-service.json"]


def test_description_names_the_location_not_the_content(tmp_path: Path) -> None:
    vault = FileVault(tmp_path / "v")
    run(vault.put("dev/dev-alice", SECRET, make_metadata()))
    assert vault.description == f"file vault at {tmp_path / 'v'}"
    assert_no_secret(vault.description, repr(vault))


def test_every_version_is_kept_with_its_metadata_and_time(tmp_path: Path) -> None:
    times = iter([T0, T0 + dt.timedelta(days=90)])
    vault = FileVault(tmp_path, clock=lambda: next(times))
    first = make_metadata(key_id="key-1")
    second = make_metadata(key_id="key-2", rpm=120)

    async def scenario() -> None:
        await vault.put("dev/dev-alice", SecretStr(OTHER_TEXT), first)
        await vault.put("dev/dev-alice", SECRET, second, expect_version=1)

    run(scenario())
    entry = json.loads((tmp_path / "dev" / "dev-alice.json").read_text())
    assert entry["current_version"] == 2
    assert [v["version"] for v in entry["versions"]] == [1, 2]
    assert [v["data"]["api_key"] for v in entry["versions"]] == [OTHER_TEXT, SECRET_TEXT]
    assert [v["custom_metadata"]["key_id"] for v in entry["versions"]] == ["key-1", "key-2"]
    assert [v["created_time"] for v in entry["versions"]] == [
        T0.isoformat(),
        (T0 + dt.timedelta(days=90)).isoformat(),
    ]
    found = run(vault.read_metadata("dev/dev-alice"))
    assert found is not None
    assert found.metadata == second
    assert found.updated == T0 + dt.timedelta(days=90)


def test_metadata_is_a_flat_string_map(tmp_path: Path) -> None:
    vault = FileVault(tmp_path)
    run(vault.put("dev/dev-alice", SECRET, make_metadata(expires=None, daily_token_budget=None)))
    custom = json.loads((tmp_path / "dev" / "dev-alice.json").read_text())["versions"][0][
        "custom_metadata"
    ]
    assert custom == {
        "key_id": "0b9f5a1e-2c1d-4c41-9a4b-7d7a1e2f3a4b",
        "key_name": "dev-alice",
        "workspace": "dev",
        "owner": "alice.martin@acme.example",
        "created": "2025-01-02T03:04:05+00:00",
        "role": "developer",
        "allowed_models": "codestral-latest,mistral-small-latest",
        "max_tokens_per_request": "8000",
        "rpm": "60",
        "monthly_budget_usd": "50",
        "managed_by": "reconciler",
    }


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    vault = FileVault(tmp_path)

    async def scenario() -> None:
        for version in range(5):
            await vault.put("dev/k", SECRET, make_metadata(), expect_version=version)

    run(scenario())
    assert sorted(p.name for p in (tmp_path / "dev").iterdir()) == ["k.json"]


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "vault"
    root.mkdir()
    (root / "evil").symlink_to(outside)
    with pytest.raises(SecretStoreError, match="outside the vault"):
        run(FileVault(root).put("evil/x", SECRET, make_metadata()))
    assert list(outside.iterdir()) == []


def test_a_corrupt_entry_is_reported_without_its_content(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "k.json").write_text('{"versions": [{"data": {"api_key": "' + SECRET_TEXT)
    with pytest.raises(SecretStoreError) as caught:
        run(FileVault(tmp_path).read_secret("dev/k"))
    message = str(caught.value)
    assert "dev/k" in message
    assert "not valid JSON" in message
    assert_no_secret(message, repr(caught.value), caught.value.__cause__, caught.value.__context__)


def test_an_entry_that_is_not_utf8_is_its_keys_error_not_the_whole_read(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    entry = b'{"versions": [{"data": {"api_key": "\xff' + SECRET_TEXT.encode()
    (tmp_path / "dev" / "k.json").write_bytes(entry)
    vault = FileVault(tmp_path)
    run(vault.put("dev/ok", SECRET, make_metadata()))
    bad, good = run(vault.read_metadata_many(["dev/k", "dev/ok"]))
    assert isinstance(bad, SecretStoreError)
    assert "dev/k" in str(bad) and "not UTF-8" in str(bad)
    assert_no_secret(str(bad), repr(bad), bad.__cause__, bad.__context__)
    assert isinstance(good, StoredSecret) and good.version == 1
    with pytest.raises(SecretStoreError, match="not UTF-8"):
        run(vault.read_metadata("dev/k"))


def test_an_entry_over_the_size_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = FileVault(tmp_path)
    run(vault.put("dev/k", SECRET, make_metadata()))
    run(vault.put("dev/ok", SECRET, make_metadata()))
    entry = tmp_path / "dev" / "k.json"
    entry.write_bytes(entry.read_bytes() + b" " * 4096)  # a planted, oversized entry
    monkeypatch.setattr(file_entry, "MAX_ENTRY_BYTES", 4096)
    with pytest.raises(SecretStoreError, match="over the 4,096 a vault entry may be") as caught:
        run(vault.read_secret("dev/k"))
    assert_no_secret(str(caught.value), repr(caught.value))
    big, fine = run(vault.read_metadata_many(["dev/k", "dev/ok"]))
    assert isinstance(big, SecretStoreError) and "not read" in str(big)
    assert isinstance(fine, StoredSecret)


def test_a_link_swapped_in_after_the_listing_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry the folder's listing showed as a plain file is opened without following
    a link: one swapped in since (here: the listing is made to miss it) is refused, not
    read from wherever it points."""
    root = tmp_path / "vault"
    outside = FileVault(tmp_path / "elsewhere")
    run(outside.put("dev/k", SECRET, make_metadata()))  # a valid entry, out of the vault
    (root / "dev").mkdir(parents=True)
    (root / "dev" / "k.json").symlink_to(tmp_path / "elsewhere" / "dev" / "k.json")
    real = FileVault._listing

    def as_if_plain(self: FileVault, folder: str) -> object:
        listing = real(self, folder)
        assert listing is not None
        return type(listing)(plain=listing.names, names=listing.names)

    monkeypatch.setattr(FileVault, "_listing", as_if_plain)
    (found,) = run(FileVault(root).read_metadata_many(["dev/k"]))
    assert isinstance(found, SecretStoreError), found


def test_a_foreign_json_file_is_not_mistaken_for_an_entry(tmp_path: Path) -> None:
    (tmp_path / "notes.json").write_text('{"hello": "world"}')
    with pytest.raises(SecretStoreError, match="not a file vault entry"):
        run(FileVault(tmp_path).read_metadata("notes"))


def test_check_creates_the_root(tmp_path: Path) -> None:
    root = tmp_path / "fresh" / "vault"
    run(FileVault(root).check())
    assert mode(root) == 0o700


def _put_from_thread(root: Path, secret: str, results: list[str]) -> None:
    try:
        asyncio.run(FileVault(root).put("dev/race", SecretStr(secret), make_metadata()))
    except SecretExists:
        results.append("exists")
    else:
        results.append(secret)


def test_concurrent_creates_from_threads_have_one_winner(tmp_path: Path) -> None:
    results: list[str] = []
    candidates = [f"{OTHER_TEXT}-{n}" for n in range(8)]
    threads = [
        threading.Thread(target=_put_from_thread, args=(tmp_path, s, results)) for s in candidates
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r != "exists"]
    assert len(results) == 8
    assert len(winners) == 1
    assert run(FileVault(tmp_path).read_secret("dev/race")) == SecretStr(winners[0])


def _lock_in_process(root: str, who: str) -> str | None:
    """Runs in a child process: try the lock, report who holds it (None: we got it)."""
    now = dt.datetime.now(dt.UTC)
    me = LockHolder(who=who, since=now, expires=now + TTL, pid=os.getpid())
    found = asyncio.run(FileVault(Path(root)).acquire_lock("apply", me, TTL))
    return None if found is None else found.who


def _create_in_process(root: str, secret: str) -> str:
    try:
        asyncio.run(FileVault(Path(root)).put("dev/race", SecretStr(secret), make_metadata()))
    except SecretExists:
        return "exists"
    return "stored"


def test_concurrent_processes_one_takes_the_lock_and_one_creates(tmp_path: Path) -> None:
    names = [f"proc-{n}" for n in range(6)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=len(names), mp_context=context) as pool:
        locks = list(pool.map(_lock_in_process, [str(tmp_path)] * len(names), names))
        creates = list(
            pool.map(
                _create_in_process, [str(tmp_path)] * 6, [f"{OTHER_TEXT}-{n}" for n in range(6)]
            )
        )
    winners = [n for n, found in zip(names, locks, strict=True) if found is None]
    assert len(winners) == 1
    assert {found for found in locks if found is not None} == set(winners)
    assert sorted(creates) == ["exists"] * 5 + ["stored"]
    lock_file = tmp_path / "_locks" / "apply.lock"
    assert mode(lock_file) == 0o600
    assert json.loads(lock_file.read_text())["who"] == winners[0]


def test_an_expired_lock_is_taken_over_and_the_old_holder_cannot_release_it(
    tmp_path: Path,
) -> None:
    early = FileVault(tmp_path, clock=lambda: T0)
    late = FileVault(tmp_path, clock=lambda: T0 + TTL + dt.timedelta(seconds=1))
    crashed, me = holder("crashed"), holder("me")

    async def scenario() -> None:
        assert await early.acquire_lock("apply", crashed, TTL) is None
        still = await early.acquire_lock("apply", me, TTL)
        assert still is not None
        assert still.who == "crashed"
        assert await late.acquire_lock("apply", me, TTL) is None
        await early.release_lock("apply", crashed)  # too late: not the holder any more
        current = await early.acquire_lock("apply", holder("third"), TTL)
        assert current is not None
        assert current.who == "me"
        assert current.since == T0 + TTL + dt.timedelta(seconds=1)

    run(scenario())


def test_an_unreadable_lock_file_can_be_taken_over(tmp_path: Path) -> None:
    (tmp_path / "_locks").mkdir(parents=True)
    (tmp_path / "_locks" / "apply.lock").write_text("")
    assert run(FileVault(tmp_path).acquire_lock("apply", holder("me"), TTL)) is None


def test_concurrent_creates_on_one_store_object_have_one_winner(tmp_path: Path) -> None:
    vault = FileVault(tmp_path)

    async def attempt(n: int) -> str:
        try:
            await vault.put("dev/race", SecretStr(f"{OTHER_TEXT}-{n}"), make_metadata())
        except SecretExists:
            return "exists"
        return f"{OTHER_TEXT}-{n}"

    async def scenario() -> list[str]:
        return list(await asyncio.gather(*(attempt(n) for n in range(8))))

    results = run(scenario())
    winners = [r for r in results if r != "exists"]
    assert len(winners) == 1
    assert run(vault.read_secret("dev/race")) == SecretStr(winners[0])


def test_concurrent_unconditional_writes_each_make_their_own_version(tmp_path: Path) -> None:
    """A write without check-and-set that lost the race to another writes again over
    the newer version: none is lost, none overwritten."""
    vault = FileVault(tmp_path)

    async def scenario() -> list[int]:
        return list(
            await asyncio.gather(
                *(
                    vault.put(
                        "dev/many",
                        SecretStr(f"{OTHER_TEXT}-{n}"),
                        make_metadata(),
                        expect_version=None,
                    )
                    for n in range(8)
                )
            )
        )

    versions = run(scenario())
    assert sorted(versions) == list(range(1, 9))
    entry = json.loads((tmp_path / "dev" / "many.json").read_text())
    stored = {v["version"]: v["data"]["api_key"] for v in entry["versions"]}
    assert sorted(stored.values()) == sorted(f"{OTHER_TEXT}-{n}" for n in range(8))
    assert entry["current_version"] == 8
