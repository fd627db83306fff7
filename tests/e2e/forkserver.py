"""Run the CLI in fresh processes forked from one that has already imported it.

The kill test runs the CLI some eighty times; most of each run would be spent importing.
``python -m tests.e2e.forkserver`` imports the CLI and everything its commands import,
then serves requests (JSON lines on stdin): for each it forks a child that changes to the
request's directory, takes its environment, sends stdout and stderr to files and runs
``reconciler ARGS`` exactly as the console script does; the server answers with the
child's exit status (``-9`` when it was SIGKILLed). Each child is a real, separate
process: killing it (or it killing itself) touches nothing else.

:class:`ForkServer` is the test side: ``run(args, cwd=..., env=...)`` returns a
``CompletedProcess`` like :func:`subprocess.run`. One request at a time per server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PRELOAD = (
    "reconciler.cli.main",
    "reconciler.cli.apply",
    "reconciler.cli.plan",
    "reconciler.apply.engine",
    "reconciler.apply.lock",
    "reconciler.session",
    "reconciler.platform.target",
    "reconciler.platform.sandbox",
    "reconciler.logging",
    "reconciler.render",
)


def _child(request: Mapping[str, Any]) -> None:
    """In the forked child: become the CLI run the request asks for, then exit."""
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        stdin = os.open(os.devnull, os.O_RDONLY)
        os.dup2(stdin, 0)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
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
    import importlib

    for module in PRELOAD:
        importlib.import_module(module)
    channel = sys.stdout
    print(json.dumps({"ready": True}), file=channel, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
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
            text=True,
        )
        self._lock = threading.Lock()
        files.mkdir(parents=True, exist_ok=True)
        self._files = files
        self._count = 0
        assert json.loads(self._read()) == {"ready": True}

    def _read(self) -> str:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the fork server stopped")
        return line

    def run(
        self, args: Sequence[str], *, cwd: Path, env: Mapping[str, str]
    ) -> subprocess.CompletedProcess[str]:
        with self._lock:
            self._count += 1
            out, err = self._files / f"{self._count}.out", self._files / f"{self._count}.err"
            request = {
                "args": list(args),
                "cwd": str(cwd),
                "env": dict(env),
                "stdout": str(out),
                "stderr": str(err),
            }
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
            code = json.loads(self._read())["returncode"]
            result = subprocess.CompletedProcess(
                ["reconciler", *args], code, out.read_text(), err.read_text()
            )
            out.unlink()
            err.unlink()
            return result

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(timeout=30)


if __name__ == "__main__":
    serve()
