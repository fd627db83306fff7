"""The ledger's text form: compact ASCII JSON, zlib+base64 when large, read back exactly.

Part of :mod:`reconciler.ownership`. A plain document is
``{"format": 1, "organization": ..., "keys": {...}, "intents": [...]}`` (absent fields are
None); a large one is ``{"format": 1, "encoding": "zlib+b64", "data": ...}`` around the
plain one. A record moved elsewhere leaves ``{"format": 1, "moved_to": NAME}`` behind
(:func:`encode_pointer`, :func:`moved_to`), which an earlier release refuses as not a
ledger rather than reading as an empty one. :func:`decode` ends in a ledger or a
:class:`LedgerError` that never repeats the content: another format is
:class:`UnsupportedFormat` (never overwrite it), and a document is bounded in size before
and after decompression.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib

from pydantic import ValidationError

from reconciler.ownership.ledger import Ledger, LedgerError, UnsupportedFormat, problems

FORMAT = 1  # the document format this code reads and writes
ENCODING = "zlib+b64"
COMPRESS_ABOVE = 32 * 1024  # characters of plain JSON; below, the document stays readable
MAX_DOCUMENT = 64 * 1024 * 1024  # bytes of JSON, stored or decompressed (~150,000 keys)


def encode(ledger: Ledger) -> str:
    """The ledger as compact JSON (ASCII only), compressed when over ``COMPRESS_ABOVE``."""
    document = {"format": FORMAT, **ledger.model_dump(mode="json", exclude_none=True)}
    plain = _dumps(document)
    if len(plain) <= COMPRESS_ABOVE:
        return plain
    packed = base64.b64encode(zlib.compress(plain.encode("ascii"))).decode("ascii")
    return _dumps({"format": FORMAT, "encoding": ENCODING, "data": packed})


def decode(text: str) -> Ledger:
    """The ledger ``text`` holds; :class:`LedgerError` (never showing the content) if it
    is not a ledger of this format, :class:`UnsupportedFormat` if of another format."""
    document = _load_object(text)
    encoding = document.pop("encoding", None)
    if encoding is not None:
        if encoding != ENCODING or set(document) != {"data"}:
            raise LedgerError(
                f"not a ledger: unknown encoding (expected {ENCODING!r} with a data field)"
            )
        document = _load_object(_unpack(document["data"]))
        if "encoding" in document:
            raise LedgerError("not a ledger: an encoded document inside an encoded document")
    try:
        return Ledger.model_validate(document)
    except ValidationError as exc:
        raise LedgerError(f"not a valid ledger: {problems(exc)}") from None


def encode_pointer(name: str) -> str:
    """The document left where a ledger was before it moved to the document ``name``."""
    return _dumps({"format": FORMAT, "moved_to": name})


def moved_to(text: str) -> str | None:
    """The document name a pointer (:func:`encode_pointer`) names; None for anything else."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None
    name = document.get("moved_to")
    return name if isinstance(name, str) else None


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=True)


def _load_object(text: str) -> dict[str, object]:
    """A JSON object of format ``FORMAT``, its ``format`` field removed."""
    if len(text) > MAX_DOCUMENT:
        raise LedgerError(f"not a ledger: over {MAX_DOCUMENT // (1024 * 1024)} MiB")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        # the decoder's message names a position only, never the content
        raise LedgerError(f"not a ledger: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    except (ValueError, RecursionError):
        raise LedgerError(
            "not a ledger: invalid JSON (a number too long or nesting too deep)"
        ) from None
    if not isinstance(document, dict):
        raise LedgerError("not a ledger: the document is not a JSON object")
    version = document.pop("format", None)
    if type(version) is not int:
        raise LedgerError("not a ledger: no format number")
    if version != FORMAT:
        newer = " (written by a newer reconciler: upgrade this one)" if version > FORMAT else ""
        raise UnsupportedFormat(
            f"the ledger is format {version}; this reconciler reads format {FORMAT}{newer}"
        )
    return document


def _unpack(data: object) -> str:
    if not isinstance(data, str):
        raise LedgerError("not a ledger: the encoded data is not a string")
    try:
        packed = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise LedgerError("not a ledger: the encoded data is not base64") from None
    inflater = zlib.decompressobj()
    try:
        plain = inflater.decompress(packed, MAX_DOCUMENT + 1)
    except zlib.error:
        raise LedgerError("not a ledger: the encoded data is not zlib-compressed") from None
    if len(plain) > MAX_DOCUMENT or inflater.unconsumed_tail:
        raise LedgerError(f"not a ledger: decompresses to over {MAX_DOCUMENT // (1024 * 1024)} MiB")
    if not inflater.eof or inflater.unused_data:
        raise LedgerError("not a ledger: the encoded data is truncated or has trailing bytes")
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        raise LedgerError("not a ledger: the encoded data is not UTF-8 text") from None
