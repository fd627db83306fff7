"""Folders and files this tool writes where a link may have been planted. Pure standard
library, no other import.

``mkdir``'s mode is masked by the umask, and the default mode leaves a folder open to
everyone under ``umask 000``; :func:`private_folder` makes each missing folder 0700
whatever the umask (the state directory with the journal and the audit logs, the
sandbox's). Folders that exist already are left as their owner set them.

:func:`replace_file` writes a whole file afresh beside its name, then renames it over that
name (saved plans, the remembered refusals, the merge record, the written schemas): a
link left at either name in a shared directory is replaced, never written through.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def private_folder(folder: Path) -> None:
    """Make ``folder`` and its missing parents, each readable by this user alone (0700)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for made in reversed(missing):
        try:
            os.mkdir(made, 0o700)
        except FileExistsError:
            continue  # made meanwhile, by another process (or a link planted there): as is
        os.chmod(made, 0o700)  # the one made here alone


def replace_file(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """``path`` holding ``data`` (mode ``mode``): a temporary file beside it made afresh
    (``O_EXCL``, ``O_NOFOLLOW``), then renamed over it. An OSError leaves no temporary."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.unlink(missing_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(temporary, flags, mode), "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise
