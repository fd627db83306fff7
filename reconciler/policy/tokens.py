"""Token estimates for a request before it is sent, from its JSON body alone.

Text is counted with the provider's own tokenizer where one is available (for Mistral
models, ``mistral-common``'s, when installed; see :mod:`~reconciler.policy.tokenizers`),
else from its characters (``chars_per_token`` ASCII characters per token, one token per
other character, which over-counts most European text slightly and matches CJK text);
:attr:`TokenEstimate.source` says which. The estimate adds a small overhead per chat
message, a fixed amount per image, and takes the output side from the request's cap
(``max_tokens``, ``max_completion_tokens`` or ``max_output_tokens``, or a conversation's
``completion_args.max_tokens``, times ``n``), or ``default_output_tokens`` when the
request does not cap its output. The real counts come back in the response's usage and
are what gets recorded.

Understood bodies: chat and agents completions (``messages``, ``system``, ``tools``),
Mistral conversations (``inputs``),
FIM (``prompt``, ``suffix``), the Responses API (``input``, ``instructions``),
embeddings, moderations, classifications and reranking (``input``, ``inputs``,
``texts``, ``query``, ``documents``: strings, lists, chat messages or content parts).
Anything else is estimated from its JSON length.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from reconciler.policy.tokenizers import Tokenizer, is_mistral_model, mistral_tokenizer
from reconciler.policy.wire import OUTPUT_FIELDS

_NO_OUTPUT_SUFFIXES = ("/embeddings", "/embed", "/moderations", "/classifications", "/rerank")
_INPUT_FIELDS = ("messages", "inputs", "input", "texts", "prompt", "suffix", "system")
_MORE_FIELDS = ("instructions", "query", "documents")
CHARACTERS = "characters"


@dataclass(frozen=True, slots=True)
class TokenEstimate:
    """Estimated tokens in (prompt) and out (completion) of one call."""

    input_tokens: int
    output_tokens: int = 0
    source: str = CHARACTERS  # what counted the text: "characters", or a tokenizer's name
    # the request asks for its prompt to be written to the provider's cache (Anthropic's
    # cache_control), which costs more than input: it is held at the dearest write price
    cache_writes: bool = False

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class TokenEstimator:
    """Estimates tunable per application.

    ``tokenizers``: ``(model name prefix, tokenizer)`` pairs tried first; then, with
    ``mistral_common``, the bundled Mistral tokenizer for Mistral models; else the
    character count.
    """

    chars_per_token: float = 3.5
    message_overhead: int = 4
    image_tokens: int = 1024
    default_output_tokens: int = 1024
    tokenizers: tuple[tuple[str, Tokenizer], ...] = ()
    mistral_common: bool = True

    def tokenizer(self, model: str | None) -> Tokenizer | None:
        """The tokenizer for a model's text, or None for the character count."""
        if not model:
            return None
        for prefix, tokenizer in self.tokenizers:
            if model.startswith(prefix):
                return tokenizer
        if self.mistral_common and is_mistral_model(model):
            return mistral_tokenizer()
        return None

    def count(self, text: str, model: str | None) -> int:
        """Tokens in a piece of a model's text: its tokenizer's count, or the characters'."""
        tokenizer = self.tokenizer(model)
        return self.text(text) if tokenizer is None else tokenizer.count(text)

    def text(self, text: str) -> int:
        """Estimated tokens in a piece of text, from its characters."""
        if not text:
            return 0
        if text.isascii():
            return math.ceil(len(text) / self.chars_per_token)
        other = sum(1 for ch in text if ord(ch) > 127)
        return math.ceil((len(text) - other) / self.chars_per_token) + other

    def request(
        self, path: str, body: Mapping[str, Any], *, model: str | None = None
    ) -> TokenEstimate:
        """Estimate a call to ``path`` with this JSON body (``model``: its tokenizer)."""
        tokenizer = self.tokenizer(model)
        count = self.text if tokenizer is None else tokenizer.count
        source = CHARACTERS if tokenizer is None else tokenizer.name
        tokens = 0
        for field in (*_INPUT_FIELDS, *_MORE_FIELDS):
            if field in body:
                tokens += self._content(body[field], count)
        if body.get("tools"):
            tokens += count(json.dumps(body["tools"], separators=(",", ":")))
        if tokens == 0 and not any(k in body for k in _INPUT_FIELDS):
            tokens = count(json.dumps(body, separators=(",", ":"), default=str))
        output = self._output(path, body)
        return TokenEstimate(tokens, output, source, cache_writes=_asks_cache(body))

    def _output(self, path: str, body: Mapping[str, Any]) -> int:
        if path.rstrip("/").endswith(_NO_OUTPUT_SUFFIXES):
            return 0
        cap = self.default_output_tokens
        args = body.get("completion_args")  # where a Mistral conversation caps its output
        for given in (
            *(body.get(field) for field in OUTPUT_FIELDS),
            args.get("max_tokens") if isinstance(args, Mapping) else None,
        ):
            if _is_count(given) and given > 0:
                cap = given
                break
        choices = body.get("n")
        many = choices if _is_count(choices) else 1
        return int(cap) * max(1, int(many))

    def _content(self, value: Any, count: Callable[[str], int]) -> int:
        if value is None:
            return 0
        if isinstance(value, str):
            return count(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return 1  # a token id in a pre-tokenised input
        if isinstance(value, list):
            return sum(self._content(item, count) for item in value)
        if isinstance(value, Mapping):
            return self._part(value, count)
        return count(str(value))

    def _part(self, part: Mapping[str, Any], count: Callable[[str], int]) -> int:
        kind = part.get("type")
        if kind in ("image_url", "input_image", "image"):
            return self.image_tokens
        if kind in ("document_url", "document"):
            return self.image_tokens * 4
        tokens = 0
        if "role" in part:  # a chat message
            tokens += self.message_overhead
        known = False
        for field in ("content", "text", "prompt_text", "data", "input"):
            if field in part:
                known = True
                tokens += self._content(part[field], count)
        if part.get("tool_calls"):
            known = True
            tokens += count(json.dumps(part["tool_calls"], separators=(",", ":"), default=str))
        if not known and "role" not in part:  # a document or part of another shape
            tokens += count(json.dumps(part, separators=(",", ":"), default=str))
        return tokens


def _asks_cache(body: Mapping[str, Any]) -> bool:
    """Whether a request asks for its prompt to be written to the provider's cache
    (Anthropic's ``cache_control``): on itself, or on a block of its system prompt, its
    tools, its messages' content or a tool result's content. Only those are looked at:
    an input of token ids (millions of numbers) is never walked."""
    if body.get("cache_control") is not None:
        return True
    blocks = [*_items(body.get("system")), *_items(body.get("tools"))]
    blocks.extend(_items(body.get("messages")))
    while blocks:
        block = blocks.pop()
        if isinstance(block, Mapping):
            if block.get("cache_control") is not None:
                return True
            blocks.extend(_items(block.get("content")))  # a message's, a tool result's
    return False


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


DEFAULT_ESTIMATOR = TokenEstimator()
