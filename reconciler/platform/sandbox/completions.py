"""What the sandbox's models answer: deterministic replies, token counts and embeddings.

No model runs. The same request always gets the same answer, so tests and demos can
assert on it, and the counts are realistic enough for budgets and audits:

- **Tokens.** Text splits into pieces, each one token: a run of up to six letters, a
  single digit, or any other non-space character, with the whitespace before it. English
  prose comes out near 1.3 tokens a word, about what Mistral's tokenizers give. A chat
  prompt adds one token to begin and three per message (the control tokens around it).
- **Replies.** A chat or FIM reply names the model and echoes the start of the prompt;
  ``max_tokens`` cuts it at that many tokens, and the finish reason is then ``length``.
- **Embeddings.** A unit vector drawn from SHAKE-256 of the model id and the text, of
  the model's dimension (``output_dimension`` when asked).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

_PIECE = re.compile(r"\s*(?:[^\W\d_]{1,6}|\d|[^\w\s]|_)", re.UNICODE)
BEGIN_TOKENS = 1
MESSAGE_TOKENS = 3
ECHO_TOKENS = 24
DEFAULT_DIMENSION = 1024
DIMENSIONS = {"mistral-embed-2312": 1024, "codestral-embed-2505": 1536}


def pieces(text: str) -> list[str]:
    """The tokens of a text; joined, they give the text back less trailing whitespace."""
    return _PIECE.findall(text)


def count(text: str) -> int:
    """How many tokens a text is."""
    return len(pieces(text))


def prompt_tokens(messages: Iterable[str]) -> int:
    """Tokens of a chat prompt, from the text of its messages."""
    return BEGIN_TOKENS + sum(MESSAGE_TOKENS + count(m) for m in messages)


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply: its text, its length in tokens, and why it ended."""

    text: str
    tokens: int
    finish_reason: str  # stop | length


def reply(model: str, prompt: str, max_tokens: int | None, *, code: bool = False) -> Reply:
    """The deterministic reply of ``model`` to a prompt (``code``: a FIM completion)."""
    echo = " ".join("".join(pieces(prompt)[:ECHO_TOKENS]).split()) or "(nothing)"
    if code:
        text = f"# {model} in the sandbox, completing: {echo}"
    else:
        text = f"This is {model} in the sandbox, answering: {echo}"
    tokens = pieces(text)
    if max_tokens is not None and max_tokens < len(tokens):
        return Reply("".join(tokens[:max_tokens]), max_tokens, "length")
    return Reply(text, len(tokens), "stop")


def embedding(model: str, text: str, dimension: int | None = None) -> list[float]:
    """A deterministic unit vector standing for ``text``."""
    size = dimension or DIMENSIONS.get(model, DEFAULT_DIMENSION)
    raw = hashlib.shake_256(f"{model}\0{text}".encode()).digest(2 * size)
    values = [int.from_bytes(raw[i : i + 2], "big") / 32767.5 - 1.0 for i in range(0, 2 * size, 2)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]
