"""``reconciler apply`` killed with SIGKILL at every step, and in the middle of a slow create.

At each step: ``RECONCILER_CRASH_AFTER_RECORD=N`` makes the apply kill itself right after
its Nth journal record is durable (every mutation is announced by a record before it is
sent, and its result recorded after), for N = 1, 2, ... until an apply runs to the end.
Each round starts from a fresh sandbox (embedded, on its own state file), file vault and
state directory, and checks that:

- the next ``plan`` succeeds and says plainly what the killed apply left behind (judged
  from the platform and the vault, not from the journal);
- the next ``apply`` exits 0 and the plan after it has nothing left to do through the API;
- every live key the desired state names lives once, its vault entry names its id, and
  its secret is accepted by the platform (``GET /v1/models``);
- nothing was done twice: a key whose secret was stored before the kill is still the
  live one, and no workspace or key name exists twice.

In the middle of a create: the served sandbox holds the Nth ``POST /api-keys`` until the
test lets it go, the apply is killed when it prints the Nth ``Creating...`` line, and the
next apply converges.

In the middle of a replacement's secret write: Vault (the fake, served) holds the new
key's data write, after its ``custom_metadata`` was written, and the apply is killed
there; the next apply, on this machine or another (no journal), converges.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

import httpx
import pytest

from reconciler.env import RECONCILER_CRASH_AFTER_RECORD as CRASH_ENV
from reconciler.platform.sandbox import DEFAULT_ADMIN_KEY, SandboxStore
from reconciler.platform.sandbox.embedded import EMBEDDED_HOST, embedded_transport
from tests.e2e.apply_support import (
    SMALL_DEV,
    SMALL_KEYS,
    Cli,
    VaultEntry,
    actionable,
    assert_converged,
    desired_keys,
    file_vault_entries,
    interrupted_warning,
    left_behind,
    live_keys,
    plan_document,
    planned,
    write_small_desired,
)
from tests.e2e.conftest import CLI_TIMEOUT, SandboxServer, clean_env, fork_server
from tests.e2e.forkserver import ForkServer
from tests.e2e.vault_server import FakeVaultServer
from tests.example_dates import shifted

pytestmark = pytest.mark.e2e

# The small desired state without dev-bob: one replacement, one create in a new workspace,
# one prune, three new members; 17 journal records.
DEV_WITHOUT_BOB = SMALL_DEV[: SMALL_DEV.index("    - name: dev-bob")]
STATE = ".sandbox/state.json"
VAULT = ".sandbox/vault"  # where --sandbox keeps secrets, beside the state file


def embedded_args(*args: str) -> list[str]:
    return [*args, "--sandbox", "--sandbox-state", STATE, "--no-color"]


async def _platform(state: Path, secrets: list[str]) -> tuple[list[Any], list[Any], list[bool]]:
    transport = embedded_transport(state)
    auth = {"Authorization": f"Bearer {DEFAULT_ADMIN_KEY}"}
    async with httpx.AsyncClient(transport=transport, base_url=EMBEDDED_HOST, headers=auth) as c:
        keys = (await c.get("/v1/admin/api-keys", params={"limit": 1000})).json()["keys"]
        listing = await c.get("/v1/admin/workspaces", params={"page_size": 100})
        works = []
        for secret in secrets:
            answer = await c.get("/v1/models", headers={"Authorization": f"Bearer {secret}"})
            works.append(answer.status_code == 200)
    return keys, listing.json()["items"], works


def platform(state: Path, secrets: Sequence[str] = ()) -> tuple[list[Any], list[Any], list[bool]]:
    """Keys, workspaces, and whether each of ``secrets`` is accepted, read in-process."""
    return asyncio.run(_platform(state, list(secrets)))


class KillRounds:
    """Fresh copies of the small desired state and the demo organisation per round.

    The CLI runs in processes forked from a :class:`ForkServer`, which has imported it
    already: the same command, without the import time of each run. Two rounds run at
    once, each with a server of its own: the worker's and one more.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self._local = threading.local()
        self._own = ForkServer(base / "forkserver", env=clean_env())
        self._idle: queue.SimpleQueue[ForkServer] = queue.SimpleQueue()
        for server in (fork_server(), self._own):
            self._idle.put(server)
        self.desired = write_small_desired(base / "template", dev=DEV_WITHOUT_BOB)
        pristine = base / "pristine" / "state.json"
        SandboxStore.open(pristine).close()
        self.pristine = pristine
        keys, _, _ = platform(pristine)
        self.initial = {k["key_id"] for k in keys}
        self.keys = desired_keys(self.desired)

    def cli(
        self, cwd: Path, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        server: ForkServer = self._local.server
        return server.run(embedded_args(*args), cwd=cwd, env=clean_env(env))

    def close(self) -> None:
        self._own.close()

    def fresh(self, name: str) -> Path:
        root = self.base / name
        shutil.copytree(self.desired, root / "desired-state")
        (root / ".sandbox").mkdir(parents=True)
        shutil.copyfile(self.pristine, root / STATE)
        return root

    def round(self, n: int) -> str | None:
        """Apply killed after record ``n``, then recover; the plan made after the kill, or
        None if the apply ran to the end without being killed."""
        self._local.server = self._idle.get()
        try:
            return self._round(n)
        finally:
            self._idle.put(self._local.server)

    def _round(self, n: int) -> str | None:
        root = self.fresh(f"kill-{n}")
        killed = self.cli(root, "apply", "--auto-approve", env={CRASH_ENV: str(n)})
        if killed.returncode == 0:
            return None
        where = f"killed after record {n}"
        assert killed.returncode == -signal.SIGKILL, f"{where}: {killed.stderr}"

        live, _, _ = platform(root / STATE)
        vault = file_vault_entries(root / VAULT)
        expected = left_behind(self.initial, live, vault, self.keys)
        plan = self.cli(root, "plan")
        assert plan.returncode == 0, f"{where}: {plan.stderr}"
        if expected:
            assert interrupted_warning(len(expected)) in plan.stdout, f"{where}: {plan.stdout}"
        else:
            assert "interrupted" not in plan.stdout, where

        again = self.cli(root, "apply", "--auto-approve")
        assert again.returncode == 0, f"{where}: {again.stderr}"
        assert "Apply complete! Resources:" in again.stdout
        final = self.cli(root, "plan", "--detailed-exitcode", "--format", "json")
        assert actionable(plan_document(final)) == [], where
        self.check_converged(root, vault, where)
        return str(plan.stdout)

    def check_converged(self, root: Path, before: dict[str, VaultEntry], where: str) -> None:
        entries = file_vault_entries(root / VAULT)
        secrets = [entries[path].secret for _, path in self.keys.values()]
        live, workspaces, works = platform(root / STATE, secrets)
        assert all(works), f"{where}: a stored secret is refused by the platform"
        for name, (workspace, path) in self.keys.items():
            entry = entries[path]
            ids = [
                k["key_id"] for k in live if (k["name"], k["workspace_name"]) == (name, workspace)
            ]
            assert ids == [entry.metadata["key_id"]], (
                f"{where}: {name} is {ids}, vault says {entry.metadata}"
            )
        names = Counter((k["workspace_name"], k["name"]) for k in live)
        assert max(names.values()) == 1, f"{where}: {names}"
        assert max(Counter(w["name"] for w in workspaces).values()) == 1, where
        live_ids = {k["key_id"] for k in live}
        for path, entry in before.items():  # stored before the kill: kept, not made again
            assert entry.metadata["key_id"] in live_ids, f"{where}: {path} was made twice"
        assert not live_ids & self.initial, where  # iris-laptop pruned, old dev-alice replaced


@pytest.mark.slow
def test_a_kill_at_each_step_is_followed_by_an_apply_that_converges(tmp_path: Path) -> None:
    rounds = KillRounds(tmp_path)
    plans: dict[int, str | None] = {}
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:  # two rounds at a time
            while None not in plans.values():
                batch = [len(plans) + 1, len(plans) + 2]
                plans.update(zip(batch, pool.map(rounds.round, batch), strict=True))
    finally:
        rounds.close()
    records = min(n for n, plan in plans.items() if plan is None) - 1
    first = plans[1]
    assert first is not None and "interrupted" not in first  # killed before any mutation
    # every step (a replacement is two) records at least its intent, plus start and end
    assert records >= sum(planned(first)) + 2


class BackgroundApply:
    """``reconciler apply`` as ``cli`` runs it, forked from this worker's fork server in a
    thread of its own, for a test to kill at a point it chooses: ``output`` is its standard
    output line by line as it comes (with ``output=True``; its standard error is dropped),
    :meth:`kill` sends it SIGKILL and returns its exit status once it is gone."""

    def __init__(self, cli: Cli, *, output: bool = False, **env: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._file: TextIO | None = None
        target = os.devnull
        if output:
            read, write = os.pipe()
            self._file = os.fdopen(read)
            target = f"/proc/{os.getpid()}/fd/{write}"  # the run opens the pipe by name
        pids: queue.SimpleQueue[int] = queue.SimpleQueue()
        variables = {"TMPDIR": str(cli.cwd / "tmp"), **cli.env, **env}
        self._run = self._pool.submit(
            fork_server().run,
            ["apply", "--auto-approve", "--no-color", "--vault", cli.vault],
            cwd=cli.cwd,
            env=clean_env(cli.server.env(**variables)),
            stdout=target,
            stderr=os.devnull,
            append=True,
            timeout=CLI_TIMEOUT,
            started=pids.put,
        )
        if output:  # ours closed once the run is over: the reader then meets the end
            self._run.add_done_callback(lambda _run: os.close(write))
        self.pid = pids.get(timeout=CLI_TIMEOUT)

    @property
    def output(self) -> Iterator[str]:
        return iter(self._file or ())

    def kill(self) -> int:
        with contextlib.suppress(ProcessLookupError):  # it may have ended on its own
            os.kill(self.pid, signal.SIGKILL)
        try:
            return self._run.result(timeout=CLI_TIMEOUT).returncode
        finally:
            self._pool.shutdown()
            if self._file is not None:
                self._file.close()


@pytest.mark.slow
@pytest.mark.parametrize("nth", [1, 2, 3])
def test_a_kill_during_a_create_is_followed_by_an_apply_that_converges(
    sandbox: SandboxServer, tmp_path: Path, nth: int
) -> None:
    desired = write_small_desired(tmp_path)
    cli = Cli(sandbox, tmp_path)
    initial = {k["key_id"] for k in live_keys(sandbox.admin_base_url, sandbox.admin_key)}
    sandbox.set_faults({"method": "POST", "path": "/v1/admin/api-keys", "nth": nth, "hold": True})
    apply = BackgroundApply(cli, output=True, MISTRAL_TIMEOUT="600")
    try:
        creating = (
            line for line in apply.output if re.match(r"api_key\.\S+: Creating\.\.\.", line)
        )
        assert next(islice(creating, nth - 1, None), None), "the apply ended before the create"
    finally:
        returncode = apply.kill()  # its create is on its way or held by the platform
    assert returncode == -signal.SIGKILL
    sandbox.set_faults()  # answers once the platform has dealt with the held request

    keys = desired_keys(desired)
    live = live_keys(sandbox.admin_base_url, sandbox.admin_key)
    stored = file_vault_entries(tmp_path / "vault")
    expected = left_behind(initial, live, stored, keys)
    plan = cli("plan")
    assert plan.returncode == 0, plan.stderr
    if expected:
        assert interrupted_warning(len(expected)) in plan.stdout, plan.stdout
    else:
        assert "interrupted" not in plan.stdout
    again = cli("apply", "--auto-approve")
    assert again.returncode == 0, again.stderr
    assert actionable(plan_document(cli("plan", "--format", "json"))) == []
    assert_converged(sandbox, tmp_path / "vault", desired)
    live_ids = {k["key_id"] for k in live_keys(sandbox.admin_base_url, sandbox.admin_key)}
    assert {e.metadata["key_id"] for e in stored.values()} <= live_ids  # none made twice
    assert not live_ids & initial  # iris-laptop pruned, the old dev-alice replaced


@pytest.mark.slow
@pytest.mark.parametrize("journal", [True, False], ids=["same-machine", "other-machine"])
def test_a_kill_between_a_new_secrets_metadata_and_data_is_followed_by_an_apply_that_converges(
    sandbox: SandboxServer, tmp_path: Path, journal: bool
) -> None:
    """dev-alice's key is replaced; the apply dies after Vault took the new key's metadata
    and before it took its data: two live dev-alice keys, and at her path the old key's
    secret under metadata naming the new one. The next apply deletes the new key (nobody
    has its secret) and replaces the old one: one live key whose own secret is current,
    never a refusal to overwrite a live key's secret. ``journal``: the local journal is
    there; else recovery stands on the ownership record and the store alone."""
    token = "crash-vault-token-" + "beef" * 6
    vault = FakeVaultServer(token=token)
    try:
        desired = write_small_desired(tmp_path, backend="vault")
        cli = Cli(sandbox, tmp_path, vault=f"vault:{vault.url}")
        cli.env = {"VAULT_TOKEN": token}
        assert cli("apply", "--auto-approve").returncode == 0
        path = f"mistral/acme/{SMALL_KEYS['dev-alice'][1]}"
        old_secret, _ = vault.entry(path)
        dev = desired / "workspaces" / "dev.yaml"
        dev.write_text(dev.read_text().replace(shifted("2039-06-30"), shifted("2039-07-31"), 1))

        arrived = vault.hold_write(len(vault.writes.attempts) + 1)
        apply = BackgroundApply(cli)
        try:
            assert arrived.wait(timeout=CLI_TIMEOUT), "the apply never wrote the new secret"
        finally:
            returncode = apply.kill()
            vault.release()
        assert returncode == -signal.SIGKILL
        alice = [
            k
            for k in live_keys(sandbox.admin_base_url, sandbox.admin_key)
            if k["name"] == "dev-alice"
        ]
        assert len(alice) == 2
        secret, metadata = vault.entry(path)
        assert secret == old_secret and metadata["key_id"] in {k["key_id"] for k in alice}

        if not journal:
            shutil.rmtree(tmp_path / ".reconciler")
        again = cli("apply", "--auto-approve")
        assert again.returncode == 0, again.stdout + again.stderr
        assert actionable(plan_document(cli("plan", "--format", "json"))) == []
        entries = {p: VaultEntry(s or "", m) for p, (s, m) in vault.entries("mistral/acme").items()}
        assert_converged(sandbox, entries, desired)
        live = {k["key_id"] for k in live_keys(sandbox.admin_base_url, sandbox.admin_key)}
        assert not live & {k["key_id"] for k in alice}  # neither half survives
    finally:
        vault.stop()
