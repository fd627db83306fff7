"""A tiny GitHub REST fake on 127.0.0.1 for tests that run the action's scripts as
subprocesses (respx cannot reach into a subprocess). It answers the few endpoints the
plan comment, the drift issue, the reviewed plan, the stale marking and the merges whose
apply never ran use, and records every request. Comments are kept (posted, listed, edited,
deleted); open pull requests, the pull requests a commit merged, the default branch's
history, each pull request's files and workflow artifacts are what a test puts there. An
artifact's zip is served, as GitHub does, by a redirect to storage that is not the API."""

from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


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
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by issue number
    pulls: list[dict[str, Any]] = field(default_factory=list)  # the open pull requests
    merged: dict[str, dict[str, Any]] = field(default_factory=dict)  # by merge commit
    history: list[str] = field(default_factory=list)  # the default branch's commits, oldest first
    files: dict[int, list[str]] = field(default_factory=dict)  # each pull request's files
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    zips: dict[int, bytes] = field(default_factory=dict)
    last_id: int = 0

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    def new_id(self) -> int:
        self.last_id += 1
        return self.last_id

    def add_artifact(self, name: str, run_id: int, files: dict[str, bytes]) -> dict[str, Any]:
        """What actions/upload-artifact leaves: the files at the zip's root."""
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w") as archive:
            for path, content in files.items():
                archive.writestr(path, content)
        artifact_id = self.new_id()
        artifact = {
            "id": artifact_id,
            "name": name,
            "expired": False,
            "created_at": f"2026-01-01T00:00:{artifact_id:02d}Z",
            "workflow_run": {"id": run_id},
        }
        self.artifacts.append(artifact)
        self.zips[artifact_id] = data.getvalue()
        return artifact

    def comment_bodies(self, number: int) -> list[str]:
        return [str(c["body"]) for c in self.comments.get(number, [])]


def _handler(state: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # the head and the body go out at once (no 40 ms wait)

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _answer(self, status: int, body: Any) -> None:
            self._raw(status, json.dumps(body).encode())

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body: Any = json.loads(raw) if raw else {}
            path = self.path.split("?", 1)[0]
            state.requests.append(
                Recorded(self.command, path, body, self.headers.get("Authorization", ""))
            )
            query = parse_qs(urlsplit(self.path).query)
            repo = r"/repos/[^/]+/[^/]+"
            route = (self.command, path)
            if found := _match(route, "GET", repo + r"/issues/(\d+)/comments"):
                self._answer(200, state.comments.get(int(found[1]), []))
            elif found := _match(route, "POST", repo + r"/issues/(\d+)/comments"):
                new = {"id": state.new_id(), "body": body["body"], "user": {"login": "bot"}}
                new["html_url"] = f"https://github.test/c/{new['id']}"
                state.comments.setdefault(int(found[1]), []).append(new)
                self._answer(201, new)
            elif found := _match(route, "PATCH", repo + r"/issues/comments/(\d+)"):
                comment = self._comment(int(found[1]))
                if comment is not None:
                    comment["body"] = body["body"]
                self._answer(200 if comment else 404, comment or {"message": "Not Found"})
            elif found := _match(route, "DELETE", repo + r"/issues/comments/(\d+)"):
                for comments in state.comments.values():
                    comments[:] = [c for c in comments if c["id"] != int(found[1])]
                self._raw(204, b"")
            elif _match(route, "GET", repo + r"/pulls"):
                base = query.get("base", [None])[0]
                self._answer(200, [p for p in state.pulls if base in (None, p["base"]["ref"])])
            elif found := _match(route, "GET", repo + r"/commits/([0-9a-f]+)/pulls"):
                merged = state.merged.get(found[1])
                self._answer(200, [merged] if merged else [])
            elif found := _match(route, "GET", repo + r"/compare/([0-9a-f]+)\.\.\.([0-9a-f]+)"):
                self._compare(found[1], found[2])
            elif found := _match(route, "GET", repo + r"/pulls/(\d+)/files"):
                page = int(query.get("page", ["1"])[0])
                names = state.files.get(int(found[1]), [])[(page - 1) * 100 : page * 100]
                self._answer(200, [{"filename": name, "status": "modified"} for name in names])
            elif _match(route, "GET", repo + r"/actions/artifacts"):
                name = query.get("name", [None])[0]
                self._artifacts(lambda a: name in (None, a["name"]))
            elif found := _match(route, "GET", repo + r"/actions/runs/(\d+)/artifacts"):
                self._artifacts(lambda a: a["workflow_run"]["id"] == int(found[1]))
            elif found := _match(route, "GET", repo + r"/actions/artifacts/(\d+)/zip"):
                self.send_response(302)
                self.send_header("Location", f"{state.url}/storage/{found[1]}.zip")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif found := _match(route, "GET", r"/storage/(\d+)\.zip"):
                self._raw(200, state.zips[int(found[1])], "application/zip")
            elif _match(route, "POST", repo + r"/actions/workflows/[^/]+/dispatches"):
                self._raw(204, b"")
            elif self.command == "GET" and re.fullmatch(repo + r"/labels/.+", path):
                self._answer(200, {"name": "label"})
            elif self.command == "GET":
                self._answer(200, [])
            elif self.command == "POST":
                self._answer(201, {"number": 1, "html_url": "https://github.test/i/1"})
            else:
                self._answer(404, {"message": "Not Found"})

        def _comment(self, comment_id: int) -> dict[str, Any] | None:
            for comments in state.comments.values():
                for comment in comments:
                    if comment["id"] == comment_id:
                        return comment
            return None

        def _compare(self, base: str, head: str) -> None:
            """GitHub's compare of two commits of the default branch (:attr:`history`)."""
            if base not in state.history or head not in state.history:
                self._answer(404, {"message": "Not Found"})
                return
            start, end = state.history.index(base), state.history.index(head)
            status = "ahead" if end > start else "behind" if end < start else "identical"
            commits = [  # a straight history: each commit's parent is the one before it
                {"sha": sha, "parents": [{"sha": state.history[i - 1]}]}
                for i, sha in enumerate(state.history)
                if start < i <= end
            ]
            self._answer(200, {"status": status, "commits": commits, "total_commits": end - start})

        def _artifacts(self, wanted: Any) -> None:
            found = [a for a in state.artifacts if wanted(a)]
            self._answer(200, {"total_count": len(found), "artifacts": found})

        def _raw(self, status: int, data: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _handle

    return Handler


def _match(route: tuple[str, str], method: str, pattern: str) -> re.Match[str] | None:
    return re.fullmatch(pattern, route[1]) if route[0] == method else None


@contextmanager
def serve() -> Iterator[FakeGitHub]:
    state = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    # shutdown() waits for the serving loop to look again: every 20 ms instead of 500
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
