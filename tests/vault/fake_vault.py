"""An in-memory Vault KV v2 mount answering like Vault does, for respx.

It reproduces the documented request and response shapes and rules:

- ``POST/GET .../data/...`` with ``options.cas`` (a CAS mismatch is a 400 and makes no
  version); ``GET .../data/...?version=N`` reads an older version;
- every data write makes a version; ``max_versions`` (the key's, else the mount's, 10 by
  default as in Vault) drops the oldest, so failed attempts that write can push a good
  version out of history; metadata shows ``oldest_version``;
- ``GET/POST/DELETE .../metadata/...``: ``custom_metadata`` (at most 64 keys of 128
  characters, values of 512) and ``max_versions`` are written without making a version,
  and may be written before the path has any (``current_version`` stays 0);
- ``GET ...?list=true``, the ``{"errors": [...]}`` bodies (CAS mismatch 400, permission
  denied 403, empty 404), ``X-Vault-Token`` checking;
- ``auth/token/lookup-self``, ``auth/token/revoke-self`` (the token stops working), and
  ``POST auth/<mount>/login`` for AppRole and JWT, which issues a new token.

:meth:`FakeVault.fail` makes chosen requests answer an error (503 ``Vault is sealed`` by
default) without doing anything, e.g. every ``custom_metadata`` write during a test.
Requests it saw are kept for assertions.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import respx

CAS_MISMATCH = "check-and-set parameter did not match the current version"
MOUNT_MAX_VERSIONS = 10  # Vault's default when the mount sets none
MAX_CUSTOM_KEYS, MAX_CUSTOM_KEY_LENGTH, MAX_CUSTOM_VALUE_LENGTH = 64, 128, 512


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def errors_body(status: int, *messages: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": list(messages)})


@dataclass
class Entry:
    versions: dict[int, dict[str, Any]] = field(default_factory=dict)
    current_version: int = 0
    custom_metadata: dict[str, str] | None = None
    max_versions: int = 0  # 0: the mount's
    created_time: str = field(default_factory=now_text)
    updated_time: str = field(default_factory=now_text)

    @property
    def oldest_version(self) -> int:
        return min(self.versions, default=0)


@dataclass
class Fault:
    """Requests of ``method`` on ``kind`` (``data`` or ``metadata``) answer ``status``."""

    kind: str
    method: str
    status: int
    message: str
    times: int | None  # None: every matching request
    under: str = ""  # only paths starting with this
    skip: int = 0  # let this many matching requests through first
    seen: int = 0
    fired: int = 0

    def fires(self, kind: str, method: str, path: str) -> bool:
        """Whether this request fails (counting it when it matches)."""
        if kind != self.kind or method != self.method or not path.startswith(self.under):
            return False
        self.seen += 1
        if self.seen <= self.skip or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True


class FakeVault:
    """One KV v2 mount at ``address``; ``token`` is the only token it accepts."""

    def __init__(
        self,
        address: str,
        *,
        token: str,
        mount: str = "secret",
        max_versions: int = MOUNT_MAX_VERSIONS,
    ) -> None:
        self.address = address.rstrip("/")
        self.token = token
        self.mount = mount
        self.max_versions = max_versions
        self.entries: dict[str, Entry] = {}
        self.requests: list[httpx.Request] = []
        self.faults: list[Fault] = []
        self.tokens = {token}  # the tokens it accepts
        self.revoked: list[str] = []

    def install(self, router: respx.MockRouter) -> None:
        router.route(url__startswith=f"{self.address}/v1/{self.mount}/").mock(
            side_effect=self.handle
        )
        router.route(url__startswith=f"{self.address}/v1/auth/").mock(side_effect=self.auth)

    # --- helpers for tests -------------------------------------------------------------

    def secret(self, path: str, version: int | None = None) -> str | None:
        """The secret at ``path``: the current version's, or ``version``'s."""
        entry = self.entries.get(path)
        number = version if version is not None else (entry.current_version if entry else 0)
        if entry is None or number not in entry.versions:
            return None
        value = entry.versions[number]["data"].get("api_key")
        return value if isinstance(value, str) else None

    def fail(
        self,
        kind: str,
        method: str = "POST",
        *,
        times: int | None = None,
        status: int = 503,
        message: str = "Vault is sealed",
        under: str = "",
        skip: int = 0,
    ) -> Fault:
        """Make ``times`` (None: all) ``method`` requests on ``kind`` paths under ``under``,
        after the first ``skip`` of them, answer ``status`` and do nothing."""
        fault = Fault(kind, method, status, message, times, under, skip)
        self.faults.append(fault)
        return fault

    # --- the API -------------------------------------------------------------------------

    def auth(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        rest = request.url.path.removeprefix("/v1/auth/")
        if rest.endswith("/login") and request.method == "POST":
            token = f"hvs.issued-{len(self.tokens)}"
            self.tokens.add(token)
            return httpx.Response(200, json={"auth": {"client_token": token}})
        token = request.headers.get("X-Vault-Token", "")
        if token not in self.tokens:
            return errors_body(403, "permission denied")
        if rest == "token/lookup-self" and request.method == "GET":
            return httpx.Response(200, json={"data": {"policies": ["reconciler"]}})
        if rest == "token/revoke-self" and request.method == "POST":
            self.tokens.discard(token)
            self.revoked.append(token)
            return httpx.Response(204)
        return errors_body(404)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("X-Vault-Token") not in self.tokens:
            return errors_body(403, "permission denied")
        rest = request.url.path.removeprefix(f"/v1/{self.mount}/")
        kind, _, path = rest.partition("/")
        for fault in self.faults:
            if fault.fires(kind, request.method, path):
                return errors_body(fault.status, fault.message)
        body = json.loads(request.content) if request.content else {}
        if kind == "data":
            return self._data(request.method, path, body, request.url.params.get("version"))
        if kind == "metadata":
            if request.method == "GET" and request.url.params.get("list") == "true":
                return self._list(path)
            return self._metadata(request.method, path, body)
        return errors_body(404)

    def _data(
        self, method: str, path: str, body: dict[str, Any], wanted: str | None
    ) -> httpx.Response:
        entry = self.entries.get(path)
        if method == "GET":
            number = int(wanted) if wanted else (entry.current_version if entry else 0)
            if entry is None or number not in entry.versions:
                return errors_body(404)
            version = entry.versions[number]
            if version["deletion_time"]:
                return errors_body(404)
            return httpx.Response(
                200,
                json={
                    "data": {
                        "data": version["data"],
                        "metadata": {**self._version_meta(entry, number)},
                    }
                },
            )
        if method in ("POST", "PUT"):
            cas = (body.get("options") or {}).get("cas")
            current = entry.current_version if entry else 0
            if cas is not None and cas != current:
                return errors_body(400, CAS_MISMATCH)
            if entry is None:
                entry = self.entries[path] = Entry()
            entry.current_version = current + 1
            entry.versions[entry.current_version] = {
                "data": body.get("data") or {},
                "created_time": now_text(),
                "deletion_time": "",
                "destroyed": False,
            }
            keep = entry.max_versions or self.max_versions
            for number in sorted(entry.versions)[:-keep]:
                del entry.versions[number]
            entry.updated_time = now_text()
            return httpx.Response(
                200, json={"data": self._version_meta(entry, entry.current_version)}
            )
        return errors_body(405)

    def _version_meta(self, entry: Entry, number: int) -> dict[str, Any]:
        version = entry.versions[number]
        return {
            "created_time": version["created_time"],
            "custom_metadata": entry.custom_metadata,
            "deletion_time": version["deletion_time"],
            "destroyed": version["destroyed"],
            "version": number,
        }

    def _metadata(self, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        entry = self.entries.get(path)
        if method == "GET":
            if entry is None:
                return errors_body(404)
            return httpx.Response(
                200,
                json={
                    "data": {
                        "cas_required": False,
                        "created_time": entry.created_time,
                        "current_version": entry.current_version,
                        "custom_metadata": entry.custom_metadata,
                        "delete_version_after": "0s",
                        "max_versions": entry.max_versions,
                        "oldest_version": entry.oldest_version,
                        "updated_time": entry.updated_time,
                        "versions": {
                            str(n): {
                                "created_time": v["created_time"],
                                "deletion_time": v["deletion_time"],
                                "destroyed": v["destroyed"],
                            }
                            for n, v in entry.versions.items()
                        },
                    }
                },
            )
        if method == "POST":
            custom = body.get("custom_metadata")
            if custom is not None:
                problem = _custom_metadata_problem(custom)
                if problem:
                    return errors_body(400, problem)
            if entry is None:
                entry = self.entries[path] = Entry()
            if custom is not None:
                entry.custom_metadata = dict(custom)
            if "max_versions" in body:
                entry.max_versions = int(body["max_versions"])
            entry.updated_time = now_text()
            return httpx.Response(204)
        if method == "DELETE":
            self.entries.pop(path, None)
            return httpx.Response(204)
        return errors_body(405)

    def _list(self, folder: str) -> httpx.Response:
        prefix = f"{folder.rstrip('/')}/" if folder else ""
        keys: set[str] = set()
        for path in self.entries:
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            head, sep, _ = rest.partition("/")
            keys.add(head + sep)
        if not keys:
            return errors_body(404)
        return httpx.Response(200, json={"data": {"keys": sorted(keys)}})


def _custom_metadata_problem(custom: object) -> str | None:
    """Vault's limits on ``custom_metadata``, with its wording."""
    if not isinstance(custom, dict):
        return "custom_metadata must be a map of strings"
    if len(custom) > MAX_CUSTOM_KEYS:
        return f"payload must contain at most {MAX_CUSTOM_KEYS} keys"
    for key, value in custom.items():
        if not isinstance(value, str):
            return f"custom_metadata value for {key!r} must be a string"
        if len(key) > MAX_CUSTOM_KEY_LENGTH:
            return f"length of key {key!r} is greater than {MAX_CUSTOM_KEY_LENGTH}"
        if len(value) > MAX_CUSTOM_VALUE_LENGTH:
            return f"length of value for key {key!r} is greater than {MAX_CUSTOM_VALUE_LENGTH}"
    return None
