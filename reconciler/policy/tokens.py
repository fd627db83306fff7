"""Token estimates for a request before it is sent, from its JSON body alone.

No tokenizer is bundled: the estimate counts characters (``chars_per_token`` ASCII
characters per token, one token per other character, which over-counts most European
text slightly and matches CJK text), adds a small overhead per chat message, a fixed
amount per image, and takes the output side from ``max_tokens`` (times ``n``), or
``default_output_tokens`` when the request does not cap its output. The real counts
come back in the response's ``usage`` and are what gets recorded.

Understood bodies: chat and agents completions (``messages``, ``tools``), FIM
(``prompt``, ``suffix``), embeddings, moderations and classifications (``input`` or
``inputs``: a string, a list of strings, or chat messages). Anything else is estimated
from its JSON length.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

_NO_OUTPUT_SUFFIXES = ("/embeddings", "/moderations", "/classifications")


@dataclass(frozen=True, slots=True)
class TokenEstimate:
    """Estimated tokens in (prompt) and out (completion) of one call."""

    input_tokens: int
    output_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class TokenEstimator:
    """Character-count heuristics, tunable per application."""

    chars_per_token: float = 3.5
    message_overhead: int = 4
    image_tokens: int = 1024
    default_output_tokens: int = 1024

    def text(self, text: str) -> int:
        """Estimated tokens in a piece of text."""
        if not text:
            return 0
        if text.isascii():
            return math.ceil(len(text) / self.chars_per_token)
        other = sum(1 for ch in text if ord(ch) > 127)
        return math.ceil((len(text) - other) / self.chars_per_token) + other

    def request(self, path: str, body: Mapping[str, Any]) -> TokenEstimate:
        """Estimate a call to ``path`` with this JSON body."""
        tokens = 0
        for field in ("messages", "inputs", "input"):
            if field in body:
                tokens += self._content(body[field])
        if "prompt" in body:
            tokens += self._content(body["prompt"])
        if "suffix" in body:
            tokens += self._content(body["suffix"])
        if body.get("tools"):
            tokens += self.text(json.dumps(body["tools"], separators=(",", ":")))
        if tokens == 0 and not any(k in body for k in ("messages", "inputs", "input", "prompt")):
            tokens = self.text(json.dumps(body, separators=(",", ":"), default=str))
        return TokenEstimate(tokens, self._output(path, body))

    def _output(self, path: str, body: Mapping[str, Any]) -> int:
        if path.rstrip("/").endswith(_NO_OUTPUT_SUFFIXES):
            return 0
        given = body.get("max_tokens")
        cap = given if _is_count(given) and given > 0 else self.default_output_tokens
        choices = body.get("n")
        many = choices if _is_count(choices) else 1
        return int(cap) * max(1, int(many))

    def _content(self, value: Any) -> int:
        if value is None:
            return 0
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return 1  # a token id in a pre-tokenised input
        if isinstance(value, list):
            return sum(self._content(item) for item in value)
        if isinstance(value, Mapping):
            return self._part(value)
        return self.text(str(value))

    def _part(self, part: Mapping[str, Any]) -> int:
        kind = part.get("type")
        if kind in ("image_url", "input_image", "image"):
            return self.image_tokens
        if kind == "document_url":
            return self.image_tokens * 4
        tokens = 0
        if "role" in part:  # a chat message
            tokens += self.message_overhead
        for field in ("content", "text", "prompt_text"):
            if field in part:
                tokens += self._content(part[field])
        if part.get("tool_calls"):
            tokens += self.text(json.dumps(part["tool_calls"], separators=(",", ":"), default=str))
        return tokens


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


DEFAULT_ESTIMATOR = TokenEstimator()
