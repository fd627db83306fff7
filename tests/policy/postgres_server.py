"""A real PostgreSQL server for the tests, in a temporary directory, on 127.0.0.1.

:func:`start` runs ``initdb`` and ``postgres`` (found on ``PATH`` or under Debian's
``/usr/lib/postgresql/<version>/bin``) and returns once the server has said, on its own
output, that it accepts connections; :meth:`Server.stop` shuts it down fast and removes
its files. PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user
(Debian's package creates it), or ``nobody``. :func:`missing` says why it cannot run.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

READY = "database system is ready to accept connections"


def binaries() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``, newest version first."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "postgres").is_file():
            return directory
    return None


def missing() -> str | None:
    """Why no server can be started here, or None."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'reconciler[postgres]')"
    if binaries() is None:
        return "no PostgreSQL server binaries (initdb, postgres): apt-get install postgresql"
    return None


def _user() -> pwd.struct_passwd | None:
    """Whom the server runs as: None (this user), or a user that is not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root with neither a postgres nor a nobody user")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """A running server and where it listens."""

    process: subprocess.Popen[str]
    directory: Path
    port: int
    log: list[str] = field(default_factory=list)

    @property
    def conninfo(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        shutil.rmtree(self.directory, ignore_errors=True)


def start(timeout: float = 60.0) -> Server:
    """Initialise a cluster in a new temporary directory and start a server on it."""
    bin_dir = binaries()
    assert bin_dir is not None, missing()
    user = _user()
    directory = Path(tempfile.mkdtemp(prefix="reconciler-pg-"))
    if user is not None:
        os.chown(directory, user.pw_uid, user.pw_gid)
    uid, gid = (user.pw_uid, user.pw_gid) if user else (None, None)
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    data = directory / "data"
    made = subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
         "-E", "UTF8", "--locale=C", "--no-sync"],
        capture_output=True, text=True, env=env, cwd=directory, user=uid, group=gid,
    )  # fmt: skip
    if made.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"initdb failed:\n{made.stdout[-2000:]}{made.stderr[-2000:]}")
    port = _free_port()
    process = subprocess.Popen(
        [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(directory),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200",
         "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=directory,
        user=uid, group=gid,
    )  # fmt: skip
    server = Server(process, directory, port)
    ready = threading.Event()

    def drain() -> None:  # the server's log, read to its end so it never blocks on it
        assert process.stderr is not None
        for line in process.stderr:
            server.log.append(line)
            if READY in line:
                ready.set()
        ready.set()  # it ended

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(timeout) or process.poll() is not None:
        server.stop()
        raise RuntimeError("PostgreSQL did not start:\n" + "".join(server.log[-20:]))
    return server
