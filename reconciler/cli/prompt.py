"""Asking a person for ``yes`` on the terminal, the way Terraform does.

The answer is read without blocking the event loop (a reader on standard input), so the
apply lock goes on being renewed while someone reads the plan, and Ctrl-C at the prompt
answers at once (:attr:`Answer.INTERRUPTED`) instead of waiting for a line: the caller
releases what it holds and exits 130.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from enum import Enum


class Answer(Enum):
    YES = "yes"
    NO = "no"
    INTERRUPTED = "interrupted"


def on_terminal() -> bool:
    """Whether a person can answer: standard input is a terminal."""
    return sys.stdin.isatty()


async def ask_yes(prompt: str) -> Answer:
    """Print ``prompt`` and wait for a line: ``yes`` approves, anything else (or end of
    input) declines, Ctrl-C interrupts."""
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[Answer] = loop.create_future()

    def settle(answer: Answer) -> None:
        if not answered.done():
            answered.set_result(answer)

    def readable() -> None:
        line = sys.stdin.readline()
        settle(Answer.YES if line.strip() == "yes" else Answer.NO)

    fd = sys.stdin.fileno()
    previous = signal.getsignal(signal.SIGINT)
    loop.add_reader(fd, readable)
    loop.add_signal_handler(signal.SIGINT, settle, Answer.INTERRUPTED)
    try:
        sys.stdout.write(prompt)  # once Ctrl-C is ours: whoever sees the prompt may press it
        sys.stdout.flush()
        return await answered
    finally:
        loop.remove_reader(fd)
        loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, previous)
