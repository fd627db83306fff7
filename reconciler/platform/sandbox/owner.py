"""Who owns a sandbox state file: one process at a time, held by an OS file lock.

A sandbox state file (either provider's) is written by the process that has it open, from
its memory: two such processes would each miss what the other wrote, and a server writes
its memory over the file when it stops. So every owner (``reconciler sandbox serve``, the
embedded sandbox of a ``--sandbox`` command, ``sandbox reset``, ``sandbox accept-invite``)
first takes a :class:`StateLock`: an exclusive ``flock`` on ``STATE.lock`` beside the
state (never on the state itself, which is replaced by a rename), tried once and refused
at once when held, for the owner's whole life. The holder writes its pid and what it is
into the lock file, so the refused process can say who holds it (what it says is shown
escaped and cut short: the file may be anyone's). A lock path that is not a plain file (a
symbolic link another user left in a shared directory, say) is refused, never written
through. Reading the state file (a test's assertion, a backup) is not owning it and
takes nothing.

The OS releases the lock when its holder dies, however it dies: a killed server never
blocks the next owner, and there is nothing to unlock by hand. Windows has no ``flock``:
there no lock is taken and ownership is not enforced (one process at a time remains the
rule to keep).
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx
from starlette.types import ASGIApp

from reconciler.errors import ConfigError
from reconciler.private_paths import private_folder
from reconciler.textsafe import for_terminal


@dataclass(frozen=True)
class Owner:
    """What holds a state file, as a process refused it is told: ``STATE is {doing} by
    process PID ({command}): {advice}``."""

    command: str
    doing: str = "in use"
    advice: str = "wait for it to finish, or stop it first"


EMBEDDED = Owner("reconciler --sandbox")
RESETTING = Owner("reconciler sandbox reset", "being reset")
ACCEPTING = Owner("reconciler sandbox accept-invite")


def serving(variable: str, url: str | None = None) -> Owner:
    """A server of the state, at ``url`` once it listens: whoever is refused it is told to
    point ``variable`` at it instead."""
    return Owner(
        "reconciler sandbox serve",
        "being served",
        f"point {variable} at {url or 'it'}, or stop it first",
    )


class StateInUse(ConfigError):
    """Another process owns the state file: one line naming it, exit code 1."""


def lock_path(state: Path) -> Path:
    """The lock file of ``state``: beside it, named after it."""
    return state.with_name(state.name + ".lock")


class StateLock:
    """The exclusive hold of one state file; :meth:`release` (or the end of the process)
    gives it up."""

    def __init__(self, state: Path, handle: IO[str] | None) -> None:
        self.state = state
        self._handle = handle

    @classmethod
    def take(cls, state: Path, owner: Owner, *, replacing: bool = False) -> Self:
        """Hold ``state`` for ``owner``, or raise :class:`StateInUse` at once.
        ``replacing``: the holder may overwrite a file that is no sandbox state (``reset
        --force``); otherwise such a file is refused before a lock file is made beside
        it."""
        path = lock_path(state)
        if sys.platform == "win32":  # no flock: not enforced (see the module's docstring)
            return cls(state, None)
        import fcntl

        if not replacing:
            _refuse_foreign(state)
        private_folder(path.parent)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):  # a link, a directory
                raise StateInUse(_not_plain(state, path)) from None
            raise ConfigError(  # a directory it may not write (a read-only checkout, say)
                f"cannot open {path}, the lock file of {state}: {exc.strerror}; a sandbox "
                "state needs a directory its owner may write"
            ) from None
        handle = os.fdopen(fd, "r+", encoding="utf-8")
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise StateInUse(_not_plain(state, path))
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StateInUse(_refusal(state, path)) from None
        except BaseException:
            handle.close()
            raise
        lock = cls(state, handle)
        lock.announce(owner)
        return lock

    def announce(self, owner: Owner) -> None:
        """Say who holds the state now (a server, once it knows its address)."""
        if self._handle is not None:
            self._rewrite(json.dumps({"pid": os.getpid(), **asdict(owner)}))

    def release(self) -> None:
        """Give the state up (again: nothing)."""
        handle, self._handle = self._handle, None
        if handle is None or sys.platform == "win32":
            return
        import fcntl

        try:
            self._rewrite("", handle)  # no stale holder named to whoever reads it next
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        finally:
            handle.close()

    def _rewrite(self, text: str, handle: IO[str] | None = None) -> None:
        handle = handle or self._handle
        assert handle is not None
        handle.seek(0)
        handle.truncate()
        handle.write(text)
        handle.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _refuse_foreign(state: Path) -> None:
    """A ConfigError when ``state`` is a file that is not a sandbox state (a JSON object):
    checked before its lock file is made beside it, so a mistyped ``--sandbox-state``
    creates nothing next to a file that is not a state (``/etc/passwd.lock``)."""
    try:
        mode = os.stat(state).st_mode
    except OSError:
        return  # a new state (or one that reading says why it cannot be read)
    if not stat.S_ISREG(mode):  # a directory, a FIFO (which a read would wait on) ...
        raise ConfigError(f"{state} is not a plain file, not a sandbox state file")
    try:
        with open(state, "rb") as handle:
            head = handle.read(64).lstrip()
    except OSError:
        return  # reading it says why
    if head and not head.startswith(b"{"):
        raise ConfigError(
            f"{state}: cannot read the sandbox state: not a sandbox state file (nothing was "
            "made beside it)"
        )


def _not_plain(state: Path, path: Path) -> str:
    return (
        f"{path} is not a plain file (a symbolic link, say): the lock file of {state} must "
        "be, remove it"
    )


_SAID = 200  # characters of each thing a holder says of itself that a refusal shows


def _refusal(state: Path, path: Path) -> str:
    """Who holds ``state``, from what the holder wrote in its lock file ``path`` (each
    part escaped and cut short)."""
    try:
        with path.open("rb") as file:
            holder = json.loads(file.read(4096))  # a holder writes a few hundred bytes
        pid = int(holder.pop("pid"))
        owner = Owner(**{k: _shown(v) for k, v in holder.items()})
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # not written yet
        return f"{state} is in use by another process: wait for it to finish, or stop it first"
    return f"{state} is {owner.doing} by process {pid} ({owner.command}): {owner.advice}"


def _shown(said: object) -> str:
    text = for_terminal(str(said))
    return text if len(text) <= _SAID else text[: _SAID - 3] + "..."


class OwnedTransport(httpx.ASGITransport):
    """An in-process sandbox app that owns its state file until the transport is closed
    (closing the clients that share it closes it)."""

    def __init__(self, app: ASGIApp, lock: StateLock) -> None:
        super().__init__(app=app)
        self._lock = lock

    async def aclose(self) -> None:
        self._lock.release()


def owned_transport(state: Path, app: Callable[[], ASGIApp]) -> OwnedTransport:
    """The embedded sandbox ``app()`` builds on ``state``, built once ``state`` is held
    (see :data:`EMBEDDED`); nothing is held when it cannot be built."""
    lock = StateLock.take(state, EMBEDDED)
    try:
        return OwnedTransport(app(), lock)
    except BaseException:
        lock.release()
        raise
