"""Many paths' metadata at once: the file vault's one pass, and any store path by path."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import SecretStoreError
from reconciler.vault.bulk import ReadsMany, read_metadata_many
from reconciler.vault.file import FileVault

from .helpers import SECRET, SECRET_TEXT, assert_no_secret, make_metadata, run


class OnePathAtATime:
    """A store that answers only ``read_metadata`` (as Vault and GitHub do)."""

    def __init__(self, vault: FileVault) -> None:
        self.vault = vault
        self.asked: list[str] = []

    async def read_metadata(self, path: str) -> object:
        self.asked.append(path)
        return await self.vault.read_metadata(path)


@pytest.fixture
def vault(tmp_path: Path) -> FileVault:
    """A vault with two secrets, a corrupt entry, and a link out of its root."""
    root = tmp_path / "vault"
    store = FileVault(root)
    run(store.put("dev/dev-alice", SECRET, make_metadata(key_id="key-alice")))
    run(store.put("prod/prod-ci", SECRET, make_metadata(key_id="key-ci")))
    (root / "dev" / "broken.json").write_text('{"versions": [{"data": {"api_key": "' + SECRET_TEXT)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "stolen.json").write_text((root / "prod" / "prod-ci.json").read_text())
    (root / "evil").symlink_to(outside)
    (root / "dev" / "linked.json").symlink_to(outside / "stolen.json")
    (root / "dev" / "dangling.json").symlink_to(outside / "not-yet.json")
    return store


PATHS = [
    "prod/prod-ci",
    "dev/gone",  # nothing there
    "dev/dev-alice",
    "dev/broken",  # not a vault entry
    "evil/stolen",  # a folder that links out of the vault
    "dev/linked",  # a file that links out of the vault
    "_locks/x",  # reserved
    "nowhere/at-all",  # no such folder
    "dev/dangling",  # a link out of the vault to nothing (yet)
    "nowhere/deeper/key",  # under a folder that does not exist
    "dev/deeper/key",  # a folder its existing parent does not hold
    "evil/inner/key",  # under a folder that links out of the vault
]


def outcome(answer: object) -> object:
    """What a caller sees of one answer: the key id, nothing, or the error's message."""
    if isinstance(answer, SecretStoreError):
        return ("error", str(answer))
    return answer.key_id if answer is not None else None  # type: ignore[attr-defined]


def test_the_file_vault_answers_each_path_as_one_read_would(vault: FileVault) -> None:
    assert isinstance(vault, ReadsMany)
    answers = run(read_metadata_many(vault, PATHS))
    one_by_one = []
    for path in PATHS:
        try:
            one_by_one.append(outcome(run(vault.read_metadata(path))))
        except SecretStoreError as exc:
            one_by_one.append(("error", str(exc)))
    assert [outcome(a) for a in answers] == one_by_one
    got = [outcome(a) for a in answers]
    assert got[:3] == ["key-ci", None, "key-alice"]
    assert all(isinstance(a, SecretStoreError) for a in answers[3:7])
    assert "outside the vault" in str(answers[4]) and "outside the vault" in str(answers[5])
    assert answers[7] is None
    assert "outside the vault" in str(answers[8])  # not taken as absent
    assert answers[9] is None and answers[10] is None
    assert "outside the vault" in str(answers[11])  # not taken as absent either
    assert_no_secret(*(str(a) for a in answers))


def test_a_vault_not_made_yet_holds_nothing(tmp_path: Path) -> None:
    answers = run(read_metadata_many(FileVault(tmp_path / "vault"), ["dev/a", "dev/b", "c"]))
    assert answers == [None, None, None]


def test_a_store_without_a_batch_read_is_asked_path_by_path(vault: FileVault) -> None:
    store = OnePathAtATime(vault)
    answers = run(read_metadata_many(store, PATHS, concurrency=2))  # type: ignore[arg-type]
    assert sorted(store.asked) == sorted(PATHS)
    assert [outcome(a) for a in answers] == [
        outcome(a) for a in run(read_metadata_many(vault, PATHS))
    ]
