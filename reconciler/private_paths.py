"""Folders this tool makes for what only its user may read: the state directory (the
journal, the audit logs), the sandbox's. Pure standard library, no other import.

``mkdir``'s mode is masked by the umask, and the default mode leaves a folder open to
everyone under ``umask 000``; :func:`private_folder` makes each missing folder 0700
whatever the umask. Folders that exist already are left as their owner set them.
"""

from __future__ import annotations

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
