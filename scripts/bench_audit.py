"""Benchmark ``reconciler audit`` against ``reconciler plan`` on a large organisation.

The organisation, the served sandbox (with latency per request) and the desired state
are :mod:`bench_plan`'s (default 1,000 workspaces, 20,000 keys). A file vault then holds
the secret of every declared key but a few: every ``--drift-every``-th has none (planted
``secret-missing``) and the next one names another key id (planted ``secret-mismatch``).
Every declared key is recorded as managed in the ownership record, as an apply would have,
so ``plan`` checks each managed key's secret as it does on a real organisation.
Then, as a user would, the real CLI runs ``plan`` and ``audit --format json`` (the JSON
is checked against what was planted) a few times each, and this prints their wall time,
peak RSS and the requests served.

Target: audit within plan's budget (under 5 s, under 300 MB).

    .venv/bin/python scripts/bench_audit.py [--workspaces 1000] [--keys 20000]
        [--latency-ms 20] [--runs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench_plan import Bench, Run, common_arguments, control, organisation, run_measured
from pydantic import SecretStr

from reconciler.desired import load_desired_state
from reconciler.model import SecretBackend
from reconciler.ownership import Ledger, LedgerEntry, Origin, SecretRecord, SecretState
from reconciler.vault import ledger_store
from reconciler.vault.base import SecretMetadata
from reconciler.vault.file import FileVault


async def fill_vault(
    vault: FileVault, state: dict[str, Any], desired: Path, every: int
) -> tuple[int, int, int]:
    """Store the declared keys' secrets; return (stored, planted missing, planted mismatch)."""
    ids = {k["name"]: k["key_id"] for k in state["keys"]}
    keys = [k for k in load_desired_state(desired).keys if k.name in ids]
    limit = asyncio.Semaphore(16)
    missing = mismatched = 0

    async def put(index: int, name: str, workspace: str) -> None:
        key_id = ids[name] if index % every != 1 else "not-this-key"
        metadata = SecretMetadata(
            key_id=key_id,
            key_name=name,
            workspace=workspace,
            created=dt.datetime.now(dt.UTC),
            allowed_models=("*",),
        )
        async with limit:
            await vault.put(f"{workspace}/{name}", SecretStr("sk-bench-" + name), metadata)

    jobs = []
    for index, key in enumerate(keys):
        if index % every == 0:
            missing += 1
            continue
        mismatched += index % every == 1
        jobs.append(put(index, key.name, key.workspace))
    await asyncio.gather(*jobs)
    return len(jobs), missing, mismatched


async def record_managed(vault: FileVault, state: dict[str, Any], desired: Path, url: str) -> int:
    """Record every declared live key as managed, its secret stored, in the ownership
    record (as an apply would have), so ``plan`` checks each one's secret as it does on a
    real organisation; return how many."""
    live = {(k["name"], k["workspace_id"]): k for k in state["keys"]}
    workspace_ids = {w["name"]: w["uuid"] for w in state["workspaces"]}
    entries = {}
    for key in load_desired_state(desired).keys:
        found = live.get((key.name, workspace_ids.get(key.workspace)))
        if found is None:
            continue
        secret = SecretRecord(
            store=vault.description,
            backend=SecretBackend.FILE,
            path=f"{key.workspace}/{key.name}",
            state=SecretState.STORED,
        )
        entries[found["key_id"]] = LedgerEntry(
            name=key.name,
            workspace=key.workspace,
            origin=Origin.CREATED,
            secret=secret,
            created=dt.datetime.fromisoformat(found["created_at"]),
        )
    organization = f"{url}/v1/admin"  # the provider's target: whose record a plan reads
    current = await ledger_store.load(vault, organization)
    await ledger_store.save(vault, current, Ledger(organization=organization, keys=entries))
    return len(entries)


def measured(bench: Bench, *args: str) -> tuple[Run, int]:
    """One CLI run against the bench's organisation, and the requests it served."""
    control(bench.url, "DELETE", "stats")
    run = run_measured([sys.executable, "-m", "reconciler", *args], bench.workdir, bench.env)
    return run, int(control(bench.url, "GET", "stats")["requests"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--runs", type=int, default=3, help="Runs of each command.")
    args = parser.parse_args()

    with organisation(args, "bench-audit-") as bench:
        vault = bench.workdir / "vault"
        filled = time.perf_counter()
        stored, missing, mismatched = asyncio.run(
            fill_vault(
                FileVault(vault), bench.state, bench.workdir / "desired-state", args.drift_every
            )
        )
        recorded = asyncio.run(
            record_managed(
                FileVault(vault), bench.state, bench.workdir / "desired-state", bench.url
            )
        )
        print(
            f"organisation: {args.workspaces} workspaces, {len(bench.state['keys'])} keys; "
            f"{args.latency_ms} ms added per request (set up in {bench.setup_seconds:.1f} s); "
            f"file vault: {stored} secrets, {missing} missing and {mismatched} for another key "
            f"planted, {recorded} keys recorded as managed ({time.perf_counter() - filled:.1f} s)"
        )
        target = ["desired-state", "--vault", f"file:{vault}"]
        best: dict[str, float] = {}
        cpu: dict[str, float] = {}  # the steadier figure on a busy machine
        peak = 0.0
        for command, extra in (("plan", []), ("audit", ["--format", "json"])):
            for number in range(1, args.runs + 1):
                run, served = measured(bench, command, *target, *extra)
                if run.code != 0:
                    print(run.stderr, file=sys.stderr)
                    return 1
                best[command] = min(best.get(command, run.wall), run.wall)
                cpu[command] = min(cpu.get(command, run.cpu), run.cpu)
                peak = max(peak, run.peak_mb)
                print(
                    f"{command:5} run {number}: {run.wall:5.2f} s wall, {run.cpu:5.2f} s CPU, "
                    f"peak RSS {run.peak_mb:4.0f} MB, {served} requests served"
                )
        flags = json.loads(run.stdout)["summary"]["flags"]
        got = (flags["secret-missing"], flags["secret-mismatch"])
        print(
            f"  audit found {got[0]} secret-missing, {got[1]} secret-mismatch (planted "
            f"{missing}, {mismatched}): {'OK' if got == (missing, mismatched) else 'MISMATCH'}; "
            "flags: " + ", ".join(f"{n} {flag}" for flag, n in flags.items() if n)
        )
        ok = best["audit"] < 5 and peak < 300
        print(
            f"audit best {best['audit']:.2f} s against plan best {best['plan']:.2f} s "
            f"(x{best['audit'] / best['plan']:.2f}), CPU {cpu['audit']:.2f} s against "
            f"{cpu['plan']:.2f} s; target < 5 s and < 300 MB: "
            f"{'met' if ok else 'MISSED'} (peak {peak:.0f} MB)"
        )
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
