"""Key rotation end to end: the CLI against the served sandbox, and an apply killed at
every step of a rotation.

- While ``apply --replace api_key.dev-bob`` runs, an application thread keeps calling
  ``POST /v1/chat/completions`` with the secret it reads from the store before each call:
  it never gets a 401, and it uses the old key, then the new one. No sleeps: the test
  waits on the application's call counts (a condition it signals after every call).
- ``RECONCILER_CRASH_AFTER_RECORD=N`` kills the apply of a due rotation right after its
  Nth journal record, for every N until an apply runs to the end; the next apply always
  resumes and converges: one current key, its secret the store's current version and
  accepted by the platform, the old key kept (its grace) and retiring in the record.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest

from reconciler.platform.sandbox import SandboxStore
from reconciler.platform.sandbox.persist import StateFile
from tests.e2e.apply_support import (
    Cli,
    actionable,
    file_vault_entries,
    live_keys,
    plan_document,
    write_small_desired,
)
from tests.e2e.conftest import SandboxServer
from tests.e2e.kill_rounds import KillRounds
from tests.e2e.test_apply_crash import STATE, VAULT, platform

pytestmark = pytest.mark.e2e

WAIT = 60.0  # seconds; reached only when the application stops calling (the test fails)


class Application:
    """Calls chat completions in a loop with the secret the store holds at each call."""

    def __init__(self, api_base_url: str, vault: Path, path: str) -> None:
        self.url = f"{api_base_url}/chat/completions"
        self.vault = vault
        self.path = path
        self.statuses: Counter[int] = Counter()
        self.by_secret: Counter[str] = Counter()
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        body = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]}
        with httpx.Client(timeout=30) as client:
            while not self.stopping.is_set():
                secret = file_vault_entries(self.vault)[self.path].secret
                answer = client.post(
                    self.url, json=body, headers={"Authorization": f"Bearer {secret}"}
                )
                with self.changed:
                    self.statuses[answer.status_code] += 1
                    self.by_secret[secret] += 1
                    self.changed.notify_all()

    def wait_for_calls(self, count: int, secret: str | None = None) -> None:
        """Until the application has made ``count`` calls (with ``secret``, if given)."""

        def enough() -> bool:
            made = self.by_secret[secret] if secret else sum(self.statuses.values())
            return made >= count

        with self.changed:
            assert self.changed.wait_for(enough, timeout=WAIT), dict(self.statuses)

    def __enter__(self) -> Application:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=WAIT)


def test_an_application_reading_its_key_from_the_store_never_fails_during_a_rotation(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    write_small_desired(tmp_path)
    cli = Cli(sandbox, tmp_path)
    assert cli("apply", "--auto-approve").returncode == 0
    vault = tmp_path / "vault"
    old = file_vault_entries(vault)["dev/dev-bob"]

    with Application(sandbox.api_base_url, vault, "dev/dev-bob") as app:
        app.wait_for_calls(3)
        rotated = cli("apply", "--auto-approve", "--replace", "api_key.dev-bob")
        assert rotated.returncode == 0, rotated.stderr
        new = file_vault_entries(vault)["dev/dev-bob"]
        assert new.metadata["key_id"] != old.metadata["key_id"]
        app.wait_for_calls(3, secret=new.secret)  # the application moved to the new key
    assert set(app.statuses) == {200}, dict(app.statuses)  # never a 401, nor anything else
    assert app.by_secret[old.secret] >= 3

    assert "# (because replacement requested (--replace))" in rotated.stdout
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in rotated.stdout
    live = {k["key_id"] for k in live_keys(sandbox.admin_base_url, sandbox.admin_key)}
    assert {old.metadata["key_id"], new.metadata["key_id"]} <= live  # the old one: its grace
    after = cli("plan", "--format", "json", "--detailed-exitcode")
    assert actionable(plan_document(after)) == []


def test_replace_of_an_address_that_names_nothing_exits_non_zero_with_one_line(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    write_small_desired(tmp_path)
    cli = Cli(sandbox, tmp_path)
    wrong = cli("plan", "--replace", "api_key.dev.dev-bob")
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines()[-1] == (
        "Error: --replace api_key.dev.dev-bob: no live key the desired state declares at "
        "that address (see the plan's api_key.NAME addresses)"
    )


# --- an apply killed at every step of a rotation -----------------------------------------

DAYS_OLD = 100  # the keys' age once the rotation rounds start: dev-bob's 30 days are over
ROTATING = {"organization.yaml": "  keys: {rotation_period_days: 365}\n"}
BOB = "      owner: bob.chen@acme.example\n"


def _age_keys(state: Path, days: int) -> None:
    """Every key of the sandbox made ``days`` earlier, as if that much time had passed."""
    store = SandboxStore.open(state)
    doc = store.snapshot(secrets=True)
    store.close()  # the state file is now the whole state, its journal empty
    for key in doc["keys"]:
        made = dt.datetime.fromisoformat(key["created_at"]) - dt.timedelta(days=days)
        key["created_at"] = made.isoformat()
    StateFile(state).write_snapshot(doc)


class RotationRounds(KillRounds):
    """A converged organisation whose dev-bob is due, copied fresh for each round."""

    def __init__(self, base: Path) -> None:
        self.base = base
        template = base / "template"
        desired = write_small_desired(template)
        org = desired / "organization.yaml"
        org.write_text(org.read_text() + ROTATING["organization.yaml"])
        dev = desired / "workspaces" / "dev.yaml"
        dev.write_text(dev.read_text().replace(BOB, BOB + "      rotation_period_days: 30\n"))
        (template / ".sandbox").mkdir()
        SandboxStore.open(template / STATE).close()
        assert self.cli(template, "apply", "--auto-approve").returncode == 0
        _age_keys(template / STATE, DAYS_OLD)
        self.template = template
        self.old_bob = file_vault_entries(template / VAULT)["dev/dev-bob"].metadata["key_id"]

    def round_of(self, n: int) -> bool:
        """Kill the rotation's apply after record ``n``, plan, then resume; False when the
        apply ran to the end without being killed."""

        def planned(root: Path) -> None:
            assert self.cli(root, "plan").returncode == 0, f"killed after record {n}"

        return self.round(n, before_resume=planned)

    def check(self, root: Path, where: str) -> None:
        final = self.cli(root, "plan", "--detailed-exitcode", "--format", "json")
        assert actionable(plan_document(final)) == [], f"{where}: {final.stdout}"
        entry = file_vault_entries(root / VAULT)["dev/dev-bob"]
        live, _, works = platform(root / STATE, [entry.secret])
        bobs = sorted(k["key_id"] for k in live if k["name"] == "dev-bob")
        new = entry.metadata["key_id"]
        assert works == [True], f"{where}: the stored secret is refused"
        assert new != self.old_bob, f"{where}: not rotated"
        assert bobs == sorted([self.old_bob, new]), f"{where}: {bobs}"  # the old: its grace


@pytest.mark.slow
def test_a_rotation_killed_at_each_step_resumes_and_converges(tmp_path: Path) -> None:
    rounds = RotationRounds(tmp_path)
    killed: dict[int, bool] = {}
    while all(killed.values()):
        killed[len(killed) + 1] = rounds.round_of(len(killed) + 1)
    records = min(n for n, was in killed.items() if not was) - 1
    # start, create intent, created, secret write intent, stored, verify intent, verified, end
    assert records >= 8
