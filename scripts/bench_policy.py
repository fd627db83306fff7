"""Benchmark the policy library's hot path and its shared store; prints numbers.

    .venv/bin/python scripts/bench_policy.py [--requests N] [--processes P] [--rate R]

Measures, for one request, ``Policy.authorize`` (every check: role, workspace, model
alias, per-request cap, daily tokens, requests per minute, hourly/daily/monthly USD)
followed by ``Policy.record`` (settling the reservation with the real usage):

1. in-process, with the in-memory store (target: p99 under 50 us);
2. with the shared SQLite store in WAL mode, one process (target: p99 under 1 ms);
3. the same load as the paced run below (800 requests a second by default) sent by one
   process, and one process at one paced process's own rate (100 a second), for
   comparison (no target): what the paced run costs without other writers;
4. P processes (default 8) recording concurrently into one SQLite file, twice:

   - **paced**: each process sends R requests a second (default 100, so 800 a second in
     all), at random (Poisson) moments, as an application does around its model calls;
     this is the load the target is for (p99 under 1 ms);
   - **saturated**: each process sends its next request as soon as the last returns.
     With more processes than cores this measures the scheduler as much as the store:
     a process is preempted for whole time slices (milliseconds) while the others run,
     so its p99 is printed without a target, beside the throughput;

   and each checks that the totals (tokens and USD) are exact.

Before them, a baseline of the machine itself: the in-memory request's median back to
back and after an idle gap as long as one paced process's (10 ms). A process that
resumes after a gap finds its caches taken by other work (on a shared virtual machine,
other tenants'), and its first tens of microseconds run several times slower; each
request of a paced process pays that, whichever store it uses.

Each line prints the mean, p50 and p99 of one request, and the CPU time per request
(``time.process_time``), which a loaded machine disturbs less than the wall clock; the
machine's load average is printed before and after, so runs on a shared machine can be
compared.

The limits are generous so every request takes the full "allowed" path; nothing is
sent anywhere.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from threading import Barrier
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconciler.model import ApiKey, DesiredState, Role, Workspace, WorkspacePolicy
from reconciler.policy import (
    MemoryStore,
    Policy,
    SpendLimits,
    SQLiteStore,
    TokenEstimate,
    UsageStore,
)

MODEL = "mistral-small-latest"  # an alias: resolution is part of the path
PROMPT, COMPLETION = 900, 300


def bench_state() -> DesiredState:
    return DesiredState(
        roles=(
            Role(
                name="developer",
                allowed_models=("mistral-small-latest", "codestral-latest"),
                max_tokens_per_request=8000,
                daily_token_budget=10**12,
            ),
        ),
        workspaces=(
            Workspace(
                name="dev",
                policy=WorkspacePolicy(
                    allowed_models=("mistral-small-latest", "codestral-latest"),
                    rpm=10**9,
                    monthly_budget_usd=Decimal(1_000_000),
                ),
            ),
        ),
        keys=(ApiKey(name="dev-bob", workspace="dev", role="developer"),),
    )


def make_policy(store: UsageStore) -> Policy:
    return Policy(
        bench_state(),
        store=store,
        spend_limits={"dev": SpendLimits(hourly_usd=Decimal(100_000), daily_usd=Decimal(500_000))},
    )


def one_request(policy: Policy) -> None:
    decision = policy.authorize("api_key.dev-bob", MODEL, TokenEstimate(1000, 1000))
    if not decision:
        raise SystemExit(f"benchmark request was denied: {decision.message}")
    policy.record(decision, PROMPT, COMPLETION)


def measure(policy: Policy, n: int, *, warm: bool = True) -> tuple[list[float], float]:
    """Each request's wall time in us, and the CPU time per request in us."""
    for _ in range(min(1000, n) if warm else 0):  # warm caches and the statement cache
        one_request(policy)
    samples = []
    clock = time.perf_counter_ns
    cpu = time.process_time()
    for _ in range(n):
        start = clock()
        one_request(policy)
        samples.append((clock() - start) / 1000)
    return samples, (time.process_time() - cpu) / n * 1e6


def resumed(policy: Policy, gap: float, n: int = 200) -> tuple[float, float]:
    """The median of one request back to back, and after ``gap`` seconds idle, in us."""
    measure(policy, 1000)  # warm
    back_to_back, _ = measure(policy, n, warm=False)
    after: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(n):
        time.sleep(gap)
        start = clock()
        one_request(policy)
        after.append((clock() - start) / 1000)
    return statistics.median(back_to_back), statistics.median(after)


def report(title: str, measured: tuple[list[float], float], target_p99_us: float | None) -> bool:
    samples, cpu = measured
    samples.sort()
    mean = statistics.fmean(samples)
    p50 = samples[len(samples) // 2]
    p99 = samples[int(len(samples) * 0.99)]
    ok = target_p99_us is None or p99 < target_p99_us
    target = "no target" if target_p99_us is None else f"target p99 < {target_p99_us:g} us"
    verdict = "" if target_p99_us is None else f": {'ok' if ok else 'MISSED'}"
    print(
        f"{title:<34} mean {mean:7.1f} us   p50 {p50:7.1f} us   p99 {p99:7.1f} us   "
        f"CPU {cpu:6.1f} us   ({target}{verdict})"
    )
    return ok


def paced(policy: Policy, n: int, rate: float, seed: int) -> tuple[list[float], float]:
    """Like :func:`measure`, the requests sent at ``rate`` a second at random moments."""
    arrivals = random.Random(seed)
    samples = []
    clock = time.perf_counter_ns
    cpu = time.process_time()
    due = time.perf_counter()
    for _ in range(n):
        due += arrivals.expovariate(rate)
        idle = due - time.perf_counter()
        if idle > 0:
            time.sleep(idle)  # nothing to do until the application's next call
        start = clock()
        one_request(policy)
        samples.append((clock() - start) / 1000)
    return samples, (time.process_time() - cpu) / n * 1e6


def _worker(path: str, n: int, rate: float, ready: Barrier, out: Any) -> None:
    policy = make_policy(SQLiteStore(path))
    one_request(policy)  # open the connection before the start
    ready.wait()
    if rate:
        out.put(paced(policy, n, rate, seed=os.getpid()))
    else:
        out.put(measure(policy, n, warm=False))
    policy.store.close()


def concurrent(
    path: str, processes: int, n: int, rate: float, target_p99_us: float | None = None
) -> bool:
    """``processes`` processes sending ``n`` requests each, ``rate`` a second (0: each as
    soon as the last returns); True when the totals are exact and the p99 is on target."""
    ctx: Any = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    ready = ctx.Barrier(processes + 1)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(path, n, rate, ready, out)) for _ in range(processes)
    ]
    for p in procs:
        p.start()
    ready.wait()
    started = time.perf_counter()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    took = time.perf_counter() - started
    if any(p.exitcode != 0 for p in procs):
        print("a worker process failed")
        return False
    samples = [sample for latencies, _ in results for sample in latencies]
    cpu = statistics.fmean(per_request for _, per_request in results)
    load = f"{rate * processes:,.0f}/s paced" if rate else "saturated"
    who = "1 process" if processes == 1 else f"{processes} processes"
    fast = report(f"{who}, {load}", (samples, cpu), target_p99_us)
    policy = make_policy(SQLiteStore(path))
    total = processes * n + processes  # and each process's first request
    tokens = policy.tokens_today("api_key.dev-bob")
    spent = policy.guard("dev").spent()
    policy.store.close()
    expected_tokens = total * (PROMPT + COMPLETION)
    expected_usd = policy.prices.cost(MODEL, PROMPT, COMPLETION) * total
    exact = tokens == expected_tokens and spent == expected_usd
    print(
        f"  {processes} x {n:,} requests: {total / took:,.0f} requests/s in all; totals "
        f"{tokens:,} tokens (expected {expected_tokens:,}), ${spent} (expected "
        f"${expected_usd}): {'exact' if exact else 'WRONG'}"
    )
    return exact and fast


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument(
        "--rate", type=float, default=100, help="requests a second per process, paced run"
    )
    parser.add_argument("--seconds", type=float, default=5, help="length of the paced run")
    args = parser.parse_args()
    print(f"authorize + record, {args.requests:,} requests each (Python {sys.version.split()[0]})")
    print(_load())
    gap = 1 / args.rate
    warm, cold = resumed(make_policy(MemoryStore()), gap)
    print(
        f"this machine: an in-memory request takes {warm:.1f} us back to back, {cold:.1f} us "
        f"after {gap * 1000:g} ms idle (x{cold / warm:.1f}); each paced request pays that"
    )
    ok = report("in-process (memory store)", measure(make_policy(MemoryStore()), args.requests), 50)
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "usage.db")
        measured = measure(make_policy(store), args.requests)
        store.close()
        ok &= report("shared SQLite store (WAL)", measured, 1000)
        per_process = max(1, round(args.rate * args.seconds))
        alone = (per_process * args.processes, args.rate * args.processes)  # the same load
        ok &= concurrent(str(Path(tmp) / "alone.db"), 1, *alone)
        ok &= concurrent(str(Path(tmp) / "one.db"), 1, per_process, args.rate)
        ok &= concurrent(str(Path(tmp) / "paced.db"), args.processes, per_process, args.rate, 1000)
        ok &= concurrent(str(Path(tmp) / "shared.db"), args.processes, args.requests // 4, 0)
    print(_load())
    return 0 if ok else 1


def _load() -> str:
    """The machine's load (runnable processes, 1/5/15-minute averages) and cores: other
    work on it moves the wall-clock figures, CPU per request much less."""
    if not hasattr(os, "getloadavg"):
        return f"{os.cpu_count()} cores"
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


if __name__ == "__main__":
    raise SystemExit(main())
