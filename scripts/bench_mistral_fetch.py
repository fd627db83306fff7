"""Benchmark ``MistralProvider.fetch``: concurrent pages against strictly sequential ones.

Serves a generated organisation from the sandbox, in-process, with a fixed added latency
per request (what a real network adds), and fetches the whole live state once with
``concurrency=1`` and once with each other value given, printing wall time, requests and
objects read, CPU time (client and the in-process sandbox together: ``time.process_time``)
and the peak RSS so far.

    .venv/bin/python scripts/bench_mistral_fetch.py [--workspaces 300] [--keys 3000]
        [--users 600] [--latency-ms 20] [--concurrency 1 4 8 16]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import resource
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.platform.mistral.connection import DEFAULT_PAGE_SIZE  # noqa: E402
from reconciler.platform.mistral.provider import MistralProvider  # noqa: E402
from reconciler.platform.sandbox import (  # noqa: E402
    DEFAULT_ADMIN_KEY,
    EMBEDDED_ADMIN_BASE_URL,
    EMBEDDED_API_BASE_URL,
    FaultConfig,
    SandboxStore,
    Seed,
    create_app,
)
from reconciler.platform.sandbox.generate import generate_seed  # noqa: E402

NOW = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)


async def fetch_once(
    store: SandboxStore, latency_ms: int, concurrency: int
) -> tuple[float, float, int, str]:
    app = create_app(store, FaultConfig(latency_ms=latency_ms), admin_key=DEFAULT_ADMIN_KEY)
    provider = MistralProvider.from_env(
        {
            "MISTRAL_ADMIN_API_KEY": DEFAULT_ADMIN_KEY,
            "MISTRAL_ADMIN_BASE_URL": EMBEDDED_ADMIN_BASE_URL,
            "MISTRAL_API_BASE_URL": EMBEDDED_API_BASE_URL,
        },
        transport=httpx.ASGITransport(app=app),
        concurrency=concurrency,
    )
    async with provider:
        start, cpu = time.perf_counter(), time.process_time()
        live = await provider.fetch()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    read = f"{len(live.workspaces)} ws, {len(live.members)} members, {len(live.keys)} keys"
    return elapsed, cpu, live.requests, read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=300)
    parser.add_argument("--keys", type=int, default=3000)
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    args = parser.parse_args()

    doc = generate_seed(workspaces=args.workspaces, keys=args.keys, users=args.users)
    store = SandboxStore.in_memory(Seed.model_validate(doc), clock=lambda: NOW)
    print(
        f"organisation: {args.workspaces} workspaces, {args.keys} keys, {args.users} users; "
        f"{args.latency_ms} ms added per request; pages of {DEFAULT_PAGE_SIZE}"
    )
    baseline: float | None = None
    for concurrency in sorted(set([1, *args.concurrency])):
        elapsed, cpu, requests, read = asyncio.run(fetch_once(store, args.latency_ms, concurrency))
        baseline = baseline or elapsed
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"concurrency={concurrency:<3} {elapsed:7.2f} s wall  {cpu:5.2f} s CPU  "
            f"{requests:4d} requests  x{baseline / elapsed:4.1f}  peak RSS {peak:4.0f} MB  ({read})"
        )


if __name__ == "__main__":
    main()
