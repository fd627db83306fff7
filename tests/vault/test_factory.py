"""Choosing stores: the organisation's default, the --vault override, per-key targets."""

from __future__ import annotations

from pathlib import Path

import pytest
import respx

from reconciler.errors import ConfigError
from reconciler.model import SecretBackend, SecretTarget, VaultSettings
from reconciler.vault.factory import open_store, parse_override, store_for_target
from reconciler.vault.file import FileVault
from reconciler.vault.github import GitHubSecretStore
from reconciler.vault.hashicorp import HashiCorpVault

from .helpers import SECRET, TOKEN_TEXT, assert_no_secret, make_metadata, run

VAULT_ENV = {"VAULT_ADDR": "https://vault.acme.example", "VAULT_TOKEN": TOKEN_TEXT}
GITHUB_TARGET = SecretTarget(
    backend=SecretBackend.GITHUB,
    path="prod/search-indexer",
    repository="acme/search",
    environment="production",
)


@pytest.mark.parametrize(
    ("spec", "backend", "where"),
    [
        ("file:.sandbox/vault", SecretBackend.FILE, ".sandbox/vault"),
        ("file", SecretBackend.FILE, None),
        ("vault:https://127.0.0.1:8200", SecretBackend.VAULT, "https://127.0.0.1:8200"),
    ],
)
def test_parse_override(spec: str, backend: SecretBackend, where: str | None) -> None:
    assert parse_override(spec) == (backend, where)


@pytest.mark.parametrize("spec", ["s3:bucket", "vault:vault.acme.example", "github:acme/x"])
def test_bad_override_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError, match=r"file:PATH or vault:https://ADDRESS"):
        open_store(VaultSettings(), override=spec, env={})


def test_file_override_from_flag_or_environment(tmp_path: Path) -> None:
    flag = open_store(VaultSettings(), override=f"file:{tmp_path / 'a'}", env=VAULT_ENV)
    env = open_store(
        VaultSettings(), env={**VAULT_ENV, "RECONCILER_VAULT": f"file:{tmp_path / 'b'}"}
    )
    both = open_store(
        VaultSettings(),
        override=f"file:{tmp_path / 'a'}",
        env={**VAULT_ENV, "RECONCILER_VAULT": f"file:{tmp_path / 'b'}"},
    )
    assert isinstance(flag, FileVault)
    assert flag.exclusive
    assert flag.description == f"file vault at {tmp_path / 'a'}"
    assert env.description == f"file vault at {tmp_path / 'b'}"
    assert both.description == flag.description  # the flag wins


def test_vault_override_keeps_mount_and_prefix() -> None:
    settings = VaultSettings(address="https://vault.acme.example", path_prefix="mistral/acme")
    store = open_store(settings, override="vault:http://127.0.0.1:8200", env={"VAULT_TOKEN": "t"})
    assert isinstance(store, HashiCorpVault)
    assert store.exclusive
    assert store.description == "Vault http://127.0.0.1:8200 mount secret prefix mistral/acme"


def test_default_store_from_settings(tmp_path: Path) -> None:
    vault = open_store(VaultSettings(path_prefix="mistral/acme"), env=VAULT_ENV)
    assert isinstance(vault, HashiCorpVault)
    assert not vault.exclusive
    assert vault.description == "Vault https://vault.acme.example mount secret prefix mistral/acme"
    file = open_store(VaultSettings(backend=SecretBackend.FILE, address=str(tmp_path)), env={})
    assert isinstance(file, FileVault)
    assert not file.exclusive
    assert file.root == tmp_path
    assert_no_secret(vault.description, repr(vault))


@pytest.mark.parametrize(
    ("settings", "env", "message"),
    [
        (VaultSettings(), {"VAULT_TOKEN": "t"}, "no Vault address"),
        (VaultSettings(address="vault.acme.example"), {"VAULT_TOKEN": "t"}, "https://"),
        (VaultSettings(address="https://v"), {}, "VAULT_TOKEN"),
        (VaultSettings(backend=SecretBackend.GITHUB), {}, "github cannot be the organisation"),
    ],
)
def test_default_store_misconfiguration(
    settings: VaultSettings, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        open_store(settings, env=env)


def test_keys_follow_their_target_without_override() -> None:
    default = open_store(VaultSettings(), env=VAULT_ENV)
    env = {**VAULT_ENV, "GITHUB_TOKEN": TOKEN_TEXT}
    assert store_for_target(SecretTarget(path="dev/dev-alice"), default, env=env) is default
    same = SecretTarget(backend=SecretBackend.VAULT, path="dev/dev-alice")
    assert store_for_target(same, default, env=env) is default
    github = store_for_target(GITHUB_TARGET, default, env=env)
    assert isinstance(github, GitHubSecretStore)
    assert github.description == "GitHub Actions secret of acme/search environment production"
    file = store_for_target(SecretTarget(backend=SecretBackend.FILE, path="x"), default, env=env)
    assert isinstance(file, FileVault)


def test_a_vault_target_on_a_file_default_opens_vault_from_settings(tmp_path: Path) -> None:
    settings = VaultSettings(backend=SecretBackend.FILE, address=str(tmp_path))
    default = open_store(settings, env=VAULT_ENV)
    target = SecretTarget(backend=SecretBackend.VAULT, path="prod/checkout")
    store = store_for_target(target, default, settings=settings, env=VAULT_ENV)
    assert isinstance(store, HashiCorpVault)


def test_github_target_needs_a_repository() -> None:
    default = open_store(VaultSettings(), env=VAULT_ENV)
    target = SecretTarget(backend=SecretBackend.GITHUB, path="x")
    with pytest.raises(ConfigError, match="repository: owner/name"):
        store_for_target(target, default, env={"GITHUB_TOKEN": "t"})


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_a_file_override_sends_every_key_to_the_file_vault(tmp_path: Path, how: str) -> None:
    """A rehearsal never touches a real secret store, GitHub-targeted keys included."""
    env = {**VAULT_ENV, "GITHUB_TOKEN": TOKEN_TEXT}
    override = f"file:{tmp_path}"
    if how == "environment":
        env["RECONCILER_VAULT"] = override
    default = open_store(VaultSettings(), override=override if how == "flag" else None, env=env)
    targets = [
        GITHUB_TARGET,
        SecretTarget(backend=SecretBackend.VAULT, path="prod/checkout"),
        SecretTarget(path="dev/dev-alice"),
    ]
    with respx.mock:  # any HTTP request would fail the test: none is routed
        for target in targets:
            store = store_for_target(target, default, env=env)
            assert store is default
            run(store.put(target.path, SECRET, make_metadata()))
        assert not respx.calls
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json")) == [
        "dev/dev-alice.json",
        "prod/checkout.json",
        "prod/search-indexer.json",
    ]


def test_override_given_to_store_for_target_also_pins_the_default(tmp_path: Path) -> None:
    default = FileVault(tmp_path)  # not marked exclusive
    env = {"GITHUB_TOKEN": TOKEN_TEXT}
    assert store_for_target(GITHUB_TARGET, default, override=f"file:{tmp_path}", env=env) is default
