"""Helpers for the apply end-to-end tests: a small desired state, reading secrets back.

- :func:`write_small_desired` writes a reduced copy of the example: workspace ``dev``
  (exists; carol joins, iris stays; keys pruned; ``dev-alice`` replaced because its expiry
  is new, ``dev-bob`` created, ``iris-laptop`` pruned) and workspace ``prod`` (created, with
  grace as admin and ci-bot as member; ``prod-checkout-service`` created). Against the demo
  seed its plan has every kind of step an apply takes, with few journal records.
- :func:`file_vault_entries` reads the file vault's JSON files directly (the documented
  layout), so the assertions do not go through the code under test.
- :func:`live_keys` and :func:`secret_works` ask the platform (sandbox) over HTTP.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from reconciler.desired import load_desired_state
from reconciler.model import ApiKey, SecretBackend
from tests.e2e.conftest import CLI_TIMEOUT, EXAMPLE_DESIRED_STATE, SandboxServer, run_cli
from tests.example_dates import shift_expiries

SMALL_ORGANIZATION = """\
version: 1
organization:
  name: Acme Analytics
  vault:
    backend: {backend}
    mount: secret
    path_prefix: mistral/acme
    auth: token
"""

# Its expiry dates are the example's, moved along with the session's date (see
# tests/example_dates.py), here and in SMALL_PROD.
SMALL_DEV = shift_expiries("""\
version: 1
workspace:
  name: dev
  description: Developer sandbox
  admin: alice.martin@acme.example
  members:
    - {email: bob.chen@acme.example, roles: [user]}
    - {email: carol.diaz@acme.example, roles: [user]}
    - {email: henry.novak@acme.example, roles: [user]}
    - {email: iris.tanaka@acme.example, roles: [user]}
  policy:
    allowed_models: [mistral-small-latest, codestral-latest]
    rpm: 60
    monthly_budget_usd: 50
  prune_unmanaged_keys: true
  api_keys:
    - name: dev-alice
      owner: alice.martin@acme.example
      expires: 2039-06-30
      role: developer
    - name: dev-bob
      owner: bob.chen@acme.example
      expires: 2039-06-30
      role: developer
""")

SMALL_PROD = shift_expiries("""\
version: 1
workspace:
  name: prod
  description: Production services (CI/CD only)
  admin: grace.lee@acme.example
  members:
    - {email: ci-bot@acme.example, roles: [user]}
  policy:
    allowed_models: [mistral-small-latest, codestral-latest]
    rpm: 500
  protected: true
  api_keys:
    - name: prod-checkout-service
      owner: ci-bot@acme.example
      expires: 2039-05-31
      role: analyst
      secret: {path: prod/checkout-service}
""")

SMALL_KEYS = {
    "dev-alice": ("dev", "dev/dev-alice"),
    "dev-bob": ("dev", "dev/dev-bob"),
    "prod-checkout-service": ("prod", "prod/checkout-service"),
}


def write_small_desired(root: Path, *, backend: str = "file", dev: str = SMALL_DEV) -> Path:
    """The reduced desired state in ``root/desired-state`` (see the module docstring)."""
    directory = root / "desired-state"
    (directory / "workspaces").mkdir(parents=True, exist_ok=True)
    (directory / "organization.yaml").write_text(SMALL_ORGANIZATION.format(backend=backend))
    shutil.copyfile(EXAMPLE_DESIRED_STATE / "roles.yaml", directory / "roles.yaml")
    (directory / "workspaces" / "dev.yaml").write_text(dev)
    (directory / "workspaces" / "prod.yaml").write_text(SMALL_PROD)
    return directory


@dataclass(frozen=True)
class VaultEntry:
    secret: str
    metadata: dict[str, str]


def file_vault_entries(root: Path) -> dict[str, VaultEntry]:
    """Every secret in a file vault: path (without ``.json``) -> current secret and metadata."""
    out: dict[str, VaultEntry] = {}
    if not root.exists():
        return out
    for file in sorted(root.rglob("*.json")):
        rel = file.relative_to(root).with_suffix("").as_posix()
        if rel.startswith(("_locks/", "_reconciler/")):  # locks and the ownership record
            continue
        doc = json.loads(file.read_text(encoding="utf-8"))
        current = next(v for v in doc["versions"] if v["version"] == doc["current_version"])
        out[rel] = VaultEntry(current["data"]["api_key"], dict(current["custom_metadata"]))
    return out


def live_keys(admin_base_url: str, admin_key: str) -> list[dict[str, Any]]:
    """Every API key the platform lists (``key_id``, ``name``, ``workspace_name``...)."""
    keys: list[dict[str, Any]] = []
    with httpx.Client(
        base_url=admin_base_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30
    ) as client:
        offset = 0
        while True:
            page = client.get("/api-keys", params={"limit": 100, "offset": offset})
            page.raise_for_status()
            batch = page.json()["keys"]
            keys += batch
            if len(batch) < 100:
                return keys
            offset += 100


def secret_works(api_base_url: str, secret: str) -> bool:
    """True if the platform accepts ``secret`` for an inference call (``GET /models``)."""
    response = httpx.get(
        f"{api_base_url}/models", headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )
    return response.status_code == 200


def files_under(root: Path) -> dict[Path, bytes]:
    """Every regular file under ``root``, with its content."""
    return {file: file.read_bytes() for file in root.rglob("*") if file.is_file()}


def fragments(secret: str, size: int = 12) -> set[str]:
    """Every ``size``-character piece of ``secret``: a leak of part of it is a leak."""
    return {secret[i : i + size] for i in range(max(1, len(secret) - size + 1))}


class Cli:
    """Runs ``reconciler`` in ``cwd`` against ``server`` with secrets in ``--vault`` and
    keeps every result (for the secret grep). ``TMPDIR`` points inside ``cwd`` so that a
    temporary file the CLI might write is scanned too."""

    def __init__(
        self,
        server: SandboxServer,
        cwd: Path,
        *,
        vault: str = "file:vault",
        keep_files: bool = False,
    ) -> None:
        self.server = server
        self.cwd = cwd
        self.vault = vault
        self.env: dict[str, str] = {}
        self.results: list[subprocess.CompletedProcess[str]] = []
        # with keep_files: every file under cwd as each run left it (the journal, for
        # one, is removed by the apply that completes)
        self.keep_files = keep_files
        self.files: list[tuple[Path, bytes]] = []
        (cwd / "tmp").mkdir(exist_ok=True)

    def __call__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        input: str | None = None,
        timeout: float = CLI_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        full = [*args, "--no-color"]
        if args[0] in ("plan", "apply") and "--vault" not in args:
            full += ["--vault", self.vault]
        variables = {"TMPDIR": str(self.cwd / "tmp"), **self.env, **(env or {})}
        result = run_cli(
            full, cwd=self.cwd, env=self.server.env(**variables), input=input, timeout=timeout
        )
        self.results.append(result)
        if self.keep_files:
            self.files += files_under(self.cwd).items()
        return result

    def outputs(self) -> str:
        return "\n".join(r.stdout + "\n" + r.stderr for r in self.results)


PLAN_SENTENCE = re.compile(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy\.")


def planned(stdout: str) -> tuple[int, int, int]:
    """The counts of a text plan's summary line."""
    found = PLAN_SENTENCE.search(stdout)
    assert found, f"no plan summary in:\n{stdout}"
    add, change, destroy = (int(g) for g in found.groups())
    return add, change, destroy


def applied_sentence(counts: tuple[int, int, int]) -> str:
    return "Apply complete! Resources: {} added, {} changed, {} destroyed.".format(*counts)


def file_vault_path(key: ApiKey) -> str:
    """Where a file vault override files ``key``'s secret (GitHub ones by repository and
    environment, so that secrets of one name stay apart)."""
    if key.secret is None:
        return f"{key.workspace}/{key.name}"
    if key.secret.backend is SecretBackend.GITHUB:
        env = f"/environments/{key.secret.environment}" if key.secret.environment else ""
        return f"github/{key.secret.repository}{env}/{key.secret.path}"
    return key.secret.path


def desired_keys(directory: Path) -> dict[str, tuple[str, str]]:
    """name -> (workspace, secret path) for every key the desired state declares."""
    state = load_desired_state(directory, today=dt.date.min)  # keys, whatever their expiry
    return {k.name: (k.workspace, file_vault_path(k)) for k in state.keys}


def assert_converged(
    server: SandboxServer, vault: Path | dict[str, VaultEntry], directory: Path
) -> None:
    """Every desired key lives once, its vault entry names it and its secret works.

    ``vault`` is a file vault's root, or the entries of another store by secret path.
    """
    keys = desired_keys(directory)
    live = live_keys(server.admin_base_url, server.admin_key)
    entries = file_vault_entries(vault) if isinstance(vault, Path) else vault
    counts = Counter((k["workspace_name"], k["name"]) for k in live)
    assert not [k for k, n in counts.items() if n > 1], f"duplicates: {counts}"
    for name, (workspace, path) in keys.items():
        matching = [k for k in live if k["name"] == name and k["workspace_name"] == workspace]
        assert len(matching) == 1, f"{name}: {len(matching)} live keys"
        entry = entries.get(path)
        assert entry is not None, f"{name}: no secret at {path}"
        assert entry.metadata["key_id"] == matching[0]["key_id"], name
        assert (entry.metadata["key_name"], entry.metadata["workspace"]) == (name, workspace)
        assert secret_works(server.api_base_url, entry.secret), f"{name}: secret refused"


def plan_document(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode in (0, 2), result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def actionable(doc: dict[str, Any]) -> list[str]:
    """Addresses a JSON plan would change through the API."""
    return [
        c["address"]
        for c in doc["resource_changes"]
        if {"create", "update", "delete"} & set(c["change"]["actions"])
    ]


def left_behind(
    initial: set[str],
    live: list[dict[str, Any]],
    vault: dict[str, VaultEntry],
    keys: dict[str, tuple[str, str]],
) -> set[str]:
    """Live key ids an interrupted apply left behind, judged from the platform and the
    vault alone (not from the journal): a desired key made by the apply whose id is not
    the one its vault entry names (its secret never got there), and a key that existed
    before whose vault entry now names another live key of its name (it was replaced and
    survived). ``initial`` are the key ids from before the apply."""
    live_ids = {k["key_id"] for k in live}
    out: set[str] = set()
    for key in live:
        want = keys.get(key["name"])
        if want is None or key["workspace_name"] != want[0]:
            continue
        entry = vault.get(want[1])
        holder = entry.metadata.get("key_id") if entry else None
        if key["key_id"] not in initial:
            if holder != key["key_id"]:
                out.add(key["key_id"])
        elif holder and holder != key["key_id"] and holder in live_ids:
            out.add(key["key_id"])
    return out


def interrupted_warning(count: int) -> str:
    return (
        f"Warning: An earlier apply did not finish: {count} key(s) it left behind will be "
        "deleted, and what the desired state needs re-created."
    )
