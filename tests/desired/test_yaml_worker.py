"""A large desired state is parsed in a worker process while this one checks it.

What a user sees must not depend on where a file was parsed: the same state, the same
problems at the same lines (a file the fast way does not take is read here by the
careful loader), and no process left behind, whether the worker works, dies, cannot
start, or the load is interrupted.
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.desired import check_desired_state, yaml_worker
from reconciler.desired.problems import RawProblem
from reconciler.desired.yaml_loader import Document, load_text
from reconciler.errors import DesiredStateError

EXAMPLE = Path(__file__).parents[2] / "desired-state"
OWNER = "owner: alice.martin@acme.example"
ANCHORED = "owner: &o alice.martin@acme.example"
TODAY = dt.date(2026, 11, 27)


def workspace(index: int) -> str:
    name = f"team-{index:02d}"
    keys = "".join(
        f"    - name: {name}-key-{k}\n"
        f"      {OWNER}\n"
        f"      expires: 2039-06-30\n"
        f"      secret: {{path: {name}/key-{k}}}\n"
        for k in range(3)
    )
    return (
        f"version: 1\nworkspace:\n  name: {name}\n  description: Team {index}\n"
        f"  admin: alice.martin@acme.example\n  api_keys:\n{keys}"
    )


@pytest.fixture
def many(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example organisation and 24 more workspaces: one with an anchor (the careful
    loader's), one that is not YAML, one that is not UTF-8, one with a duplicate key,
    one a link out of the directory."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(EXAMPLE, tmp_path / "ds")
    folder = tmp_path / "ds" / "workspaces"
    for index in range(20):
        (folder / f"team-{index:02d}.yaml").write_text(workspace(index))
    anchored = workspace(20).replace(OWNER, ANCHORED, 1)
    (folder / "team-20.yaml").write_text(anchored)
    (folder / "team-21.yaml").write_text(workspace(21) + "  broken: [unclosed\n")
    (folder / "team-22.yaml").write_bytes(workspace(22).encode().replace(b"Team", b"T\xffam"))
    (folder / "team-23.yaml").write_text(workspace(23) + "  description: again\n")
    (tmp_path / "outside.yaml").write_text(workspace(24))
    (folder / "team-24.yaml").symlink_to(tmp_path / "outside.yaml")
    return Path("ds")


def rendered(directory: Path) -> list[str]:
    return [p.render() for p in check_desired_state(directory, today=TODAY).problems]


def test_the_worker_reports_what_parsing_here_reports(
    many: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = rendered(many)
    assert len(here) >= 4, here  # the broken files each have their problem
    assert any("team-21.yaml:" in line and "invalid YAML" in line for line in here)
    assert any("team-22.yaml:" in line and "not UTF-8" in line for line in here)
    assert any("team-24.yaml" in line and "symbolic link" in line for line in here)
    monkeypatch.setattr(yaml_worker, "WORKER_MIN_CHARS", 0)
    monkeypatch.setattr(yaml_worker, "CHUNK_CHARS", 600)  # a file or two a chunk
    assert rendered(many) == here


def test_a_valid_state_is_the_same_state(many: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("team-21.yaml", "team-22.yaml", "team-23.yaml", "team-24.yaml"):
        (many / "workspaces" / name).unlink()
    here = check_desired_state(many, today=TODAY)
    assert here.state is not None and len(here.state.workspaces) == 24
    monkeypatch.setattr(yaml_worker, "WORKER_MIN_CHARS", 0)
    monkeypatch.setattr(yaml_worker, "CHUNK_CHARS", 600)
    there = check_desired_state(many, today=TODAY)
    assert there.state == here.state
    assert there.problems == here.problems


def texts() -> list[yaml_worker.Text]:
    return [
        workspace(0),
        workspace(1).replace(OWNER, ANCHORED, 1),
        RawProblem((), 1, 1, "not read"),
        workspace(2) + "  broken: [unclosed\n",
        workspace(3),
    ]


@pytest.fixture
def parsed_here(monkeypatch: pytest.MonkeyPatch) -> list[yaml_worker.Text]:
    """The texts parsed in this process, as they are parsed."""
    seen: list[yaml_worker.Text] = []
    real = yaml_worker._here

    def counting(text: yaml_worker.Text, *, pure: bool = False) -> Document:
        seen.append(text)
        return real(text, pure=pure)

    monkeypatch.setattr(yaml_worker, "_here", counting)
    return seen


def through_a_worker(given: list[yaml_worker.Text]) -> list[Document]:
    """The documents of ``given``, from a worker started for them and stopped."""
    worker = yaml_worker._Worker.start()
    assert worker is not None
    try:
        return list(worker.documents(given))
    finally:
        worker.stop()


def test_the_worker_parses_what_the_fast_way_takes(
    parsed_here: list[yaml_worker.Text], monkeypatch: pytest.MonkeyPatch
) -> None:
    given = texts()
    # two chunks: both go to the worker at once, so nothing is left to parse here
    first_two = [t for t in given[:2] if isinstance(t, str)]
    monkeypatch.setattr(yaml_worker, "CHUNK_CHARS", sum(len(t) for t in first_two) - 1)
    documents = through_a_worker(given)
    # here: the anchored file, the unread one and the broken one; the worker: the others
    assert parsed_here == [given[1], given[2], given[3]]
    for text, document in zip(given, documents, strict=True):
        if isinstance(text, str):
            assert document.data == load_text(text).data
            assert document.problems == load_text(text).problems
        else:
            assert document.problems == [text]
    assert documents[0].data["workspace"]["api_keys"][2]["expires"] == dt.date(2039, 6, 30)
    assert documents[3].problems[0].message.startswith("invalid YAML")


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[yaml_worker._Worker]:
    """Every worker started while the test runs (with any text, a worker starts)."""
    workers: list[yaml_worker._Worker] = []
    real = yaml_worker._Worker.start

    def start() -> yaml_worker._Worker | None:
        worker = real()
        if worker is not None:
            workers.append(worker)
        return worker

    monkeypatch.setattr(yaml_worker._Worker, "start", staticmethod(start))
    monkeypatch.setattr(yaml_worker, "WORKER_MIN_CHARS", 0)
    return workers


def test_a_worker_that_dies_leaves_its_files_to_this_process(
    started: list[yaml_worker._Worker], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yaml_worker, "_BOOT", "import sys\nsys.exit(3)\n")
    given = texts()
    with yaml_worker.parsed(given) as documents:
        got = list(documents)
    assert [d.data for d in got] == [
        None if isinstance(t, RawProblem) else load_text(t).data for t in given
    ]
    assert [w._process.returncode for w in started] == [3]


# a worker that takes its path and the chunk, answers with ``{}``, and waits to be stopped
GARBAGE_BOOT = (
    "import os, sys\n"
    "from multiprocessing.connection import Connection\n"
    "tasks = Connection(int(sys.argv[1]), writable=False)\n"
    "tasks.recv_bytes(), tasks.recv_bytes()\n"
    "os.write(int(sys.argv[2]), {})\n"
    "tasks.recv_bytes()\n"
)


@pytest.mark.parametrize(
    "answer",
    [
        b"\x00\x00\x00\x05junk!",  # a message that does not unpickle
        len(pickle.dumps([1, 2, 3, 4, 5])).to_bytes(4, "big") + pickle.dumps([1, 2, 3, 4, 5]),
    ],
    ids=["not-a-pickle", "not-pairs"],
)
def test_a_worker_that_sends_garbage_leaves_its_files_to_this_process(
    started: list[yaml_worker._Worker], monkeypatch: pytest.MonkeyPatch, answer: bytes
) -> None:
    monkeypatch.setattr(yaml_worker, "_BOOT", GARBAGE_BOOT.format(repr(answer)))
    given = texts()  # one chunk: five answers expected
    with yaml_worker.parsed(given) as documents:
        got = list(documents)
    assert [d.data for d in got] == [
        None if isinstance(t, RawProblem) else load_text(t).data for t in given
    ]
    assert len(started) == 1


def test_the_worker_imports_nothing_the_environment_names(
    started: list[yaml_worker._Worker], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Only this process's path: a PYTHONPATH this process did not start with (or ignored,
    run with -I or -E) runs nothing in the worker, not even before it sets its path."""
    shadow = tmp_path / "shadow" / "multiprocessing"
    shadow.mkdir(parents=True)
    ran = tmp_path / "ran"
    (shadow / "__init__.py").write_text(f"open({str(ran)!r}, 'w').close()\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow.parent))
    given = texts()
    with yaml_worker.parsed(given) as documents:
        got = list(documents)
    assert not ran.exists()
    assert [d.data for d in got] == [
        None if isinstance(t, RawProblem) else load_text(t).data for t in given
    ]


def test_no_interpreter_to_start_parses_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yaml_worker, "WORKER_MIN_CHARS", 0)
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    assert yaml_worker._Worker.start() is None
    with yaml_worker.parsed(texts()) as documents:
        assert next(documents).data["workspace"]["name"] == "team-00"


def test_an_interrupted_load_stops_the_worker(started: list[yaml_worker._Worker]) -> None:
    def interrupted() -> None:
        with yaml_worker.parsed(texts()) as documents:
            next(documents)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert len(started) == 1
    assert started[0]._process.returncode is not None  # ended and reaped


def test_a_script_without_a_main_guard_runs_once(many: Path) -> None:
    """The worker is a fresh interpreter: it does not import the program's main module
    (``multiprocessing``'s would run this script again)."""
    script = many.parent / "check.py"
    script.write_text(
        "import sys\n"
        "from pathlib import Path\n"
        "from reconciler.desired import check_desired_state, yaml_worker\n"
        "yaml_worker.WORKER_MIN_CHARS = 0\n"
        "yaml_worker.CHUNK_CHARS = 600\n"
        "print('started', flush=True)\n"
        "print(len(check_desired_state(Path(sys.argv[1])).problems) > 0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run(
        [sys.executable, str(script), str(many)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "started\nTrue\n"), done.stderr


def python_prints(program: str) -> str:
    """What a fresh interpreter prints running ``program``, this checkout importable."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout


def test_the_worker_starts_without_the_schema_and_the_checks() -> None:
    """What the worker imports: the parser, not the document models or the catalog (a
    third of a second of a large load's start)."""
    program = (
        "import sys\n"
        "import reconciler.desired.yaml_worker\n"
        "heavy = ('reconciler.desired.schema', 'reconciler.desired.checks', "
        "'reconciler.desired.catalog', 'pydantic')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    assert python_prints(program) == "[]\n"


def test_an_unknown_name_of_the_package_is_an_attribute_error() -> None:
    import reconciler.desired

    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = reconciler.desired.nothing  # type: ignore[attr-defined]
    assert reconciler.desired.check_desired_state is check_desired_state


def test_a_chunk_bigger_than_the_pipe_is_parsed_here(
    parsed_here: list[yaml_worker.Text], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What is in the pipe to the worker never passes what it holds, so the loading
    thread never waits to send while the worker waits to send its values."""
    small, big = workspace(0), workspace(1) + "".join(f"  # {n}\n" for n in range(400))
    given: list[yaml_worker.Text] = [small, big, small, big]
    monkeypatch.setattr(yaml_worker, "CHUNK_CHARS", 1)  # a file a chunk
    monkeypatch.setattr(yaml_worker, "PIPE_BYTES", len(big) - 100)
    documents = through_a_worker(given)
    assert [d.data for d in documents] == [load_text(t).data for t in (small, big, small, big)]
    # never sent: each big one alone passes what the pipe holds (the second small one may
    # have been parsed here too, had the worker not answered the first yet)
    assert parsed_here.count(big) == 2
    assert parsed_here.count(small) <= 1


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_a_process_held_to_one_core_parses_alone() -> None:
    """A container or ``taskset`` that gives the process one core: no worker, though the
    machine has more."""
    program = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from reconciler.desired import yaml_worker\n"
        "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
        "print(yaml_worker._can_start())\n"
    )
    assert python_prints(program) == "False\n"


def test_a_stuck_worker_leaves_its_files_to_this_process(
    started: list[yaml_worker._Worker], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that lives but never answers does not hold up the load past the stall
    limit, and is stopped. (It waits for a signal that never comes; with a limit of 0
    the load takes it as stuck at its first look, without waiting out any time.)"""
    monkeypatch.setattr(yaml_worker, "_BOOT", "import signal\nsignal.pause()\n")
    monkeypatch.setattr(yaml_worker, "STALL_SECONDS", 0)
    given = texts()
    with yaml_worker.parsed(given) as documents:
        got = list(documents)
    assert [d.data for d in got] == [
        None if isinstance(t, RawProblem) else load_text(t).data for t in given
    ]
    assert started[0]._process.returncode is not None  # stopped, not left sleeping


def test_a_session_parses_the_desired_state_here_while_it_fetches(
    started: list[yaml_worker._Worker], many: Path
) -> None:
    """A plan reads the desired state while the organisation is fetched: below
    OVERLAPPED_MIN_CHARS (8 MiB) of YAML the parse ends before the fetch, and a parsing
    process only costs CPU, so the session's load starts none; validate, with nothing else
    to do, still does (here at any size)."""
    from reconciler.session.core import SessionCore

    session = SessionCore.__new__(SessionCore)
    session.desired_dir = many
    with pytest.raises(DesiredStateError):  # the broken files of ``many``
        session.load_desired()
    assert started == []
    check_desired_state(many, today=TODAY)
    assert started  # one for the workspaces' files (and, at no threshold, one per file)
