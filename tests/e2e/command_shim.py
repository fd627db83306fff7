"""``reconciler`` as a command on ``PATH`` for the scripts the tests run (the GitHub
action's ``run.sh``), forked from the fork server instead of started afresh.

A fresh ``reconciler`` spends most of a short run importing; a script that runs it a
dozen times spends seconds on that. :func:`shim_dir` returns a directory holding an
executable ``reconciler``: a few lines of Python run with ``-S`` (no site-packages) that
send their arguments, working directory, environment and pid to this process over a Unix
socket and exit with the run's status. This process runs each through the worker's
:func:`tests.e2e.conftest.fork_server`; the forked run reads the command's own standard
input and appends to its own standard output and error (``/proc/PID/fd/N``), so
redirections in the script work as they do for the installed command. Without ``/proc``
(macOS) it returns None, and scripts run the installed ``reconciler``.
"""

from __future__ import annotations

import atexit
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from tests.e2e.conftest import fork_server

SHIM = """#!{python} -S
import json, os, socket, sys
channel = socket.socket(socket.AF_UNIX)
channel.connect({socket!r})
request = {{"args": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ), "pid": os.getpid()}}
channel.sendall(json.dumps(request).encode() + b"\\n")
answer = json.loads(channel.makefile().readline())
if answer.get("error"):
    print(answer["error"], file=sys.stderr)
code = answer["returncode"]
sys.exit(code if code >= 0 else 128 - code)
"""
TIMEOUT = 120.0  # a hung run is killed (exit 124, as timeout(1) says), not waited for

_DIRECTORY: list[Path] = []


def _serve(listener: socket.socket) -> None:
    while True:
        connection, _ = listener.accept()
        with connection, connection.makefile("rwb") as stream:
            request = json.loads(stream.readline())
            fd = f"/proc/{request['pid']}/fd"
            answer: dict[str, Any] = {}
            try:
                done = fork_server().run(
                    request["args"],
                    cwd=Path(request["cwd"]),
                    env=request["env"],
                    stdin=f"{fd}/0",
                    stdout=f"{fd}/1",
                    stderr=f"{fd}/2",
                    append=True,
                    timeout=TIMEOUT,
                )
                answer["returncode"] = done.returncode
            except subprocess.TimeoutExpired as exc:
                answer = {"returncode": 124, "error": f"the shim's reconciler: {exc}"}
            except Exception as exc:  # the shim says why, and the next run is served
                answer = {"returncode": 1, "error": f"the shim's reconciler failed: {exc!r}"}
            stream.write(json.dumps(answer).encode() + b"\n")


def shim_dir() -> Path | None:
    """A directory whose ``reconciler`` runs through this process's fork server (started on
    first use, for the rest of the process), or None where ``/proc`` is missing."""
    if not Path("/proc/self/fd").is_dir():
        return None
    if not _DIRECTORY:
        directory = Path(tempfile.mkdtemp(prefix="reconciler-shim-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(directory / "socket"))
        listener.listen()
        threading.Thread(target=_serve, args=(listener,), daemon=True).start()
        shim = directory / "bin" / "reconciler"
        shim.parent.mkdir()
        shim.write_text(SHIM.format(python=sys.executable, socket=str(directory / "socket")))
        shim.chmod(0o755)
        _DIRECTORY.append(shim.parent)
    return _DIRECTORY[0]
