"""A tiny GitHub REST fake on 127.0.0.1 for tests that run the action's scripts as
subprocesses (respx cannot reach into a subprocess). It answers the few endpoints the
plan comment and the drift issue use, and records every request."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    authorization: str


@dataclass
class FakeGitHub:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]


def _handler(state: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            path = self.path.split("?", 1)[0]
            state.requests.append(
                Recorded(self.command, path, body, self.headers.get("Authorization", ""))
            )
            if self.command == "GET" and re.fullmatch(r"/repos/[^/]+/[^/]+/labels/.+", path):
                self._answer(200, {"name": "label"})
            elif self.command == "GET":
                self._answer(200, [])
            elif self.command == "POST" and path.endswith("/comments"):
                self._answer(201, {"id": 1, "html_url": "https://github.test/c/1"})
            elif self.command == "POST":
                self._answer(201, {"number": 1, "html_url": "https://github.test/i/1"})
            else:
                self._answer(404, {"message": "Not Found"})

        do_GET = do_POST = do_PATCH = do_DELETE = _handle

    return Handler


@contextmanager
def serve() -> Iterator[FakeGitHub]:
    state = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
