"""Benchmark the sandbox itself on a large organisation (default 1,000 workspaces, 20,000 keys).

Prints: seed generation and loading, state creation, a full listing of the keys in pages
of 100 through the ASGI transport (per-page cost at the start and at the end of the list,
to show a page is a slice and not a scan), key creation with the state persisted after
each one (journal), and reopening the state file.

    .venv/bin/python scripts/bench_sandbox.py [--workspaces 1000] [--keys 20000] [--creates 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.platform.sandbox import (  # noqa: E402
    DEFAULT_ADMIN_KEY,
    EMBEDDED_ADMIN_BASE_URL,
    SandboxStore,
    create_app,
    load_seed,
)
from reconciler.platform.sandbox.generate import generate_seed, write_seed  # noqa: E402

AUTH = {"Authorization": f"Bearer {DEFAULT_ADMIN_KEY}"}


def timed(label: str, start: float) -> float:
    elapsed = time.perf_counter() - start
    print(f"{label:<48} {elapsed * 1000:10.1f} ms")
    return elapsed


async def list_keys(store: SandboxStore) -> tuple[int, list[float]]:
    transport = httpx.ASGITransport(app=create_app(store))
    seen = 0
    per_page: list[float] = []
    async with httpx.AsyncClient(
        transport=transport, base_url=EMBEDDED_ADMIN_BASE_URL, headers=AUTH
    ) as client:
        while True:
            start = time.perf_counter()
            response = await client.get("/api-keys", params={"limit": 100, "offset": seen})
            per_page.append(time.perf_counter() - start)
            batch = response.json()["keys"]
            seen += len(batch)
            if len(batch) < 100:
                return seen, per_page


async def create_keys(store: SandboxStore, count: int) -> None:
    transport = httpx.ASGITransport(app=create_app(store))
    async with httpx.AsyncClient(
        transport=transport, base_url=EMBEDDED_ADMIN_BASE_URL, headers=AUTH
    ) as client:
        ws = (await client.get("/workspaces", params={"search": "team-0001"})).json()["items"][0]
        users = (await client.get("/users", params={"page_size": 1})).json()["members"]
        for i in range(count):
            body = {"workspace_uuid": ws["uuid"], "user_id": users[0]["uuid"], "name": f"new-{i}"}
            response = await client.post("/api-keys", json=body)
            assert response.status_code == 200, response.text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=20000)
    parser.add_argument("--creates", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        seed_path = Path(tmp) / "seed.yaml"
        state_path = Path(tmp) / "state.json"
        print(f"organisation: {args.workspaces} workspaces, {args.keys} keys")
        start = time.perf_counter()
        write_seed(generate_seed(workspaces=args.workspaces, keys=args.keys), seed_path)
        timed(f"generate seed ({seed_path.stat().st_size / 1e6:.1f} MB)", start)
        start = time.perf_counter()
        load_seed(seed_path)
        timed("load and validate seed", start)
        start = time.perf_counter()
        store = SandboxStore.open(state_path, seed=seed_path)
        timed("create state file from seed", start)

        start = time.perf_counter()
        seen, per_page = asyncio.run(list_keys(store))
        timed(f"list {seen} keys, {len(per_page)} pages of 100", start)
        first, last = per_page[:20], per_page[-21:-1]
        print(f"{'  mean page, first 20 pages':<48} {sum(first) / len(first) * 1000:10.2f} ms")
        print(f"{'  mean page, last 20 pages':<48} {sum(last) / len(last) * 1000:10.2f} ms")

        start = time.perf_counter()
        asyncio.run(create_keys(store, args.creates))
        elapsed = timed(f"create {args.creates} keys, each persisted", start)
        print(f"{'  per key':<48} {elapsed / max(args.creates, 1) * 1000:10.2f} ms")

        start = time.perf_counter()
        reopened = SandboxStore.open(state_path)
        timed("reopen state (snapshot + journal replay)", start)
        assert reopened.count_keys() == args.keys + args.creates
        start = time.perf_counter()
        reopened.close()
        timed("compact (write snapshot)", start)


if __name__ == "__main__":
    main()
