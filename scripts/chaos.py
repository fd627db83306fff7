"""A seeded chaos run: the real CLI against the served sandbox and a fake Vault, under faults.

Each round edits the desired state at random (keys added and removed, owners and expiry
dates changed, members added and removed, a workspace created or dropped, the spend
limit changed), arms faults on the platform (429/500/502/503 before or after the server
acted, answers slower than ``MISTRAL_TIMEOUT``; about ``--rules-per-round`` rules, half
on the reads every plan makes, half on writes) and on the secret store (Vault sealed
mid-apply, failed data or ``custom_metadata`` writes, failed metadata reads), in a share
``--kill-share`` of rounds kills the apply with SIGKILL right after its Nth journal
record (``RECONCILER_CRASH_AFTER_RECORD``), then lifts every fault, runs a clean apply
and checks:

- lost:       a live desired key whose current secret in the store is not its own
              (``key_id`` in the metadata) or is refused by the platform
- duplicate:  two live keys of one name in one workspace
- orphan:     a live key the reconciler made that the desired state no longer has
- leak:       a secret (any version in the store, the admin key, the seeded secret, the
              Vault token) in any output or any file under the working directory
- traceback:  ``Traceback`` in any output
- converged:  the clean apply failed, or ``plan`` still shows an API change after it

Each violation is printed as it is found. At the end (also after ``--max-seconds`` or
SIGTERM) it prints a summary: rounds, the faults that fired by kind (a rule counts each
request it failed; a seal counts once), the applies killed, and the violations of each
invariant; it exits 1 on any violation, naming the seed and round that reproduce it:
``python scripts/chaos.py --seed S --rounds R`` replays the same edits and faults for
rounds 1..R (the order of concurrent requests may differ).

The sandbox server, the fake Vault server and the CLI runner are the end-to-end tests'
(``tests/e2e``); this script imports them from ``tests/`` rather than shipping them in
the package, so run it from the repository root with the test dependencies installed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconciler.env import MISTRAL_TIMEOUT, RECONCILER_CRASH_AFTER_RECORD
from tests.e2e.apply_support import (
    Cli,
    actionable,
    files_under,
    live_keys,
    secret_works,
    write_small_desired,
)
from tests.e2e.conftest import (
    SEEDED_SECRET,
    SandboxServer,
    demo_seed_with_known_secret,
    start_sandbox,
)
from tests.e2e.vault_server import FakeVaultServer
from tests.example_dates import shifted

PREFIX = "mistral/acme"
VAULT_TOKEN = "chaos-vault-token-" + "c0ffee" * 4
INVARIANTS = ("lost", "duplicate", "orphan", "leak", "traceback", "converged")
PEOPLE = {
    "dev": [
        "alice.martin@acme.example",
        "bob.chen@acme.example",
        "carol.diaz@acme.example",
        "henry.novak@acme.example",
        "iris.tanaka@acme.example",
    ],
    "prod": ["grace.lee@acme.example", "ci-bot@acme.example"],
}
EXTRA = "chaos-lab"  # the workspace rounds create and drop
PEOPLE[EXTRA] = ["carol.diaz@acme.example", "henry.novak@acme.example"]
ROLES = ("developer", "analyst")
MODELS = ("mistral-small-latest", "codestral-latest")
# the example's expiry dates, as far ahead of today as they were in 2026 (tests/example_dates.py)
EXPIRIES = tuple(shifted(d) for d in ("2039-03-31", "2039-06-30", "2039-12-31", "2040-06-30"))
STATUSES = (429, 500, 502, 503)
READS = (  # read by every plan: a fault here always fires
    ("GET", "/v1/admin/api-keys*"),
    ("GET", "/v1/admin/workspaces*"),
    ("GET", "/v1/admin/users*"),
    ("GET", "/v1/admin/user-groups*"),
    ("GET", "/v1/admin/roles*"),
    ("GET", "/v1/admin/spend-limit*"),
)
WRITES = (  # sent by an apply with something to do there
    ("POST", "/v1/admin/api-keys"),
    ("DELETE", "/v1/admin/api-keys/*"),
    ("POST", "/v1/admin/workspaces*"),
    ("PATCH", "/v1/admin/workspaces/*"),
    ("*", "/v1/admin/workspaces/*/users*"),
)
TRACEBACK = "Traceback (most recent call last)"


@dataclass
class Workspace:
    admin: str
    members: list[str]
    keys: dict[str, tuple[str, str, str]]  # name -> (owner, expires, role)
    budget: int | None = None


@dataclass
class Tally:
    rounds: int = 0
    platform: Counter[str] = field(default_factory=Counter)  # faults fired, by kind
    vault: Counter[str] = field(default_factory=Counter)
    kills: int = 0
    violations: Counter[str] = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)  # invariant -> "round N: detail"

    def violate(self, round_no: int, invariant: str, detail: str) -> None:
        self.violations[invariant] += 1
        self.first.setdefault(invariant, f"round {round_no}: {detail}")
        print(f"round {round_no}: {invariant}: {detail}", file=sys.stderr, flush=True)


def initial_state() -> dict[str, Workspace]:
    return {
        "dev": Workspace(
            admin=PEOPLE["dev"][0],
            members=PEOPLE["dev"][1:4],
            keys={"dev-alice": (PEOPLE["dev"][0], EXPIRIES[1], "developer")},
            budget=50,
        ),
        "prod": Workspace(
            admin=PEOPLE["prod"][0],
            members=PEOPLE["prod"][1:],
            keys={"prod-svc": (PEOPLE["prod"][1], shifted("2039-05-31"), "analyst")},
        ),
    }


def edit(state: dict[str, Workspace], rng: random.Random) -> list[str]:
    """One to three random edits to ``state``; what they were, for the log."""
    done: list[str] = []
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.15:
            if EXTRA in state:
                del state[EXTRA]
                done.append(f"drop workspace {EXTRA}")
            else:
                state[EXTRA] = Workspace(PEOPLE[EXTRA][0], [], {})
                done.append(f"add workspace {EXTRA}")
            continue
        name = rng.choice(sorted(state))
        ws = state[name]
        people = [ws.admin, *ws.members]
        choice = rng.choice(("add-key", "add-key", "remove-key", "owner", "expiry", "member"))
        if choice == "add-key" and len(ws.keys) < 3:
            key = f"{name}-k{rng.randint(1, 5)}"
            ws.keys[key] = (rng.choice(people), rng.choice(EXPIRIES), rng.choice(ROLES))
            done.append(f"add {key}")
        elif choice == "remove-key" and ws.keys:
            key = rng.choice(sorted(ws.keys))
            del ws.keys[key]
            done.append(f"remove {key}")
        elif choice in ("owner", "expiry") and ws.keys:
            key = rng.choice(sorted(ws.keys))
            owner, expires, role = ws.keys[key]
            if choice == "owner":
                owner = rng.choice(people)
            else:
                expires = rng.choice(EXPIRIES)
            ws.keys[key] = (owner, expires, role)
            done.append(f"{choice} of {key}")
        elif choice == "member":
            candidates = [p for p in PEOPLE[name] if p != ws.admin]
            person = rng.choice(candidates)
            owners = {owner for owner, _, _ in ws.keys.values()}
            if person in ws.members and person not in owners:
                ws.members.remove(person)
                done.append(f"remove member {person} from {name}")
            elif person not in ws.members:
                ws.members.append(person)
                done.append(f"add member {person} to {name}")
        else:
            ws.budget = rng.choice((None, 20, 50, 80))
            done.append(f"budget of {name}")
    return done


def write_state(directory: Path, state: dict[str, Workspace]) -> None:
    folder = directory / "workspaces"
    for file in folder.glob("*.yaml"):
        if file.stem not in state:  # dropped: archived, as the README says to retire one
            retired = {"name": file.stem, "admin": PEOPLE[file.stem][0], "archived": True}
            doc = {"version": 1, "workspace": retired}
            file.write_text(json.dumps(doc, indent=2))
    for name, ws in state.items():
        policy: dict[str, Any] = {"allowed_models": list(MODELS), "rpm": 60}
        if ws.budget is not None:
            policy["monthly_budget_usd"] = ws.budget
        doc = {
            "version": 1,
            "workspace": {
                "name": name,
                "description": f"{name} (chaos)",
                "admin": ws.admin,
                "members": [{"email": m, "roles": ["user"]} for m in ws.members],
                "policy": policy,
                "prune_unmanaged_keys": True,
                "api_keys": [
                    {"name": k, "owner": o, "expires": e, "role": r}
                    for k, (o, e, r) in sorted(ws.keys.items())
                ],
            },
        }
        (folder / f"{name}.yaml").write_text(json.dumps(doc, indent=2))  # JSON is YAML


def arm_platform(
    sandbox: SandboxServer, rng: random.Random, rules_per_round: int
) -> tuple[dict[str, str], list[str]]:
    """Random platform faults; the environment the apply needs for them, and each rule's
    kind (``503 after``: the server acted, then the answer was replaced)."""
    rules: list[dict[str, Any]] = []
    kinds: list[str] = []
    env: dict[str, str] = {}
    for _ in range(rng.randint(max(1, rules_per_round - 1), rules_per_round + 1)):
        method, path = rng.choice(READS if rng.random() < 0.5 else WRITES)
        rule: dict[str, Any] = {"method": method, "path": path, "nth": rng.randint(1, 2)}
        if rng.random() < 0.15:
            rule["latency_ms"] = 900  # past the timeout below
            env[MISTRAL_TIMEOUT] = "0.5"
            kinds.append("timeout")
        else:
            rule["status"] = rng.choice(STATUSES)
            rule["after"] = method != "GET" and rng.random() < 0.5
            rule["times"] = rng.randint(1, 3)
            rule["retry_after"] = "0"  # retried at once: rounds stay cheap
            kinds.append(f"{rule['status']} {'after' if rule['after'] else 'before'} acting")
        rules.append(rule)
    sandbox.set_faults(*rules)
    return env, kinds


def arm_vault(vault: FakeVaultServer, rng: random.Random) -> None:
    """Random secret-store faults: sealed at the Nth secret write of the round, secret
    writes refused, ``custom_metadata`` writes refused, or metadata reads refused (the
    plan's secret checks, the apply's reads before it writes)."""
    roll = rng.random()
    if roll < 0.2:
        return
    done = len(vault.writes.attempts)  # the server counts the writes of the whole run
    if roll < 0.4:
        vault.seal_at_write(done + rng.randint(1, 3))
    elif roll < 0.6:
        vault.fail_writes(done + rng.randint(1, 3), times=rng.randint(1, 3))
    elif roll < 0.8:
        vault.fail("metadata", "POST", times=rng.randint(1, 3), skip=rng.randint(0, 2))
    else:
        vault.fail("metadata", "GET", times=rng.randint(1, 4), skip=rng.randint(0, 3))


def secrets_known(vault: FakeVaultServer, sandbox: SandboxServer) -> set[str]:
    """Every plaintext that must never be printed or written outside the store."""
    return vault.every_secret() | {sandbox.admin_key, SEEDED_SECRET, VAULT_TOKEN}


class Chaos:
    """One run: a sandbox, a fake Vault, a working directory, and the tally."""

    def __init__(self, root: Path, seed: int, *, kill_share: float, rules_per_round: int) -> None:
        self.rng = random.Random(seed)
        self.kill_share = kill_share  # the share of rounds whose apply is set to be killed
        self.rules_per_round = rules_per_round  # platform fault rules armed, on average
        self.root = root
        self.sandbox = start_sandbox(root / "sandbox", seed=demo_seed_with_known_secret(root))
        self.vault = FakeVaultServer(token=VAULT_TOKEN)
        self.work = root / "work"
        self.desired = write_small_desired(self.work, backend="vault")
        self.cli = Cli(self.sandbox, self.work, vault=f"vault:{self.vault.url}")
        self.cli.env = {"VAULT_TOKEN": VAULT_TOKEN}
        self.state = initial_state()
        self.tally = Tally()
        self.scanned = 0
        self.seed_ids = {k["key_id"] for k in self.live()}
        # the initial state is applied before the first round, without faults: round 1
        # starts, as every round does, from a converged organisation
        write_state(self.desired, self.state)
        first = self.cli("apply", "--auto-approve")
        if first.returncode != 0:
            self.tally.violate(0, "converged", f"initial apply exit {first.returncode}")

    def close(self) -> None:
        self.vault.stop()
        self.sandbox.stop()

    def live(self) -> list[dict[str, Any]]:
        return live_keys(self.sandbox.admin_base_url, self.sandbox.admin_key)

    def round(self, n: int) -> None:
        rng, tally = self.rng, self.tally
        edits = edit(self.state, rng) if n > 1 else ["no edit"]
        write_state(self.desired, self.state)
        env, kinds = arm_platform(self.sandbox, rng, self.rules_per_round)
        arm_vault(self.vault, rng)
        if rng.random() < self.kill_share:
            env[RECONCILER_CRASH_AFTER_RECORD] = str(rng.randint(1, 5))
        result = self.cli("apply", "--auto-approve", env=env)
        if result.returncode == -9:
            tally.kills += 1
        for kind, counts in zip(kinds, self.sandbox.fault_counts(), strict=True):
            tally.platform[kind] += counts["fired"]
        tally.vault += self.vault.faults_fired()
        self.sandbox.set_faults()
        self.vault.unseal()
        clean = self.cli("apply", "--auto-approve")
        if clean.returncode != 0:
            tally.violate(n, "converged", f"clean apply exit {clean.returncode}: {clean.stderr}")
        self.check(n, edits)
        tally.rounds = n
        print(  # progress, for long runs
            f"round {n}: {'; '.join(edits) or 'no edit'}; apply exit {result.returncode}; "
            f"{sum(tally.violations.values())} violation(s) so far",
            file=sys.stderr,
            flush=True,
        )

    def check(self, n: int, edits: list[str]) -> None:
        tally = self.tally
        plan = self.cli("plan", "--format", "json", "--detailed-exitcode")
        if plan.returncode not in (0, 2):
            tally.violate(n, "converged", f"plan exit {plan.returncode}: {plan.stderr}")
        elif plan.returncode == 2:
            pending = actionable(json.loads(plan.stdout))
            if pending:
                tally.violate(n, "converged", f"after {edits}: {pending}")
        live = self.live()
        counts = Counter((k["workspace_name"], k["name"]) for k in live)
        for (ws, name), count in counts.items():
            if count > 1:
                tally.violate(n, "duplicate", f"{count} live {ws}/{name} after {edits}")
        desired = {(w, k) for w, ws in self.state.items() for k in ws.keys}
        for key in live:
            where = (key["workspace_name"], key["name"])
            if where not in desired:
                if key["key_id"] not in self.seed_ids and where[0] in PEOPLE:
                    tally.violate(n, "orphan", f"{where} after {edits}")
                continue
            secret, meta = self.vault.entry(f"{PREFIX}/{where[0]}/{where[1]}")
            if meta.get("key_id") != key["key_id"] and counts[where] == 1:
                tally.violate(n, "lost", f"{where}: store names {meta.get('key_id')}")
            elif secret is None or not secret_works(self.sandbox.api_base_url, secret):
                tally.violate(n, "lost", f"{where}: secret refused after {edits}")
        self.scan(n)

    def scan(self, n: int) -> None:
        known = secrets_known(self.vault, self.sandbox)
        new = self.cli.results[self.scanned :]
        self.scanned = len(self.cli.results)
        texts = [r.stdout + r.stderr for r in new]
        texts += [b.decode("utf-8", "replace") for b in files_under(self.work).values()]
        if any(TRACEBACK in r.stdout + r.stderr for r in new):
            tally_detail = next(r.stderr for r in new if TRACEBACK in r.stdout + r.stderr)
            self.tally.violate(n, "traceback", tally_detail[-2000:])
        pattern = re.compile("|".join(re.escape(s[:24]) for s in sorted(known) if len(s) >= 16))
        for text in texts:
            found = pattern.search(text)
            if found:
                self.tally.violate(n, "leak", f"…{text[max(0, found.start() - 60) : found.end()]}")
                break


def summary(tally: Tally, seed: int, seconds: float) -> str:
    rows = [
        ("seed", str(seed)),
        ("rounds", str(tally.rounds)),
        ("faults fired", str(tally.platform.total() + tally.vault.total())),
        ("platform faults fired", str(tally.platform.total())),
        *((f"  platform: {kind}", str(n)) for kind, n in sorted(tally.platform.items())),
        ("vault faults fired", str(tally.vault.total())),
        *((f"  vault: {kind}", str(n)) for kind, n in sorted(tally.vault.items())),
        ("kills", str(tally.kills)),
        *((f"violations: {name}", str(tally.violations[name])) for name in INVARIANTS),
        ("wall time", f"{seconds:.1f} s"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {value:>8}" for label, value in rows]
    for name, detail in tally.first.items():
        lines.append(f"first {name}: {detail}")
        lines.append(
            f"  reproduce: python scripts/chaos.py --seed {seed} --rounds "
            f"{detail.split(':')[0].split()[1]}"
        )
    return "\n".join(lines)


class Stopped(Exception):
    """SIGTERM: the run stops after the round under way and still prints its summary."""


def _stop(number: int, frame: object) -> None:
    raise Stopped


def run(
    seed: int, rounds: int, max_seconds: float, root: Path, **tuning: Any
) -> tuple[Tally, float]:
    """Up to ``rounds`` rounds, none started after ``max_seconds`` of rounds; the tally
    and the wall time, set-up included."""
    began = time.monotonic()
    chaos = Chaos(root, seed, **tuning)
    start = time.monotonic()
    try:
        for n in range(1, rounds + 1):
            if time.monotonic() - start > max_seconds:
                break
            chaos.round(n)
    except Stopped:
        print("stopped by SIGTERM", file=sys.stderr)
    finally:
        chaos.close()
    return chaos.tally, time.monotonic() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    parser.add_argument(
        "--kill-share",
        type=float,
        default=0.7,
        help="the share of rounds whose apply is set to SIGKILL itself after a journal record",
    )
    parser.add_argument(
        "--rules-per-round",
        type=int,
        default=6,
        help="platform fault rules armed per round, on average (each fires when its route is used)",
    )
    args = parser.parse_args(argv)
    # a terminated run still stops its servers, removes its files and prints its summary
    signal.signal(signal.SIGTERM, _stop)
    with tempfile.TemporaryDirectory(prefix="reconciler-chaos-") as tmp:
        tally, seconds = run(
            args.seed,
            args.rounds,
            args.max_seconds,
            Path(tmp),
            kill_share=args.kill_share,
            rules_per_round=args.rules_per_round,
        )
    print(summary(tally, args.seed, seconds))
    return 1 if sum(tally.violations.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
