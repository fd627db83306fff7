"""The ownership record through plan and apply, as a user sees it: keys reconciler manages
are revoked when removed from the desired state, keys it never managed are left alone, a
lost secret is made again, and a deleted key's secret goes from wherever it was written.

Against the embedded sandbox (the demo seed) with a reduced desired state whose ``dev``
workspace does not prune; secrets go to the file vault beside the sandbox's state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from reconciler.diff.owned import MANAGED_REMOVED, NOT_MANAGED
from reconciler.errors import PlanError
from reconciler.ownership import decode
from reconciler.plan import Plan
from reconciler.platform.sandbox import SandboxStore
from reconciler.session import ApplyOutcome
from reconciler.vault.base import SecretMetadata
from reconciler.vault.file import FileVault
from tests.e2e.apply_support import SMALL_DEV, write_small_desired
from tests.example_dates import shift_expiries
from tests.session.test_apply import Heard, live_keys, plan, vault
from tests.session.test_apply import apply as apply_as_caller

CAROL = shift_expiries("""\
    - name: dev-carol
      owner: carol.diaz@acme.example
      expires: 2039-06-30
      role: developer
      secret: {path: team/carol-key}
""")
DEV = SMALL_DEV.replace("  prune_unmanaged_keys: true\n", "") + CAROL
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
BOB = DEV[DEV.index("    - name: dev-bob") : DEV.index("    - name: dev-carol")]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_small_desired(tmp_path, dev=DEV)
    SandboxStore.open(tmp_path / "sandbox" / "state.json").close()
    return tmp_path


def apply(root: Path, **kwargs: Any) -> ApplyOutcome:
    return apply_as_caller(root, auto_approve=True, **kwargs)


def edit_dev(root: Path, old: str, new: str) -> None:
    dev = root / "desired-state" / "workspaces" / "dev.yaml"
    dev.write_text(dev.read_text().replace(old, new))


def actions(plan: Plan) -> dict[str, tuple[str, ...]]:
    """What the plan does to keys (the demo's unmanaged workspaces left out)."""
    return {
        c.address: tuple(a.value for a in c.actions)
        for c in plan.changes
        if c.address.startswith("api_key.")
    }


def test_a_managed_key_removed_from_the_desired_state_is_revoked_an_unmanaged_one_is_not(
    root: Path,
) -> None:
    assert apply(root).result is not None
    made = live_keys(root)
    assert "iris-laptop" in made  # not desired, never managed: left alone
    edit_dev(root, BOB, "")

    planned = plan(root)
    bob = planned.by_address("api_key.dev-bob")
    iris = planned.by_address("api_key.iris-laptop")
    assert bob is not None and bob.actions == ("delete",) and bob.reason == MANAGED_REMOVED
    assert iris is not None and iris.actions == ("unmanaged",) and iris.reason == NOT_MANAGED
    assert (planned.summary.add, planned.summary.destroy) == (0, 1)

    heard = Heard()
    outcome = apply(root, listener=heard)
    assert outcome.result is not None and outcome.result.destroyed == 1
    after = live_keys(root)
    assert "dev-bob" not in after and after["iris-laptop"] == made["iris-laptop"]
    assert "dev/dev-bob" not in vault(root)  # its secret went with it
    assert "api_key.dev-bob: secret removed from file vault at" in " ".join(heard.steps)
    assert actions(plan(root)) == {"api_key.iris-laptop": ("unmanaged",)}


def test_a_key_with_a_custom_secret_path_takes_its_secret_with_it(root: Path) -> None:
    apply(root)
    assert vault(root)["team/carol-key"] == live_keys(root)["dev-carol"]
    edit_dev(root, CAROL, "")
    apply(root)
    assert "dev-carol" not in live_keys(root)
    assert "team/carol-key" not in vault(root)
    assert set(vault(root)) == {"dev/dev-alice", "dev/dev-bob", "prod/checkout-service"}


def test_a_secret_lost_from_the_store_is_made_again_with_a_new_key(root: Path) -> None:
    apply(root)
    old = live_keys(root)["dev-bob"]
    asyncio.run(FileVault(root / "sandbox" / "vault").delete("dev/dev-bob"))

    planned = plan(root)
    assert actions(planned) == {
        "api_key.dev-bob": ("create", "delete"),
        "api_key.iris-laptop": ("unmanaged",),
    }
    bob = planned.by_address("api_key.dev-bob")
    assert bob is not None and bob.reason == (
        f"secret missing from file vault at {root / 'sandbox' / 'vault'}: dev/dev-bob"
    )
    apply(root)
    now = live_keys(root)["dev-bob"]
    assert now != old and vault(root)["dev/dev-bob"] == now
    assert actions(plan(root)) == {"api_key.iris-laptop": ("unmanaged",)}  # converged


def test_a_secret_overwritten_by_another_key_is_made_again(root: Path) -> None:
    """The store's current version at dev-bob's path is a key long gone (a restored
    backup, say): dev-bob's own secret is lost."""
    apply(root)
    old = live_keys(root)["dev-bob"]
    store = FileVault(root / "sandbox" / "vault")
    gone = SecretMetadata(
        key_id="k-long-gone", key_name="dev-bob", workspace="dev", created=NOW, allowed_models=()
    )
    asyncio.run(store.put("dev/dev-bob", SecretStr("s" * 40), gone, expect_version=None))
    bob = plan(root).by_address("api_key.dev-bob")
    assert bob is not None and bob.actions == ("create", "delete")
    assert bob.reason == "the secret at dev/dev-bob belongs to another key"
    apply(root)
    assert vault(root)["dev/dev-bob"] == live_keys(root)["dev-bob"] != old


def test_an_organisation_without_a_ledger_is_adopted_by_its_next_apply(root: Path) -> None:
    apply(root)
    documents = list((root / "sandbox" / "vault" / "_reconciler").rglob("*.json"))
    assert len(documents) == 1
    documents[0].unlink()  # as before the ownership record existed
    edit_dev(root, BOB, "")
    bob = plan(root).by_address("api_key.dev-bob")
    assert bob is not None and bob.actions == ("unmanaged",)  # nobody knows it is managed

    edit_dev(root, "    - name: dev-carol", BOB + "    - name: dev-carol")
    heard = Heard()
    outcome = apply(root, listener=heard)
    assert outcome.result is None  # no change through the API: only recorded
    assert "Recorded 4 live key(s) the desired state names in the ownership record." in (
        heard.notices
    )
    edit_dev(root, BOB, "")
    bob = plan(root).by_address("api_key.dev-bob")
    assert bob is not None and bob.actions == ("delete",) and bob.reason == MANAGED_REMOVED


def test_an_apply_records_its_new_keys_in_one_write_after_their_intents(root: Path) -> None:
    """However many keys it creates, an apply writes the ownership record a few times:
    the live keys it adopts, the phase's create intents, a replacement's new key with its
    old one retiring (at once), the other new keys (after the phase, at once), and the
    keys deleted (after that phase)."""
    outcome = apply(root)
    assert outcome.result is not None and outcome.result.added >= 3
    (document,) = (root / "sandbox" / "vault" / "_reconciler").rglob("*.json")
    name = document.relative_to(document.parents[1]).with_suffix("").as_posix()
    stored = asyncio.run(FileVault(root / "sandbox" / "vault").read_document(name))
    assert stored is not None and stored.text is not None
    assert stored.version == 5  # three plain creates and a replacement (dev-alice)
    ledger = decode(stored.text)
    assert ledger.intents == ()
    made = live_keys(root)
    assert {e.name for e in ledger.keys.values()} >= {"dev-alice", "dev-bob", "dev-carol"}
    assert all(made[e.name] == key_id for key_id, e in ledger.keys.items())


def test_a_managed_key_in_a_protected_workspace_is_not_removed(root: Path) -> None:
    apply(root)
    prod = root / "desired-state" / "workspaces" / "prod.yaml"
    text = prod.read_text()
    prod.write_text(text[: text.index("  api_keys:")] + "  api_keys: []\n")
    with pytest.raises(PlanError, match="key in protected workspace 'prod' would be deleted"):
        apply(root)
    assert "prod-checkout-service" in live_keys(root)


def test_no_record_under_the_name_of_an_organisation_with_live_keys_is_warned_of(
    root: Path,
) -> None:
    """A rename without ``previous_names`` looks like this; so do an organisation adopted
    without an import (the seed's dev-alice) and one managed before the record existed,
    so the plan warns and an apply goes on."""

    def warned() -> list[str]:
        return [w for w in plan(root).warnings if w.startswith("No ownership record")]

    (first,) = warned()
    assert first.startswith(
        'No ownership record was found under the organisation\'s name "Acme Analytics", '
        "yet 1 key(s) the desired state declares are live (dev-alice). If organization.name "
        "was changed, add previous_names: [OLD NAME] under organization:"
    )
    apply(root)
    assert warned() == []  # the record is there
    for document in (root / "sandbox" / "vault" / "_reconciler").rglob("*.json"):
        document.unlink()
    (lost,) = warned()
    assert (
        "yet 4 key(s) the desired state declares are live (dev-alice, dev-bob, dev-carol, ...)"
        in lost
    )
    organization = root / "desired-state" / "organization.yaml"
    pinned = "  name: Acme Analytics\n  id: 80da8647-d4dd-5809-856f-6847937468bc\n"
    organization.write_text(organization.read_text().replace("  name: Acme Analytics\n", pinned))
    assert warned() == []  # its id names its record, whatever its name
