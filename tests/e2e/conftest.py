"""Fixtures for end-to-end tests: the sandbox served on 127.0.0.1 and the real CLI.

``reconciler sandbox serve --port 0`` runs as a subprocess (the OS picks a free port; the
URL is read from what it prints). One server per worker for the whole session, reset to
its seed before each test through ``POST /_sandbox/reset`` (which also clears faults,
lets held requests go and clears request statistics). ``run_cli`` runs ``reconciler ...``
in a process of its own, forked from a server that has imported the program already
(:mod:`tests.e2e.forkserver`), with the environment pointing at that server and nothing
inherited that could change the outcome (``MISTRAL_*``, ``RECONCILER_*``, ``NO_COLOR``,
Vault and GitHub variables) but the session's date and its waits between retries (none:
see tests/conftest.py). A run a test kills is forked the same way (it is a process of
its own). The tests that need the program exactly as a shell starts it (start-up, a
reader that goes away, a prompt on a terminal, two applies at once) run
``python -m reconciler``.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.env import RECONCILER_RETRY_DELAY_SCALE
from reconciler.platform.sandbox import DEFAULT_ADMIN_KEY, DEMO_SEED
from tests import time_travel
from tests.e2e.forkserver import ForkServer
from tests.example_dates import EXAMPLE, copy_example

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DESIRED_STATE = EXAMPLE
# The plaintext of the demo's live key dev-alice in the served sandbox: no output may hold it.
SEEDED_SECRET = "e2eSeededSecret" + "0123456789abcdefABCDEF"
START_TIMEOUT = 30.0
CLI_TIMEOUT = 60.0
_SCRUBBED_PREFIXES = ("MISTRAL_", "RECONCILER_", "VAULT_", "GITHUB_", "GH_")
_SCRUBBED = frozenset({"NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "TERM"})


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without anything that steers the CLI, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _SCRUBBED and not k.startswith(_SCRUBBED_PREFIXES)
    }
    if time_travel.ENV in os.environ:  # the session's date (see tests/time_travel.py)
        env[time_travel.ENV] = os.environ[time_travel.ENV]
    if RECONCILER_RETRY_DELAY_SCALE in os.environ:  # the session's waits (tests/conftest.py)
        env[RECONCILER_RETRY_DELAY_SCALE] = os.environ[RECONCILER_RETRY_DELAY_SCALE]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def _pump(stream: Any, sink: queue.Queue[str]) -> None:
    for line in stream:
        sink.put(line)


@dataclass
class SandboxServer:
    """A running ``reconciler sandbox serve`` and ways to steer it over HTTP."""

    url: str
    state: Path
    proc: subprocess.Popen[str]
    admin_key: str = DEFAULT_ADMIN_KEY
    banner: str = ""
    _http: httpx.Client | None = field(default=None, repr=False)

    @property
    def admin_base_url(self) -> str:
        return f"{self.url}/v1/admin"

    @property
    def api_base_url(self) -> str:
        return f"{self.url}/v1"

    def env(self, **overrides: str) -> dict[str, str]:
        """Variables that point the CLI at this server (``overrides`` win). A served sandbox
        is a rehearsal target, so a file vault is allowed against it, as the README's
        rehearsal does (``RECONCILER_ALLOW_FILE_VAULT``; empty it to see the refusal)."""
        return {
            "MISTRAL_ADMIN_BASE_URL": self.admin_base_url,
            "MISTRAL_API_BASE_URL": self.api_base_url,
            "MISTRAL_ADMIN_API_KEY": self.admin_key,
            "RECONCILER_ALLOW_FILE_VAULT": "1",
            **overrides,
        }

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                base_url=self.url,
                headers={"Authorization": f"Bearer {self.admin_key}"},
                timeout=30.0,
            )
        return self._http

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call a ``/_sandbox`` control route; return its JSON body."""
        response = self.http.request(method, f"/_sandbox/{path.lstrip('/')}", **kwargs)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Back to the seed; no faults, request statistics cleared."""
        self.control("POST", "reset")

    def set_faults(self, *rules: Mapping[str, Any], latency_ms: int = 0) -> None:
        self.control("POST", "faults", json={"latency_ms": latency_ms, "rules": list(rules)})

    def fault_counts(self) -> list[dict[str, int]]:
        """``matched``/``fired`` per rule, in the order the rules were given."""
        rules: list[dict[str, int]] = self.control("GET", "faults")["rules"]
        return rules

    def stats(self) -> dict[str, Any]:
        """``{"requests": N, "by_route": {"GET /v1/admin/api-keys": n, ...}}``."""
        stats: dict[str, Any] = self.control("GET", "stats")
        return stats

    def state_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.control("GET", "state")
        return doc

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def demo_seed_with_known_secret(directory: Path) -> Path:
    """The demo seed, with dev-alice's secret set to :data:`SEEDED_SECRET`, written as JSON:
    the served sandbox reads its seed again at every reset, and JSON far faster than YAML."""
    from ruamel.yaml import YAML

    seed = YAML(typ="safe").load(DEMO_SEED.read_text(encoding="utf-8"))
    alice = [key for key in seed["keys"] if key["name"] == "dev-alice"]
    assert len(alice) == 1, "the demo seed no longer declares dev-alice"
    alice[0]["secret"] = SEEDED_SECRET
    path = directory / "demo-seed.json"
    path.write_text(json.dumps(seed, default=str), "utf-8")  # dates as ISO text
    return path


def start_sandbox(
    directory: Path,
    *,
    seed: Path | None = None,
    latency_ms: int | None = None,
    admin_key: str | None = None,
    extra_args: Sequence[str] = (),
) -> SandboxServer:
    """Serve a sandbox whose state lives in ``directory`` on a free loopback port.

    ``admin_key`` (default: a fresh random one) is handed over in a file, as a user would.
    """
    directory.mkdir(parents=True, exist_ok=True)
    state = directory / "state.json"
    admin_key = admin_key or "e2e-admin-" + secrets.token_hex(16)
    key_file = directory / "admin-key"
    key_file.write_text(admin_key + "\n", encoding="utf-8")
    args = [
        sys.executable,
        "-m",
        "reconciler",
        "sandbox",
        "serve",
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--state",
        str(state),
        "--admin-key-file",
        str(key_file),
    ]
    if seed is not None:
        args += ["--seed", str(seed)]
    if latency_ms is not None:
        args += ["--latency-ms", str(latency_ms)]
    args += list(extra_args)
    proc = subprocess.Popen(
        args,
        cwd=directory,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    seen: list[str] = []
    try:
        while not any("Press Ctrl+C" in line for line in seen):
            try:
                seen.append(lines.get(timeout=START_TIMEOUT))
            except queue.Empty:
                raise RuntimeError("the sandbox did not start:\n" + "".join(seen)) from None
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise
    banner = "".join(seen)
    url = banner.split("listening on ", 1)[1].split()[0]
    return SandboxServer(url=url, state=state, proc=proc, admin_key=admin_key, banner=banner)


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """The demo organisation served on 127.0.0.1 for the whole session (of a worker).

    Its admin key is random and dev-alice's secret is :data:`SEEDED_SECRET`, so tests can
    check that neither ever reaches an output.
    """
    fork_server()  # starts importing the program beside the server
    directory = tmp_path_factory.mktemp("sandbox")
    server = start_sandbox(directory, seed=demo_seed_with_known_secret(directory))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    """The module's sandbox, reset to the demo seed (no faults) for this test."""
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A fresh working directory holding a copy of the example ``desired-state/``, its
    expiry dates moved along with the session's date (:mod:`tests.example_dates`)."""
    copy_example(tmp_path / "desired-state")
    return tmp_path


_FORK_SERVER: list[ForkServer] = []


def fork_server() -> ForkServer:
    """This process's :class:`ForkServer`, started on first use, stopped at exit."""
    if not _FORK_SERVER:
        files = Path(tempfile.mkdtemp(prefix="reconciler-cli-runs-"))
        server = ForkServer(files, env=clean_env())
        _FORK_SERVER.append(server)
        atexit.register(shutil.rmtree, files, ignore_errors=True)
        atexit.register(server.close)
    return _FORK_SERVER[0]


def run_cli(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = CLI_TIMEOUT,
    input: str | None = None,
    stdin: str = os.devnull,
    stdout: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``reconciler ARGS`` in a process of its own, in ``cwd``, with a clean environment
    plus ``env``; ``input`` is its whole stdin, else it reads ``stdin`` (a file, or a
    terminal's device); ``stdout`` (a terminal's device) takes its output instead of the
    result."""
    return fork_server().run(
        args, cwd=cwd, env=clean_env(env), input=input, stdin=stdin, stdout=stdout, timeout=timeout
    )
