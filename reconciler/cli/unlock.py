"""``reconciler force-unlock LOCK_ID``: remove the apply lock of an apply that died.

As ``terraform force-unlock``: the id is the one a lock error names; an id that is not
the current holder's is refused (a lock taken since is never removed); the command says
who held the lock and asks for ``yes`` unless ``-force`` (once the lock is found to be
the one named: no lock, or another's, is said without a question). It opens only the secret store
that holds the lock, never the platform.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.cli.common import err
from reconciler.cli.prompt import Answer, ask_yes, on_terminal
from reconciler.errors import ConfigError
from reconciler.session import TargetOptions, force_unlock
from reconciler.textsafe import for_terminal
from reconciler.vault.base import LockHolder

UNLOCK_PROMPT = (
    "\nDo you really want to force-unlock?\n"
    "  reconciler will remove the apply lock. Another apply may then start, even if the\n"
    "  one holding the lock is still running. Only 'yes' will be accepted to confirm.\n\n"
    "  Enter a value: "
)


async def force_unlock_command(
    directory: Path, options: TargetOptions, lock_id: str, *, force: bool = False
) -> int:
    """Release the lock ``lock_id``: 0 done, 1 declined, 130 interrupted at the prompt.
    Without ``force`` the holder is asked about once the lock is found to be ``lock_id``'s
    (no lock, or another id's, is said first), and without a terminal to ask on, refused."""
    interrupted = False
    terminal = on_terminal()

    async def confirm(holder: LockHolder) -> bool:
        nonlocal interrupted
        if not terminal:
            raise ConfigError(
                "force-unlock needs confirmation: run it in a terminal, or pass -force"
            )
        print(for_terminal(f"Lock ID {holder.id} is held by {holder.describe()}."))
        answer = await ask_yes(UNLOCK_PROMPT)
        if answer is not Answer.YES:
            interrupted = answer is Answer.INTERRUPTED
            err("\nForce-unlock cancelled.")
        return answer is Answer.YES

    released = await force_unlock(directory, options, lock_id, confirm=None if force else confirm)
    if released is None:
        return 130 if interrupted else 1
    print(for_terminal(f"Released the state lock held by {released.describe()}."))
    print("reconciler state has been successfully unlocked!")
    return 0
