"""A large desired state parsed in worker processes reads exactly as one parsed here.

Shown on files of every kind the loader meets: ordinary ones (parsed in a worker), and
ones only the careful loader reads or reports (anchors, bad YAML, too deep, UTF-16,
refused before reading), which come back to be parsed here, at their lines.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest

from reconciler.desired import check_desired_state
from reconciler.desired import parse_pool as pool_module
from reconciler.desired.parse_pool import CHUNK_BYTES, PARALLEL_MIN_BYTES, parse_many
from reconciler.desired.processes import allow_workers
from reconciler.desired.yaml_loader import Document
from reconciler.env import RECONCILER_PARSE_PROCESSES

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = dt.date(2026, 11, 27)


@pytest.fixture(autouse=True)
def workers_allowed() -> Iterator[None]:
    """As the command line allows them (the test runner's main module is safe to import)."""
    allow_workers()
    yield
    allow_workers(False)


def workspace(index: int, keys: int = 12) -> str:
    lines = [
        "version: 1",
        "workspace:",
        f"  name: team-{index:04d}",
        f"  description: Team {index}",
        "  admin: alice@acme.example",
        "  members:",
        "    - {email: bob@acme.example, roles: [user]}",
        "  api_keys:",
    ]
    for k in range(keys):
        lines += [
            f"    - name: team-{index:04d}-key-{k}",
            "      owner: bob@acme.example",
            # one key in each file expires soon: a warning that needs its line
            f"      expires: {'2026-12-01' if k == 0 else '2027-06-30'}",
            "      role: developer",
        ]
    return "\n".join(lines) + "\n"


ODD_ONES: dict[int, bytes | str] = {  # index -> what that file holds instead
    3: b"version: 1\nworkspace: &w\n  name: anchored\n",  # an anchor: careful loader
    7: b"version: 1\nworkspace:\n  name: [unclosed\n",  # a syntax error, at its line
    11: b"a:" + b"\n" + b"".join(b" " * i + b"b:\n" for i in range(1, 80)),  # too deep
    13: "version: 1\n".encode("utf-16"),  # not UTF-8
    17: "not read: a symbolic link to a file outside ds/",  # refused before reading
    19: b"",  # empty
    23: b"version: 1\nworkspace:\n  name: dup\n  name: again\n",  # a duplicate key
}


def items(count: int) -> list[bytes | str]:
    out: list[bytes | str] = []
    for index in range(count):
        out.append(ODD_ONES.get(index, workspace(index).encode()))
    return out


def seen(doc: Document) -> tuple[Any, ...]:
    """What a caller can observe of a document, the marks included."""
    return (doc.data, doc.problems, doc.marks)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The worker pools started (their sizes), the real ones."""
    sizes: list[int] = []
    real = pool_module.start_workers

    def start(processes: int) -> Executor:
        sizes.append(processes)
        return real(processes)

    monkeypatch.setattr(pool_module, "start_workers", start)
    return sizes


def test_workers_parse_as_this_process_does(
    started: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    many = items(400)
    assert sum(len(i) for i in many) > 2 * CHUNK_BYTES  # several chunks to share out
    here = [seen(d) for d in parse_many(many, processes=0)]
    assert started == []
    parsed_here = []
    real_here = pool_module._here

    def count(text: Any, *, pure: bool) -> Document:
        parsed_here.append(text)
        return real_here(text, pure=pure)

    monkeypatch.setattr(pool_module, "_here", count)
    there = [seen(d) for d in parse_many(many, processes=2)]
    assert started == [2]
    assert there == here
    assert len(parsed_here) < len(many)  # a worker parsed some chunk
    assert "started on line 3" in here[7][1][0].message  # the syntax error, at its line
    assert here[17][1][0].message.startswith("not read")


class DeadPool(Executor):
    """A pool whose workers die: every chunk sent comes back broken."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_exception(BrokenProcessPool("a worker died"))
        return future


@pytest.mark.parametrize("failure", ["no pool", "dead workers"])
def test_without_working_workers_every_file_is_parsed_here(
    failure: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def start(processes: int) -> Executor:
        if failure == "no pool":
            raise OSError("no semaphores here")
        return DeadPool()

    monkeypatch.setattr(pool_module, "start_workers", start)
    many = items(400)
    expected = [seen(d) for d in parse_many(many, processes=0)]
    assert [seen(d) for d in parse_many(many, processes=2)] == expected


def test_a_small_desired_state_or_one_cpu_starts_no_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(RECONCILER_PARSE_PROCESSES, raising=False)
    assert pool_module.processes_wanted(PARALLEL_MIN_BYTES - 1) == 0
    assert pool_module.processes_wanted(PARALLEL_MIN_BYTES, pure=True) == 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert pool_module.processes_wanted(PARALLEL_MIN_BYTES) == 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    assert pool_module.processes_wanted(PARALLEL_MIN_BYTES) == pool_module.MAX_PROCESSES
    monkeypatch.setenv(RECONCILER_PARSE_PROCESSES, "0")
    assert pool_module.processes_wanted(10 * PARALLEL_MIN_BYTES) == 0
    monkeypatch.setenv(RECONCILER_PARSE_PROCESSES, "2")
    assert pool_module.processes_wanted(PARALLEL_MIN_BYTES) == 2
    allow_workers(False)  # a program that loads desired state as a library
    assert pool_module.processes_wanted(10 * PARALLEL_MIN_BYTES) == 0


@pytest.fixture
def large(tmp_path: Path) -> Path:
    """The valid fixture with 300 more workspace files, two of them broken."""
    root = tmp_path / "ds"
    shutil.copytree(FIXTURES / "valid", root)
    for index in range(300):
        text = workspace(index)
        if index == 250:
            text = text.replace("role: developer", "role: [developer", 1)
        if index == 200:
            text = text.replace("expires: 2027-06-30", "expires: 2020-01-01", 1)
        (root / "workspaces" / f"team-{index:04d}.yaml").write_text(text)
    return root


def test_a_large_desired_state_validates_alike_with_workers_or_without(
    large: Path, monkeypatch: pytest.MonkeyPatch, started: list[int]
) -> None:
    def validate(processes: str) -> Iterator[Any]:
        monkeypatch.setenv(RECONCILER_PARSE_PROCESSES, processes)
        result = check_desired_state(large, today=TODAY)
        yield result.state
        yield [(p.file, p.line, p.column, p.path, p.message) for p in result.problems]

    monkeypatch.setattr(pool_module, "PARALLEL_MIN_BYTES", 0)  # this one is large enough
    assert sum(f.stat().st_size for f in large.rglob("*.yaml")) > CHUNK_BYTES  # two chunks
    state, problems = validate("0")
    assert state is None  # two broken files
    assert [p[:2] for p in problems if "team-0250" in p[0] and "YAML" in p[4]]
    assert [p for p in problems if "team-0200" in p[0] and "in the past" in p[4]]
    assert len([p for p in problems if "expires in" in p[4]]) == 299
    assert started == []
    assert list(validate("2")) == [state, problems]
    assert started == [2]
