"""Structured logging with redaction: no secret reaches a terminal or a log file.

:func:`configure_logging` routes structlog events (and the standard library's records, for
example httpx's) to a human-readable stream and, optionally, a JSON-lines file created
with mode 0600. Every event passes :func:`redact` before it is rendered:

- a ``SecretStr``/``SecretBytes`` value becomes ``**********``, wherever it is nested;
- the value of a secret-looking key (``secret``, ``api_key``, ``key``, ``token``,
  ``password``, ``authorization``, ``x-vault-token``, ``*_token``, ``*_secret`` ...)
  becomes ``**********``;
- every other string goes through :func:`reconciler.errors.scrub` (bearer tokens, long
  opaque strings) and has every registered secret masked.

:func:`register_secret` adds a value to that denylist (the apply registers each freshly
created key's secret); the rendered line is checked against the denylist once more, so a
secret hidden in an object's ``repr`` is masked too. Registering costs the same whatever
the number already registered, and masking a text costs one pass over it per distinct
secret length (see :class:`Denylist`), so an apply that creates thousands of keys never
slows down as it goes.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog
from pydantic import SecretBytes, SecretStr

from reconciler.errors import scrub
from reconciler.log_target import cli_owns_logging
from reconciler.private_paths import private_folder
from reconciler.textsafe import for_terminal

MASK = "**********"

SECRET_KEYS = frozenset(
    {
        "secret",
        "secrets",
        "api_key",
        "apikey",
        "key",
        "token",
        "password",
        "passwd",
        "authorization",
        "x_vault_token",
        "x_api_key",
        "client_token",
        "secret_id",
        "role_id",
        "jwt",
        "private_key",
        "credential",
        "credentials",
        "cookie",
        "set_cookie",
    }
)
_SECRET_SUFFIXES = ("_token", "_secret", "_password", "_api_key", "_apikey", "_credential")


class Denylist:
    """Registered secrets, kept in one set per length.

    Adding one is a set insertion. Masking a text takes, for each distinct length L, the
    set of the text's substrings of length L and intersects it with the secrets of that
    length: one pass over the text per length (secrets of one kind share a length), never
    one per secret. Found secrets are replaced longest first, so a secret inside a longer
    one never leaves the rest of the longer one visible.

    Safe to read from any thread while another adds: ``lengths`` is replaced, never
    changed, and each set operation is one step under the interpreter lock.
    """

    def __init__(self) -> None:
        self._by_length: dict[int, set[str]] = {}
        self._lengths: tuple[int, ...] = ()
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._lengths)

    def add(self, secret: str) -> None:
        with self._lock:
            bucket = self._by_length.get(len(secret))
            if bucket is None:
                self._by_length[len(secret)] = {secret}
                self._lengths = (*self._lengths, len(secret))
            else:
                bucket.add(secret)

    def clear(self) -> None:
        with self._lock:
            self._lengths = ()
            self._by_length = {}

    def mask(self, text: str) -> str:
        """``text`` with every registered secret in it replaced by :data:`MASK`."""
        found: list[str] = []
        size = len(text)
        by_length = self._by_length
        for length in self._lengths:
            if length > size:
                continue
            windows = {text[i : i + length] for i in range(size - length + 1)}
            found.extend(windows.intersection(by_length[length]))
        for secret in sorted(found, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text


_denylist = Denylist()
_handlers: list[logging.Handler] = []


def register_secret(value: str | SecretStr) -> None:
    """Mask ``value`` wherever it appears in a log event from now on (empty is ignored)."""
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if raw:
        _denylist.add(raw)


def clear_registered_secrets() -> None:
    """Forget every registered secret (between tests, or at the end of an apply)."""
    _denylist.clear()


def is_secret_key(name: str) -> bool:
    """True if a field with this name holds a credential."""
    normal = name.lower().replace("-", "_")
    return normal in SECRET_KEYS or normal.endswith(_SECRET_SUFFIXES)


def mask_text(text: str) -> str:
    """``text`` with registered secrets masked and credential-looking parts scrubbed."""
    if _denylist:
        text = _denylist.mask(text)
    return scrub(text)


def redact_value(value: Any, *, key: str | None = None) -> Any:
    """A copy of ``value`` safe to log (see the module docstring for the rules)."""
    if isinstance(value, SecretStr | SecretBytes):
        return MASK
    if key is not None and is_secret_key(key) and value is not None and value != "":
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v) for v in value]
    return value


def redact(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The structlog processor: every field through :func:`redact_value`."""
    for name in list(event_dict):
        if name.startswith("_"):
            continue  # structlog's own bookkeeping (_record, _from_structlog)
        key = None if name == "event" else name
        event_dict[name] = redact_value(event_dict[name], key=key)
    return event_dict


class _MaskingRenderer:
    """Wraps a renderer: the final line gets one more pass against the denylist, and for a
    terminal (``shown``) its control and invisible characters escaped, line feeds kept (a
    traceback's), as everything else that prints live text (:func:`for_terminal`)."""

    def __init__(self, renderer: Any, *, shown: bool = False) -> None:
        self._renderer = renderer
        self._shown = shown

    def __call__(self, logger: Any, method_name: str, event_dict: Any) -> str:
        rendered = self._renderer(logger, method_name, event_dict)
        text = rendered if isinstance(rendered, str) else str(rendered)
        text = _denylist.mask(text) if _denylist else text
        return for_terminal(text, keep_newlines=True) if self._shown else text


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]


def configure_logging(
    *,
    json_file: Path | None = None,
    level: int | str = logging.INFO,
    stream: TextIO | None = None,
    console_level: int | str | None = None,
) -> None:
    """Send redacted logs to ``stream`` (default stderr) and, if given, a 0600 JSON file.

    Calling it again replaces the handlers it installed before. ``console_level`` (default:
    ``level``) lets a command keep the terminal quiet while the JSON file records everything.
    """
    shared = _shared_processors()
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    for handler in _handlers:
        root.removeHandler(handler)
        handler.close()
    _handlers.clear()

    console = logging.StreamHandler(stream if stream is not None else sys.stderr)
    console.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _MaskingRenderer(structlog.dev.ConsoleRenderer(colors=False), shown=True),
            ],
        )
    )
    console.setLevel(console_level if console_level is not None else level)
    _handlers.append(console)
    if json_file is not None:
        private_folder(json_file.parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(json_file, flags, 0o600)  # a link at its name is refused
        os.close(fd)
        file_handler = logging.FileHandler(json_file, mode="a", encoding="utf-8")
        file_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=shared,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    _MaskingRenderer(structlog.processors.JSONRenderer(default=str)),
                ],
            )
        )
        _handlers.append(file_handler)
    for handler in _handlers:
        root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO; keep those for debugging only
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    """structlog's logger for ``name``. Under reconciler's command line
    (:mod:`reconciler.log_target`), logging that no command configured yet is configured
    first: redacted, to standard error, WARNING and above, so no event reaches standard
    output or escapes redaction."""
    if cli_owns_logging() and not structlog.is_configured():
        configure_logging(level=logging.WARNING)
    return structlog.get_logger(name)


def reset_logging() -> None:
    """Remove the handlers :func:`configure_logging` installed and structlog's configuration."""
    root = logging.getLogger()
    for handler in _handlers:
        root.removeHandler(handler)
        handler.close()
    _handlers.clear()
    structlog.reset_defaults()
