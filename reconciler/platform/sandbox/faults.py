"""Faults on demand: error statuses and latency injected in front of the sandbox's API.

A :class:`FaultConfig` holds a global added latency (every request but the control
routes) and rules. A rule matches requests by method (``*`` for any) and path pattern
(``fnmatch`` on the path without query string, e.g. ``/v1/admin/api-keys*``) and fires:

- on the ``nth`` matching request, and the ``times - 1`` after it; or
- on a share of matching requests (``probability``, drawn from an RNG seeded with
  ``seed`` so runs repeat); or
- on every matching request when neither is given.

A firing rule adds ``latency_ms`` and/or answers ``status`` (429 carries ``Retry-After``,
default ``1``; any status may set ``retry_after``). With ``after: true`` the request is
processed first and its response replaced: an ambiguous failure, for crash-recovery
tests. With ``hold: true`` the request waits, before anything else happens to it, until
the faults are next replaced, cleared or reset; that control call answers once every
held request has been dealt with. A test can so stop a client at a known request and
let it go when it chooses, with no timing involved. ``/_sandbox`` control requests are
never faulted. Example (YAML or JSON)::

    latency_ms: 20
    seed: 7
    rules:
      - {method: POST, path: /v1/admin/api-keys, nth: 2, status: 503}
      - {path: "/v1/admin/*", probability: 0.1, status: 429, retry_after: 2}
      - {method: GET, path: /v1/admin/users, latency_ms: 300}
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import random
import re
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.errors import ConfigError
from reconciler.platform.sandbox.errors import error_body, type_for

CONTROL_PREFIX = "/_sandbox"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class FaultRule(BaseModel):
    """One rule: which requests, when, and what happens to them."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    method: str = "*"
    path: str = "*"
    status: int | None = Field(default=None, ge=400, le=599)
    latency_ms: int = Field(default=0, ge=0)
    probability: float | None = Field(default=None, ge=0.0, le=1.0)
    nth: int | None = Field(default=None, ge=1)
    times: int = Field(default=1, ge=1)
    retry_after: str | None = None
    after: bool = False
    hold: bool = False

    @field_validator("retry_after", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _sensible(self) -> FaultRule:
        if self.status is None and not self.latency_ms and not self.hold:
            raise ValueError("a rule needs a status, a latency_ms or hold")
        if self.nth is not None and self.probability is not None:
            raise ValueError("give nth or probability, not both")
        if self.after and self.status is None:
            raise ValueError("after: true needs a status")
        return self

    @classmethod
    def parse(cls, text: str) -> FaultRule:
        """A rule from one command-line word list: ``METHOD PATH key=value...``.

        For example ``"POST /v1/admin/api-keys nth=2 status=503"`` or
        ``"* /v1/admin/* probability=0.1 status=429 retry_after=2"``.
        """
        words = text.split()
        if len(words) < 3 or any("=" not in w for w in words[2:]):
            raise ConfigError(
                f"fault {text!r}: expected 'METHOD PATH key=value ...', "
                "e.g. 'POST /v1/admin/api-keys nth=2 status=503'"
            )
        fields: dict[str, Any] = {"method": words[0], "path": words[1]}
        for word in words[2:]:
            key, _, value = word.partition("=")
            fields[key] = value
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'rule'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise ConfigError(f"fault {text!r}: {problems}") from None

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and fnmatch.fnmatchcase(path, self.path)


class FaultConfig(BaseModel):
    """Global latency plus rules; the default injects nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    latency_ms: int = Field(default=0, ge=0)
    seed: int = 0
    rules: tuple[FaultRule, ...] = ()

    @classmethod
    def load(cls, path: Path) -> FaultConfig:
        """Read a fault file (YAML or JSON); errors name the file and the field."""
        try:
            text = path.read_text(encoding="utf-8")
            if path.suffix.lower() == ".json":
                raw = json.loads(text)
            else:
                from ruamel.yaml import YAML

                raw = YAML(typ="safe", pure=True).load(text)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot read the fault file: {exc}") from exc
        try:
            return cls.model_validate(raw or {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise ConfigError(f"{path}: invalid fault file: {problems}") from None


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to one request."""

    latency_ms: int = 0
    rule: FaultRule | None = None  # the rule whose status answers, if any
    release: asyncio.Event | None = None  # set when a held request may go on


def route_of(method: str, path: str) -> str:
    """``GET /v1/admin/workspaces/{id}``: the request with ids folded, for statistics."""
    return f"{method} {_UUID.sub('{id}', path)}"


class FaultEngine:
    """The live fault configuration, its counters, the request statistics and the
    requests held until the configuration changes.

    ``sleep`` is how added latency is waited out (tests replace it).
    """

    def __init__(
        self,
        config: FaultConfig | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.sleep = sleep
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self._release = asyncio.Event()
        self._held: set[asyncio.Event] = set()  # one per held request, set once it is done
        # no faults by default: built as it is, without validating (nor building the
        # model's validator, some milliseconds of every embedded sandbox's start)
        self.configure(config or FaultConfig.model_construct())

    def configure(self, config: FaultConfig) -> None:
        """Replace the configuration; counters and the RNG start afresh, and the requests
        held so far go on (:meth:`settled` waits for them)."""
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)  # noqa: S311 - reproducible faults
            self.matched = [0] * len(config.rules)
            self.fired = [0] * len(config.rules)
            self._release.set()
            self._release = asyncio.Event()

    @asynccontextmanager
    async def held(self, release: asyncio.Event) -> AsyncIterator[None]:
        """Wait for ``release``, then run the block; :meth:`settled` waits for the block."""
        done = asyncio.Event()
        self._held.add(done)
        try:
            await release.wait()
            yield
        finally:
            done.set()
            self._held.discard(done)

    async def settled(self) -> None:
        """Return once every request released so far has been dealt with."""
        for done in list(self._held):
            await done.wait()

    def reset_stats(self) -> None:
        with self._lock:
            self.requests.clear()

    def decide(self, method: str, path: str) -> Decision:
        with self._lock:
            self.requests[route_of(method, path)] += 1
            latency = self.config.latency_ms
            answer: FaultRule | None = None
            hold = False
            for index, rule in enumerate(self.config.rules):
                if not rule.matches(method, path):
                    continue
                self.matched[index] += 1
                seen = self.matched[index]
                if rule.nth is not None:
                    fires = rule.nth <= seen < rule.nth + rule.times
                elif rule.probability is not None:
                    fires = self._rng.random() < rule.probability
                else:
                    fires = True
                if not fires:
                    continue
                self.fired[index] += 1
                latency += rule.latency_ms
                hold = hold or rule.hold
                if answer is None and rule.status is not None:
                    answer = rule
            return Decision(
                latency_ms=latency, rule=answer, release=self._release if hold else None
            )

    def describe(self) -> dict[str, Any]:
        """The configuration with per-rule counters (for ``GET /_sandbox/faults``)."""
        with self._lock:
            return {
                "config": self.config.model_dump(mode="json"),
                "rules": [
                    {"matched": m, "fired": f}
                    for m, f in zip(self.matched, self.fired, strict=True)
                ],
            }

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": sum(self.requests.values()), "by_route": dict(self.requests)}


def fault_response(rule: FaultRule) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body a firing rule answers with."""
    status = rule.status or 500
    if status == 429:
        body = error_body(
            "Requests rate limit exceeded", type_="rate_limit_error", code="rate_limited"
        )
    elif status >= 500:
        message = "Internal server error" if status == 500 else "Service unavailable"
        code = "internal_error" if status == 500 else "service_unavailable"
        body = error_body(message, type_="server_error", code=code)
    else:
        body = error_body("Injected fault", type_=type_for(status), code="injected_fault")
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    retry_after = (
        rule.retry_after if rule.retry_after is not None else ("1" if status == 429 else None)
    )
    if retry_after is not None:
        headers.append((b"retry-after", retry_after.encode()))
    return status, headers, payload


class FaultMiddleware:
    """ASGI middleware that applies a :class:`FaultEngine`'s decisions."""

    def __init__(self, app: ASGIApp, engine: FaultEngine) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        decision = self.engine.decide(scope["method"], scope["path"])
        if decision.release is not None:
            async with self.engine.held(decision.release):
                await self._answer(decision, scope, receive, send)
        else:
            await self._answer(decision, scope, receive, send)

    async def _answer(self, decision: Decision, scope: Scope, receive: Receive, send: Send) -> None:
        if decision.latency_ms:
            await self.engine.sleep(decision.latency_ms / 1000)
        rule = decision.rule
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.after:

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
        status, headers, payload = fault_response(rule)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
