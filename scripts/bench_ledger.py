"""Benchmark the ownership record at scale: size, encode and decode time, peak memory.

Builds a ledger of N managed keys (default 20,000, over 50 workspaces, one in ten
retiring, a few open intents), then measures its text form (plain JSON and as stored),
encoding and decoding (wall and CPU time, peak Python memory by tracemalloc), a batch of pure
changes, the classification of a live state of N keys, and a check-and-set update
through the file vault (read, decode, change, encode, fsynced write).

    .venv/bin/python scripts/bench_ledger.py [--keys 20000] [--changes 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.model import ApiKey, LiveState  # noqa: E402
from reconciler.ownership import Ledger, classify, decode, encode  # noqa: E402
from reconciler.vault import ledger_store  # noqa: E402
from reconciler.vault.file import FileVault  # noqa: E402
from tests.ledgers import ORG, T0, entry, intent, key_id, many  # noqa: E402

T = TypeVar("T")


def measured(label: str, work: Callable[[], T]) -> T:
    """Run ``work`` twice: timed (wall clock and CPU, which a busy machine distorts
    less), then under tracemalloc for its peak allocation."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"  {label:<42} {wall * 1000:8.1f} ms wall {cpu * 1000:8.1f} ms CPU"
        f"  peak {peak / 2**20:6.1f} MiB"
    )
    return result


def build(keys: int) -> Ledger:
    ledger = many(keys)
    for i in range(10):
        ledger = ledger.with_intent(intent(f"new-{i}", f"team-{i:02}"))
    return ledger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--changes", type=int, default=1_000)
    args = parser.parse_args()

    ledger = build(args.keys)
    plain = json.dumps(ledger.model_dump(mode="json", exclude_none=True), separators=(",", ":"))
    print(f"ledger of {args.keys:,} keys, {len(ledger.intents)} intents")
    text = measured("encode", lambda: encode(ledger))
    print(f"  {'size: plain JSON':<42} {len(plain) / 1024:8.1f} KiB")
    print(f"  {'size: as stored (zlib+b64)':<42} {len(text) / 1024:8.1f} KiB")
    decoded = measured("decode", lambda: decode(text))
    assert decoded == ledger

    def changes() -> Ledger:
        changed = ledger
        for i in range(args.changes):
            name = f"batch-{i}"
            changed = changed.with_intent(intent(name, since=T0))
            changed = changed.resolve_intent(f"batch-key-{i}", entry(name))
        return changed

    measured(f"{args.changes:,} creates (intent, then resolve)", changes)

    live = LiveState(
        keys=tuple(
            ApiKey(
                id=key_id(i),
                name=f"key-{i:06}",
                workspace=f"team-{i % 50:02}",
                created_at=T0 - dt.timedelta(minutes=i),
            )
            for i in range(args.keys)
        )
    )
    measured(f"classify {args.keys:,} live keys", lambda: classify(ledger, live))

    with tempfile.TemporaryDirectory() as tmp:
        vault = FileVault(Path(tmp))
        asyncio.run(ledger_store.update(vault, ORG, lambda _: ledger))
        added = iter(range(2))

        def add_one(current: Ledger) -> Ledger:
            return current.resolve_intent(f"one-more-{next(added)}", entry("one-more"))

        measured(
            "update through the file vault (one entry)",
            lambda: asyncio.run(ledger_store.update(vault, ORG, add_one)),
        )


if __name__ == "__main__":
    main()
