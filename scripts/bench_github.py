"""Benchmark the GitHub integration's local work on a large plan: splitting the Markdown
into comments, and building a drift issue from the plan JSON.

Builds a Markdown plan and a plan JSON document with N created keys (default 20,000,
about 4.5 MB of Markdown), then prints the median time of ``comment_bodies`` (split into
65,536-character comments with markers, cut after ten), the number of parts, and of
``report_from_document`` + ``issue_body``. No network.

    .venv/bin/python scripts/bench_github.py [--keys 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconciler.github.comments import comment_bodies
from reconciler.github.drift import issue_body, report_from_document


def markdown(keys: int) -> str:
    blocks = "".join(
        f"  # api_key.team-{n:05} will be created\n"
        f'+ + api_key "team-{n:05}" {{\n'
        f'+     + owner     = "user{n:05}@acme.example"\n'
        f'+     + workspace = "ws-{n % 1000:04}"\n'
        "+     + id        = (known after apply)\n"
        "+     + secret    = (sensitive value)\n"
        "    }\n\n"
        for n in range(keys)
    )
    summary = f"Plan: {keys} to add, 0 to change, 0 to destroy."
    return (
        "<!-- reconciler plan -->\n### Plan for `bench`\n\n"
        f"**{summary}**\n\n<details><summary>Show Output</summary>\n\n```diff\n"
        f"{blocks}{summary}\n```\n\n</details>\n\n{summary}\n"
    )


def document(keys: int) -> dict[str, Any]:
    return {
        "format_version": "1.0",
        "target": "bench",
        "desired_path": "desired-state",
        "summary": {"add": keys, "change": 0, "destroy": 0, "manual": 0, "unmanaged": 0},
        "warnings": [],
        "resource_changes": [
            {
                "address": f"api_key.team-{n:05}",
                "action_reason": None,
                "change": {"actions": ["create"]},
                "fields": [],
            }
            for n in range(keys)
        ],
    }


def median_seconds(fn: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    text = markdown(args.keys)
    bodies = comment_bodies(text, key="desired-state")
    split = median_seconds(lambda: comment_bodies(text, key="desired-state"), args.runs)
    print(f"plan Markdown: {len(text):,} characters, {args.keys:,} changes")
    largest = max(map(len, bodies))
    print(f"{len(bodies)} comments (at most 10; largest {largest:,} characters)")
    print(f"comment_bodies: {split * 1000:.1f} ms (median of {args.runs})")
    doc = document(args.keys)
    drift = median_seconds(lambda: issue_body(report_from_document(doc)), args.runs)
    print(
        f"drift issue body ({len(issue_body(report_from_document(doc))):,} characters): "
        f"{drift * 1000:.1f} ms (median of {args.runs})"
    )


if __name__ == "__main__":
    main()
