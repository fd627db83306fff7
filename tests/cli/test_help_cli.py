"""Every command's ``--help`` reads as words (``ROLE MODEL TOKENS``, ``--out FILE``), and
``reconciler --version`` / ``reconciler version`` say which release this is."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from reconciler import __version__
from reconciler.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
# A placeholder is a word in capitals: FILE, DIR, N, YYYY-MM-DD, OWNER/NAME, ADDRESS.
WORD = re.compile(r"\[?[A-Z][A-Z0-9_/-]*(\.\.\.)?\]?(\.\.\.)?")


def command_paths() -> Iterator[list[str]]:
    """Every command and group, as the words a user types after ``reconciler``."""

    def walk(command: Any, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(app), [])


COMMANDS = list(command_paths())


def help_of(path: list[str]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.stdout


def placeholders(text: str) -> list[str]:
    """The placeholders of the usage line and of the Arguments and Options lists."""
    lines = text.splitlines()
    usage = next(line for line in lines if line.startswith("Usage:"))
    found = [w for w in usage.split()[1:] if not w.islower() and w != "[OPTIONS]"]
    section = ""
    for line in lines:
        if not line.startswith(" "):
            section = line.rstrip(":")
            continue
        # names separated by ", " (``-force, --force``), then perhaps the value's placeholder
        entry = re.match(r"^  (\S+?(?:, \S+)*)(?: (\S+))?(?:  |$)", line)
        if entry and section == "Arguments":
            found.append(entry[1])
        elif entry and section == "Options" and entry[2]:
            found.append(entry[2])  # an option's value
    return found


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "reconciler")
def test_help_placeholders_read_as_words(path: list[str]) -> None:
    text = help_of(path)
    assert not re.search(r"<\w[\w ]*>|\{\w+\}", text), text
    for word in placeholders(text):
        assert WORD.fullmatch(word), f"{word!r} in:\n{text}"


def test_every_option_taking_a_value_names_its_placeholder() -> None:
    """Not the option's name in capitals (``--parallelism PARALLELISM``), but a word
    chosen for it (``--parallelism N``)."""

    def unnamed(command: Any, path: list[str]) -> Iterator[str]:
        for name, sub in getattr(command, "commands", {}).items():
            yield from unnamed(sub, [*path, name])
        for param in getattr(command, "params", ()):
            taking = param.param_type_name == "option" and not param.is_flag
            if taking and param.metavar is None:
                yield f"{' '.join(path)} {param.opts[0]}"

    assert list(unnamed(typer.main.get_command(app), [])) == []
    assert re.search(r"^  --parallelism N +Independent", help_of(["apply"]), re.M)


def test_the_walk_sees_every_command() -> None:
    assert ["policy", "check"] in COMMANDS and ["github", "drift"] in COMMANDS
    assert len(COMMANDS) >= 20


def test_policy_check_usage_names_its_arguments() -> None:
    text = help_of(["policy", "check"])
    assert "Usage: reconciler policy check [OPTIONS] ROLE MODEL TOKENS" in text
    assert re.search(r"^  ROLE +A role, or a key as api_key\.NAME\.", text, re.M)
    assert re.search(r"^  --store STORE +A shared usage store", text, re.M)


def test_optional_arguments_are_bracketed() -> None:
    assert "Usage: reconciler plan [OPTIONS] [DIRECTORY]" in help_of(["plan"])
    assert re.search(r"^  --target ADDRESS +Only this address", help_of(["plan"]), re.M)


def test_audit_fail_on_help_names_every_flag_it_takes() -> None:
    from reconciler.audit import Flag

    wrapped = re.sub(r"-\n +", "-", help_of(["audit"]))  # a line broken after a hyphen
    text = " ".join(wrapped.split())  # the help's lines joined back up
    listed = re.search(r"--fail-on FLAGS Comma-separated; .*?\((.*?)\)", text)
    assert listed is not None, text
    assert listed[1].split(", ") == [flag.value for flag in Flag]


@pytest.mark.parametrize("args", [["--version"], ["version"]])
def test_version(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0
    assert result.stdout == f"reconciler {__version__}\n"


def test_the_version_is_the_package_version_and_the_changelog_s_latest() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" in project["dynamic"]  # read from reconciler/__init__.py when built
    changelog = (ROOT / "CHANGELOG.md").read_text()
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, re.M)
    assert released and released[0] == __version__
    assert "## [Unreleased]" in changelog
