"""Benchmark how fast the command line answers on the example organisation (cold start).

Copies ``desired-state/`` into a temporary directory and runs, as a user would, each
command several times as a new process, printing the median wall time and CPU time
(user + system, from ``os.wait4``) and the peak RSS:

- ``reconciler --help`` (target: under 0.15 s);
- ``reconciler validate desired-state`` (target: under 0.3 s);
- ``reconciler plan --sandbox desired-state`` (target: under 0.5 s): the embedded
  sandbox, seeded by a first run that is not counted.

Bytecode is cached as an installed package's is (``PYTHONDONTWRITEBYTECODE`` is not
passed on). Import time, the usual cold-start cost, is printed for the biggest modules
of the plan with ``-X importtime``.

    .venv/bin/python scripts/bench_start.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TARGETS = {"--help": 0.15, "validate": 0.3, "plan --sandbox": 0.5}


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    peak_mb: float
    code: int


def run_once(args: list[str], cwd: Path, env: dict[str, str]) -> Run:
    start = time.perf_counter()
    proc = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return Run(
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        os.waitstatus_to_exitcode(status),
    )


def measure(label: str, args: list[str], cwd: Path, env: dict[str, str], runs: int) -> float:
    done = [run_once(args, cwd, env) for _ in range(runs)]
    failed = [r.code for r in done if r.code != 0]
    if failed:
        raise SystemExit(f"{label}: exit {failed[0]}")
    wall = statistics.median(r.wall for r in done)
    cpu = statistics.median(r.cpu for r in done)
    peak = max(r.peak_mb for r in done)
    target = TARGETS[label]
    verdict = "met" if wall < target else "MISSED"
    print(
        f"{label:15s} median of {runs}: {wall:5.3f} s wall, {cpu:5.3f} s CPU, "
        f"peak RSS {peak:4.0f} MB  (target < {target} s: {verdict})"
    )
    return wall


def biggest_imports(args: list[str], cwd: Path, env: dict[str, str], top: int) -> None:
    """The top-level imports of one run with their cumulative time, largest first."""
    result = subprocess.run(
        [args[0], "-X", "importtime", *args[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if cumulative.strip().isdigit() and not name.startswith("  "):  # top level only
            rows.append((int(cumulative), name.strip()))
    total = sum(us for us, _ in rows)
    print(f"  imports of one plan --sandbox: {total / 1e6:.3f} s in all; the biggest:")
    for us, name in sorted(rows, reverse=True)[:top]:
        print(f"    {us / 1e6:6.3f} s  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in env.items() if not k.startswith(("MISTRAL_", "RECONCILER_"))}
    env["PYTHONPATH"] = str(ROOT)
    python = [sys.executable, "-m", "reconciler"]
    with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "desired-state", work / "desired-state")
        plan = [*python, "plan", "--sandbox", "desired-state"]
        seeded = run_once(plan, work, env)  # seeds the sandbox and writes bytecode
        if seeded.code not in (0, 2):
            raise SystemExit(f"plan --sandbox: exit {seeded.code}")
        print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        measure("--help", [*python, "--help"], work, env, args.runs)
        measure("validate", [*python, "validate", "desired-state"], work, env, args.runs)
        measure("plan --sandbox", plan, work, env, args.runs)
        biggest_imports(plan, work, env, top=8)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
