"""``reconciler import`` then ``reconciler plan``, as a user runs them on the embedded sandbox.

An organisation imported from the platform must plan clean: with ``--detailed-exitcode``,
0, the objects the import listed as not expressible being left alone (the platform's
default workspace) and nothing else. Checked on the demo organisation and on a generated
one of 50 workspaces and 500 keys. The imported keys are recorded as managed, their
secrets unknown, in the ownership record of the sandbox's file vault.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from reconciler.cli.main import app
from reconciler.ownership import Ledger, Origin, SecretState
from reconciler.platform.sandbox import SandboxStore
from reconciler.platform.target import sandbox_target_name
from reconciler.session import ImportOutcome, Session, TargetOptions
from reconciler.vault import ledger_store
from reconciler.vault.file import FileVault
from tests.e2e.apply_support import file_vault_entries
from tests.example_dates import copy_example
from tests.ledgers import identity_of

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def cli(*args: str) -> Result:
    return runner.invoke(app, list(args))


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def rotation(change: dict[str, Any]) -> bool:
    """A key past its rotation period: an imported key's first rotation stores its secret."""
    return str(change["action_reason"] or "").startswith("rotation due:")


def plan_json(directory: str) -> tuple[int, dict[str, list[str]]]:
    """The exit code of a plan with --detailed-exitcode, and each address's actions, the
    rotations of keys past their period left out (:func:`rotations_due` lists those)."""
    result = cli("plan", directory, "--sandbox", "--format", "json", "--detailed-exitcode")
    changes = json.loads(result.stdout)["resource_changes"]
    return result.exit_code, {
        c["address"]: c["change"]["actions"] for c in changes if not rotation(c)
    }


def rotations_due(directory: str) -> set[str]:
    """The keys a plan rotates because they are past their rotation period."""
    result = cli("plan", directory, "--sandbox", "--format", "json")
    changes = json.loads(result.stdout)["resource_changes"]
    return {c["address"] for c in changes if rotation(c)}


def recorded(root: Path) -> Ledger:
    """The ownership record the sandbox's file vault holds."""
    target = sandbox_target_name(Path(".sandbox/state.json"))
    vault = FileVault(root / ".sandbox" / "vault")
    return asyncio.run(ledger_store.load(vault, identity_of(root / "ds", target))).ledger


def test_the_demo_organisation_imported_plans_clean(here: Path) -> None:
    assert cli("sandbox", "reset").exit_code == 0
    done = cli("import", "ds", "--sandbox", "--name", "Acme Analytics")
    assert done.exit_code == 0, done.output
    assert "Imported 2 workspace(s) and 2 key(s) into ds/: 12 file(s) written, 0 unchanged." in (
        done.stdout
    )
    people = (here / "ds" / "people.yaml").read_text()
    assert "  - {email: alice.martin@acme.example, role: organization_admin, seats: [chat, " in (
        people
    )
    assert "  - {email: jin.park@acme.example}  # invited, not accepted yet\n" in people
    assert (here / "ds" / "groups.yaml").read_text().split("version: 1\n", 1)[1] == (
        "\n"
        "groups:\n"
        "  - name: analysts\n"
        "    description: Data analysts\n"
        "    members: [henry.novak@acme.example]\n"
        "    workspaces:\n"
        "      ml: [user]\n"
    )
    ml = (here / "ds" / "workspaces" / "ml.yaml").read_text()
    assert "henry.novak" not in ml  # in ml through the analysts group only: stays so
    assert "    - {email: jin.park@acme.example, roles: [user]}\n" in ml  # joins on accepting
    assert (
        "\nLeft out of the files, as the desired state cannot say it (a plan may still show "
        "these):\n  - " in done.stdout
    )
    assert (
        "  - workspace 'Default Workspace' (the default workspace): not a valid desired-state "
        "name; not imported, left alone as unmanaged" in done.stdout
    )
    assert (
        "  - workspace 'ml': its spend limit (800 USD/month) can be set only in the console"
        in done.stdout
    )
    assert "ds/ is valid: 2 workspaces, 8 members, 2 API keys, 0 roles." in done.stdout

    assert "2 key(s) recorded as managed, their secrets unknown" in done.stdout
    ledger = recorded(here)
    assert {e.name: (e.origin, e.secret.state, e.secret.path) for e in ledger.keys.values()} == {
        "dev-alice": (Origin.IMPORTED, SecretState.UNKNOWN, "dev/dev-alice"),
        "iris-laptop": (Origin.IMPORTED, SecretState.UNKNOWN, "dev/iris-laptop"),
    }

    # nothing to change but the rotation of the key past its 90 days, which stores its secret
    assert plan_json("ds") == (
        2,
        {
            "workspace.Default Workspace": ["unmanaged"],
            "invitation.jin.park@acme.example": ["pending"],
            "member.ml/henry.novak@acme.example": ["no-op"],  # through analysts: left to it
        },
    )
    assert rotations_due("ds") == {"api_key.iris-laptop"}
    text = cli("plan", "ds", "--sandbox", "--detailed-exitcode")
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in text.stdout


@pytest.mark.slow
def test_a_generated_organisation_of_50_workspaces_imported_plans_clean(here: Path) -> None:
    seeded = cli(
        "sandbox", "seed", "--generate", "--workspaces", "50", "--keys", "500", "--out", "seed.json"
    )
    assert seeded.exit_code == 0, seeded.output
    assert cli("sandbox", "reset", "--seed", "seed.json").exit_code == 0
    done = cli("import", "ds", "--sandbox", "--name", "Bench Org")
    assert done.exit_code == 0, done.output
    assert "Imported 50 workspace(s) and 500 key(s) into ds/: 59 file(s) written" in done.stdout
    assert len(list((here / "ds" / "workspaces").iterdir())) == 50
    code, changes = plan_json("ds")
    assert changes == {"workspace.Default Workspace": ["unmanaged"]}
    assert code == (2 if rotations_due("ds") else 0)
    assert len(recorded(here).keys) == 500
    again = cli("import", "ds", "--sandbox")  # the name is the one organization.yaml holds
    assert "0 file(s) written, 58 unchanged." in again.stdout
    assert "recorded as managed" not in again.stdout  # they are already


def test_keys_not_recorded_when_the_store_cannot_be_opened_are_listed(here: Path) -> None:
    """The files stand; the first apply records the keys the desired state claims."""
    assert cli("sandbox", "reset").exit_code == 0
    options = TargetOptions(sandbox=True, vault="vault:http://127.0.0.1:9", env={})

    async def go() -> ImportOutcome:
        async with Session(here / "ds", options) as session:
            return await session.import_organization(name="Acme Analytics")

    outcome = asyncio.run(go())
    assert outcome.validation.ok and outcome.adopted == 0
    assert outcome.report.notes[-1].startswith("the imported keys are not recorded as managed (")
    assert (here / "ds" / "workspaces" / "dev.yaml").is_file()


def test_an_organisation_applied_before_is_imported_with_its_secrets_where_they_are(
    here: Path,
) -> None:
    """Keys reconciler made keep the secret locations the ownership record names (the
    example's ``prod/checkout-service``, its GitHub environment secret), so the audit
    after an import finds every secret the plan says is in place."""
    assert cli("sandbox", "reset").exit_code == 0
    copy_example(here / "desired-state")
    applied = cli("apply", "desired-state", "--sandbox", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    done = cli("import", "ds", "--sandbox", "--name", "Acme Analytics")
    assert done.exit_code == 0, done.output
    prod = (here / "ds" / "workspaces" / "prod.yaml").read_text()
    assert "    - name: prod-checkout-service\n" in prod
    assert "      secret: {path: prod/checkout-service}\n" in prod
    indexer = prod.split("- name: prod-search-indexer\n", 1)[1].split("- name:", 1)[0]
    assert "      secret: {path: github/acme/search-indexer/environments/production/" in indexer
    org = (here / "ds" / "organization.yaml").read_text()
    assert "  name: Acme Analytics\n  id: 80da8647-d4dd-5809-856f-6847937468bc\n" in org

    audit = cli("audit", "ds", "--sandbox", "--fail-on", "secret-missing")
    assert audit.exit_code == 0, audit.output
    assert "secret-missing" not in audit.stdout


def test_an_import_during_a_rotation_s_grace_imports_the_new_key_and_leaves_the_old_one(
    here: Path,
) -> None:
    """The old key of a rotation shares its name with the new one until its grace ends:
    import takes the new key as the key of that name, and says the old one is reconciler's
    to delete, instead of asking for one of the two to be deleted in the console."""
    assert cli("sandbox", "reset").exit_code == 0
    assert cli("import", "ds", "--sandbox", "--name", "Acme Analytics").exit_code == 0
    rotated = cli("apply", "ds", "--sandbox", "--auto-approve", "--replace", "api_key.dev-alice")
    assert rotated.exit_code == 0, rotated.output
    again = cli("import", "ds", "--sandbox")
    assert again.exit_code == 0, again.output
    assert "share this name" not in again.stdout
    retiring = {e.name: key_id for key_id, e in recorded(here).keys.items() if e.retiring}
    old = retiring["dev-alice"]  # iris-laptop, past its period, was rotated too
    assert (
        f"  - key 'dev-alice' (workspace 'dev'): the old key of a rotation (id {old}), "
        "deleted by the first apply after its grace ends; not imported" in again.stdout
    )
    assert "Imported 2 workspace(s) and 2 key(s)" in again.stdout


def test_an_import_whose_rotation_lost_its_new_key_imports_the_old_one_as_the_name_s_key(
    here: Path,
) -> None:
    """The new key of a rotation deleted in the console leaves the old one, still in its
    grace, as the only live key of that name: import declares the name with it (and says
    so) rather than leaving the name out of the files."""
    assert cli("sandbox", "reset").exit_code == 0
    assert cli("import", "ds", "--sandbox", "--name", "Acme Analytics").exit_code == 0
    rotated = cli("apply", "ds", "--sandbox", "--auto-approve", "--replace", "api_key.dev-alice")
    assert rotated.exit_code == 0, rotated.output
    ledger = recorded(here)
    old = next(k for k, e in ledger.keys.items() if e.retiring and e.name == "dev-alice")
    new = ledger.keys[old].retiring.replaced_by  # type: ignore[union-attr]
    store = SandboxStore.open(here / ".sandbox" / "state.json")
    try:
        store.delete_key(new)  # in the console
    finally:
        store.close()

    again = cli("import", "fresh", "--sandbox", "--name", "Acme Analytics")  # a new clone's
    assert again.exit_code == 0, again.output
    dev = (here / "fresh" / "workspaces" / "dev.yaml").read_text()
    assert "    - name: dev-alice\n" in dev
    assert (
        f"  - key 'dev-alice' (workspace 'dev'): the old key of a rotation (id {old}) whose "
        "new key is no longer live; imported as the key of that name" in again.stdout
    )
    assert "not imported" not in again.stdout.split("dev-alice", 1)[1].split("\n", 1)[0]
    # the rotation is finished: a new key for the name, the old one deleted after its grace
    planned = cli("plan", "fresh", "--sandbox")
    assert "  # api_key.dev-alice will be created\n" in planned.stdout
    assert f"  api_key.dev-alice[{old[:8]}] until " in planned.stdout


def test_an_import_after_a_rotation_rotated_again_imports_the_live_key_of_the_name(
    here: Path,
) -> None:
    """A key rotated twice, the second time with no grace: the first rotation's new key is
    gone (the second rotation replaced it), but the name's current key is live. The old
    key of the first rotation stays the rotation's, and the current key is the name's:
    import left the name out ("2 live keys share this name") and imported the old key, and
    the next plan deleted the current one."""
    assert cli("sandbox", "reset").exit_code == 0
    assert cli("import", "ds", "--sandbox", "--name", "Acme Analytics").exit_code == 0
    for extra in ((), ("--grace", "0")):
        rotated = cli(
            "apply", "ds", "--sandbox", "--auto-approve", "--replace", "api_key.dev-alice", *extra
        )
        assert rotated.exit_code == 0, rotated.output
    ledger = recorded(here)
    old = next(k for k, e in ledger.keys.items() if e.retiring and e.name == "dev-alice")
    current = next(k for k, e in ledger.keys.items() if not e.retiring and e.name == "dev-alice")

    again = cli("import", "fresh", "--sandbox", "--name", "Acme Analytics")  # a new clone's
    assert again.exit_code == 0, again.output
    assert "share this name" not in again.stdout
    assert "no longer live" not in again.stdout
    assert (
        f"  - key 'dev-alice' (workspace 'dev'): the old key of a rotation (id {old}), "
        "deleted by the first apply after its grace ends; not imported" in again.stdout
    )
    assert "    - name: dev-alice\n" in (here / "fresh" / "workspaces" / "dev.yaml").read_text()
    planned = cli("plan", "fresh", "--sandbox")
    assert "api_key.dev-alice will be" not in planned.stdout  # neither created nor destroyed
    assert current[:8] not in planned.stdout.split("Retiring:", 1)[0]


def test_an_import_after_a_key_rename_leaves_the_old_name_s_key_to_its_grace(
    here: Path,
) -> None:
    """A key renamed with previous_names is replaced as a rotation: its old key, still in
    its grace, keeps the old name while its new key has the new one. Import declares the
    new name only; the old key is the rotation's, not a key of its own."""
    assert cli("sandbox", "reset").exit_code == 0
    assert cli("import", "ds", "--sandbox", "--name", "Acme Analytics").exit_code == 0
    dev = here / "ds" / "workspaces" / "dev.yaml"
    renamed = "    - name: dev-alicia\n      previous_names: [dev-alice]\n"
    dev.write_text(dev.read_text().replace("    - name: dev-alice\n", renamed))
    applied = cli("apply", "ds", "--sandbox", "--auto-approve")
    assert applied.exit_code == 0, applied.output

    again = cli("import", "fresh", "--sandbox", "--name", "Acme Analytics")
    assert again.exit_code == 0, again.output
    imported = (here / "fresh" / "workspaces" / "dev.yaml").read_text()
    assert "    - name: dev-alicia\n" in imported
    assert "dev-alice\n" not in imported
    assert "  - key 'dev-alice' (workspace 'dev'): the old key of a rotation (id " in again.stdout


def test_secret_put_refuses_the_old_key_s_secret_during_its_grace(here: Path) -> None:
    """Rotated twice with a grace, the name has a new key and the old one, whose secret
    may still sit in someone's environment: put, it would take the new key's place at the
    name's path and die with the old key when its grace ends. Refused, naming both ids."""
    assert cli("sandbox", "reset").exit_code == 0
    assert cli("import", "ds", "--sandbox", "--name", "Acme Analytics").exit_code == 0
    replace = ("apply", "ds", "--sandbox", "--auto-approve", "--replace", "api_key.dev-alice")
    assert cli(*replace).exit_code == 0
    vault = here / ".sandbox" / "vault"
    old_secret = file_vault_entries(vault)["dev/dev-alice"].secret
    assert cli(*replace).exit_code == 0
    new_secret = file_vault_entries(vault)["dev/dev-alice"].secret
    ids = {e.name: key_id for key_id, e in recorded(here).keys.items() if e.retiring is None}
    old = next(
        key_id
        for key_id, e in recorded(here).keys.items()
        if e.retiring is not None and e.retiring.replaced_by == ids["dev-alice"]
    )

    put = ("secret", "put", "api_key.dev-alice", "ds", "--sandbox")
    refused = runner.invoke(app, list(put), input=old_secret + "\n")
    assert refused.exit_code == 1, refused.output
    assert refused.output == (
        f"Error: api_key.dev-alice: this secret is the old key's of a rotation (id {old}), "
        f"deleted once its grace ends: store the new key's (id {ids['dev-alice']})\n"
    )
    assert file_vault_entries(vault)["dev/dev-alice"].secret == new_secret
