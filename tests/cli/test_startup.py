"""The command builds only what it runs: one command's parameters (with the same help and
errors as the whole program's), and no garbage collection until that command starts."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main

from reconciler.cli import startup
from reconciler.cli.main import Command, app, app_for

FULL: Any = typer.main.get_command(app)
NAMES = sorted(FULL.commands)


def help_of(group: Any, name: str) -> str:
    """``reconciler NAME --help``'s text, as the group ``group`` makes it."""
    parent = group.context_class(group, info_name="reconciler")
    command = group.commands[name]
    return str(command.get_help(command.context_class(command, info_name=name, parent=parent)))


def run_a_command() -> None:
    """What running any command does: its class's ``invoke``."""
    command = Command(name="noop", callback=lambda: None)
    command.invoke(command.make_context("noop", []))


@pytest.mark.parametrize("name", NAMES)
def test_a_command_s_own_app_holds_it_alone_with_the_same_help(name: str) -> None:
    alone: Any = typer.main.get_command(app_for([name, "--help"]))
    assert list(alone.commands) == [name]
    assert help_of(alone, name) == help_of(FULL, name)
    assert [p.name for p in alone.params] == [p.name for p in FULL.params]  # --version


@pytest.mark.parametrize(
    "args", [[], ["--help"], ["--version"], ["valdate"], ["desired-state"]], ids=repr
)
def test_anything_but_a_command_s_name_gets_the_whole_program(args: list[str]) -> None:
    """Its help lists every command, and a mistyped name gets its suggestion."""
    assert app_for(args) is app


def test_the_whole_program_is_left_as_it_was() -> None:
    app_for(["plan"])
    assert sorted(typer.main.get_command(app).commands) == NAMES  # type: ignore[attr-defined]


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector as the test found it, whatever the test did to it."""
    enabled = gc.isenabled()
    yield
    startup.resume()
    gc.unfreeze()
    if enabled:
        gc.enable()


@pytest.mark.usefixtures("collector")
def test_the_collector_waits_until_a_command_runs_and_skips_what_starting_made() -> None:
    startup.pause()
    assert not gc.isenabled()
    run_a_command()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0  # the modules, classes and validators: never scanned


@pytest.mark.usefixtures("collector")
def test_a_command_run_without_the_pause_leaves_the_collector_alone() -> None:
    """As in a program (or a test) that calls the command line itself."""
    gc.disable()
    run_a_command()
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0
