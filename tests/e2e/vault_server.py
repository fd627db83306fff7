"""A fake HashiCorp Vault (KV v2) served over HTTP on 127.0.0.1, with a failure switch.

It wraps :class:`tests.vault.fake_vault.FakeVault` (the documented KV v2 request and
response shapes) in a threaded ``http.server`` so the real CLI, in another process, can
talk to it with ``--vault vault:http://127.0.0.1:PORT`` and ``VAULT_TOKEN``. It also
answers ``GET /v1/auth/token/lookup-self`` (the store's pre-flight check).

The switch counts *secret* data writes (``POST .../data/<path>`` outside ``_locks/`` and
``_reconciler/``, where the apply lock and the ownership record are kept):

- :meth:`FakeVaultServer.fail_writes` makes the Nth such write (and ``times - 1`` after it)
  answer ``503 {"errors": ["Vault is sealed"]}``, then Vault recovers;
- :meth:`FakeVaultServer.seal_at_write` seals Vault at the Nth write: from then on every
  request answers that 503, as a Vault sealed mid-apply does;
- :meth:`FakeVaultServer.fail` passes a rule to :meth:`FakeVault.fail` (e.g. every
  ``custom_metadata`` write under one path refused), until :meth:`FakeVaultServer.unseal`;
- :meth:`FakeVaultServer.hold_write` keeps the Nth such write waiting, unanswered and not
  done, and returns an event set when it arrives: a test can then kill the client at that
  very point (after the path's ``custom_metadata`` was written, before its data) and
  :meth:`FakeVaultServer.release` it, which answers it 503.

The 503 carries ``Retry-After: 0`` so the client's retries do not sleep in tests.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.vault.fake_vault import FakeVault

SEALED = {"errors": ["Vault is sealed"]}
POLL = 0.02  # how often the serving loop looks for stop(): stop() waits up to that long


def _reserved(path: str) -> bool:
    """A lock or reconciler's own document, not a secret."""
    return "/_locks/" in f"/{path}" or "/_reconciler/" in f"/{path}"


@dataclass
class WriteLog:
    """What the server saw: every secret data write, and which ones it failed."""

    attempts: list[str] = field(default_factory=list)  # secret paths, in order
    failed: list[str] = field(default_factory=list)
    refused_sealed: int = 0  # requests of any kind refused while sealed


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed mid-request (the crash tests and the chaos run do that) resets
        its connection: not an error of the server, so nothing is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeVaultServer:
    """A :class:`FakeVault` behind ``http://127.0.0.1:PORT`` (see the module docstring)."""

    def __init__(self, *, token: str, mount: str = "secret") -> None:
        self.token = token
        self.vault = FakeVault("http://fake-vault", token=token, mount=mount)
        self.mount = mount
        self.writes = WriteLog()
        self._fail_from: int | None = None
        self._fail_times = 0
        self._sealed_from: int | None = None
        self._sealed = False
        self._failed_at_unseal = 0
        self._hold_at: int | None = None
        self._arrived = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(POLL,), daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{name}:{port}"

    # --- the switch ----------------------------------------------------------------------

    def fail_writes(self, nth: int, times: int = 1) -> None:
        with self._lock:
            self._fail_from, self._fail_times = nth, times

    def seal_at_write(self, nth: int) -> None:
        with self._lock:
            self._sealed_from = nth

    def hold_write(self, nth: int) -> threading.Event:
        """Hold the Nth secret data write until :meth:`release`; set when it arrives."""
        with self._lock:
            self._hold_at = nth
            self._arrived.clear()
            self._released.clear()
        return self._arrived

    def release(self) -> None:
        """Let a held write go: it is answered 503, and nothing was written."""
        self._released.set()

    def fail(self, kind: str, method: str = "POST", **rule: Any) -> None:
        with self._lock:
            self.vault.fail(kind, method, **rule)

    # --- reading back ----------------------------------------------------------------------

    def entry(self, path: str) -> tuple[str | None, dict[str, str]]:
        """(secret, custom_metadata) at a full path (prefix included)."""
        with self._lock:
            entry = self.vault.entries.get(path)
            return self.vault.secret(path), dict((entry.custom_metadata or {}) if entry else {})

    def unseal(self) -> None:
        """Lift every fault (the counts of :meth:`faults_fired` start again)."""
        with self._lock:
            self._sealed, self._sealed_from, self._fail_from = False, None, None
            self.vault.faults.clear()
            self._failed_at_unseal = len(self.writes.failed)

    def versions(self, path: str) -> list[int]:
        """The version numbers Vault keeps at a full path."""
        with self._lock:
            entry = self.vault.entries.get(path)
            return sorted(entry.versions) if entry else []

    def entries(self, prefix: str) -> dict[str, tuple[str | None, dict[str, str]]]:
        """(secret, custom_metadata) of every secret under ``prefix``, by relative path."""
        start = prefix.rstrip("/") + "/"
        return {p.removeprefix(start): self.entry(p) for p in self.secret_paths()}

    def secret_paths(self) -> list[str]:
        with self._lock:
            return sorted(
                p for p, e in self.vault.entries.items() if not _reserved(p) and e.current_version
            )

    def every_secret(self) -> set[str]:
        """Every secret any version at any path holds (what must never leak)."""
        with self._lock:
            return {
                value
                for entry in self.vault.entries.values()
                for version in entry.versions.values()
                if isinstance(value := (version.get("data") or {}).get("api_key"), str)
            }

    def faults_fired(self) -> Counter[str]:
        """The faults that fired since the last :meth:`unseal`, by kind: a seal (once,
        however many requests it then refused), secret writes the switch refused, and
        requests the rules given to ``fail`` refused."""
        with self._lock:
            fired: Counter[str] = Counter()
            failed = len(self.writes.failed) - self._failed_at_unseal
            if self._sealed:
                fired["sealed mid-apply"] += 1
                failed -= 1  # the write that met the seal
            fired["secret write refused"] += failed
            for fault in self.vault.faults:
                what = "secret" if fault.kind == "data" else fault.kind
                verb = "read" if fault.method == "GET" else "write"
                fired[f"{what} {verb} refused"] += fault.fired
            return +fired

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- serving ---------------------------------------------------------------------------

    def _answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> httpx.Response:
        path = urlsplit(target).path
        held = False
        with self._lock:
            if self._sealed:
                self.writes.refused_sealed += 1
                return httpx.Response(503, json=SEALED)
            if path == "/v1/auth/token/lookup-self":
                if headers.get("x-vault-token") != self.token:
                    return httpx.Response(403, json={"errors": ["permission denied"]})
                return httpx.Response(200, json={"data": {"policies": ["reconciler"]}})
            data_prefix = f"/v1/{self.mount}/data/"
            if method in ("POST", "PUT") and path.startswith(data_prefix):
                rel = path.removeprefix(data_prefix)
                if not _reserved(rel):
                    self.writes.attempts.append(rel)
                    n = len(self.writes.attempts)
                    held = n == self._hold_at
                    if self._sealed_from is not None and n >= self._sealed_from:
                        self._sealed = True
                    failing = self._fail_from is not None and (
                        self._fail_from <= n < self._fail_from + self._fail_times
                    )
                    if self._sealed or failing:
                        self.writes.failed.append(rel)
                        return httpx.Response(503, json=SEALED)
            if not held:
                request = httpx.Request(
                    method, f"http://fake-vault{target}", headers=headers, content=body
                )
                return self.vault.handle(request)
        self._arrived.set()
        self._released.wait(timeout=120)
        return httpx.Response(503, json=SEALED)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # an answer's head and body are two writes: without this, the body waits for
            # the client to acknowledge the head (Nagle's algorithm), some 40 ms a request
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                response = server._answer(self.command, self.path, headers, body)
                payload = response.content
                self.send_response(response.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if response.status_code == 503:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve
            do_LIST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler
