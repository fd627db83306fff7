"""Run the CLI in fresh processes forked from one that has already imported it.

Most of a short CLI run is spent importing; the end-to-end tests run the CLI hundreds of
times. ``python -m tests.e2e.forkserver`` imports every module of ``reconciler``, then
serves requests (JSON lines on stdin): for each it forks a child that changes to the
request's directory, takes its environment, reads stdin from a file (``/dev/null``, or a
terminal's device), sends stdout and stderr to files and runs ``reconciler ARGS`` exactly
as the console script does. The server answers with the child's pid, then its exit
status (``-9`` when it was SIGKILLed). Each child is a real, separate process: killing
it (or it killing itself) touches nothing else, and nothing one run leaves in memory
reaches the next.

:class:`ForkServer` is the test side: ``run(args, cwd=..., env=...)`` returns a
``CompletedProcess`` like :func:`subprocess.run`, and kills a child that outlives its
``timeout`` (raising :class:`subprocess.TimeoutExpired`). One request at a time per server.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any


def _preload() -> None:
    """Import every module of the program (not ``__main__``, which would run it), and build
    its command line (:func:`_build_once`)."""
    import importlib
    import pkgutil

    import reconciler

    for module in pkgutil.walk_packages(reconciler.__path__, "reconciler."):
        if not module.name.endswith(".__main__"):
            importlib.import_module(module.name)
    _build_once()
    _complete_models()


def _complete_models() -> None:
    """Build the validators of the models the program defers (``defer_build``, built at
    first use): once here, not in every run (some 40 ms of each). What they accept does
    not depend on when they are built."""
    from pydantic import BaseModel

    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        for model in pending.pop().__subclasses__():
            pending.append(model)
            if model.__module__.startswith("reconciler.") and not model.__pydantic_complete__:
                model.model_rebuild()


def _build_once() -> None:
    """Typer turns the ``reconciler`` app into a click command at every call, which is a
    good part of a short run; build it here, once, and have each child's call start from
    that command, untouched (a child is a copy of this process: nothing one run does to it
    reaches the next)."""
    import typer.main

    from reconciler.cli.main import app

    built = typer.main.get_command(app)
    build = typer.main.get_command

    def get_command(typer_instance: typer.Typer) -> Any:
        return built if typer_instance is app else build(typer_instance)

    typer.main.get_command = get_command


def _child(request: Mapping[str, Any]) -> None:
    """In the forked child: become the CLI run the request asks for, then exit."""
    code = 1
    try:
        import importlib
        import tempfile

        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # found again from this run's TMPDIR
        # as a fresh interpreter would: this run's PYTHONPATH comes first on sys.path (a
        # test may add a distribution that offers an entry point)
        extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[:0] = [p for p in extra if p not in sys.path]
        importlib.invalidate_caches()
        stdin = os.open(request["stdin"], os.O_RDONLY)
        os.dup2(stdin, 0)
        os.close(stdin)
        # appended to: another process's output (``/proc/PID/fd/1``) keeps what it holds
        flags = os.O_WRONLY | (os.O_APPEND if request.get("append") else os.O_CREAT | os.O_TRUNC)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            target = os.open(path, flags, 0o600)
            os.dup2(target, fd)
            os.close(target)
        from reconciler.cli.main import app

        try:
            app(args=list(request["args"]), prog_name="reconciler")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    _preload()
    channel = sys.stdout
    print(json.dumps({"ready": True}), file=channel, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), file=channel, flush=True)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(json.dumps({"returncode": code}), file=channel, flush=True)


class ForkServer:
    """The test side of ``python -m tests.e2e.forkserver`` (see the module docstring)."""

    def __init__(self, files: Path, *, env: Mapping[str, str]) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.forkserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=dict(env),
            bufsize=0,
        )
        self._received = b""
        self._lock = threading.Lock()
        files.mkdir(parents=True, exist_ok=True)
        self._files = files
        self._count = 0
        self._ready = False  # it imports while the caller goes on; the first run waits

    def _answer(self, timeout: float | None) -> dict[str, Any]:
        """The server's next line (TimeoutError if none comes within ``timeout`` seconds)."""
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._received:
                if not selector.select(timeout):
                    raise TimeoutError
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError("the fork server stopped")
                self._received += chunk
        line, _, self._received = self._received.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        input: str | None = None,
        stdin: str = os.devnull,
        stdout: str | None = None,
        stderr: str | None = None,
        append: bool = False,
        timeout: float | None = None,
        started: Callable[[int], object] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``reconciler ARGS``; ``input`` is its whole stdin, else it reads ``stdin``
        (a file or a terminal's device); ``stdout`` and ``stderr`` take its output instead
        of the result, appended to with ``append`` (another process's, ``/proc/PID/fd/1``).
        ``started(pid)`` is called once the run's process exists (a test may kill it)."""
        with self._lock:
            if not self._ready:
                assert self._answer(None) == {"ready": True}
                self._ready = True
            self._count += 1
            stem = self._files / str(self._count)
            out, err, given = (stem.with_suffix(s) for s in (".out", ".err", ".in"))
            if input is not None:
                given.write_text(input)
                stdin = str(given)
            request = {
                "args": list(args),
                "cwd": str(cwd),
                "env": dict(env),
                "stdin": stdin,
                "stdout": stdout or str(out),
                "stderr": stderr or str(err),
                "append": append,
            }
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(request).encode() + b"\n")
            pid = self._answer(None)["pid"]
            if started is not None:
                started(pid)
            try:
                code = self._answer(timeout)["returncode"]
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                self._answer(None)
                raise subprocess.TimeoutExpired(["reconciler", *args], timeout or 0) from None
            result = subprocess.CompletedProcess(
                ["reconciler", *args],
                code,
                "" if stdout else out.read_text(),
                "" if stderr else err.read_text(),
            )
            for file in (out, err, given):
                file.unlink(missing_ok=True)
            return result

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(timeout=30)


if __name__ == "__main__":
    serve()
