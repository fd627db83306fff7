"""Benchmark ``reconciler apply`` creating many keys against the served sandbox.

Serves a generated organisation (default 50 workspaces, no keys) with ``reconciler sandbox
serve`` on 127.0.0.1 and added latency per request (default 20 ms), writes a desired state
that matches it and adds N new keys (default 1,000, spread over the workspaces), and runs
the real CLI as a user would: ``apply --auto-approve`` with the secrets going to a file
vault. Then the sandbox is reset to its seed and the same apply runs with
``--parallelism 1``.

Printed for each apply: wall time, CPU time (user + system) and peak RSS of the process
(``os.wait4``), the served sandbox's own CPU time meanwhile (it shares the machine; from
``/proc`` on Linux), requests served (the sandbox's ``/_sandbox/stats``), the apply's
closing sentence and the secrets in the vault; then the ratio of the two. The CLI runs
with its bytecode cached, as an installed one does (``PYTHONDONTWRITEBYTECODE`` is not
passed on, and a plan, not counted, writes the caches first).

Target: 1,000 keys at 20 ms per request in under 8 s.

    .venv/bin/python scripts/bench_apply.py [--workspaces 50] [--keys 1000]
        [--latency-ms 20] [--parallelism 8] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench_plan import (
    ADMIN_KEY,
    ORGANIZATION,
    ROLES,
    Run,
    cli_env,
    control,
    run_measured,
    serve,
    stop,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.platform.sandbox.generate import generate_seed, write_seed  # noqa: E402


def write_desired_state(state: dict[str, Any], directory: Path, keys: int) -> int:
    """The live organisation as it is, and ``keys`` new keys; how many were declared."""
    emails = {u["uuid"]: u["email"] for u in state["users"]}
    workspaces = sorted(
        (w for w in state["workspaces"] if not w["is_default"] and not w["archived"]),
        key=lambda w: w["name"],
    )
    (directory / "workspaces").mkdir(parents=True)
    spend_limit = state["organization"]["spend_limit"]
    (directory / "organization.yaml").write_text(ORGANIZATION.format(spend_limit=spend_limit))
    (directory / "roles.yaml").write_text(ROLES)
    later = (dt.date.today() + dt.timedelta(days=300)).isoformat()
    declared = 0
    for index, ws in enumerate(workspaces):
        admin = next(
            emails[uid] for uid, roles in ws["members"].items() if "workspace_admin" in roles
        )
        lines = [
            "version: 1",
            "workspace:",
            f"  name: {ws['name']}",
            f'  description: "{ws["description"]}"',
            f"  admin: {admin}",
            "  members:",
        ]
        for uid, roles in ws["members"].items():
            if emails[uid] != admin:
                lines.append(f"    - {{email: {emails[uid]}, roles: [{', '.join(sorted(roles))}]}}")
        if ws["spend_limit"] is not None:
            lines += ["  policy:", f"    monthly_budget_usd: {int(ws['spend_limit'])}"]
        lines.append("  api_keys:")
        count = keys // len(workspaces) + (1 if index < keys % len(workspaces) else 0)
        for n in range(count):
            lines += [
                f"    - name: {ws['name']}-svc-{n:04d}",
                f"      owner: {admin}",
                f"      expires: {later}",
                "      role: developer",
            ]
            declared += 1
        (directory / "workspaces" / f"{ws['name']}.yaml").write_text("\n".join(lines) + "\n")
    return declared


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``; else None)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def apply_once(
    url: str, workdir: Path, env: dict[str, str], parallelism: int, latency_ms: int, server: int
) -> tuple[Run, int, float | None]:
    """One apply from a fresh sandbox, vault and state directory; the run, the requests
    served and the CPU seconds the sandbox (process ``server``) spent meanwhile."""
    control(url, "POST", "reset")
    httpx.post(  # the latency again: a reset clears it
        f"{url}/_sandbox/faults",
        json={"latency_ms": latency_ms, "rules": []},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=60,
    ).raise_for_status()
    for name in ("vault", ".reconciler"):
        shutil.rmtree(workdir / name, ignore_errors=True)
    args = [sys.executable, "-m", "reconciler", "apply", "desired-state", "--auto-approve"]
    args += ["--vault", "file:vault", "--allow-file-vault", "--parallelism", str(parallelism)]
    args += ["--no-color"]
    before = cpu_seconds(server)
    run = run_measured(args, workdir, env)
    after = cpu_seconds(server)
    served = None if before is None or after is None else after - before
    return run, int(control(url, "GET", "stats")["requests"]), served


def describe(label: str, run: Run, requests: int, server: float | None, workdir: Path) -> str:
    stored = sum(1 for _ in (workdir / "vault").rglob("*.json"))
    closing = next(
        (line for line in run.stdout.splitlines() if line.startswith("Apply complete!")),
        f"(no closing line; exit {run.code})",
    )
    sandbox = "n/a" if server is None else f"{server:.2f} s"
    return (
        f"{label}: {run.wall:6.2f} s wall, {run.cpu:5.2f} s CPU, peak RSS {run.peak_mb:4.0f} MB, "
        f"{requests} requests served (sandbox CPU {sandbox}), {stored} secrets stored\n"
        f"  {closing}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=50)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="Keep the generated files in this directory.")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bench-apply-")) if args.keep is None else args.keep
    base.mkdir(parents=True, exist_ok=True)
    proc: subprocess.Popen[str] | None = None
    try:
        start = time.perf_counter()
        seed = base / "seed.json"
        write_seed(generate_seed(workspaces=args.workspaces, keys=0), seed)
        proc, url = serve(base, seed, args.latency_ms)
        workdir = base / "work"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir()
        declared = write_desired_state(
            control(url, "GET", "state"), workdir / "desired-state", args.keys
        )
        print(
            f"organisation: {args.workspaces} workspaces; {declared} keys to create; "
            f"{args.latency_ms} ms added per request "
            f"(set up in {time.perf_counter() - start:.1f} s)"
        )
        env = cli_env(url)
        # imports nearly every module an apply does and writes their bytecode: not counted
        warm = [sys.executable, "-m", "reconciler", "plan", "desired-state", "--no-color"]
        subprocess.run(
            [*warm, "--vault", "file:vault", "--allow-file-vault"],
            cwd=workdir,
            env=env,
            capture_output=True,
            check=False,
        )
        results = {}
        for parallelism in (args.parallelism, 1):
            run, requests, server = apply_once(
                url, workdir, env, parallelism, args.latency_ms, proc.pid
            )
            label = f"apply (parallelism {parallelism})"
            print(describe(label, run, requests, server, workdir))
            if run.code != 0:
                print(run.stderr, file=sys.stderr)
                return 1
            results[parallelism] = run
        fast, slow = results[args.parallelism], results[1]
        print(
            f"parallelism {args.parallelism} is x{slow.wall / fast.wall:.1f} faster than 1; "
            f"target: {declared} keys in < 8 s ({'met' if fast.wall < 8 else 'MISSED'}: "
            f"{fast.wall:.2f} s)"
        )
        return 0
    finally:
        stop(proc)
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
