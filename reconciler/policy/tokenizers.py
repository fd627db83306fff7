"""Providers' own tokenizers, for token estimates closer than a character count.

Optional, and imported only when first needed (``pip install reconciler[tokenizers]``):

- **Mistral models** (``mistral-*``, ``codestral-*``, ``ministral-*``, ``magistral-*``,
  ``devstral-*``, ``pixtral-*``, ``voxtral-*``, ``open-mistral-*``, ``open-mixtral-*``):
  ``mistral-common``'s Tekken tokenizer, whose vocabulary ships inside the package, so it
  works offline. It takes about a second to load, once per process, on the first
  request for a Mistral model.
- **OpenAI-compatible models**: ``tiktoken`` downloads its vocabulary files from the
  internet the first time an encoding is used, which an application must not do in the
  path of a request (and cannot do offline), so it is not used unless you hand it an
  encoding you have loaded: ``TiktokenTokenizer(tiktoken.get_encoding("o200k_base"))``
  in ``TokenEstimator(tokenizers=(("gpt-", tokenizer),))``.

Anything else is estimated from its characters; every estimate says which was used
(:attr:`~reconciler.policy.tokens.TokenEstimate.source`).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

MISTRAL_PREFIXES = (
    "mistral-",
    "codestral",
    "ministral-",
    "magistral-",
    "devstral-",
    "pixtral-",
    "voxtral-",
    "open-mistral-",
    "open-mixtral-",
)


class Tokenizer(Protocol):
    """Counts the tokens of a piece of text; ``name`` says which tokenizer it is."""

    @property
    def name(self) -> str: ...

    def count(self, text: str) -> int: ...


class MistralCommonTokenizer:
    """``mistral-common``'s Tekken tokenizer (the vocabulary bundled with the package)."""

    name = "mistral-common"

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer

    @classmethod
    def bundled(cls) -> MistralCommonTokenizer:
        from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

        return cls(MistralTokenizer.v3(is_tekken=True, is_mm=True).instruct_tokenizer.tokenizer)

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, bos=False, eos=False))


class TiktokenTokenizer:
    """A ``tiktoken`` encoding that is already loaded."""

    def __init__(self, encoding: Any) -> None:
        self._encoding = encoding
        self.name = f"tiktoken:{encoding.name}"

    def count(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))


_LOCK = threading.Lock()
_MISTRAL: list[MistralCommonTokenizer | None] = []  # empty: not tried yet


def is_mistral_model(model: str) -> bool:
    return model.startswith(MISTRAL_PREFIXES)


def mistral_tokenizer() -> MistralCommonTokenizer | None:
    """The bundled Mistral tokenizer, or None when ``mistral-common`` is not installed
    (or cannot load it); tried once per process."""
    if not _MISTRAL:
        with _LOCK:
            if not _MISTRAL:
                try:
                    _MISTRAL.append(MistralCommonTokenizer.bundled())
                except Exception:  # not installed, or a release without the bundled file
                    _MISTRAL.append(None)
    return _MISTRAL[0]
