"""Benchmark ``reconciler validate`` on a large generated organisation.

Generates N workspaces with K keys each (default 1,000 x 20 = 20,000 keys) into a
temporary directory, runs ``python -m reconciler validate`` on it as a subprocess (as a
user would) and prints the wall time and the child's peak RSS; then, in-process, where
the time goes (parse, schema, checks, conversion) for the pure-Python and C parsers.
A first run, not counted, caches the bytecode, as an installed package has it.

    .venv/bin/python scripts/bench_validate.py [--workspaces 1000] [--keys-per-workspace 20]

Target: 5,000 workspaces (100,000 keys: ``--workspaces 5000``) in under 5 s on a 2-core
machine. The peak RSS is printed beside it, without a target of its own (a plan of that
size must stay under 700 MB, and holds the live organisation as well).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ORGANIZATION = """\
version: 1
organization:
  name: Bench Org
  spend_limit: {amount: 10000000, currency: USD}
  keys: {max_age_days: 90, unused_after_days: 30, expiry_warning_days: 14, rotation_period_days: 90}
  vault: {backend: vault, mount: secret, path_prefix: mistral/bench, auth: jwt, role: reconciler}
  safety: {max_delete_fraction: 0.30, max_delete_min_keys: 10}
"""

ROLES = """\
version: 1
roles:
  analyst:
    description: Small model only
    allowed_models: [mistral-small-latest]
    max_tokens_per_request: 2000
    daily_token_budget: 200000
  developer:
    description: Development
    allowed_models: [mistral-small-latest, codestral-latest]
    max_tokens_per_request: 8000
    daily_token_budget: 1000000
  admin:
    description: Everything
    allowed_models: ["*"]
    max_tokens_per_request: 128000
    daily_token_budget: null
"""


def workspace_yaml(index: int, keys: int, members: int) -> str:
    name = f"team-{index:04d}"
    lines = [
        "# generated for the validate benchmark",
        "version: 1",
        "workspace:",
        f"  name: {name}",
        f"  description: Team {index} workspace",
        f"  admin: lead{index}@bench.example",
        "  members:",
    ]
    lines += [
        f"    - {{email: user{index}-{m}@bench.example, roles: [user]}}" for m in range(members)
    ]
    lines += [
        "  policy:",
        "    allowed_models: [mistral-small-latest, codestral-latest]",
        "    rpm: 100",
        "    monthly_budget_usd: 100",
        "  api_keys:",
    ]
    for k in range(keys):
        lines += [
            f"    - name: {name}-key-{k}",
            f"      description: Service key {k} of team {index}",
            f"      owner: user{index}-{k % members}@bench.example",
            "      expires: 2039-06-30",
            f"      role: {'developer' if k % 2 else 'analyst'}",
            f"      secret: {{path: {name}/key-{k}}}",
        ]
    return "\n".join(lines) + "\n"


def generate(directory: Path, workspaces: int, keys: int, members: int) -> int:
    (directory / "workspaces").mkdir(parents=True)
    (directory / "organization.yaml").write_text(ORGANIZATION)
    (directory / "roles.yaml").write_text(ROLES)
    size = 0
    for i in range(workspaces):
        text = workspace_yaml(i, keys, members)
        size += len(text)
        (directory / "workspaces" / f"team-{i:04d}.yaml").write_text(text)
    return size


def run_cli(directory: Path) -> tuple[float, float, float, int, str]:
    """Wall and CPU seconds, peak RSS in MB, exit code and the summary line of one run
    (CPU and peak of that process alone, from ``os.wait4``)."""
    args = [sys.executable, "-m", "reconciler", "validate", str(directory)]
    # bytecode cached as an installed package's is: PYTHONDONTWRITEBYTECODE (set in some
    # images) would have every run compile every module it imports again
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*args, "--today", "2026-11-27"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        lines = out.read().strip().splitlines()
    code = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, code, lines[-1] if lines else ""


def profile_in_process(directory: Path, pure: bool) -> None:
    import datetime as dt

    from reconciler.desired.load import check_desired_state

    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    result = check_desired_state(directory, today=dt.date(2026, 11, 27), pure_python_yaml=pure)
    profiler.disable()
    wall = time.perf_counter() - start
    print(
        f"  in-process, {'pure-Python' if pure else 'libyaml'} parser: {wall:.2f} s, ok={result.ok}"
    )
    stats = pstats.Stats(profiler)
    groups = {  # the libyaml parser reads files from events, the pure-Python one composes
        "read files": ("sources.py", "read_bytes"),
        "yaml events -> data": ("yaml_events.py", "fast_data"),
        "yaml nodes -> data": ("yaml_loader.py", "_compose_document"),
        "schema (pydantic)": ("sources.py", "validate_source"),
        "checks": ("checks.py", "check_all"),
        "  of which marks": ("yaml_events.py", "fast_mark"),
        "convert": ("convert.py", "desired_state"),
    }
    table: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    table = stats.stats  # type: ignore[attr-defined]
    for label, (file, func) in groups.items():
        cumulative = sum(v[3] for (f, _, fn), v in table.items() if f.endswith(file) and fn == func)
        print(f"    {label:<20} {cumulative:6.2f} s (profiled)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument("--keys-per-workspace", type=int, default=20)
    parser.add_argument("--members-per-workspace", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="Also profile in-process.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        directory = Path(tmp) / "desired-state"
        size = generate(
            directory, args.workspaces, args.keys_per_workspace, args.members_per_workspace
        )
        total_keys = args.workspaces * args.keys_per_workspace
        print(
            f"generated {args.workspaces} workspaces, {total_keys} keys, "
            f"{args.workspaces * args.members_per_workspace} members listed "
            f"({size / 1e6:.1f} MB of YAML)"
        )
        warm = run_cli(directory)  # writes the bytecode caches: not counted
        print(f"  warm-up (not counted, caches bytecode): {warm[0]:.2f} s wall, exit {warm[3]}")
        times = []
        for run in range(args.runs):
            wall, cpu, peak, code, last = run_cli(directory)
            times.append(wall)
            print(
                f"  run {run + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS {peak:.0f} MB, "
                f"exit {code}"
            )
        print(f"  -> {last}")
        print(f"best {min(times):.2f} s, worst {max(times):.2f} s (target, 5,000 workspaces: 5 s)")
        if args.profile:
            profile_in_process(directory, pure=False)
            profile_in_process(directory, pure=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
