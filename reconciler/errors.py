"""The error hierarchy shared by every layer.

::

    ReconcilerError                 anything this tool reports and exits 1 for
    ├── ConfigError                 bad flags, environment or settings
    ├── DesiredStateError           desired state that failed validation (carries Problems)
    ├── PlanError                   a plan that must not be applied (protected, conflicts, stale)
    ├── ConsoleOnly                 a change this organisation may not make through the API
    ├── SecretStoreError            a vault backend failed (message never holds a secret)
    └── RemoteError                 an HTTP API answered badly or not at all
        ├── ClientError             4xx
        │   ├── Unauthorized        401
        │   ├── Forbidden           403
        │   ├── NotFound            404
        │   ├── Conflict            409
        │   └── InvalidRequest      400, 422
        ├── RateLimited             429 (retry_after seconds when the server said)
        ├── ServerError             5xx
        ├── TransportError          timeouts and connection failures
        │   └── Timeout
        └── AmbiguousCreate         a create that may or may not have happened (list to know)

Every message names the method, the path, the status and the server's message, trimmed;
callers build them through :func:`remote_error_for` so none can carry a credential.
"""

from __future__ import annotations

import re

MAX_SERVER_MESSAGE = 300

# Anything that looks like a bearer token or a long opaque secret is masked in messages.
_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)((?:x-api-key|x-vault-token|api[_-]?key|token|secret|key)\"?\s*[:=]\s*\"?)[A-Za-z0-9._~+/=-]{8,}"
    ),
    re.compile(r"\b[A-Za-z0-9]{32,}\b"),
    # GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_): the underscore defeats \b above.
    re.compile(r"\b(?:gh[opusr]_|github_pat_)[A-Za-z0-9_]{20,}"),
]


def scrub(text: str) -> str:
    """Mask anything in ``text`` that looks like a credential."""
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + "[REDACTED]", text)
        else:
            text = pattern.sub("[REDACTED]", text)
    return text


def trim(text: str, limit: int = MAX_SERVER_MESSAGE) -> str:
    """Cut a server message short and scrub it, so it is safe for a terminal or a log."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return scrub(text)


class ReconcilerError(Exception):
    """Base of every error this tool reports to a user."""


class ConfigError(ReconcilerError):
    """Bad flags, environment variables or settings."""


class DesiredStateError(ReconcilerError):
    """The desired state did not validate; ``problems`` lists every problem found.

    The message counts them; the first :data:`NOTED_PROBLEMS` are also the exception's
    notes, so a traceback or ``logging.exception`` in an application (``Policy.
    from_directory``) says which file and line, as ``reconciler validate`` would."""

    NOTED_PROBLEMS = 20

    def __init__(self, problems: list[object]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the desired state")
        for problem in problems[: self.NOTED_PROBLEMS]:
            render = getattr(problem, "render", None)
            self.add_note(render() if callable(render) else str(problem))
        if len(problems) > self.NOTED_PROBLEMS:
            self.add_note(f"... and {len(problems) - self.NOTED_PROBLEMS} more (in .problems)")


class PlanError(ReconcilerError):
    """A plan that must not be applied as it stands."""


class ConsoleOnly(ReconcilerError):
    """The platform refused a change because this organisation's plan lacks that access
    through its API (a 403 saying so): a person makes it in the console; apply reports it
    as a manual action, not a failure."""


class SecretStoreError(ReconcilerError):
    """A secret store (vault) failed; the message never holds the secret."""


class RemoteError(ReconcilerError):
    """An HTTP API answered with an error, or did not answer."""

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        status: int | None = None,
        server_message: str = "",
        service: str = "",
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.server_message = server_message
        self.service = service
        super().__init__(message)


class ClientError(RemoteError):
    """The server rejected the request (4xx)."""


class Unauthorized(ClientError):
    """401: the credential is missing, wrong or expired."""


class Forbidden(ClientError):
    """403: the credential may not do this."""


class NotFound(ClientError):
    """404: no such object (or, for some services, no permission to see it)."""


class Conflict(ClientError):
    """409: the object already exists or changed meanwhile."""


class InvalidRequest(ClientError):
    """400 or 422: the request body or parameters were rejected."""


class RateLimited(RemoteError):
    """429: too many requests; ``retry_after`` is the server's advice in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class ServerError(RemoteError):
    """5xx: the server failed."""


class TransportError(RemoteError):
    """The request did not complete: connection refused, reset, DNS failure."""


class Timeout(TransportError):
    """The request timed out."""


class AmbiguousCreate(RemoteError):
    """A create request failed after it may have reached the server (timeout, 5xx, dropped
    connection). It is never resent blindly: the caller lists to find out whether the
    object exists. The underlying error is chained as ``__cause__``.
    """


_BY_STATUS: dict[int, type[RemoteError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: InvalidRequest,
    429: RateLimited,
}


def remote_error_for(
    *,
    service: str,
    method: str,
    path: str,
    status: int,
    server_message: str,
    retry_after: float | None = None,
) -> RemoteError:
    """Build the right error class for an HTTP status, with a safe, complete message."""
    cls: type[RemoteError]
    if status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status >= 500:
        cls = ServerError
    else:
        cls = ClientError
    safe = trim(server_message) if server_message else ""
    message = f"{service}: {method} {path} failed with HTTP {status}"
    if safe:
        message += f": {safe}"
    if cls is RateLimited:
        if retry_after is not None:
            message += f" (retry after {retry_after:g}s)"
        return RateLimited(
            message,
            retry_after=retry_after,
            method=method,
            path=path,
            status=status,
            server_message=safe,
            service=service,
        )
    return cls(
        message, method=method, path=path, status=status, server_message=safe, service=service
    )
