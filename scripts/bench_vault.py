"""Benchmark the secret stores: file vault writes, reads and locks; Vault KV v2 with latency.

The file vault is measured on real files in a temporary directory (each write is a
check-and-set under a cross-process lock, an fsynced temporary file and a rename). Vault
is measured in-process against the test suite's fake KV v2 mount through an
``httpx.MockTransport`` with a fixed added latency per request, sequentially and with
concurrent writers, to show what the two-call write (data, then metadata) costs.

    .venv/bin/python scripts/bench_vault.py [--secrets 500] [--latency-ms 20] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.vault.base import LockHolder, SecretMetadata, SecretStore  # noqa: E402
from reconciler.vault.file import FileVault  # noqa: E402
from reconciler.vault.hashicorp import HashiCorpVault  # noqa: E402
from reconciler.vault.hashicorp_auth import TokenAuth  # noqa: E402
from tests.vault.fake_vault import FakeVault  # noqa: E402

ADDRESS = "https://vault.bench:8200"
TOKEN = "hvs.bench-token"
META = SecretMetadata(
    key_id="bench",
    key_name="bench",
    workspace="bench",
    created=dt.datetime.now(dt.UTC),
    allowed_models=("mistral-small-latest",),
)


async def timed(label: str, count: int, work: Callable[[], Awaitable[None]]) -> None:
    start = time.perf_counter()
    await work()
    elapsed = time.perf_counter() - start
    print(f"  {label:<44} {count:>6} in {elapsed:7.3f}s  {count / elapsed:9.1f}/s")


async def writes(store: SecretStore, n: int, concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await store.put(f"ws{i % 10}/key-{i}", SecretStr(f"sk-{i:08}"), META)

    await asyncio.gather(*(one(i) for i in range(n)))


async def reads(store: SecretStore, n: int, concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await store.read_metadata(f"ws{i % 10}/key-{i}")

    await asyncio.gather(*(one(i) for i in range(n)))


async def locks(store: SecretStore, n: int) -> None:
    ttl = dt.timedelta(minutes=5)
    now = dt.datetime.now(dt.UTC)
    for i in range(n):
        me = LockHolder(who=f"bench-{i}", since=now, expires=now + ttl)
        if await store.acquire_lock("apply", me, ttl) is not None:
            raise SystemExit("lock unexpectedly held")
        await store.release_lock("apply", me)


def vault_with_latency(latency: float) -> HashiCorpVault:
    fake = FakeVault(ADDRESS, token=TOKEN)

    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(latency)
        await request.aread()
        return fake.handle(request)

    return HashiCorpVault(
        address=ADDRESS,
        auth=TokenAuth(SecretStr(TOKEN), "bench"),
        prefix="mistral/bench",
        transport=httpx.MockTransport(handler),
    )


async def bench_vault(vault: HashiCorpVault, n: int, concurrency: int) -> None:
    await timed("create (data + metadata: 2 requests)", n, lambda: writes(vault, n, concurrency))
    await timed("read metadata (1 request)", n, lambda: reads(vault, n, concurrency))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    n, conc = args.secrets, args.concurrency

    with tempfile.TemporaryDirectory() as tmp:
        file = FileVault(Path(tmp) / "vault")
        print(f"file vault ({file.description})")
        await timed("create (cas=0), sequential", n, lambda: writes(file, n, 1))
        await timed("read metadata, sequential", n, lambda: reads(file, n, 1))
        await timed("lock acquire + release", min(n, 200), lambda: locks(file, min(n, 200)))

    latency = args.latency_ms / 1000
    for label, concurrency in (("sequential", 1), (f"{conc} concurrent", conc)):
        vault = vault_with_latency(latency)
        print(f"Vault KV v2 (fake, {args.latency_ms:g} ms per request), {label}")
        await bench_vault(vault, n, concurrency)
        await vault.aclose()


if __name__ == "__main__":
    asyncio.run(main())
