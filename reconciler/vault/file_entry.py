"""One entry of the file vault on disk: its format, read whole and checked.

An entry is a JSON file holding ``{"format": 1, "current_version": N, "versions": [...]}``
(:mod:`reconciler.vault.file` says what a version holds). :func:`load` reads one with
the system's calls alone (a plan reads thousands of small entries), refuses one over
:data:`MAX_ENTRY_BYTES` unread, and checks its shape; its errors name the entry and a
position, never the content, which may be a secret. :func:`json_bytes` is what is written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from reconciler.errors import SecretStoreError

FORMAT = 1

#: The largest vault entry read: far above any secret, and above the ownership record of
#: a very large organisation (about 50 bytes a key); a bigger file is refused unread.
MAX_ENTRY_BYTES = 64 * 1024 * 1024
_READ_SIZE = 64 * 1024


class _TooLarge(Exception):
    """A vault entry over :data:`MAX_ENTRY_BYTES`: not read."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _read_bytes(target: Path | str, *, follow: bool = True) -> bytes:
    """The whole file, read with the system's calls alone: a plan reads thousands of small
    entries, and a file object (its buffer and text layers) costs more than the reads.
    ``follow=False``: a symbolic link is not opened (ELOOP), for an entry its folder's
    listing showed as a plain file. Over :data:`MAX_ENTRY_BYTES`: :class:`_TooLarge`."""
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    handle = os.open(target, flags)
    try:
        size = os.fstat(handle).st_size
        if size > MAX_ENTRY_BYTES:
            raise _TooLarge(size)
        chunks = []
        read = 0
        while chunk := os.read(handle, _READ_SIZE):
            chunks.append(chunk)
            read += len(chunk)
            if read > MAX_ENTRY_BYTES:  # grown since: not read on without end
                raise _TooLarge(read)
    finally:
        os.close(handle)
    return b"".join(chunks)


def load(
    description: str, target: Path | str, rel: str, *, follow: bool = True
) -> dict[str, Any] | None:
    """The entry at ``target`` (the vault path ``rel``, of the store ``description``);
    None when there is no such file."""
    try:
        data = _read_bytes(target, follow=follow)
    except FileNotFoundError:
        return None
    except _TooLarge as big:
        raise SecretStoreError(
            f"{description}: {rel}: {target} is {big.size:,} bytes, over the "
            f"{MAX_ENTRY_BYTES:,} a vault entry may be; not read"
        ) from None
    except OSError as exc:
        raise os_error(description, "read", rel, exc) from None
    try:
        doc = json.loads(data.decode("utf-8"))
    except json.JSONDecodeError as exc:
        # the decoder's message names a position only, never the content
        raise SecretStoreError(
            f"{description}: {rel}: {target} is not valid JSON (line {exc.lineno}, "
            f"column {exc.colno})"
        ) from None
    except UnicodeDecodeError as exc:  # its position only: the bytes may be a secret's
        raise SecretStoreError(
            f"{description}: {rel}: {target} is not UTF-8 text (byte {exc.start})"
        ) from None
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("versions"), list)
        or not isinstance(doc.get("current_version"), int)
    ):
        raise SecretStoreError(
            f"{description}: {rel}: {target} is not a file vault entry "
            "(expected current_version and versions)"
        )
    return doc


def current(description: str, doc: dict[str, Any], rel: str) -> dict[str, Any]:
    """The entry's current version."""
    version = doc["current_version"]
    for entry in reversed(doc["versions"]):
        if isinstance(entry, dict) and entry.get("version") == version:
            return entry
    raise SecretStoreError(f"{description}: {rel}: version {version} is missing")


def json_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True).encode()


def os_error(description: str, action: str, rel: str, exc: OSError) -> SecretStoreError:
    """The store's error for a failed system call: the action, the path, the reason."""
    reason = exc.strerror or type(exc).__name__
    return SecretStoreError(f"{description}: cannot {action} {rel}: {reason}")
