"""Benchmark ``reconciler audit`` against ``reconciler plan`` on a large organisation.

The organisation, the served sandbox (with latency per request) and the desired state
are :mod:`bench_plan`'s (default 1,000 workspaces, 20,000 keys). A file vault then holds
the secret of every declared key but a few: every ``--drift-every``-th has none (planted
``secret-missing``) and the next one names another key id (planted ``secret-mismatch``).
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
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_plan import ADMIN_KEY, ROOT, Run, control, run_measured, serve, write_desired_state
from pydantic import SecretStr

from reconciler.desired import load_desired_state
from reconciler.platform.sandbox.generate import generate_seed, write_seed
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


def measured(url: str, workdir: Path, env: dict[str, str], *args: str) -> tuple[Run, int]:
    control(url, "DELETE", "stats")
    run = run_measured([sys.executable, "-m", "reconciler", *args], workdir, env)
    return run, int(control(url, "GET", "stats")["requests"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=20000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--drift-every", type=int, default=100, help="One object in N drifts.")
    parser.add_argument("--keep", type=Path, help="Keep the generated files in this directory.")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bench-audit-")) if args.keep is None else args.keep
    base.mkdir(parents=True, exist_ok=True)
    proc: subprocess.Popen[str] | None = None
    try:
        start = time.perf_counter()
        seed = base / "seed.json"
        write_seed(generate_seed(workspaces=args.workspaces, keys=args.keys), seed)
        proc, url = serve(base, seed, args.latency_ms)
        state = control(url, "GET", "state")
        workdir = base / "work"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir()
        desired = workdir / "desired-state"
        write_desired_state(state, desired, args.drift_every, dt.date.today())
        vault = workdir / "vault"
        filled = time.perf_counter()
        stored, missing, mismatched = asyncio.run(
            fill_vault(FileVault(vault), state, desired, args.drift_every)
        )
        print(
            f"organisation: {args.workspaces} workspaces, {len(state['keys'])} keys; "
            f"{args.latency_ms} ms added per request; file vault: {stored} secrets, "
            f"{missing} missing and {mismatched} for another key planted "
            f"(set up in {time.perf_counter() - start:.1f} s, the vault "
            f"{time.perf_counter() - filled:.1f} s)"
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MISTRAL_", "NO_COLOR"))},
            "PYTHONPATH": str(ROOT),
            "MISTRAL_ADMIN_BASE_URL": f"{url}/v1/admin",
            "MISTRAL_API_BASE_URL": f"{url}/v1",
            "MISTRAL_ADMIN_API_KEY": ADMIN_KEY,
        }
        target = ["desired-state", "--vault", f"file:{vault}"]
        best: dict[str, float] = {}
        peak = 0.0
        for command, extra in (("plan", []), ("audit", ["--format", "json"])):
            for number in range(1, args.runs + 1):
                run, served = measured(url, workdir, env, command, *target, *extra)
                if run.code != 0:
                    print(run.stderr, file=sys.stderr)
                    return 1
                best[command] = min(best.get(command, run.wall), run.wall)
                peak = max(peak, run.peak_mb)
                print(
                    f"{command:5} run {number}: {run.wall:5.2f} s wall, peak RSS "
                    f"{run.peak_mb:4.0f} MB, {served} requests served"
                )
            if command == "audit":
                flags = json.loads(run.stdout)["summary"]["flags"]
                got = (flags["secret-missing"], flags["secret-mismatch"])
                verdict = "OK" if got == (missing, mismatched) else "MISMATCH"
                print(
                    f"  audit found {got[0]} secret-missing, {got[1]} secret-mismatch "
                    f"(planted {missing}, {mismatched}): {verdict}; flags: "
                    + ", ".join(f"{n} {flag}" for flag, n in flags.items() if n)
                )
        ok = best["audit"] < 5 and peak < 300
        print(
            f"audit best {best['audit']:.2f} s against plan best {best['plan']:.2f} s "
            f"(x{best['audit'] / best['plan']:.2f}); target < 5 s and < 300 MB: "
            f"{'met' if ok else 'MISSED'} (peak {peak:.0f} MB)"
        )
        return 0
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
