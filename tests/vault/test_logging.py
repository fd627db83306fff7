"""Redacting logs: SecretStr values, secret-looking keys, registered secrets, stdlib records."""

from __future__ import annotations

import io
import json
import logging
import stat
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import SecretStr

from reconciler.logging import (
    MASK,
    clear_registered_secrets,
    configure_logging,
    redact_value,
    register_secret,
)

from .helpers import OTHER_TEXT, SECRET, SECRET_TEXT, TOKEN_TEXT, assert_no_secret


def configured(tmp_path: Path) -> tuple[io.StringIO, Path]:
    stream = io.StringIO()
    log_file = tmp_path / "logs" / "apply.jsonl"
    configure_logging(stream=stream, json_file=log_file, level="DEBUG")
    return stream, log_file


def test_secrets_are_masked_on_the_console_and_in_the_json_file(tmp_path: Path) -> None:
    stream, log_file = configured(tmp_path)
    register_secret(OTHER_TEXT)
    log = structlog.get_logger("reconciler.apply")
    log.info(
        "key.created",
        secret=SECRET,
        api_key=SECRET_TEXT,
        headers={"X-Vault-Token": TOKEN_TEXT, "Accept": "application/json"},
        note=f"the new key is {OTHER_TEXT} (do not log)",
        path="dev/dev-alice",
    )
    try:
        raise RuntimeError(f"boom with {OTHER_TEXT} inside")
    except RuntimeError:
        log.exception("apply.failed", path="dev/dev-alice")
    console = stream.getvalue()
    written = log_file.read_text()
    assert_no_secret(console, written)
    lines = [json.loads(line) for line in written.splitlines()]
    first = lines[0]
    assert first["event"] == "key.created"
    assert first["secret"] == MASK
    assert first["api_key"] == MASK
    assert first["headers"] == {"X-Vault-Token": MASK, "Accept": "application/json"}
    assert first["note"] == f"the new key is {MASK} (do not log)"
    assert first["path"] == "dev/dev-alice"
    assert first["level"] == "info"
    assert "RuntimeError: boom with **********" in lines[1]["exception"]
    assert "key.created" in console
    assert "path=dev/dev-alice" in console
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600


def test_standard_library_records_are_redacted_too(tmp_path: Path) -> None:
    stream, log_file = configured(tmp_path)
    register_secret(SECRET)
    logging.getLogger("some.library").warning("retrying with key %s", SECRET_TEXT)
    assert_no_secret(stream.getvalue(), log_file.read_text())
    assert f"retrying with key {MASK}" in stream.getvalue()


def test_a_secret_hidden_in_a_repr_is_masked_in_the_rendered_line(tmp_path: Path) -> None:
    class Leaky:
        def __repr__(self) -> str:
            return f"Leaky({OTHER_TEXT})"

    stream, log_file = configured(tmp_path)
    register_secret(OTHER_TEXT)
    structlog.get_logger().info("odd", thing=Leaky())
    assert_no_secret(stream.getvalue(), log_file.read_text())
    assert f"Leaky({MASK})" in stream.getvalue()


def test_the_denylist_is_what_masks_a_registered_secret(tmp_path: Path) -> None:
    stream, _ = configured(tmp_path)
    log = structlog.get_logger()
    register_secret(OTHER_TEXT)
    log.info("first", note=OTHER_TEXT)
    clear_registered_secrets()
    log.info("second", note=OTHER_TEXT)
    first, second = stream.getvalue().splitlines()
    assert OTHER_TEXT not in first
    assert OTHER_TEXT in second  # scrub alone does not catch it: the denylist did


def test_level_filters_debug(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, level="INFO")
    log = structlog.get_logger()
    log.debug("hidden")
    log.info("shown")
    assert "hidden" not in stream.getvalue()
    assert "shown" in stream.getvalue()


def test_reconfiguring_replaces_the_handlers(tmp_path: Path) -> None:
    first = io.StringIO()
    second = io.StringIO()
    configure_logging(stream=first)
    configure_logging(stream=second)
    structlog.get_logger().info("once")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("token", "abc", MASK),
        ("Authorization", "Bearer abcdefghijkl", MASK),
        ("x-vault-token", "hvs.x", MASK),
        ("password", "p", MASK),
        ("github_token", "g", MASK),
        ("client_secret", "c", MASK),
        ("key", "dev-alice", MASK),
        ("key_id", "5f1c", "5f1c"),
        ("path", "dev/dev-alice", "dev/dev-alice"),
        ("token", None, None),
        ("message", "Authorization: Bearer abcdefghijklmnop", "Authorization: Bearer [REDACTED]"),
        ("anything", SecretStr("x"), MASK),
        ("nested", {"ok": 1, "secret_id": "s"}, {"ok": 1, "secret_id": MASK}),
        ("items", [SecretStr("x"), "plain"], [MASK, "plain"]),
    ],
)
def test_redact_value(key: str, value: Any, expected: Any) -> None:
    assert redact_value(value, key=key) == expected


def test_ten_thousand_registered_secrets_are_each_masked(tmp_path: Path) -> None:
    """Registering stays cheap however many came before (an apply of thousands of keys);
    every one of them, of any length, is still masked wherever it shows."""
    stream, log_file = configured(tmp_path)
    secrets = [f"sk{n:05d}" + "q" * (n % 7) + "x" * 24 for n in range(10_000)]
    for secret in secrets:
        register_secret(SecretStr(secret))
    log = structlog.get_logger()
    shown = [secrets[0], secrets[4_321], secrets[9_999]]
    log.info("created", note=f"keys {shown[0]} and {shown[1]}", path="dev/a")
    logging.getLogger("some.library").warning("retrying with %s;%s", shown[2], shown[0])
    output = stream.getvalue() + log_file.read_text()
    assert not [s for s in shown if s in output]
    assert f"keys {MASK} and {MASK}" in stream.getvalue()
    assert f"retrying with {MASK};{MASK}" in stream.getvalue()


def test_a_secret_inside_a_longer_one_leaves_nothing_of_either(tmp_path: Path) -> None:
    stream, _ = configured(tmp_path)
    register_secret("inner-secret-1234")
    register_secret("outer-inner-secret-1234-outer")
    structlog.get_logger().info("x", note="a outer-inner-secret-1234-outer b inner-secret-1234 c")
    line = stream.getvalue()
    assert "inner" not in line and "outer" not in line
    assert f"a {MASK} b {MASK} c" in line


def test_under_the_command_line_an_early_event_goes_to_stderr_redacted_never_stdout() -> None:
    """A library event logged before any command configured logging (the ownership record
    taken over during ``plan --format json``) must not land in the JSON on stdout."""
    import subprocess
    import sys

    secret = "sk-" + "Z" * 40
    program = (
        "from reconciler.log_target import claim_for_cli\n"
        "claim_for_cli()\n"
        "from reconciler.logging import get_logger\n"
        f"get_logger('reconciler.test').warning('ledger.taken_over', token={secret!r})\n"
        "get_logger('reconciler.test').info('chatter')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "ledger.taken_over" in done.stderr
    assert secret not in done.stderr
    assert "chatter" not in done.stderr  # WARNING and above only


def test_live_text_in_a_console_line_is_shown_escaped(tmp_path: Path) -> None:
    """A live name logged as it is would move the terminal's cursor, recolour it or
    reorder what a reader sees, there and in the apply's comment on the pull request;
    the JSON file keeps the name as it is (JSON escapes what it must)."""
    stream, log_file = configured(tmp_path)
    name = "api_key.a\x1b[2Kb\u202ec\u200bd"
    structlog.get_logger("reconciler.apply").info("apply.action", address=name)
    console = stream.getvalue()
    assert "address=api_key.a\\x1b[2Kb\\u202ec\\u200bd" in console
    assert console.endswith("\n") and console.count("\n") == 1
    assert json.loads(log_file.read_text())["address"] == name
