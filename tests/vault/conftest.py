"""Fixtures for the secret-store tests: clean logging, a fake Vault, a store per backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import respx

from reconciler.logging import clear_registered_secrets, reset_logging
from reconciler.vault.base import SecretStore
from reconciler.vault.file import FileVault

from .fake_vault import FakeVault
from .helpers import NOW, TOKEN_TEXT, VAULT_ADDR, vault_store


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    yield
    reset_logging()
    clear_registered_secrets()


@pytest.fixture
def fake_vault() -> Iterator[FakeVault]:
    fake = FakeVault(VAULT_ADDR, token=TOKEN_TEXT)
    with respx.mock(assert_all_called=False) as router:
        fake.install(router)
        yield fake


@pytest.fixture(params=["file", "vault"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SecretStore]:
    """The same behaviour is expected of the file vault and of Vault (through the fake),
    both with their clock at :data:`NOW`."""
    if request.param == "file":
        yield FileVault(tmp_path / "vault", clock=lambda: NOW)
        return
    fake = FakeVault(VAULT_ADDR, token=TOKEN_TEXT)
    with respx.mock(assert_all_called=False) as router:
        fake.install(router)
        yield vault_store(clock=lambda: NOW)
