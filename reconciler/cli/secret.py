"""``reconciler secret put ADDRESS``: store the secret of a key made in a console.

The secret is read from standard input (a terminal is asked without echo), never from
an argument, so it stays out of ``ps`` and shell history; it is never printed. The
library checks and stores it (:meth:`reconciler.session.Session.put_secret`).
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from pydantic import SecretStr

from reconciler.session import Session, TargetOptions
from reconciler.textsafe import for_terminal


def read_secret() -> SecretStr:
    """The secret on standard input: typed without echo on a terminal, else piped."""
    if sys.stdin.isatty():
        return SecretStr(getpass.getpass("Secret (not echoed): ").strip())
    return SecretStr(sys.stdin.read().strip())


async def put_command(directory: Path, options: TargetOptions, address: str) -> int:
    secret = read_secret()
    async with Session(directory, options) as session:
        where, notes = await session.put_secret(address, secret)
    print(for_terminal(f"Stored the secret of {address} in {where}."))
    for note in notes:
        print(for_terminal(f"Note: {note}"))
    return 0
