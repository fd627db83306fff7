"""An in-memory Vault KV v2 mount answering like Vault does, for respx.

It reproduces the documented request and response shapes: ``POST/GET .../data/...`` with
``options.cas``, ``GET/POST/DELETE .../metadata/...``, ``GET ...?list=true``, the
``{"errors": [...]}`` bodies (CAS mismatch 400, permission denied 403, empty 404) and
``X-Vault-Token`` checking. Requests it saw are kept for assertions.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import respx

CAS_MISMATCH = "check-and-set parameter did not match the current version"


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def errors_body(status: int, *messages: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": list(messages)})


@dataclass
class Entry:
    versions: dict[int, dict[str, Any]] = field(default_factory=dict)
    current_version: int = 0
    custom_metadata: dict[str, str] | None = None
    created_time: str = field(default_factory=now_text)
    updated_time: str = field(default_factory=now_text)


class FakeVault:
    """One KV v2 mount at ``address``; ``token`` is the only token it accepts."""

    def __init__(self, address: str, *, token: str, mount: str = "secret") -> None:
        self.address = address.rstrip("/")
        self.token = token
        self.mount = mount
        self.entries: dict[str, Entry] = {}
        self.requests: list[httpx.Request] = []

    def install(self, router: respx.MockRouter) -> None:
        router.route(url__startswith=f"{self.address}/v1/{self.mount}/").mock(
            side_effect=self.handle
        )

    # --- helpers for tests -------------------------------------------------------------

    def secret(self, path: str) -> str | None:
        entry = self.entries.get(path)
        if entry is None or entry.current_version == 0:
            return None
        value = entry.versions[entry.current_version]["data"].get("api_key")
        return value if isinstance(value, str) else None

    # --- the API -------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("X-Vault-Token") != self.token:
            return errors_body(403, "permission denied")
        rest = request.url.path.removeprefix(f"/v1/{self.mount}/")
        kind, _, path = rest.partition("/")
        body = json.loads(request.content) if request.content else {}
        if kind == "data":
            return self._data(request.method, path, body)
        if kind == "metadata":
            if request.method == "GET" and request.url.params.get("list") == "true":
                return self._list(path)
            return self._metadata(request.method, path, body)
        return errors_body(404)

    def _data(self, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        entry = self.entries.get(path)
        if method == "GET":
            if entry is None or entry.current_version == 0:
                return errors_body(404)
            version = entry.versions[entry.current_version]
            if version["deletion_time"]:
                return errors_body(404)
            return httpx.Response(
                200,
                json={
                    "data": {
                        "data": version["data"],
                        "metadata": {**self._version_meta(entry, entry.current_version)},
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
                        "max_versions": 0,
                        "oldest_version": 0,
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
            if entry is None:
                entry = self.entries[path] = Entry()
            if "custom_metadata" in body:
                entry.custom_metadata = dict(body["custom_metadata"])
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
