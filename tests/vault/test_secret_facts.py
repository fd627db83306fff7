"""What the audit learns from a store: present, missing, another key's, unreadable."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

from reconciler.audit import SecretFact, SecretState
from reconciler.errors import SecretStoreError
from reconciler.model import ApiKey
from reconciler.vault.base import SecretStore, StoredSecret
from reconciler.vault.facts import StoredSecrets, read_stored, secret_facts
from reconciler.vault.file import FileVault
from tests.vault.helpers import SECRET, assert_no_secret, make_metadata, run


def live(name: str) -> ApiKey:
    return ApiKey(name=name, workspace="dev", id=f"id-{name}")


def declared(name: str) -> ApiKey:
    return ApiKey(name=name, workspace="dev")


def test_facts_from_a_file_vault(tmp_path: Path) -> None:
    vault = FileVault(tmp_path / "vault")

    async def main() -> dict[str, SecretFact]:
        await vault.put("dev/good", SECRET, make_metadata(key_id="id-good", key_name="good"))
        await vault.put("dev/stale", SECRET, make_metadata(key_id="id-old", key_name="stale"))
        names = ("good", "stale", "gone")
        stored = await read_stored(
            [declared(n) for n in (*names, "not-live")],
            lambda k: (vault, f"dev/{k.name}"),
            concurrency=2,
        )
        assert sorted(stored) == ["gone", "good", "not-live", "stale"]
        facts = secret_facts([live(n) for n in names], stored)
        # what a plan's audit makes of the same read, key by key
        reader = StoredSecrets(stored)
        assert {key.id: reader.fact(key) for key in map(live, names)} == facts
        assert reader.fact(live("never-read")) is None
        return facts

    facts = run(main())
    where = f"file vault at {tmp_path / 'vault'}"
    assert facts == {
        "id-good": SecretFact(SecretState.STORED, where=f"{where}: dev/good"),
        "id-stale": SecretFact(
            SecretState.MISMATCHED, where=f"{where}: dev/stale", stored_key_id="id-old"
        ),
        "id-gone": SecretFact(SecretState.MISSING, where=f"{where}: dev/gone"),
    }
    assert_no_secret(facts)


class Flaky:
    """A store that fails on one path, names no key on another, and counts reads at once."""

    description = "flaky store"

    def __init__(self) -> None:
        self.reading = 0
        self.most = 0

    async def read_metadata(self, path: str) -> StoredSecret | None:
        self.reading += 1
        self.most = max(self.most, self.reading)
        try:
            await asyncio.sleep(0)
            if path.endswith("sealed"):
                raise SecretStoreError("flaky store: dev/sealed: Vault is sealed (HTTP 503)")
            return StoredSecret(path=path, version=None)  # e.g. a GitHub secret: no key id
        finally:
            self.reading -= 1


def test_a_failing_path_is_unreadable_and_reads_are_bounded() -> None:
    store = Flaky()
    names = ["sealed", *(f"k{i}" for i in range(20))]
    pairs = [(live(n), declared(n)) for n in names]

    def route(key: ApiKey) -> tuple[SecretStore, str]:
        return cast(SecretStore, store), f"dev/{key.name}"

    facts = secret_facts(
        [k for k, _ in pairs], run(read_stored([d for _, d in pairs], route, concurrency=3))
    )
    assert facts["id-sealed"] == SecretFact(
        SecretState.UNREADABLE,
        where="flaky store: dev/sealed",
        error="flaky store: dev/sealed: Vault is sealed (HTTP 503)",
    )
    assert {f.state for k, f in facts.items() if k != "id-sealed"} == {SecretState.UNVERIFIED}
    assert store.most <= 3
