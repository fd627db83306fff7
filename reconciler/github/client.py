"""A small async GitHub REST client on the project's one HTTP stack (:mod:`reconciler.http`).

- Auth and headers: ``Authorization: Bearer`` from ``GITHUB_TOKEN`` (a :class:`SecretStr`,
  never in a message), ``Accept: application/vnd.github+json``, ``X-GitHub-Api-Version``;
  the base URL from ``GITHUB_API_URL`` (GitHub Enterprise), default https://api.github.com.
- Pagination: ``per_page=100``, following ``Link: rel="next"`` (only to the API's own
  origin, so the token never travels elsewhere).
- Rate limits: ``retry-after`` is honoured; a 403/429 with ``x-ratelimit-remaining: 0`` waits
  until ``x-ratelimit-reset`` (+1 s); a secondary limit with neither header waits a minute.
  A wait longer than the retry policy's patience fails at once, saying when the limit
  resets. A successful answer that spends the last request makes the next request wait
  for the reset first (when that is within patience). A rate-limit refusal is retried even
  for a non-idempotent ``POST``: GitHub refused it, so nothing was created.
- Errors are :mod:`reconciler.errors` classes whose messages say what to do about 401, 403
  and 404; the token is never part of one.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from reconciler import errors, http
from reconciler.env import GITHUB_API_URL, GITHUB_TOKEN
from reconciler.errors import ConfigError
from reconciler.logging import get_logger

log = get_logger(__name__)

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PAGE_SIZE = 100
MAX_PAGES = 1000
SECONDARY_LIMIT_WAIT = 60.0
SERVICE = "GitHub"
DEFAULT_POLICY = http.RetryPolicy()
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})


def check_repository(repository: str, *, what: str = "repository") -> str:
    """``owner/name`` or a :class:`ConfigError` naming ``what``."""
    repository = repository.strip()
    if not _REPOSITORY.match(repository) or ".." in repository:
        raise ConfigError(f"{what} must be OWNER/NAME, got {repository!r}")
    return repository


def api_headers(token: SecretStr) -> dict[str, str]:
    """The headers every GitHub REST call carries."""
    return {
        "Authorization": f"Bearer {token.get_secret_value()}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
    }


def rate_limit_wait(response: httpx.Response, *, now: float) -> tuple[float | None, float | None]:
    """For a GitHub rate-limit refusal (403 or 429): ``(seconds to wait, reset epoch)``.

    ``(None, None)`` for any other answer. The reset epoch is set only when the wait comes
    from ``x-ratelimit-reset`` (the primary limit is exhausted).
    """
    if response.status_code not in (403, 429):
        return None, None
    after = http.parse_retry_after(response.headers.get("retry-after"))
    if after is not None:
        return after, None
    if response.headers.get("x-ratelimit-remaining") == "0":
        try:
            reset = float(response.headers.get("x-ratelimit-reset", ""))
        except ValueError:
            return None, None
        return max(0.0, reset - now) + 1.0, reset
    if "secondary rate limit" in response.text.lower():
        return SECONDARY_LIMIT_WAIT, None
    return None, None


def token_from_env(env: Mapping[str, str], *, purpose: str) -> SecretStr:
    """``GITHUB_TOKEN`` as a secret, or a ConfigError saying what needs it and how to set it."""
    token = (env.get(GITHUB_TOKEN) or "").strip()
    if not token:
        raise ConfigError(
            f"{purpose} needs {GITHUB_TOKEN} (in a workflow: "
            f"env: {{{GITHUB_TOKEN}: ${{{{ github.token }}}}}})"
        )
    return SecretStr(token)


class GitHubClient:
    """One GitHub API endpoint with one token."""

    def __init__(
        self,
        *,
        token: SecretStr,
        api_url: str = DEFAULT_API_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: http.RetryPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._origin = httpx.URL(self.api_url)
        self._token = token
        self._policy = policy
        self._sleep = sleep or http.pause
        self._clock = clock
        self.reset_at: float | None = None  # when the exhausted limit of the last failure resets
        self._exhausted_until: float | None = None
        self._client = http.make_client(
            self.api_url, headers=api_headers(token), transport=transport
        )

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        purpose: str,
        transport: httpx.AsyncBaseTransport | None = None,
        **kwargs: Any,
    ) -> GitHubClient:
        api_url = (env.get(GITHUB_API_URL) or DEFAULT_API_URL).strip()
        http.refuse_in_clear(api_url, named=GITHUB_API_URL, env=env)
        return cls(
            token=token_from_env(env, purpose=purpose),
            api_url=api_url,
            transport=transport,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"GitHubClient({self.api_url!r})"

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- requests ----------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        permission: str | None = None,
        on_retry: Callable[[int, float, str], None] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request (``path`` relative to the API, or an absolute URL on its origin).

        ``idempotent`` defaults from the method (``POST`` is not). ``permission`` names the
        workflow permission the call needs (``"issues: write"``), for the 403 message.
        Raises a :class:`~reconciler.errors.RemoteError`; ``reset_at`` is then set when the
        cause was an exhausted rate limit.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in _IDEMPOTENT
        self._check_origin(path)
        await self._wait_for_reset()

        def hint(response: httpx.Response) -> float | None:
            wait, reset = rate_limit_wait(response, now=self._clock())
            if wait is not None:
                self.reset_at = reset
            return wait

        def retried(n: int, delay: float, why: str) -> None:
            self.reset_at = None
            log.warning(
                "github.retry",
                method=method,
                path=_shown(path),
                attempt=n,
                delay=round(delay, 2),
                reason=why,
            )
            if on_retry is not None:
                on_retry(n, delay, why)

        self.reset_at = None
        try:
            response = await http.send(
                self._client,
                method,
                path,
                service=SERVICE,
                idempotent=idempotent,
                policy=self._policy,
                sleep=self._sleep,
                on_retry=retried,
                retry_hint=hint,
                retry_refusals=True,  # a rate-limit refusal means nothing happened: even a POST
                **kwargs,
            )
        except errors.RemoteError as exc:
            raise self._explain(exc, method=method, path=path, permission=permission) from None
        self._note_remaining(response)
        return response

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """:meth:`request`, then the JSON body (None for an empty or non-JSON body)."""
        response = await self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    async def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        permission: str | None = None,
    ) -> list[Any]:
        """Every item of a list endpoint, ``per_page=100``, following ``Link: rel="next"``."""
        items: list[Any] = []
        url: str | None = path
        query: dict[str, str | int] | None = {"per_page": PAGE_SIZE, **(params or {})}
        seen: set[str] = set()
        while url is not None and len(seen) < MAX_PAGES:
            seen.add(url)
            response = await self.request("GET", url, params=query, permission=permission)
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, list):
                raise errors.RemoteError(
                    f"{SERVICE}: GET {_shown(path)} answered something other than a list",
                    method="GET",
                    path=_shown(path),
                    status=response.status_code,
                    service=SERVICE,
                )
            items.extend(body)
            following = response.links.get("next", {}).get("url")
            url = following if following and following not in seen else None
            query = None  # the next link carries its own query
        return items

    # --- helpers -----------------------------------------------------------------------

    def _check_origin(self, path: str) -> None:
        if "://" not in path:
            return
        url = httpx.URL(path)
        if (url.scheme, url.host, url.port) != (
            self._origin.scheme,
            self._origin.host,
            self._origin.port,
        ):
            raise errors.RemoteError(
                f"{SERVICE}: refusing to follow a link to {url.scheme}://{url.host}, "
                f"outside {self._origin.scheme}://{self._origin.host} (the token would go there)",
                service=SERVICE,
            )

    def _note_remaining(self, response: httpx.Response) -> None:
        if response.headers.get("x-ratelimit-remaining") != "0":
            self._exhausted_until = None
            return
        try:
            self._exhausted_until = float(response.headers.get("x-ratelimit-reset", ""))
        except ValueError:
            self._exhausted_until = None

    async def _wait_for_reset(self) -> None:
        if self._exhausted_until is None:
            return
        wait = self._exhausted_until - self._clock() + 1.0
        self._exhausted_until = None
        if 0 < wait <= self._policy.max_retry_after:
            log.warning("github.rate_limit_wait", delay=round(wait, 2))
            await self._sleep(wait)

    def _redact(self, text: str) -> str:
        secret = self._token.get_secret_value()
        if secret:
            text = text.replace(secret, "[REDACTED]")
        return errors.scrub(text)

    def _explain(
        self, exc: errors.RemoteError, *, method: str, path: str, permission: str | None
    ) -> errors.RemoteError:
        """The same error class, with a message that says what to do."""
        if isinstance(exc, errors.TransportError):
            return exc
        shown = _shown(path)
        server = self._redact(exc.server_message)
        head = f"{SERVICE}: {method} {shown} failed with HTTP {exc.status}"
        fields: dict[str, Any] = {
            "method": method,
            "path": shown,
            "status": exc.status,
            "server_message": server,
            "service": SERVICE,
        }
        if self.reset_at is not None:
            when = dt.datetime.fromtimestamp(self.reset_at, dt.UTC).isoformat(timespec="seconds")
            return errors.RateLimited(
                f"{head}: API rate limit exhausted until {when}; run again after that",
                retry_after=max(0.0, self.reset_at - self._clock()),
                **fields,
            )
        detail = f": {server}" if server else ""
        if isinstance(exc, errors.RateLimited) or "rate limit" in server.lower():
            retry = getattr(exc, "retry_after", None)
            return errors.RateLimited(
                f"{head}: rate limited{detail}; run again later",
                retry_after=retry if isinstance(retry, float) else None,
                **fields,
            )
        if isinstance(exc, errors.Unauthorized):
            return errors.Unauthorized(
                f"{head}: {GITHUB_TOKEN} was rejected (missing, expired or revoked){detail}",
                **fields,
            )
        if isinstance(exc, errors.Forbidden):
            need = (
                f": it needs '{permission}' (a workflow's permissions: block)" if permission else ""
            )
            fork = (
                "; a pull request from a fork only gets a read-only token"
                if method != "GET"
                else ""
            )
            return errors.Forbidden(
                f"{head}: the token may not do this{need}{fork}{detail}", **fields
            )
        if isinstance(exc, errors.NotFound):
            return errors.NotFound(
                f"{head}: not found, or the token cannot see it (check OWNER/NAME, the "
                f"number, and the token's access){detail}",
                **fields,
            )
        return type(exc)(f"{head}{detail}", **fields)


def _shown(path: str) -> str:
    """A path for messages: an absolute URL loses its scheme and host, never its query."""
    if "://" in path:
        url = httpx.URL(path)
        return url.raw_path.decode("ascii", "replace")
    return path
